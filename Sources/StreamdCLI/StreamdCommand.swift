public import ArgumentParser
import Decode
import Foundation
import Pipeline
import Stylize

/// `streamd`: stylize pictures and video with fast neural style transfer.
@available(macOS 10.15, *)
public struct StreamdCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "streamd",
        abstract: "Stylize images and video with fast neural style transfer networks.",
        version: StreamdVersion.string,
        subcommands: [ImageCommand.self, TranscodeCommand.self, PlanCommand.self, JoinCommand.self, OptimizeCommand.self, TrainCommand.self, BenchCommand.self, ModelsCommand.self,
                      ConfigCommand.self, DevicesCommand.self, ServeCommand.self, EvalCommand.self]
    )

    public init() {}

    /// The command line as the parser should see it: options whose value is optional are given one.
    public static func normalizedArguments(_ arguments: [String]) -> [String] {
        guard arguments.first == "transcode" else { return arguments }
        return TranscodeCommand.normalizedArguments(arguments)
    }
}

public enum StreamdVersion {
    public static let string = "0.1.0"
}

/// Options every command that opens a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model: a path (.safetensors, .onnx, .pth, or an ml5 folder) or a name on the model search path (default: the built-in multi-style model, unless a models directory holds one named 'default').")
    var model: String = BuiltinModels.defaultName

    @Option(name: .customLong("models-dir"), help: "Directory searched first for model names (then $STREAMD_MODELS, ~/.local/share/streamd/models, /var/lib/streamd/models).")
    var modelsDir: String?
}

/// How to stylize, shared by every command that stylizes pictures.
struct StyleArguments: ParsableArguments {
    @Option(name: .customLong("style"), help: "Style of a multi-style model, by name (`streamd models info` lists them).")
    var styleName: String?

    @Option(name: .customLong("style-index"), help: "Style of a multi-style model (0-based).")
    var styleIndex: Int?

    @Option(name: .customLong("style-mix"), help: "Blend of styles of a multi-style model, e.g. 3:0.5,12:0.5.")
    var styleMix: String?

    @Option(help: "Blend with the original: 1 = fully stylized, 0 = the original. With --style-image, the painting's embedding is moved towards the photo's own instead (Magenta's way), so a weaker style stays one painting.")
    var strength: Float = 1

    @Flag(name: .customLong("preserve-color"), help: "Keep the original colours (luminance from the stylized picture).")
    var preserveColor = false

    /// The options for a model whose styles are `styleNames`; one-line errors for impossible choices.
    func options(styleNames: [String]) throws -> StyleOptions {
        if [styleName != nil, styleIndex != nil, styleMix != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --style, --style-index and --style-mix, not several")
        }
        return StyleOptions(styleWeights: try StyleChoice(name: styleName, index: styleIndex, mix: try styleMix.map(StyleChoice.parseMix)).weights(styleNames: styleNames),
                            strength: strength, preserveColor: preserveColor)
    }

    /// The options for `model`. For a network that takes any painting, the embedding of `paintings`' pictures
    /// (blended by --style-blend), moved towards the embedding of `content()` when --strength is below 1; for
    /// any other network, `options(styleNames:)`.
    func options(model: StyleModel, paintings: PaintingArguments, content: () throws -> RGBImage) throws -> StyleOptions {
        let styleImages = paintings.styleImages
        guard model.info.styleEmbeddingSize != nil else {
            if !styleImages.isEmpty {
                throw ValidationError("model \(model.info.name) cannot take a style picture: --style-image needs a network that takes any painting (such as the built-in 'arbitrary')")
            }
            return try options(styleNames: model.info.styleNames)
        }
        guard !styleImages.isEmpty else {
            throw ValidationError("model \(model.info.name) takes any painting as its style: give one with --style-image")
        }
        if styleName != nil || styleIndex != nil || styleMix != nil {
            throw ValidationError("--style, --style-index and --style-mix choose among a model's trained styles; with --style-image, blend paintings with --style-blend")
        }
        guard strength.isFinite, (0...1).contains(strength) else { throw ValidationError("--strength must be between 0 and 1") }
        let weights = try paintings.blendWeights()
        let predictor = try StylePredictor.builtin(threads: max(1, min(2, ProcessInfo.processInfo.activeProcessorCount)))
        var embedding = try StylePredictor.blend(try styleImages.map(predictor.embedding(ofPaintingAt:)), weights: weights)
        if strength < 1 {
            let own = try predictor.embedding(of: try StylePicture.square(try content(), size: StylePredictor.inputSize))
            embedding = try StylePredictor.weakened(embedding, towards: own, strength: strength)
        }
        return StyleOptions(styleWeights: embedding, strength: 1, preserveColor: preserveColor)
    }

}

extension StylePredictor {
    /// The embedding of the picture file at `path` (decoded and made square as Magenta does; errors name the file).
    func embedding(ofPaintingAt path: String) throws -> [Float] {
        try embedding(of: try StylePicture.load(path: path, size: Self.inputSize))
    }
}

/// Any painting as the style (`image`, `transcode`): the pictures, how they blend, and which network paints.
struct PaintingArguments: ParsableArguments {
    @Option(name: .customLong("style-image"), help: "Any picture (a painting) as the style; repeat it to blend several. Runs the built-in arbitrary-style network unless --model names another network that takes style pictures (or --fast).")
    var styleImages: [String] = []

    @Option(name: .customLong("style-blend"), help: "Weights of the --style-image pictures in order, e.g. 0.7,0.3 (default: equal).")
    var styleBlend: String?

    @Flag(help: "With --style-image: streamd's real-time network for any painting ('arbitrary-fast', the one a live pipeline runs) instead of Magenta's network ('arbitrary': more faithful, 3.6 times the multiply-adds per pixel).")
    var fast = false

    /// The model to open: with --style-image and no model named (or the fixed-style built-in), the built-in
    /// arbitrary-style network, or with --fast its real-time student.
    func modelName(_ options: ModelOptions) -> String {
        guard !styleImages.isEmpty && options.model == BuiltinModels.defaultName else { return options.model }
        return fast ? BuiltinModels.arbitraryFastName : BuiltinModels.arbitraryName
    }

    func validate() throws {
        if fast && styleImages.isEmpty { throw ValidationError("--fast picks the real-time network for a painting: give one with --style-image") }
    }

    /// --style-blend's weights, one per --style-image (equal without it).
    func blendWeights() throws -> [Float] {
        guard let styleBlend else { return Array(repeating: 1, count: styleImages.count) }
        let values = styleBlend.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == styleImages.count, let weights = values as? [Float],
              weights.allSatisfy({ $0.isFinite && $0 >= 0 }), weights.reduce(0, +) > 0 else {
            throw ValidationError("--style-blend '\(styleBlend)': expected \(styleImages.count) non-negative weights separated by commas, one per --style-image")
        }
        return weights
    }
}

/// Runs a command body and turns any failure into one line on standard error and exit status 1: the
/// message names the file or URL and the cause, as the errors of every module are written to do.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        FileHandle.standardError.write(Data("streamd: \(oneLine(error))\n".utf8))
        throw ExitCode.failure
    }
}

/// Writes a line to standard error (progress, summaries that are not the command's output).
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

var standardErrorIsTerminal: Bool { isatty(2) != 0 }
