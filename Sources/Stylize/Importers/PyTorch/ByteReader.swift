/// A cursor over untrusted bytes: every read checks the remaining length first and throws instead of
/// trapping, so a truncated or corrupt checkpoint can only ever produce an error.
struct ByteReader {
    let bytes: [UInt8]
    /// Offset of the next byte to read.
    private(set) var position: Int
    /// One past the last byte this reader may touch.
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.end = min(end ?? bytes.count, bytes.count)
        self.position = min(max(start, 0), self.end)
    }

    var remaining: Int { end - position }
    var isAtEnd: Bool { position >= end }

    mutating func u8() throws -> UInt8 {
        guard position < end else { throw CheckpointError.truncated(at: position) }
        defer { position += 1 }
        return bytes[position]
    }

    /// The next `count` bytes; `count` is validated against what is left before anything is allocated.
    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw CheckpointError.truncated(at: position) }
        defer { position += count }
        return bytes[position ..< position + count]
    }

    /// An unsigned little-endian integer of `width` bytes (1…8).
    mutating func uintLE(_ width: Int) throws -> UInt64 {
        let raw = try take(width)
        var value: UInt64 = 0
        for (shift, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
        return value
    }

    mutating func int32LE() throws -> Int {
        Int(Int32(bitPattern: UInt32(truncatingIfNeeded: try uintLE(4))))
    }

    mutating func int64LE() throws -> Int64 {
        Int64(bitPattern: try uintLE(8))
    }

    /// A length field that must fit in what is left of the input (so a corrupt length cannot ask for a
    /// multi-gigabyte allocation or overflow `Int`).
    mutating func length(_ width: Int) throws -> Int {
        let at = position
        let value = try uintLE(width)
        guard value <= UInt64(remaining) else { throw CheckpointError.truncated(at: at) }
        return Int(value)
    }

    /// A big-endian IEEE double (pickle's BINFLOAT).
    mutating func float64BE() throws -> Double {
        let raw = try take(8)
        var bits: UInt64 = 0
        for byte in raw { bits = (bits << 8) | UInt64(byte) }
        return Double(bitPattern: bits)
    }

    /// Bytes up to (not including) the next newline, which is consumed; for the text opcodes (GLOBAL).
    /// Lines are names, so a line longer than `limit` is corruption rather than something to scan for.
    mutating func line(limit: Int = 4096) throws -> ArraySlice<UInt8> {
        let start = position
        var index = position
        while index < end {
            if bytes[index] == 0x0A {
                position = index + 1
                return bytes[start ..< index]
            }
            guard index - start < limit else {
                throw CheckpointError.corrupt("text line at byte \(start) longer than \(limit) bytes")
            }
            index += 1
        }
        throw CheckpointError.truncated(at: start)
    }
}
