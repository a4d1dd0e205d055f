import ArgumentParser
import Foundation
import Live
import ServeConfig

/// `streamd config …`: the daemon's configuration file.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the service's configuration file.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file (with STREAMD_SERVER_* variables and --set applied).",
            discussion: """
            Prints "ok: N pipelines (names)", or one line per problem naming the file, line, key and cause, and \
            exits with status 1. Each pipeline's model is looked up as the service does (server.model_dirs, then \
            the standard search path) and its format recognised (not loaded); --skip-models leaves that out. Precedence: defaults, then FILE, then STREAMD_SERVER_<KEY> environment \
            variables (server keys only), then --set flags.
            """)

        @Argument(help: "The YAML configuration file.")
        var file: String

        @Option(name: .customLong("set"), help: ArgumentHelp("Override a key, e.g. server.port=9000 or pipelines.cam1.strength=0.5 (repeatable).", valueName: "KEY=VALUE"))
        var overrides: [String] = []

        @Flag(name: .long, help: "Do not look up the pipelines' models (for checking a file on a machine other than the one that runs it).")
        var skipModels = false

        func run() async throws {
            do {
                let config = try ConfigLoader.load(file: file, overrides: overrides)
                let missing = skipModels ? [] : LiveStyle.modelIssues(in: config, file: file)
                guard missing.isEmpty else { throw ConfigErrors(missing) }
                let names = config.pipelines.map(\.name)
                print("ok: \(names.count) pipeline\(names.count == 1 ? "" : "s") (\(names.joined(separator: ", ")))")
            } catch let errors as ConfigErrors {
                for issue in errors.issues { note("streamd: \(issue)") }
                throw ExitCode.failure
            }
        }
    }
}
