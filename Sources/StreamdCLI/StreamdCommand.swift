public import ArgumentParser
import Foundation

/// `streamd`: stylize pictures and video with fast neural style transfer.
@available(macOS 10.15, *)
public struct StreamdCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "streamd",
        abstract: "Stylize images and video with fast neural style transfer networks.",
        version: StreamdVersion.string,
        subcommands: [ImageCommand.self, TranscodeCommand.self, BenchCommand.self, ModelsCommand.self]
    )

    public init() {}
}

public enum StreamdVersion {
    public static let string = "0.1.0"
}

/// Options every command that opens a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model: a path (.safetensors, .onnx, .pth, or an ml5 folder) or a name on the model search path.")
    var model: String

    @Option(name: .customLong("models-dir"), help: "Directory searched first for model names (then $STREAMD_MODELS, ~/.local/share/streamd/models, /var/lib/streamd/models).")
    var modelsDir: String?
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
    String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
}

/// Writes a line to standard error (progress, summaries that are not the command's output).
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

var standardErrorIsTerminal: Bool { isatty(2) != 0 }
