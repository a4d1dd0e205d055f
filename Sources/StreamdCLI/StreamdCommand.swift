public import ArgumentParser
import Foundation
import Stylize

/// `streamd`: stylize pictures and video with fast neural style transfer.
@available(macOS 10.15, *)
public struct StreamdCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "streamd",
        abstract: "Stylize images and video with fast neural style transfer networks.",
        version: StreamdVersion.string,
        subcommands: [ImageCommand.self, TranscodeCommand.self, OptimizeCommand.self, TrainCommand.self, BenchCommand.self, ModelsCommand.self,
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

    @Option(help: "Blend with the original: 1 = fully stylized, 0 = the original.")
    var strength: Float = 1

    @Flag(name: .customLong("preserve-color"), help: "Keep the original colours (luminance from the stylized picture).")
    var preserveColor = false

    /// The options for a model whose styles are `styleNames`; one-line errors for impossible choices.
    func options(styleNames: [String]) throws -> StyleOptions {
        StyleOptions(styleWeights: try StyleOptions.styleWeights(index: styleIndex, name: styleName, mix: styleMix, styleNames: styleNames),
                     strength: strength, preserveColor: preserveColor)
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

func oneLine(_ error: Error) -> String {
    oneLine(String(describing: error))
}

func oneLine(_ text: String) -> String {
    text.split(whereSeparator: \.isNewline).joined(separator: " ")
}

/// Writes a line to standard error (progress, summaries that are not the command's output).
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

var standardErrorIsTerminal: Bool { isatty(2) != 0 }
