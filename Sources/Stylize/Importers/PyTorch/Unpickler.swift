/// A restricted pickle reader for `torch.save` checkpoints.
///
/// Python's own unpickler imports and calls whatever a file names, which makes loading a downloaded `.pth`
/// equivalent to running it. This one executes nothing: it understands the opcodes of protocols 2–4 that
/// checkpoints use, resolves GLOBAL/STACK_GLOBAL only against `TorchGlobal`'s allow-list (anything else is
/// an error naming it), and "calls" those few globals by building the corresponding `PickleValue`.
///
/// Every opcode consumes at least one byte, so a run ends after at most as many steps as there are bytes;
/// nesting of tuples is capped and lists/dicts live in an arena, so no input can recurse deeply or loop.
struct Unpickler {
    /// Maps a persistent id (BINPERSID) to a value; `torch.save` uses it for storages.
    typealias PersistentLoad = (PickleValue) throws -> PickleValue

    /// Deepest tuple nesting accepted; checkpoints need about 3.
    static let maxTupleDepth = 32
    /// Most elements one tensor may have (2^31: 8 GiB of float32), so that a broadcast view (stride 0) with
    /// forged sizes cannot make the reader allocate without limit.
    static let maxTensorElements = 1 << 31

    private var reader: ByteReader
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private let persistentLoad: PersistentLoad?

    /// Lists and dicts created by the pickle, indexed by `PickleValue.list` / `.dict`.
    private(set) var lists: [[PickleValue]] = []
    private(set) var dicts: [PickleDict] = []

    /// Offset of the byte after STOP once `run()` has returned (where the next pickle of a legacy file starts).
    var position: Int { reader.position }

    init(bytes: [UInt8], start: Int = 0, end: Int? = nil, persistentLoad: PersistentLoad? = nil) {
        reader = ByteReader(bytes, from: start, to: end)
        self.persistentLoad = persistentLoad
    }

    /// Runs the pickle to its STOP opcode and returns the value it produced.
    mutating func run() throws -> PickleValue {
        while true {
            let at = reader.position
            let opcode = try reader.u8()
            if opcode == Op.stop {
                guard stack.count == 1, marks.isEmpty else {
                    throw CheckpointError.corrupt("pickle STOP at byte \(at) with \(stack.count) values on the stack")
                }
                return stack[0]
            }
            do {
                try step(opcode)
            } catch let error as CheckpointError {
                switch error {
                case .truncated, .forbiddenGlobal: throw error
                case .corrupt(let m): throw CheckpointError.corrupt("pickle opcode 0x\(hex(opcode)) at byte \(at): \(m)")
                case .unsupported(let m): throw CheckpointError.unsupported("pickle opcode 0x\(hex(opcode)) at byte \(at): \(m)")
                }
            }
        }
    }

    // MARK: - Opcodes

    private enum Op {
        static let mark: UInt8 = 0x28, stop: UInt8 = 0x2E, pop: UInt8 = 0x30, popMark: UInt8 = 0x31, dup: UInt8 = 0x32
        static let binint: UInt8 = 0x4A, binint1: UInt8 = 0x4B, binint2: UInt8 = 0x4D, none: UInt8 = 0x4E
        static let binpersid: UInt8 = 0x51, reduce: UInt8 = 0x52
        static let binstring: UInt8 = 0x54, shortBinstring: UInt8 = 0x55, binunicode: UInt8 = 0x58
        static let binbytes: UInt8 = 0x42, shortBinbytes: UInt8 = 0x43, binfloat: UInt8 = 0x47
        static let emptyList: UInt8 = 0x5D, append: UInt8 = 0x61, build: UInt8 = 0x62, global: UInt8 = 0x63
        static let dict: UInt8 = 0x64, appends: UInt8 = 0x65, binget: UInt8 = 0x68, longBinget: UInt8 = 0x6A
        static let list: UInt8 = 0x6C, binput: UInt8 = 0x71, longBinput: UInt8 = 0x72
        static let setitem: UInt8 = 0x73, tuple: UInt8 = 0x74, emptyTuple: UInt8 = 0x29, setitems: UInt8 = 0x75
        static let emptyDict: UInt8 = 0x7D
        static let proto: UInt8 = 0x80, tuple1: UInt8 = 0x85, tuple2: UInt8 = 0x86, tuple3: UInt8 = 0x87
        static let newtrue: UInt8 = 0x88, newfalse: UInt8 = 0x89, long1: UInt8 = 0x8A, long4: UInt8 = 0x8B
        static let shortBinunicode: UInt8 = 0x8C, binunicode8: UInt8 = 0x8D, binbytes8: UInt8 = 0x8E
        static let stackGlobal: UInt8 = 0x93, memoize: UInt8 = 0x94, frame: UInt8 = 0x95
    }

