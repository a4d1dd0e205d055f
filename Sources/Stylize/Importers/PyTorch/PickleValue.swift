/// Element types of PyTorch storages, named as `torch.save` names their storage classes.
///
/// Every storage class is known here (with its element size) even though only floating-point ones become
/// weights: the legacy container must skip over each storage by its byte length, and buffers such as
/// `num_batches_tracked` (int64) sit beside the weights in ordinary checkpoints.
enum TorchDType: String, Sendable, CaseIterable {
    case float32, float64, float16, bfloat16
    case int64, int32, int16, int8, uint8, bool
    case complex64, complex128

    /// `torch.<storageName>` as it appears in a pickle GLOBAL.
    var storageName: String {
        switch self {
        case .float32: "FloatStorage"
        case .float64: "DoubleStorage"
        case .float16: "HalfStorage"
        case .bfloat16: "BFloat16Storage"
        case .int64: "LongStorage"
        case .int32: "IntStorage"
        case .int16: "ShortStorage"
        case .int8: "CharStorage"
        case .uint8: "ByteStorage"
        case .bool: "BoolStorage"
        case .complex64: "ComplexFloatStorage"
        case .complex128: "ComplexDoubleStorage"
        }
    }

    var elementSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64, .complex64: 8
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        case .complex128: 16
        }
    }

    /// Whether weights of this type can be converted to float32 without losing meaning.
    var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: true
        default: false
        }
    }

    init?(storageName: String) {
        guard let match = TorchDType.allCases.first(where: { $0.storageName == storageName }) else { return nil }
        self = match
    }
}

/// A storage as a pickle refers to it through a persistent id: which record, what type, how many elements.
struct StorageRef: Equatable {
    var key: String
    var dtype: TorchDType
    /// Elements in the whole stored record.
    var count: Int
    /// For the legacy container's storage views (`view_metadata`): the first element of the view within the
    /// record and its length. A plain storage is the view `0 ..< count`.
    var viewOffset: Int = 0
    var viewCount: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided window onto a storage.
struct TensorRef: Equatable {
    var storage: StorageRef
    /// In elements, from the start of the storage view.
    var offset: Int
    var sizes: [Int]
    var strides: [Int]

    var elementCount: Int { sizes.reduce(1, *) }
}

/// The globals a checkpoint pickle may name. Anything else is refused by name before it can be used.
enum TorchGlobal: Equatable {
    case orderedDict
    case rebuildTensorV2
    case rebuildTensor
    case rebuildParameter
    case rebuildParameterWithState
    case rebuildFromTypeV2
    case getLayout
    /// `torch.strided`: the only layout a dense weight can have.
    case strided
    case storageType(TorchDType)
    /// `torch.Tensor` / `torch.nn.parameter.Parameter`, as the type argument of `_rebuild_from_type_v2`.
    case tensorType
    case parameterType

    init(module: String, name: String) throws {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): self = .rebuildFromTypeV2
        case ("torch.serialization", "_get_layout"): self = .getLayout
        case ("torch", "strided"): self = .strided
        case ("torch", "Tensor"): self = .tensorType
        case ("torch.nn.parameter", "Parameter"): self = .parameterType
        case ("torch", _) where name.hasSuffix("Storage"):
            guard let dtype = TorchDType(storageName: name) else {
                throw CheckpointError.unsupported("unsupported storage type torch.\(name) (unsupported dtype)")
            }
            self = .storageType(dtype)
        default:
            throw CheckpointError.forbiddenGlobal(module: module, name: name)
        }
    }
}

/// An immutable pickle tuple with its nesting depth, so nesting can be bounded without walking it.
struct PickleTuple: Equatable {
    var items: [PickleValue]
    var depth: Int
}

/// A value on the unpickler's stack.
///
/// Lists and dicts are mutable and shared in pickle (APPEND into a memoised list changes every reference),
/// so they live in the unpickler's arena and values hold their index. That also keeps values flat: no chain
/// of nested objects whose release could recurse deeply, whatever the input.
enum PickleValue: Equatable {
    case none
    case bool(Bool)
    case int(Int)
    /// A LONG1/LONG4 integer wider than 64 bits, as little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleTuple)
    case list(Int)
    case dict(Int)
    case global(TorchGlobal)
    case storage(StorageRef)
    case tensor(TensorRef)
    case layout

    /// For messages: what kind of value this is.
    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case .global: "global"
        case .storage: "storage"
        case .tensor: "tensor"
        case .layout: "layout"
        }
    }

    var tupleItems: [PickleValue]? {
        if case .tuple(let t) = self { return t.items }
        return nil
    }

    var intValue: Int? {
        switch self {
        case .int(let v): v
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// A pickled dict (or OrderedDict) in insertion order. Keys are str or int, which is all a checkpoint uses.
struct PickleDict {
    enum Key: Hashable {
        case string(String)
        case int(Int)
    }

    private(set) var keys: [Key] = []
    private(set) var values: [PickleValue] = []
    private var index: [Key: Int] = [:]

    var count: Int { keys.count }

    mutating func set(_ key: PickleValue, _ value: PickleValue) throws {
        let k: Key
        switch key {
        case .string(let s): k = .string(s)
        case .int(let i): k = .int(i)
        case .bool(let b): k = .int(b ? 1 : 0)
        default: throw CheckpointError.unsupported("dict key of type \(key.kind) is not supported")
        }
        if let at = index[k] {
            values[at] = value
        } else {
            index[k] = keys.count
            keys.append(k)
            values.append(value)
        }
    }

    subscript(string key: String) -> PickleValue? {
        index[.string(key)].map { values[$0] }
    }
}
