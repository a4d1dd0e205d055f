import ArgumentParser
import Decode
import Encode
import Foundation
import Pipeline
import Stylize

/// `streamd transcode`: a video file in, its stylized version out, through the staged pipeline
/// decode → [queue] → stylize × N workers (in order) → [queue] → encode, each stage on its own thread.
struct TranscodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "Stylize a video file into a new video file (the video stream; this version does not copy audio yet)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var style: StyleArguments

    @Option(help: "Stylize workers (frames in flight at once; default: one per core, fewer if their estimated working memory would exceed 1.5 GB).")
    var workers: Int?

    /// Working memory the automatic worker count stays within (leaving room under 2 GB for decoding,
    /// encoding and queued frames).
    static let workerMemoryBudget = 1536 << 20

    @Option(help: "Compute threads per worker.")
    var threads: Int = 1

    @Option(help: "Start at this many seconds into the input.")
    var start: Double?

    @Option(help: "Transcode at most this many seconds.")
    var duration: Double?

    @Option(name: .customLong("max-size"), help: "Scale frames down so the longer side is at most N pixels.")
    var maxSize: Int?

    @Option(help: "Video encoder (default: libx264, or libvpx-vp9 for .webm, mpeg4 for .avi).")
    var codec: String?

    @Option(help: "Constant rate factor (quality) for x264/x265/VP9.")
    var crf: Int?

    @Option(help: "Encoder preset, e.g. veryfast, medium, slow.")
    var preset: String?

    @Option(help: "Target bitrate in bits per second.")
    var bitrate: Int?

    @Option(name: .customLong("pix-fmt"), help: "Output pixel format (default yuv420p).")
    var pixFmt: String?

    @Flag(help: "Replace OUTPUT if it exists.")
    var overwrite = false

    @Argument(help: "Input video file.")
    var input: String

    @Argument(help: "Output video file (.mp4, .mov, .mkv, .webm or .avi).")
    var output: String

    func validate() throws {
        if let workers, workers < 1 || workers > 64 { throw ValidationError("--workers must be between 1 and 64") }
        if threads < 1 || threads > 64 { throw ValidationError("--threads must be between 1 and 64") }
        if let maxSize, maxSize < 16 { throw ValidationError("--max-size must be at least 16") }
        if let start, start < 0 { throw ValidationError("--start must not be negative") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
    }

    func run() async throws {
        try await runReportingErrors {
            FFmpegLog.setQuiet()
            try OutputPath.check(output, overwrite: overwrite, extensions: ["mp4", "mov", "mkv", "webm", "avi"])
            let model = try ModelLoader.load(path: try ModelLibrary.standard(modelsDir: modelOptions.modelsDir).resolve(modelOptions.model))
            let options = try style.options(styleCount: model.info.styleCount)
            // Fail on a model that cannot run before any output exists.
            _ = try Session(model: model).profile(height: 64, width: 64)
            let reader = try VideoReader(path: input, options: VideoReaderOptions(threadCount: 2, start: start, duration: duration))
            let info = reader.info
            var width = info.displayWidth, height = info.displayHeight
            if let maxSize, max(width, height) > maxSize {
                let scale = Double(maxSize) / Double(max(width, height))
                width = max(2, Int((Double(width) * scale).rounded()))
                height = max(2, Int((Double(height) * scale).rounded()))
            }
            if info.hasAudio {
                note("streamd: warning: \(input) has audio; this version writes the video stream only")
            }
            let settings = VideoEncodeSettings(width: width, height: height, frameRate: info.frameRate, timeBase: info.timeBase,
                                               codec: codec, crf: crf, preset: preset, bitrate: bitrate, pixelFormat: pixFmt)
            var workers = self.workers ?? max(1, ProcessInfo.processInfo.activeProcessorCount)
            if self.workers == nil {
                let perWorker = try Stylizer(model: model).estimatedPeakBytes(height: height, width: width)
                let fit = max(1, Self.workerMemoryBudget / max(perWorker, 1))
                if fit < workers {
                    note("streamd: using \(fit) worker(s): each needs about \(perWorker >> 20) MB at \(width)x\(height) (--workers overrides)")
                    workers = fit
                }
            }
            let writer = try VideoWriter(path: output, settings: settings)
            let job = TranscodeJob(reader: reader, writer: writer, model: model, options: options,
                                   workers: workers, threads: threads, width: width, height: height, input: input)
            let outcome = try await job.run()
            for w in reader.warnings { note("streamd: warning: \(input): \(w)") }
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            let summary = String(format: "%d frames in %.1f s (%.2f fps), %@, %.1f MB", outcome.frames, outcome.seconds,
                                 Double(outcome.frames) / max(outcome.seconds, 1e-9), output, Double(size) / 1e6)
            if outcome.interrupted {
                note("streamd: interrupted: wrote the first \(summary)")
                throw ExitCode(130)
            }
            note("streamd: wrote \(summary)")
        }
    }
}

