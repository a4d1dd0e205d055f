/// The parts of the ONNX protobuf schema (onnx/onnx.proto) the importer reads. Field numbers are the
/// schema's; every other field is skipped, so files written by newer ONNX versions still load.

struct ONNXModelProto {
    var irVersion: Int64 = 0
    var producerName = ""
    var producerVersion = ""
    var docString = ""
    /// (domain, version); the default domain is "" (or "ai.onnx").
    var opsetImports: [(domain: String, version: Int64)] = []
    var graph: ONNXGraphProto?
    var metadata: [(key: String, value: String)] = []

    /// Version of the default operator set, which decides attribute-versus-input forms of some operators.
    var defaultOpset: Int64? {
        opsetImports.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version
    }
}

struct ONNXGraphProto {
    var name = ""
    var docString = ""
    var nodes: [ONNXNodeProto] = []
    var initializers: [ONNXTensorProto] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
}

struct ONNXNodeProto {
    var inputs: [String] = []
    var outputs: [String] = []
    var name = ""
    var opType = ""
    var domain = ""
    var attributes: [ONNXAttribute] = []

    func attribute(_ name: String) -> ONNXAttribute? {
        attributes.first { $0.name == name }
    }
}

/// An attribute: the importer reads whichever value field is present, so the `type` discriminator (field 20)
/// is not needed.
struct ONNXAttribute {
    var name = ""
    var f: Float?
    var i: Int64?
    var s: [UInt8]?
    var t: ONNXTensorProto?
    var floats: [Float] = []
    var ints: [Int64] = []
    var strings: [[UInt8]] = []
    /// Set when a field the importer does not decode (graph, sparse tensor, type proto, lists of those) is present.
    var hasUndecodedValue = false

    var string: String? { s.map { String(decoding: $0, as: UTF8.self) } }
}

/// Where the elements of a TensorProto are: one of the typed repeated fields or `raw_data` (little-endian).
struct ONNXTensorProto {
    var dims: [Int64] = []
    var dataType: Int32 = 0
    var name = ""
    var floatData: [UInt32] = []
    var int32Data: [Int64] = []
    var int64Data: [Int64] = []
    var doubleData: [UInt64] = []
    var uint64Data: [Int64] = []
    var rawData: ArraySlice<UInt8>?
    /// TensorProto.data_location: 1 means the data lives in another file.
    var dataLocation: Int64 = 0
    var hasExternalData = false
}

struct ONNXValueInfo {
    enum Dim: Equatable {
        case value(Int64)
        case param(String)
        case unknown
    }

    var name = ""
    var docString = ""
    var elemType: Int32 = 0
    /// nil when the type carries no shape (rank unknown).
    var dims: [Dim]?
}

// MARK: Decoding