    private mutating func step(_ opcode: UInt8) throws {
        switch opcode {
        case Op.proto:
            let version = try reader.u8()
            guard version <= 5 else { throw CheckpointError.unsupported("pickle protocol \(version) is newer than 5") }
        case Op.frame:
            _ = try reader.uintLE(8)  // a framing hint only; the opcodes inside are read as usual
        case Op.mark:
            marks.append(stack.count)
        case Op.pop:
            _ = try pop()
        case Op.popMark:
            _ = try popToMark()
        case Op.dup:
            stack.append(try top())

        case Op.none: stack.append(.none)
        case Op.newtrue: stack.append(.bool(true))
        case Op.newfalse: stack.append(.bool(false))
        case Op.binint: stack.append(.int(try reader.int32LE()))
        case Op.binint1: stack.append(.int(Int(try reader.u8())))
        case Op.binint2: stack.append(.int(Int(try reader.uintLE(2))))
        case Op.long1: stack.append(try long(length: Int(try reader.u8())))
        case Op.long4:
            let n = try reader.int32LE()
            guard n >= 0 else { throw CheckpointError.corrupt("negative LONG4 length \(n)") }
            stack.append(try long(length: n))
        case Op.binfloat: stack.append(.float(try reader.float64BE()))

        case Op.binunicode: stack.append(.string(try utf8(try reader.length(4))))
        case Op.shortBinunicode: stack.append(.string(try utf8(try reader.length(1))))
        case Op.binunicode8: stack.append(.string(try utf8(try reader.length(8))))
        case Op.binstring: stack.append(.string(try py2String(try reader.length(4))))
        case Op.shortBinstring: stack.append(.string(try py2String(try reader.length(1))))
        case Op.binbytes: stack.append(.bytes(Array(try reader.take(try reader.length(4)))))
        case Op.shortBinbytes: stack.append(.bytes(Array(try reader.take(try reader.length(1)))))
        case Op.binbytes8: stack.append(.bytes(Array(try reader.take(try reader.length(8)))))

        case Op.emptyTuple: stack.append(try tuple([]))
        case Op.tuple: stack.append(try tuple(try popToMark()))
        case Op.tuple1: stack.append(try tuple(try pop(1)))
        case Op.tuple2: stack.append(try tuple(try pop(2)))
        case Op.tuple3: stack.append(try tuple(try pop(3)))

        case Op.emptyList:
            stack.append(.list(lists.count)); lists.append([])
        case Op.list:
            let items = try popToMark()
            stack.append(.list(lists.count)); lists.append(items)
        case Op.append:
            let item = try pop()
            try appendToList([item])
        case Op.appends:
            let items = try popToMark()
            try appendToList(items)

        case Op.emptyDict:
            stack.append(.dict(dicts.count)); dicts.append(PickleDict())
        case Op.dict:
            let items = try popToMark()
            var dict = PickleDict()
            try insert(items, into: &dict)
            stack.append(.dict(dicts.count)); dicts.append(dict)
        case Op.setitem:
            let value = try pop()
            let key = try pop()
            try setItems([key, value])
        case Op.setitems:
            try setItems(try popToMark())

        case Op.binput: memo[Int(try reader.u8())] = try top()
        case Op.longBinput: memo[Int(try reader.uintLE(4))] = try top()
        case Op.memoize: memo[memo.count] = try top()
        case Op.binget: stack.append(try memoValue(Int(try reader.u8())))
        case Op.longBinget: stack.append(try memoValue(Int(try reader.uintLE(4))))

        case Op.global:
            let module = try ascii(try reader.line())
            let name = try ascii(try reader.line())
            stack.append(.global(try TorchGlobal(module: module, name: name)))
        case Op.stackGlobal:
            let name = try pop()
            let module = try pop()
            guard let m = module.stringValue, let n = name.stringValue else {
                throw CheckpointError.corrupt("STACK_GLOBAL needs two strings, got \(module.kind) and \(name.kind)")
            }
            stack.append(.global(try TorchGlobal(module: m, name: n)))
        case Op.reduce:
            let args = try pop()
            let callable = try pop()
            guard case .global(let function) = callable else {
                throw CheckpointError.corrupt("REDUCE applies a \(callable.kind), not a global")
            }
            guard let items = args.tupleItems else {
                throw CheckpointError.corrupt("REDUCE arguments are a \(args.kind), not a tuple")
            }
            stack.append(try call(function, items))
        case Op.build:
            let state = try pop()
            // OrderedDict state is the `_metadata` attribute (module versions); it carries no weights.
            guard case .dict = try top() else {
                throw CheckpointError.unsupported("BUILD on a \(try top().kind) is not allowed (state \(state.kind))")
            }
        case Op.binpersid:
            let pid = try pop()
            guard let persistentLoad else {
                throw CheckpointError.corrupt("persistent id in a pickle that may not have one")
            }
            stack.append(try persistentLoad(pid))

        default:
            throw CheckpointError.unsupported("opcode is not allowed in a checkpoint")
        }
    }

