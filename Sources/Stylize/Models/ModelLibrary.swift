public import Foundation

/// Where named models live: `--models-dir`, then each entry of `STREAMD_MODELS` (colon-separated), then
/// `~/.local/share/streamd/models`, then `/var/lib/streamd/models`. `--model` accepts a path or a name
/// found here.
public struct ModelLibrary: Sendable {
    public var directories: [String]

    public init(directories: [String]) { self.directories = directories }

    public static func standard(modelsDir: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) -> ModelLibrary {
        var dirs: [String] = []
        if let modelsDir, !modelsDir.isEmpty { dirs.append(modelsDir) }
        if let env = environment["STREAMD_MODELS"] {
            dirs += env.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        }
        if let home = environment["HOME"], !home.isEmpty {
            dirs.append((home as NSString).appendingPathComponent(".local/share/streamd/models"))
        }
        dirs.append("/var/lib/streamd/models")
        return ModelLibrary(directories: dirs)
    }

    /// The directory new models are written to: the first one in the search order.
    public var writableDirectory: String { directories[0] }

    public struct Entry: Sendable, Equatable {
        public var name: String
        public var path: String
        public var format: ModelLoader.Format
    }

    static let extensions = ["safetensors", "onnx", "pth", "pt"]

    /// Where `nameOrPath` is, decided the same way by every command and by the service (and by `config check`):
    /// - `builtin:NAME` is a model compiled into streamd (`BuiltinModels`);
    /// - with a `/` it is a path (the service's configuration makes relative ones relative to its file);
    /// - otherwise it is a name, looked for in each directory in order, first as written
    ///   (`multistyle26.onnx`, `udnie` for an ml5 folder), then with each model extension added (`candy` finds
    ///   `candy.onnx`); when no directory has it, a built-in model of that name (`default`: so a model called
    ///   `default` in a directory replaces the built-in one); only then a file of that name in the current directory.
    public func resolve(_ nameOrPath: String) throws -> String {
        guard !nameOrPath.isEmpty else { throw StylizeError(.fileNotFound, "model name is empty") }
        if BuiltinModels.isBuiltin(nameOrPath) {
            _ = try ModelLoader.detect(nameOrPath)
            return nameOrPath
        }
        if nameOrPath.contains("/") {
            if FileManager.default.fileExists(atPath: nameOrPath) { return nameOrPath }
            throw StylizeError(.fileNotFound, "\(nameOrPath): no such file or directory")
        }
        if nameOrPath != ".", nameOrPath != ".." {
            if let found = find(nameOrPath) { return found }
            if let builtin = BuiltinModels.path(named: nameOrPath) { return builtin }
            if FileManager.default.fileExists(atPath: nameOrPath) { return nameOrPath }
        }
        throw StylizeError(.fileNotFound, "model '\(nameOrPath)' not found (searched \(directories.joined(separator: ", ")) and the current directory)")
    }

    /// The model called `name` in the first directory that has one.
    private func find(_ name: String) -> String? {
        for dir in directories {
            let base = (dir as NSString).appendingPathComponent(name)
            for candidate in Self.extensions.map({ base + "." + $0 }) + [base] where FileManager.default.fileExists(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }

    /// Every model in the search path, the built-in ones first; a name found twice is listed where it is found
    /// first (a directory's `default` replaces the built-in one, and is listed where it is).
    public func list() -> [Entry] {
        var seen: Set<String> = []
        var out: [Entry] = []
        for dir in directories {
            guard let items = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for item in items.sorted() where !item.hasPrefix(".") {
                let path = (dir as NSString).appendingPathComponent(item)
                guard let format = try? ModelLoader.detect(path) else { continue }
                let ext = (item as NSString).pathExtension.lowercased()
                let name = Self.extensions.contains(ext) ? (item as NSString).deletingPathExtension : item
                if seen.insert(name).inserted { out.append(Entry(name: name, path: path, format: format)) }
            }
        }
        let builtins = BuiltinModels.names.filter { !seen.contains($0) }.map {
            Entry(name: $0, path: BuiltinModels.prefix + $0, format: BuiltinModels.files[$0]!.format)
        }
        return builtins + out
    }
}
