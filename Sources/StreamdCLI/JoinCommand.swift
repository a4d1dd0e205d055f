import ArgumentParser
import Decode
import Encode
import Foundation
import Pipeline

/// `streamd join`: the segments of `transcode --segment I/N` joined into the final file, with the input's
/// audio, subtitles and tags.
struct JoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Join the segments of `streamd transcode --segment I/N` into one video, with the input's audio, subtitles and metadata.",
        discussion: """
            Every worker derives the same plan from INPUT: `streamd transcode --segment I/N INPUT part-I.mkv` for I \
            from 0 to N−1, on any machines, in any order (a failed segment is run again alone); then \
            `streamd join INPUT OUTPUT part-*.mkv`. The video is copied from the segments, not encoded again; the \
            join checks that every segment is there once, belongs to INPUT and holds exactly its frames.
            """
    )

    @Flag(help: "Replace OUTPUT if it exists.")
    var overwrite = false

    @Option(help: "The plan `streamd plan` wrote, instead of deriving it from INPUT.")
    var plan: String?

    @Argument(help: "The input video the segments were made from.")
    var input: String

    @Argument(help: "The joined video (.mp4, .mov, .mkv, .webm or .avi).")
    var output: String

    @Argument(help: "The segment files (.mkv), in any order.")
    var segments: [String]

    func validate() throws {
        if segments.isEmpty { throw ValidationError("give the segment files after OUTPUT") }
    }

    func run() async throws {
        try await runReportingErrors {
            FFmpegLog.setQuiet()
            try OutputPath.checkVideo(output, overwrite: overwrite)
            let (input, output, segments, planFile) = (self.input, self.output, self.segments, self.plan)
            let report = try await onThread("join") {
                // The plan has the count the segments were made for: read it from the first one's tag.
                guard let tag = try Demuxer(path: segments[0], keep: [.video]).metadata[SegmentTags.segment],
                      let count = try? SegmentPlan.parse(tag).count else {
                    throw MediaError(.invalidArgument, path: segments[0], "is not a segment written by `streamd transcode --segment`")
                }
                let plan = try planFile.map { try SegmentPlan.load($0, input: input, count: count) } ?? SegmentPlan(path: input, count: count)
                return try SegmentJoin.join(input: input, output: output, segments: segments, plan: plan)
            }
            for w in report.warnings { note("streamd: warning: \(w)") }
            note(String(format: "streamd: joined %d segments: %d frames, %.2f s, %@", segments.count, report.frames, report.seconds, output))
        }
    }
}