    // MARK: - Stack helpers

    private mutating func pop() throws -> PickleValue {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else {
            throw CheckpointError.corrupt("stack underflow")
        }
        stack.removeLast()
        return last
    }

    private mutating func pop(_ n: Int) throws -> [PickleValue] {
        guard stack.count - (marks.last ?? 0) >= n else { throw CheckpointError.corrupt("stack underflow") }
        let items = Array(stack.suffix(n))
        stack.removeLast(n)
        return items
    }

    private func top() throws -> PickleValue {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else {
            throw CheckpointError.corrupt("stack underflow")
        }
        return last
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw CheckpointError.corrupt("no MARK on the stack") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func memoValue(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw CheckpointError.corrupt("memo slot \(index) is empty") }
        return value
    }

    private func tuple(_ items: [PickleValue]) throws -> PickleValue {
        var depth = 1
        for case .tuple(let inner) in items { depth = max(depth, inner.depth + 1) }
        guard depth <= Unpickler.maxTupleDepth else {
            throw CheckpointError.corrupt("tuples nested deeper than \(Unpickler.maxTupleDepth)")
        }
        return .tuple(PickleTuple(items: items, depth: depth))
    }

    private mutating func appendToList(_ items: [PickleValue]) throws {
        let target = try top()
        guard case .list(let id) = target else {
            throw CheckpointError.corrupt("APPEND to a \(target.kind), not a list")
        }
        lists[id].append(contentsOf: items)
    }

    private mutating func setItems(_ items: [PickleValue]) throws {
        let target = try top()
        guard case .dict(let id) = target else {
            throw CheckpointError.corrupt("SETITEM on a \(target.kind), not a dict")
        }
        try insert(items, into: &dicts[id])
    }

    private func insert(_ items: [PickleValue], into dict: inout PickleDict) throws {
        guard items.count % 2 == 0 else { throw CheckpointError.corrupt("odd number of items for a dict") }
        for i in stride(from: 0, to: items.count, by: 2) {
            try dict.set(items[i], items[i + 1])
        }
    }

    // MARK: - Scalars

    /// A LONG1/LONG4 integer: little-endian two's complement; wider than 64 bits stays as bytes (the legacy
    /// magic number is one of those).
    private mutating func long(length: Int) throws -> PickleValue {
        let raw = Array(try reader.take(length))
        guard !raw.isEmpty else { return .int(0) }
        guard raw.count <= 8 else { return .bigInt(raw) }
        var bits: UInt64 = 0
        for (i, byte) in raw.enumerated() { bits |= UInt64(byte) << (8 * UInt64(i)) }
        if raw.count < 8, raw[raw.count - 1] & 0x80 != 0 {
            bits |= ~UInt64(0) << (8 * UInt64(raw.count))  // sign-extend
        }
        return .int(Int(Int64(bitPattern: bits)))
    }

