import Foundation

/// Opens a model in any supported format, chosen by what the path is and how the file starts (not only by
/// its extension): an ml5 folder, a VGG19 codebook folder, streamd's native safetensors, ONNX, or a PyTorch
/// checkpoint (zip or legacy pickle). A built-in model's pseudo-path (`builtin:default`, see `BuiltinModels`)
/// is understood here too, so whoever opens a path opens those the same way.
public enum ModelLoader {
    public enum Format: String, Sendable, CaseIterable {
        case native, ml5, vgg19, onnx, pytorch
    }

    public static func detect(_ path: String) throws -> Format {
        if BuiltinModels.isBuiltin(path) { return try BuiltinModels.file(atPath: path).format }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw StylizeError(.fileNotFound, "\(path): no such file or directory")
        }
        if isDir.boolValue {
            let manifest = (path as NSString).appendingPathComponent("manifest.json")
            guard let data = fm.contents(atPath: manifest) else {
                throw StylizeError(.unknownFormat, "\(path): a folder without manifest.json is not a model")
            }
            if let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any], obj["layers"] != nil {
                return .vgg19
            }
            return .ml5
        }
        guard fm.isReadableFile(atPath: path), let h = FileHandle(forReadingAtPath: path) else {
            throw StylizeError(.unreadable, "\(path): cannot be read (permission denied?)")
        }
        let head = (try? h.read(upToCount: 16)) ?? Data()
        try? h.close()
        guard !head.isEmpty else { throw StylizeError(.corruptFile, "\(path): empty file") }
        if NativeModelFile.looksLikeNative(path) { return .native }
        let bytes = [UInt8](head)
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.first == 0x80 { return .pytorch }
        let ext = (path as NSString).pathExtension.lowercased()
        if ext == "onnx" || bytes.first == 0x08 { return .onnx }
        if ext == "pth" || ext == "pt" { return .pytorch }
        throw StylizeError(.unknownFormat, "\(path): unknown model format (expected a .safetensors, .onnx or .pth file, or an ml5 folder)")
    }

    public static func load(path: String) throws -> StyleModel {
        if BuiltinModels.isBuiltin(path) && !BuiltinModels.isLossNetwork(path) {
            let (bytes, format) = try BuiltinModels.file(atPath: path)
            let name = String(path.dropFirst(BuiltinModels.prefix.count))
            var model = format == .onnx ? try ONNXImporter.load(bytes: [UInt8](bytes), path: path)
                                        : try NativeModelFile.load(data: Data(bytes), name: path)
            // Called by the name it answers to, whatever training run or converter wrote the file.
            model.info.name = name
            if let origin = BuiltinModels.origins[name] { model.info.notes = origin + "; " + model.info.notes }
            return model
        }
        switch try detect(path) {
        case .native: return try NativeModelFile.load(path: path)
        case .ml5: return try ML5Importer.load(path: path)
        case .vgg19: return try VGG19Importer.load(path: path)
        case .onnx: return try ONNXImporter.load(path: path)
        case .pytorch: return try PyTorchImporter.load(path: path)
        }
    }
}
