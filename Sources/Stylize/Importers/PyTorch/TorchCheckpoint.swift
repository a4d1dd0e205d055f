import Foundation
import ZIPFoundation

/// A `torch.save` file opened and checked: its top-level object and the raw bytes of every storage that
/// object references.
///
/// Two containers exist. Since PyTorch 1.6 a checkpoint is a zip archive `<name>/data.pkl` plus one record
/// `<name>/data/<key>` per storage. Before that (and with `_use_new_zipfile_serialization=False`) it is a
/// run of pickles — magic number, protocol version, system info, the object, the sorted list of storage
/// keys — followed by each storage as an 8-byte little-endian element count and its elements, little-endian.
/// The zip form stores elements in the saving machine's order and names it in a `byteorder` record.
struct TorchCheckpoint {
    enum Container: String {
        case zip
        case legacy
    }

    /// One storage record's bytes, as stored (byte order given by `bigEndian`).
    struct StorageBytes {
        var bytes: [UInt8]
        var dtype: TorchDType
        var count: Int
        var bigEndian: Bool
    }

    let container: Container
    let root: PickleValue
    let lists: [[PickleValue]]
    let dicts: [PickleDict]
    let storages: [String: StorageBytes]

    /// The legacy container's first pickle: `0x1950a86a20f9469cfc6c` as LONG1 little-endian bytes.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let legacyProtocolVersion = 1001
    /// Upper bound for one zip record (data.pkl or a storage); far above any style network (~7 MB), and it
    /// keeps a forged size field from making the reader allocate without limit.
    static let maxRecordBytes: UInt64 = 1 << 30

    // MARK: - Opening