    private mutating func utf8(_ length: Int) throws -> String {
        let raw = try reader.take(length)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw CheckpointError.corrupt("string is not valid UTF-8")
        }
        return s
    }

    /// Python 2 `str`: bytes that are text in practice; read as UTF-8, else as Latin-1 (never fails).
    private mutating func py2String(_ length: Int) throws -> String {
        let raw = try reader.take(length)
        if let s = String(validating: raw, as: UTF8.self) { return s }
        return String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))
    }

    private func ascii(_ raw: ArraySlice<UInt8>) throws -> String {
        guard raw.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw CheckpointError.corrupt("GLOBAL name is not printable ASCII")
        }
        return String(decoding: raw, as: UTF8.self)
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }

    // MARK: - The allowed calls

    /// Builds what calling an allowed global would build; the global itself is never looked up in Python.
    private mutating func call(_ function: TorchGlobal, _ args: [PickleValue]) throws -> PickleValue {
        switch function {
        case .orderedDict:
            guard args.isEmpty else { throw CheckpointError.unsupported("OrderedDict called with arguments") }
            dicts.append(PickleDict())
            return .dict(dicts.count - 1)
        case .rebuildTensorV2:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard args.count == 6 || args.count == 7 else {
                throw CheckpointError.corrupt("_rebuild_tensor_v2 takes 6 or 7 arguments, got \(args.count)")
            }
            return try rebuildTensor(args[0], args[1], args[2], args[3])
        case .rebuildTensor:
            guard args.count == 4 else {
                throw CheckpointError.corrupt("_rebuild_tensor takes 4 arguments, got \(args.count)")
            }
            return try rebuildTensor(args[0], args[1], args[2], args[3])
        case .rebuildParameter, .rebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state]): a parameter's values are its data tensor.
            let expected = function == .rebuildParameter ? 3 : 4
            guard args.count == expected, case .tensor = args[0] else {
                throw CheckpointError.corrupt("parameter rebuild needs \(expected) arguments starting with a tensor")
            }
            return args[0]
        case .rebuildFromTypeV2:
            // (func, new_type, args, state): a plain Tensor/Parameter rebuilt by one of the functions above.
            guard args.count == 4, case .global(let inner) = args[0], let innerArgs = args[2].tupleItems else {
                throw CheckpointError.corrupt("_rebuild_from_type_v2 needs (function, type, args, state)")
            }
            guard [.rebuildTensorV2, .rebuildTensor, .rebuildParameter].contains(inner) else {
                throw CheckpointError.unsupported("_rebuild_from_type_v2 of \(inner) is not supported")
            }
            guard args[1] == .global(.tensorType) || args[1] == .global(.parameterType) else {
                throw CheckpointError.unsupported("tensor subclass of type \(args[1].kind) is not supported")
            }
            return try call(inner, innerArgs)
        case .getLayout:
            guard args.count == 1, args[0].stringValue == "torch.strided" else {
                throw CheckpointError.unsupported("only the torch.strided layout is supported")
            }
            return .layout
        case .strided, .storageType, .tensorType, .parameterType:
            throw CheckpointError.corrupt("\(function) is not callable")
        }
    }

    /// Validates a strided view against its storage before anything reads it: non-negative sizes, strides
    /// and offset, and the furthest element inside the storage view (all with overflow checks).
    private func rebuildTensor(_ storage: PickleValue, _ offset: PickleValue, _ size: PickleValue,
                               _ stride: PickleValue) throws -> PickleValue {
        guard case .storage(let ref) = storage else {
            throw CheckpointError.corrupt("tensor rebuilt from a \(storage.kind), not a storage")
        }
        guard let offset = offset.intValue, offset >= 0 else { throw CheckpointError.corrupt("bad tensor storage offset") }
        guard let sizeItems = size.tupleItems, let strideItems = stride.tupleItems else {
            throw CheckpointError.corrupt("tensor size and stride must be tuples")
        }
        let sizes = sizeItems.compactMap(\.intValue)
        let strides = strideItems.compactMap(\.intValue)
        guard sizes.count == sizeItems.count, strides.count == strideItems.count, sizes.count == strides.count,
              sizes.count <= 8 else {
            throw CheckpointError.corrupt("tensor size \(sizeItems.count)-D and stride \(strideItems.count)-D do not match")
        }
        guard sizes.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError.corrupt("negative tensor size or stride \(sizes) / \(strides)")
        }
        var count = 1
        var last = offset
        for (n, s) in zip(sizes, strides) {
            let (c, o1) = count.multipliedReportingOverflow(by: n)
            guard !o1, c <= Unpickler.maxTensorElements else {
                throw CheckpointError.corrupt("tensor size \(sizes) has more than \(Unpickler.maxTensorElements) elements")
            }
            count = c
            if n > 0 {
                let (span, o2) = (n - 1).multipliedReportingOverflow(by: s)
                let (sum, o3) = last.addingReportingOverflow(span)
                guard !o2, !o3 else { throw CheckpointError.corrupt("tensor stride \(strides) overflows") }
                last = sum
            }
        }
        if count > 0, last >= ref.viewCount {
            throw CheckpointError.corrupt(
                "tensor of size \(sizes), stride \(strides), offset \(offset) reaches element \(last) of a storage of \(ref.viewCount)")
        }
        return .tensor(TensorRef(storage: ref, offset: offset, sizes: sizes, strides: strides))
    }
}
