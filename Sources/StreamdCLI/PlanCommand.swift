import ArgumentParser
import Decode
import Foundation
import Pipeline

/// `streamd plan`: the segment plan of a video, written once so that the workers of a segment-parallel
/// transcode and its join read it instead of each deriving it from the input's packets.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Write the segment plan of a video for `transcode --segment I/N --plan` and `join --plan`.",
        discussion: """
            Without a plan every worker derives the same plan from INPUT, reading its packet headers once: with \
            many workers on shared storage that is many reads of the whole file. The plan records the input's \
            size; a plan used with another input is refused.
            """
    )

    @Option(help: "The number of segments.")
    var segments: Int?

    @Option(help: "Segments of about this many seconds instead of a number of them (the count is the length divided by it, rounded up).")
    var length: Double?

    @Flag(help: "Replace PLAN if it exists.")
    var overwrite = false

    @Argument(help: "The input video.")
    var input: String

    @Argument(help: "The plan file to write (JSON).")
    var plan: String

    func validate() throws {
        switch (segments, length) {
        case (nil, nil), (.some, .some): throw ValidationError("give one of --segments and --length")
        case (.some(let n), nil) where n < 1: throw ValidationError("--segments must be at least 1")
        case (nil, .some(let seconds)) where !(seconds > 0): throw ValidationError("--length must be a positive number of seconds")
        default: break
        }
    }

    func run() async throws {
        try await runReportingErrors {
            FFmpegLog.setQuiet()
            if !overwrite && FileManager.default.fileExists(atPath: plan) {
                throw MediaError(.unwritable, path: plan, "exists (--overwrite replaces it)")
            }
            let (input, segments, length) = (self.input, self.segments, self.length)
            let made = try await onThread("plan") {
                try SegmentPlan(path: input, division: segments.map { .count($0) } ?? .length(seconds: length!))
            }
            try AtomicFile.write(try made.encoded(), to: plan)
            note("streamd: \(plan): \(made.count) segments of \(made.segments.map(\.frames).map(String.init).joined(separator: ", ")) frames")
        }
    }
}
