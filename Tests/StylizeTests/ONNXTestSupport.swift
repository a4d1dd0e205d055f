import Foundation

/// A minimal protobuf writer for building small ONNX models inside tests, so that each importer rule
/// (and each error) can be exercised on a graph of a few nodes without shipping fixture files.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }

    mutating func int(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        let b = value.bitPattern
        for k in 0..<4 { bytes.append(UInt8((b >> (8 * UInt32(k))) & 0xff)) }
    }

    mutating func data(_ field: Int, _ payload: [UInt8]) {
        key(field, 2)
        varint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ m: ProtoWriter) { data(field, m.bytes) }

    mutating func packedInts(_ field: Int, _ values: [Int64]) {
        var p = ProtoWriter()
        for v in values { p.varint(UInt64(bitPattern: v)) }
        data(field, p.bytes)
    }

    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        var p: [UInt8] = []
        for v in values { for k in 0..<4 { p.append(UInt8((v.bitPattern >> (8 * UInt32(k))) & 0xff)) } }
        data(field, p)
    }
}

/// Builders for the ONNX messages (field numbers from onnx/onnx.proto).
enum ONNXBuilder {
    enum Attr {
        case int(String, Int64)
        case ints(String, [Int64])
        case float(String, Float)
        case floats(String, [Float])
        case string(String, String)
        case tensor(String, ProtoWriter)
    }

    static func floatTensor(_ name: String, _ dims: [Int64], _ values: [Float]) -> ProtoWriter {
        var t = ProtoWriter()
        t.packedInts(1, dims)
        t.int(2, 1)
        t.packedFloats(4, values)
        if !name.isEmpty { t.string(8, name) }
        return t
    }

    static func intTensor(_ name: String, _ dims: [Int64], _ values: [Int64]) -> ProtoWriter {
        var t = ProtoWriter()
        t.packedInts(1, dims)
        t.int(2, 7)
        t.packedInts(7, values)
        if !name.isEmpty { t.string(8, name) }
        return t
    }

    static func attribute(_ a: Attr) -> ProtoWriter {
        var w = ProtoWriter()
        switch a {
        case .int(let n, let v): w.string(1, n); w.int(3, v); w.int(20, 2)
        case .ints(let n, let v): w.string(1, n); w.packedInts(8, v); w.int(20, 7)
        case .float(let n, let v): w.string(1, n); w.float(2, v); w.int(20, 1)
        case .floats(let n, let v): w.string(1, n); w.packedFloats(7, v); w.int(20, 6)
        case .string(let n, let v): w.string(1, n); w.string(4, v); w.int(20, 3)
        case .tensor(let n, let t): w.string(1, n); w.message(5, t); w.int(20, 4)
        }
        return w
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String, _ attrs: [Attr] = []) -> ProtoWriter {
        var n = ProtoWriter()
        for i in inputs { n.string(1, i) }
        for o in outputs { n.string(2, o) }
        n.string(3, name)
        n.string(4, op)
        for a in attrs { n.message(5, attribute(a)) }
        return n
    }

    /// A float tensor value info; a dimension of -1 is written as the symbolic `dim_param` "d<index>".
    static func valueInfo(_ name: String, _ dims: [Int64]) -> ProtoWriter {
        var shape = ProtoWriter()
        for (k, d) in dims.enumerated() {
            var dim = ProtoWriter()
            if d >= 0 { dim.int(1, d) } else { dim.string(2, "d\(k)") }
            shape.message(1, dim)
        }
        var tensorType = ProtoWriter()
        tensorType.int(1, 1)
        tensorType.message(2, shape)
        var type = ProtoWriter()
        type.message(1, tensorType)
        var info = ProtoWriter()
        info.string(1, name)
        info.message(2, type)
        return info
    }

    static func model(nodes: [ProtoWriter], initializers: [ProtoWriter] = [], inputs: [ProtoWriter], outputs: [ProtoWriter],
                      opset: Int64 = 17) -> [UInt8] {
        var g = ProtoWriter()
        for n in nodes { g.message(1, n) }
        g.string(2, "test")
        for t in initializers { g.message(5, t) }
        for i in inputs { g.message(11, i) }
        for o in outputs { g.message(12, o) }
        var opsetId = ProtoWriter()
        opsetId.string(1, "")
        opsetId.int(2, opset)
        var m = ProtoWriter()
        m.int(1, 8)
        m.string(2, "streamd-tests")
        m.message(7, g)
        m.message(8, opsetId)
        return m.bytes
    }
}

/// A scratch folder removed when the test ends.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