enum ONNXProtoDecoder {
    static func model(_ bytes: [UInt8]) throws -> ONNXModelProto {
        var reader = ProtobufReader(bytes: bytes)
        var model = ONNXModelProto()
        var sawGraph = false
        let m = "ModelProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: model.irVersion = try reader.readInt64(wire, field: field, in: m)
            case 2: model.producerName = try reader.readString(wire, field: field, in: m)
            case 3: model.producerVersion = try reader.readString(wire, field: field, in: m)
            case 6: model.docString = try reader.readString(wire, field: field, in: m)
            case 7:
                var sub = try reader.readMessage(wire, field: field, in: m)
                model.graph = try graph(&sub)
                sawGraph = true
            case 8:
                var sub = try reader.readMessage(wire, field: field, in: m)
                model.opsetImports.append(try opset(&sub))
            case 14:
                var sub = try reader.readMessage(wire, field: field, in: m)
                model.metadata.append(try stringPair(&sub))
            default: try reader.skip(wire)
            }
        }
        guard sawGraph else { throw ProtobufError(cause: "not an ONNX model (no graph)") }
        return model
    }

    static func opset(_ reader: inout ProtobufReader) throws -> (domain: String, version: Int64) {
        var domain = "", version: Int64 = 0
        let m = "OperatorSetIdProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: domain = try reader.readString(wire, field: field, in: m)
            case 2: version = try reader.readInt64(wire, field: field, in: m)
            default: try reader.skip(wire)
            }
        }
        return (domain, version)
    }

    static func stringPair(_ reader: inout ProtobufReader) throws -> (key: String, value: String) {
        var key = "", value = ""
        let m = "StringStringEntryProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: key = try reader.readString(wire, field: field, in: m)
            case 2: value = try reader.readString(wire, field: field, in: m)
            default: try reader.skip(wire)
            }
        }
        return (key, value)
    }

    static func graph(_ reader: inout ProtobufReader) throws -> ONNXGraphProto {
        var graph = ONNXGraphProto()
        let m = "GraphProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                var sub = try reader.readMessage(wire, field: field, in: m)
                graph.nodes.append(try node(&sub))
            case 2: graph.name = try reader.readString(wire, field: field, in: m)
            case 5:
                var sub = try reader.readMessage(wire, field: field, in: m)
                graph.initializers.append(try tensor(&sub))
            case 10: graph.docString = try reader.readString(wire, field: field, in: m)
            case 11:
                var sub = try reader.readMessage(wire, field: field, in: m)
                graph.inputs.append(try valueInfo(&sub))
            case 12:
                var sub = try reader.readMessage(wire, field: field, in: m)
                graph.outputs.append(try valueInfo(&sub))
            default: try reader.skip(wire)
            }
        }
        return graph
    }

    static func node(_ reader: inout ProtobufReader) throws -> ONNXNodeProto {
        var node = ONNXNodeProto()
        let m = "NodeProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: node.inputs.append(try reader.readString(wire, field: field, in: m))
            case 2: node.outputs.append(try reader.readString(wire, field: field, in: m))
            case 3: node.name = try reader.readString(wire, field: field, in: m)
            case 4: node.opType = try reader.readString(wire, field: field, in: m)
            case 5:
                var sub = try reader.readMessage(wire, field: field, in: m)
                node.attributes.append(try attribute(&sub))
            case 7: node.domain = try reader.readString(wire, field: field, in: m)
            default: try reader.skip(wire)
            }
        }
        return node
    }

    static func attribute(_ reader: inout ProtobufReader) throws -> ONNXAttribute {
        var attr = ONNXAttribute()
        let m = "AttributeProto"
        var floatBits: [UInt32] = []
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: attr.name = try reader.readString(wire, field: field, in: m)
            case 2: attr.f = try reader.readFloat(wire, field: field, in: m)
            case 3: attr.i = try reader.readInt64(wire, field: field, in: m)
            case 4: attr.s = Array(try reader.readBytes(wire, field: field, in: m))
            case 5:
                var sub = try reader.readMessage(wire, field: field, in: m)
                attr.t = try tensor(&sub)
            case 7: try reader.appendFixed32s(wire, field: field, in: m, to: &floatBits)
            case 8: try reader.appendVarints(wire, field: field, in: m, to: &attr.ints)
            case 9: attr.strings.append(Array(try reader.readBytes(wire, field: field, in: m)))
            case 6, 10, 11, 14, 15, 22, 23:
                attr.hasUndecodedValue = true
                try reader.skip(wire)
            default: try reader.skip(wire)
            }
        }
        attr.floats = floatBits.map(Float.init(bitPattern:))
        return attr
    }

    static func tensor(_ reader: inout ProtobufReader) throws -> ONNXTensorProto {
        var tensor = ONNXTensorProto()
        let m = "TensorProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: try reader.appendVarints(wire, field: field, in: m, to: &tensor.dims)
            case 2: tensor.dataType = try reader.readInt32(wire, field: field, in: m)
            case 4: try reader.appendFixed32s(wire, field: field, in: m, to: &tensor.floatData)
            case 5: try reader.appendVarints(wire, field: field, in: m, to: &tensor.int32Data)
            case 7: try reader.appendVarints(wire, field: field, in: m, to: &tensor.int64Data)
            case 8: tensor.name = try reader.readString(wire, field: field, in: m)
            case 9: tensor.rawData = try reader.readBytes(wire, field: field, in: m)
            case 10: try reader.appendFixed64s(wire, field: field, in: m, to: &tensor.doubleData)
            case 11: try reader.appendVarints(wire, field: field, in: m, to: &tensor.uint64Data)
            case 13:
                tensor.hasExternalData = true
                try reader.skip(wire)
            case 14: tensor.dataLocation = try reader.readInt64(wire, field: field, in: m)
            default: try reader.skip(wire)
            }
        }
        return tensor
    }

    static func valueInfo(_ reader: inout ProtobufReader) throws -> ONNXValueInfo {
        var info = ONNXValueInfo()
        let m = "ValueInfoProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1: info.name = try reader.readString(wire, field: field, in: m)
            case 2:
                var sub = try reader.readMessage(wire, field: field, in: m)
                try typeProto(&sub, into: &info)
            case 3: info.docString = try reader.readString(wire, field: field, in: m)
            default: try reader.skip(wire)
            }
        }
        return info
    }

    /// TypeProto: only `tensor_type` (field 1) matters; sequences, maps and the rest are left undecoded.
    static func typeProto(_ reader: inout ProtobufReader, into info: inout ONNXValueInfo) throws {
        let m = "TypeProto"
        while let (field, wire) = try reader.nextField() {
            switch field {
            case 1:
                var tensorType = try reader.readMessage(wire, field: field, in: m)
                while let (f2, w2) = try tensorType.nextField() {
                    switch f2 {
                    case 1: info.elemType = try tensorType.readInt32(w2, field: f2, in: "TypeProto.Tensor")
                    case 2:
                        var shape = try tensorType.readMessage(w2, field: f2, in: "TypeProto.Tensor")
                        info.dims = try tensorShape(&shape)
                    default: try tensorType.skip(w2)
                    }
                }
            default: try reader.skip(wire)
            }
        }
    }

    static func tensorShape(_ reader: inout ProtobufReader) throws -> [ONNXValueInfo.Dim] {
        var dims: [ONNXValueInfo.Dim] = []
        while let (field, wire) = try reader.nextField() {
            guard field == 1 else { try reader.skip(wire); continue }
            var dimReader = try reader.readMessage(wire, field: field, in: "TensorShapeProto")
            var dim = ONNXValueInfo.Dim.unknown
            while let (f2, w2) = try dimReader.nextField() {
                switch f2 {
                case 1: dim = .value(try dimReader.readInt64(w2, field: f2, in: "TensorShapeProto.Dimension"))
                case 2: dim = .param(try dimReader.readString(w2, field: f2, in: "TensorShapeProto.Dimension"))
                default: try dimReader.skip(w2)
                }
            }
            dims.append(dim)
        }
        return dims
    }
}
