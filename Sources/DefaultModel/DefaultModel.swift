/// The style network built into streamd, so that a fresh install with no model files can stylize: the bytes
/// of `default.safetensors` beside this file (a streamd native model), compiled in with SwiftPM's `embedInCode`
/// resources like the web page's assets. Nothing here parses them; Stylize's `ModelLoader` opens them under the
/// name `default` (see `ModelLibrary.builtinModels`). What the model is, and where its weights come from:
/// `README.md` in this folder.
public enum DefaultModel {
    /// The model file, byte for byte.
    public static let bytes: [UInt8] = PackageResources.default_safetensors
}