    /// Reads the file at `path`. I/O failures throw `StylizeError`; problems with the content throw
    /// `CheckpointError` (the caller adds the path).
    static func read(path: String) throws -> TorchCheckpoint {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw StylizeError(.fileNotFound, "\(path): no such file")
        }
        let head: [UInt8]
        do {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            head = [UInt8](try handle.read(upToCount: 512) ?? Data())
        } catch {
            throw StylizeError(.unreadable, "\(path): cannot read: \(error.localizedDescription)")
        }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return try readZip(url: url)
        }
        if head.starts(with: [0x80, 0x02, 0x8A, 0x0A]) {
            let bytes: [UInt8]
            do {
                bytes = [UInt8](try Data(contentsOf: url, options: .mappedIfSafe))
            } catch {
                throw StylizeError(.unreadable, "\(path): cannot read: \(error.localizedDescription)")
            }
            return try readLegacy(bytes)
        }
        if head.count >= 262, Array(head[257 ..< 262]) == Array("ustar".utf8) {
            throw CheckpointError.unsupported("a tar archive: the checkpoint format of PyTorch before 0.4 is not supported")
        }
        if head.isEmpty {
            throw CheckpointError.corrupt("the file is empty")
        }
        throw CheckpointError.unsupported(
            "not a PyTorch checkpoint: neither a zip archive (torch >= 1.6) nor a legacy torch.save pickle")
    }

    // MARK: - Zip container

    private static func readZip(url: URL) throws -> TorchCheckpoint {
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw CheckpointError.corrupt("not a readable zip archive: truncated or damaged (\(error))")
        }
        var entries: [String: Entry] = [:]
        for entry in archive where entry.type == .file {
            entries[entry.path] = entry
        }
        // torch writes every record under one top-level folder named after the file it first saved to.
        let pickles = entries.keys.filter { name in
            name.hasSuffix("/data.pkl") && name.dropLast("/data.pkl".count).firstIndex(of: "/") == nil
        }
        guard pickles.count == 1, let pickleName = pickles.first, let pickleEntry = entries[pickleName] else {
            throw CheckpointError.unsupported(pickles.isEmpty
                ? "zip archive without <name>/data.pkl: not a torch.save checkpoint"
                : "zip archive with \(pickles.count) data.pkl records")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))

        var bigEndian = false
        if let orderEntry = entries[prefix + "byteorder"] {
            let order = String(decoding: try record(orderEntry, in: archive), as: UTF8.self)
            switch order {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw CheckpointError.corrupt("byteorder record says '\(order.prefix(16))'")
            }
        }

        let registry = StorageRegistry()
        let pickleBytes = try record(pickleEntry, in: archive)
        var unpickler = Unpickler(bytes: pickleBytes) { pid in
            .storage(try registry.register(try storageRef(from: pid, legacy: false)))
        }
        let root: PickleValue
        do {
            root = try unpickler.run()
        } catch let error as CheckpointError {
            throw error.within("data.pkl")
        }

        var storages: [String: StorageBytes] = [:]
        for (key, ref) in registry.storages {
            let name = prefix + "data/" + key
            guard let entry = entries[name] else {
                throw CheckpointError.corrupt("storage record \(name) is missing")
            }
            let bytes = try record(entry, in: archive)
            let expected = ref.count * ref.dtype.elementSize
            guard bytes.count == expected else {
                throw CheckpointError.corrupt(
                    "storage record \(name) has \(bytes.count) bytes, expected \(expected) (\(ref.count) × \(ref.dtype.rawValue))")
            }
            storages[key] = StorageBytes(bytes: bytes, dtype: ref.dtype, count: ref.count, bigEndian: bigEndian)
        }
        return TorchCheckpoint(container: .zip, root: root, lists: unpickler.lists, dicts: unpickler.dicts,
                               storages: storages)
    }

    /// One zip record in full, with its size capped and its CRC-32 checked (a zero CRC is what writers
    /// that skip checksums record, so it is not compared).
    private static func record(_ entry: Entry, in archive: Archive) throws -> [UInt8] {
        let size = entry.uncompressedSize
        guard size <= maxRecordBytes else {
            throw CheckpointError.unsupported("zip record \(entry.path) is \(size) bytes, more than a weight file holds")
        }
        var out: [UInt8] = []
        out.reserveCapacity(Int(min(size, 1 << 26)))  // the header's size is a claim until the bytes arrive
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry, skipCRC32: false) { chunk in
                guard UInt64(out.count + chunk.count) <= size else {
                    throw CheckpointError.corrupt("zip record \(entry.path) is longer than its header says")
                }
                out.append(contentsOf: chunk)
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.corrupt("zip record \(entry.path) cannot be read (\(error))")
        }
        guard UInt64(out.count) == size else {
            throw CheckpointError.corrupt("zip record \(entry.path) has \(out.count) of its \(size) bytes")
        }
        guard entry.checksum == 0 || checksum == entry.checksum else {
            throw CheckpointError.corrupt("zip record \(entry.path) fails its CRC-32 check")
        }
        return out
    }

    // MARK: - Legacy container

    static func readLegacy(_ bytes: [UInt8]) throws -> TorchCheckpoint {
        var magic = Unpickler(bytes: bytes)
        guard case .bigInt(let number) = try run(&magic, "magic number"), number == legacyMagic else {
            throw CheckpointError.unsupported("legacy pickle without the torch.save magic number")
        }
        var version = Unpickler(bytes: bytes, start: magic.position)
        let protocolVersion = try run(&version, "protocol version")
        guard protocolVersion.intValue == legacyProtocolVersion else {
            throw CheckpointError.unsupported("legacy protocol version \(protocolVersion) (only \(legacyProtocolVersion) is known)")
        }
        // System info (byte order, type sizes) is only read past: the legacy writer converts every storage
        // and count to little-endian whatever the machine, so the saving machine's byte order is moot.
        var sysInfo = Unpickler(bytes: bytes, start: version.position)
        guard case .dict = try run(&sysInfo, "system info") else {
            throw CheckpointError.corrupt("system info pickle is not a dict")
        }

        let registry = StorageRegistry()
        var main = Unpickler(bytes: bytes, start: sysInfo.position) { pid in
            .storage(try registry.register(try storageRef(from: pid, legacy: true)))
        }
        let root = try run(&main, "main pickle")

        var keyList = Unpickler(bytes: bytes, start: main.position)
        guard case .list(let listID) = try run(&keyList, "storage key list") else {
            throw CheckpointError.corrupt("storage key list is not a list")
        }
        let keys = try keyList.lists[listID].map { value in
            guard let key = value.stringValue else { throw CheckpointError.corrupt("storage key is a \(value.kind)") }
            return key
        }

        var reader = ByteReader(bytes, from: keyList.position)
        var storages: [String: StorageBytes] = [:]
        for key in keys {
            guard let ref = registry.storages[key] else {
                throw CheckpointError.corrupt("storage \(key) is listed but no tensor refers to it")
            }
            guard storages[key] == nil else { throw CheckpointError.corrupt("storage \(key) is listed twice") }
            let at = reader.position
            let data: ArraySlice<UInt8>
            do {
                let count = try reader.int64LE()
                guard count == Int64(ref.count) else {
                    throw CheckpointError.corrupt("has \(count) elements, the pickle says \(ref.count)")
                }
                data = try reader.take(ref.count * ref.dtype.elementSize)  // count ≤ maxRecordBytes: no overflow
            } catch let error as CheckpointError {
                throw error.within("storage \(key) at byte \(at)")
            }
            storages[key] = StorageBytes(bytes: Array(data), dtype: ref.dtype, count: ref.count, bigEndian: false)
        }
        if let missing = registry.storages.keys.first(where: { storages[$0] == nil }) {
            throw CheckpointError.corrupt("storage \(missing) is referenced but not in the storage list")
        }
        return TorchCheckpoint(container: .legacy, root: root, lists: main.lists, dicts: main.dicts, storages: storages)
    }

    private static func run(_ unpickler: inout Unpickler, _ what: String) throws -> PickleValue {
        do {
            return try unpickler.run()
        } catch let error as CheckpointError {
            throw error.within(what)
        }
    }

    // MARK: - Persistent ids

    /// Parses `('storage', torch.<T>Storage, key, location, numel)` (zip) or the same with a sixth
    /// `view_metadata` item (legacy: None, or `(view_key, offset, size)` for a view onto the storage).
    /// The location ("cpu", "cuda:0") is ignored: everything is loaded into main memory.
    private static func storageRef(from pid: PickleValue, legacy: Bool) throws -> StorageRef {
        guard let items = pid.tupleItems, let kind = items.first?.stringValue else {
            throw CheckpointError.corrupt("persistent id is a \(pid.kind), not a ('storage', …) tuple")
        }
        guard kind == "storage" else {
            throw CheckpointError.unsupported(kind == "module"
                ? "the checkpoint pickles a whole nn.Module; save its state_dict() instead"
                : "persistent id of kind '\(kind)' is not supported")
        }
        guard items.count == (legacy ? 6 : 5) else {
            throw CheckpointError.corrupt("storage persistent id has \(items.count) items")
        }
        guard case .global(.storageType(let dtype)) = items[1] else {
            throw CheckpointError.corrupt("storage persistent id names a \(items[1].kind), not a storage type")
        }
        guard let key = items[2].stringValue, items[3].stringValue != nil,
              let count = items[4].intValue, count >= 0, count <= Int(maxRecordBytes) else {
            throw CheckpointError.corrupt("storage persistent id has a bad key, location or size")
        }
        var ref = StorageRef(key: key, dtype: dtype, count: count, viewCount: count)
        if legacy, items[5] != .none {
            guard let view = items[5].tupleItems, view.count == 3, view[0].stringValue != nil,
                  let offset = view[1].intValue, let size = view[2].intValue,
                  offset >= 0, size >= 0, offset <= count, size <= count - offset else {
                throw CheckpointError.corrupt("storage \(key) has a view outside it")
            }
            ref.viewOffset = offset
            ref.viewCount = size
        }
        return ref
    }

    // MARK: - State dict

    /// Top-level keys under which training scripts commonly nest the state dict.
    static let wrapperKeys = ["state_dict", "model_state_dict", "model", "state", "net", "network",
                              "transformer", "generator"]

    /// The `name → tensor` entries of the state dict, in file order: the top-level dict itself when it holds
    /// tensors, else the tensor dict under one of `wrapperKeys`. Non-tensor entries are left out.
    func stateDict() throws -> [(key: String, tensor: TensorRef)] {
        guard case .dict(let rootID) = root else {
            throw CheckpointError.unsupported("the top-level object is a \(root.kind), not a state dict")
        }
        func tensors(_ id: Int) -> [(key: String, tensor: TensorRef)] {
            let dict = dicts[id]
            var out: [(key: String, tensor: TensorRef)] = []
            for (key, value) in zip(dict.keys, dict.values) {
                if case .string(let name) = key, case .tensor(let ref) = value { out.append((name, ref)) }
            }
            return out
        }
        let top = tensors(rootID)
        if !top.isEmpty { return top }
        for wrapper in Self.wrapperKeys {
            if case .dict(let id) = dicts[rootID][string: wrapper] {
                let inner = tensors(id)
                if !inner.isEmpty { return inner }
            }
        }
        let names = dicts[rootID].keys.prefix(8).map { key -> String in
            switch key {
            case .string(let s): "'\(s)'"
            case .int(let i): String(i)
            }
        }
        throw CheckpointError.unsupported(
            "no state dict: the top-level dict holds no tensors (keys \(names.joined(separator: ", "))) and none under "
                + Self.wrapperKeys.map { "'\($0)'" }.joined(separator: "/"))
    }

    // MARK: - Tensors

    /// The tensor as a contiguous float32 `Tensor` in C order, following its strides (so transposed or
    /// sliced views come out right). Only floating-point storages convert.
    func floatTensor(_ ref: TensorRef, name: String) throws -> Tensor {
        guard ref.storage.dtype.isFloatingPoint else {
            throw CheckpointError.unsupported(
                "\(name) has dtype \(ref.storage.dtype.rawValue) (torch.\(ref.storage.dtype.storageName)); "
                    + "weights must be float32, float64, float16 or bfloat16 (unsupported dtype)")
        }
        guard let storage = storages[ref.storage.key] else {
            throw CheckpointError.corrupt("\(name) refers to storage \(ref.storage.key), which is missing")
        }
        guard storage.dtype == ref.storage.dtype else {
            throw CheckpointError.corrupt("\(name) reads storage \(ref.storage.key) as \(ref.storage.dtype.rawValue), "
                + "but it holds \(storage.dtype.rawValue)")
        }
        // The unpickler checked offset, sizes and strides against `ref.storage.viewCount` already; the view
        // itself was checked against the record's count when the persistent id was read.
        let count = ref.elementCount
        var indices = [Int](repeating: 0, count: count)
        if count > 0 {
            let base = ref.storage.viewOffset + ref.offset
            let rank = ref.sizes.count
            var position = [Int](repeating: 0, count: rank)
            var index = base
            for i in 0 ..< count {
                indices[i] = index
                // Odometer over the dimensions, last fastest: C order of the output.
                var d = rank - 1
                while d >= 0 {
                    position[d] += 1
                    index += ref.strides[d]
                    if position[d] < ref.sizes[d] { break }
                    index -= ref.strides[d] * ref.sizes[d]
                    position[d] = 0
                    d -= 1
                }
            }
        }
        if let last = indices.max(), last >= storage.count {
            throw CheckpointError.corrupt("\(name) reads element \(last) of a storage of \(storage.count)")
        }
        return Tensor(shape: ref.sizes, data: storage.decode(indices))
    }
}

