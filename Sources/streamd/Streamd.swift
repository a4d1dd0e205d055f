import ArgumentParser
import StreamdCLI

/// The executable: everything lives in StreamdCLI so tests can drive it; this only hands over the command
/// line. (The root type must be `@main` here for ArgumentParser to run it asynchronously.)
@main
struct Streamd: AsyncParsableCommand {
    static let configuration = StreamdCommand.configuration
}
