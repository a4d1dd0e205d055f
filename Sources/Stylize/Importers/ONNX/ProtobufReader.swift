/// Why a protobuf buffer could not be decoded. The importer turns it into `StylizeError(.corruptFile, …)` with
/// the file path in front, so the cause alone is enough here.
struct ProtobufError: Error, Sendable, Equatable {
    var cause: String
}

/// The four wire types protobuf 3 still writes (the deprecated group types 3 and 4 are rejected).
enum WireType: UInt64, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5

    var name: String {
        switch self {
        case .varint: "varint"
        case .fixed64: "64-bit"
        case .lengthDelimited: "length-delimited"
        case .fixed32: "32-bit"
        }
    }
}

/// A cursor over protobuf wire-format bytes.
///
/// Model files are untrusted input, so every read checks the remaining length first and throws a
/// `ProtobufError` instead of trapping. Each read consumes at least one byte, so any loop that stops at
/// `isAtEnd` terminates. Nested messages are readers over a sub-range of the same array: no bytes are
/// copied until a value is extracted.
struct ProtobufReader {
    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    init(bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
    }

    /// A reader for `range`, which must lie inside `bytes` (callers get ranges from `readLengthDelimited`).
    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.position = range.lowerBound
        self.end = range.upperBound
    }

    var isAtEnd: Bool { position >= end }

    /// Reads the next field key, or returns nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wire: WireType)? {
        guard position < end else { return nil }
        let key = try readVarint()
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else {
            throw ProtobufError(cause: "invalid protobuf field number \(number) at byte \(position)")
        }
        guard let wire = WireType(rawValue: key & 7) else {
            throw ProtobufError(cause: "unsupported protobuf wire type \(key & 7) for field \(number) at byte \(position)")
        }
        return (Int(number), wire)
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        // At most 10 bytes encode 64 bits; a longer run of continuation bits is corrupt, not merely long.
        for index in 0..<10 {
            guard position < end else {
                throw ProtobufError(cause: "truncated varint at byte \(position)")
            }
            let byte = bytes[position]
            position += 1
            if index == 9 && byte > 1 {
                throw ProtobufError(cause: "varint longer than 64 bits at byte \(position - 1)")
            }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw ProtobufError(cause: "varint longer than 10 bytes at byte \(position)")
    }

    mutating func readFixed32() throws -> UInt32 {
        guard end - position >= 4 else {
            throw ProtobufError(cause: "truncated 32-bit value at byte \(position)")
        }
        var value: UInt32 = 0
        for k in 0..<4 { value |= UInt32(bytes[position + k]) << (8 * UInt32(k)) }
        position += 4
        return value
    }

    mutating func readFixed64() throws -> UInt64 {
        guard end - position >= 8 else {
            throw ProtobufError(cause: "truncated 64-bit value at byte \(position)")
        }
        var value: UInt64 = 0
        for k in 0..<8 { value |= UInt64(bytes[position + k]) << (8 * UInt64(k)) }
        position += 8
        return value
    }

    /// Reads a length prefix and returns the byte range it covers, after checking it fits in this message.
    mutating func readLengthDelimited() throws -> Range<Int> {
        let start = position
        let length = try readVarint()
        guard length <= UInt64(end - position) else {
            throw ProtobufError(cause: "length \(length) at byte \(start) runs past the end of its message (\(end - position) bytes left)")
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func skip(_ wire: WireType) throws {
        switch wire {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        }
    }

    // MARK: Typed reads. Each checks the wire type the schema requires, so a field written with another type
    // (a sign of corruption or of a different message) is reported instead of misread.

    static func require(_ wire: WireType, _ expected: WireType, field: Int, in message: String) throws {
        guard wire == expected else {
            throw ProtobufError(cause: "\(message) field \(field) has wire type \(wire.name), expected \(expected.name)")
        }
    }

    mutating func readInt64(_ wire: WireType, field: Int, in message: String) throws -> Int64 {
        try Self.require(wire, .varint, field: field, in: message)
        return Int64(bitPattern: try readVarint())
    }

    /// protobuf `int32` (negative values are sign-extended to ten bytes on the wire).
    mutating func readInt32(_ wire: WireType, field: Int, in message: String) throws -> Int32 {
        try Self.require(wire, .varint, field: field, in: message)
        return Int32(truncatingIfNeeded: Int64(bitPattern: try readVarint()))
    }

    mutating func readFloat(_ wire: WireType, field: Int, in message: String) throws -> Float {
        try Self.require(wire, .fixed32, field: field, in: message)
        return Float(bitPattern: try readFixed32())
    }

    mutating func readString(_ wire: WireType, field: Int, in message: String) throws -> String {
        try Self.require(wire, .lengthDelimited, field: field, in: message)
        let range = try readLengthDelimited()
        return String(decoding: bytes[range], as: UTF8.self)
    }

    mutating func readBytes(_ wire: WireType, field: Int, in message: String) throws -> ArraySlice<UInt8> {
        try Self.require(wire, .lengthDelimited, field: field, in: message)
        return bytes[try readLengthDelimited()]
    }

    mutating func readMessage(_ wire: WireType, field: Int, in message: String) throws -> ProtobufReader {
        try Self.require(wire, .lengthDelimited, field: field, in: message)
        return ProtobufReader(bytes: bytes, range: try readLengthDelimited())
    }

    // MARK: Repeated scalars, packed (one length-delimited run) or not (one value per key); parsers must
    // accept both forms whatever the schema says.

    mutating func appendVarints(_ wire: WireType, field: Int, in message: String, to values: inout [Int64]) throws {
        switch wire {
        case .varint:
            values.append(Int64(bitPattern: try readVarint()))
        case .lengthDelimited:
            var packed = ProtobufReader(bytes: bytes, range: try readLengthDelimited())
            while !packed.isAtEnd { values.append(Int64(bitPattern: try packed.readVarint())) }
        default:
            throw ProtobufError(cause: "\(message) field \(field) has wire type \(wire.name), expected varint or packed")
        }
    }

    mutating func appendFixed32s(_ wire: WireType, field: Int, in message: String, to values: inout [UInt32]) throws {
        switch wire {
        case .fixed32:
            values.append(try readFixed32())
        case .lengthDelimited:
            let range = try readLengthDelimited()
            guard range.count % 4 == 0 else {
                throw ProtobufError(cause: "\(message) field \(field): packed 32-bit run of \(range.count) bytes is not a multiple of 4")
            }
            values.reserveCapacity(values.count + range.count / 4)
            var packed = ProtobufReader(bytes: bytes, range: range)
            while !packed.isAtEnd { values.append(try packed.readFixed32()) }
        default:
            throw ProtobufError(cause: "\(message) field \(field) has wire type \(wire.name), expected 32-bit or packed")
        }
    }

    mutating func appendFixed64s(_ wire: WireType, field: Int, in message: String, to values: inout [UInt64]) throws {
        switch wire {
        case .fixed64:
            values.append(try readFixed64())
        case .lengthDelimited:
            let range = try readLengthDelimited()
            guard range.count % 8 == 0 else {
                throw ProtobufError(cause: "\(message) field \(field): packed 64-bit run of \(range.count) bytes is not a multiple of 8")
            }
            values.reserveCapacity(values.count + range.count / 8)
            var packed = ProtobufReader(bytes: bytes, range: range)
            while !packed.isAtEnd { values.append(try packed.readFixed64()) }
        default:
            throw ProtobufError(cause: "\(message) field \(field) has wire type \(wire.name), expected 64-bit or packed")
        }
    }
}