extension TorchCheckpoint.StorageBytes {
    /// The elements at `indices`, converted to Float. Callers guarantee every index is `< count`.
    func decode(_ indices: [Int]) -> [Float] {
        let size = dtype.elementSize
        return bytes.withUnsafeBytes { raw -> [Float] in
            func bits<T: FixedWidthInteger>(_ index: Int, _: T.Type) -> T {
                let v = raw.loadUnaligned(fromByteOffset: index * size, as: T.self)
                return bigEndian ? T(bigEndian: v) : T(littleEndian: v)
            }
            switch dtype {
            case .float32: return indices.map { Float(bitPattern: bits($0, UInt32.self)) }
            case .float64: return indices.map { Float(Double(bitPattern: bits($0, UInt64.self))) }
            case .bfloat16: return indices.map { Float(bitPattern: UInt32(bits($0, UInt16.self)) << 16) }
            case .float16: return indices.map { halfToFloat(bits($0, UInt16.self)) }
            default: return []  // unreachable: floatTensor admits floating-point types only
            }
        }
    }
}

/// IEEE binary16 → binary32, written out because `Float16` is unavailable on some supported platforms.
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa · 2^-24, exact in Float.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -magnitude : magnitude
    case 0x1F:
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    default:
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}

/// Collects the storages a pickle references through persistent ids, checking that repeated references to
/// one key agree (same type and size) — a disagreement means the file was tampered with or damaged.
private final class StorageRegistry {
    private(set) var storages: [String: StorageRef] = [:]

    func register(_ ref: StorageRef) throws -> StorageRef {
        if let known = storages[ref.key] {
            guard known.dtype == ref.dtype, known.count == ref.count else {
                throw CheckpointError.corrupt("storage \(ref.key) is referenced as both \(known.count) × "
                    + "\(known.dtype.rawValue) and \(ref.count) × \(ref.dtype.rawValue)")
            }
        } else {
            var root = ref
            root.viewOffset = 0
            root.viewCount = ref.count
            storages[ref.key] = root
        }
        return ref
    }
}
