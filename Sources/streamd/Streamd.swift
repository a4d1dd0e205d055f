import ArgumentParser
import StreamdCLI

/// The executable: everything lives in StreamdCLI so tests can drive it; this only hands over the command
/// line. (The root type must be `@main` here for ArgumentParser to run it asynchronously.)
@main
struct Streamd: AsyncParsableCommand {
    static let configuration = StreamdCommand.configuration

    /// The command line with `transcode --smooth` given a value when it has none (see `normalizedArguments`).
    static func main() async {
        await main(StreamdCommand.normalizedArguments(Array(CommandLine.arguments.dropFirst())))
    }
}
