public import Foundation
import Pipeline

/// streamd's own model file: safetensors (an 8-byte little-endian header length, a JSON header, then the
/// raw little-endian tensors) with the graph and the model info as JSON strings in `__metadata__`.
///
/// One file holds everything needed to run the model, any safetensors reader can list its tensors, and
/// loading it runs no code.
public enum NativeModelFile {
    public static let fileExtension = "safetensors"
    static let formatTag = "streamd-model"
    static let version = "1"
    /// Headers larger than this are refused as corrupt (the format's own guidance is 100 MB).
    static let maxHeader = 100 << 20

    public static func write(_ model: StyleModel, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let graphJSON = String(decoding: try encoder.encode(model.graph), as: UTF8.self)
        let infoJSON = String(decoding: try encoder.encode(model.info), as: UTF8.self)
        var header: [String: Any] = [
            "__metadata__": ["format": formatTag, "streamd.version": version,
                             "streamd.graph": graphJSON, "streamd.info": infoJSON],
        ]
        var offset = 0
        let names = model.weights.keys.sorted()
        for name in names {
            let t = model.weights[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + t.count * 4]]
            offset += t.count * 4
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(headerBytes)
        for name in names {
            model.weights[name]!.data.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        do {
            try AtomicFile.write([UInt8](out), to: path)
        } catch let error as MediaError {
            throw StylizeError(.unwritable, error.description)
        }
    }

    /// True when the file starts like a safetensors file (a sane header length followed by `{`).
    public static func looksLikeNative(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        guard let d = try? h.read(upToCount: 9) else { return false }
        return looksLikeNative(head: d)
    }

    /// True when `head` (a file's first bytes, at least 9) starts like a safetensors file.
    static func looksLikeNative(head d: Data) -> Bool {
        guard d.count >= 9 else { return false }
        let n = d.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        return n > 1 && n < UInt64(maxHeader) && d[d.startIndex + 8] == UInt8(ascii: "{")
    }

    public static func load(path: String) throws -> StyleModel {
        guard FileManager.default.fileExists(atPath: path) else { throw StylizeError(.fileNotFound, "\(path): no such file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw StylizeError(.unreadable, "\(path): cannot be read") }
        return try load(data: data, name: path)
    }

    /// The model in `data`, the bytes of a native file (read from disk, or compiled in: `BuiltinModels`);
    /// errors name it `name`.
    public static func load(data: Data, name path: String) throws -> StyleModel {
        // Offsets below count from 0; a slice of a larger `Data` does not.
        let data = data.startIndex == 0 ? data : Data(data)
        func corrupt(_ why: String) -> StylizeError { StylizeError(.corruptFile, "\(path): \(why)") }
        guard data.count >= 8 else { throw corrupt("too short for a safetensors header") }
        let n = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard n > 0, n <= UInt64(maxHeader), Int(n) <= data.count - 8 else {
            throw corrupt("header length \(n) does not fit a \(data.count)-byte file (truncated?)")
        }
        let headerEnd = 8 + Int(n)
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd)) as? [String: Any] else {
            throw corrupt("the safetensors header is not valid JSON")
        }
        guard let meta = header["__metadata__"] as? [String: String], meta["format"] == formatTag,
              let graphJSON = meta["streamd.graph"], let infoJSON = meta["streamd.info"] else {
            throw StylizeError(.unknownFormat, "\(path): a safetensors file without a streamd graph (import the model with `streamd models import`)")
        }
        let graph: Graph, info: ModelInfo
        do {
            graph = try JSONDecoder().decode(Graph.self, from: Data(graphJSON.utf8))
            info = try JSONDecoder().decode(ModelInfo.self, from: Data(infoJSON.utf8))
        } catch {
            throw corrupt("the embedded graph does not decode (\(ML5Importer.describe(error)))")
        }
        let body = data.count - headerEnd
        var weights: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw corrupt("tensor '\(name)' has a malformed header entry")
            }
            guard dtype == "F32" else { throw corrupt("tensor '\(name)' is \(dtype); only F32 is supported") }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= body else {
                throw corrupt("tensor '\(name)' lies outside the file (truncated?)")
            }
            let count = shape.reduce(1, *)
            guard offsets[1] - offsets[0] == count * 4 else {
                throw StylizeError(.shapeMismatch, "\(path): tensor '\(name)' has shape \(shape) but \(offsets[1] - offsets[0]) bytes")
            }
            var values = [Float](repeating: 0, count: count)
            _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0, from: (headerEnd + offsets[0])..<(headerEnd + offsets[1])) }
            weights[name] = Tensor(shape: shape, data: values)
        }
        let model = StyleModel(info: info, graph: graph, weights: weights)
        // Compile once so a graph that contradicts its weights fails here, naming the file.
        do { _ = try Plan(model: model) } catch let e as StylizeError {
            throw StylizeError(e.code, "\(path): \(e.message)")
        }
        return model
    }
}
