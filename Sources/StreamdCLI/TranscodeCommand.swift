import ArgumentParser
import Decode
import Encode
import Foundation
import Pipeline
import Stylize
import Temporal

/// `streamd transcode`: a video file in, its stylized version out, through the staged pipeline
/// decode → [queue] → stylize × N workers (in order) → [queue] → encode, each stage on its own thread.
struct TranscodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "Stylize a video file into a new video file, keeping its audio, subtitles and metadata."
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var style: StyleArguments

    @OptionGroup var paintings: PaintingArguments

    @Option(help: "Stylize workers (frames in flight at once; default: one per core, fewer if their estimated working memory would exceed 1.5 GB).")
    var workers: Int?

    /// Working memory the automatic worker count stays within (leaving room under 2 GB for decoding,
    /// encoding and queued frames).
    static let workerMemoryBudget = 1536 << 20

    @Option(help: "Compute threads per worker (default: the cores divided among the workers, at least 1).")
    var threads: Int?

    @Option(help: "Start at this many seconds into the input.")
    var start: Double?

    @Option(help: "Transcode at most this many seconds.")
    var duration: Double?

    @OptionGroup(title: "Frame size") var size: SizeArguments

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

    @Option(name: .customLong("frame-rate"), help: "Pictures per second of an image-sequence input (default 25).")
    var frameRate: Double?

    @Option(name: .customLong("smooth"), help: ArgumentHelp(
        "Temporal smoothing against flicker: 0 (off) to 1 (the most); `--smooth` alone means \(SmoothingSettings.defaultStrength).",
        valueName: "strength"))
    var smooth: String?

    @Option(name: .customLong("smooth-mode"), help: "How smoothing follows the picture: flow (optical flow of the input, default) or still (no flow: only where the input did not change; cheaper).")
    var smoothMode: String?

    @Option(help: ArgumentHelp(
        "Transcode only segment INDEX of COUNT (from 0) of INPUT into OUTPUT (a .mkv), video only, for `streamd join`: every worker derives the same plan from INPUT.",
        valueName: "index/count"))
    var segment: String?

    @Option(help: "With --segment: the plan `streamd plan` wrote, instead of deriving it from INPUT.")
    var plan: String?

    @Flag(name: .customLong("no-audio"), help: "Leave the audio out (by default it is copied, or re-encoded when the container needs it).")
    var noAudio = false

    @Flag(help: "Replace OUTPUT if it exists.")
    var overwrite = false

    @Argument(help: "Input video file, or an image sequence: a numbered pattern (frames/f_%04d.png) or a quoted glob ('frames/*.png').")
    var input: String

    @Argument(help: "Output video file (.mp4, .mov, .mkv, .webm or .avi), or PNG frames: a directory or a pattern such as frames/f_%06d.png.")
    var output: String

    func validate() throws {
        if let workers, workers < 1 || workers > 64 { throw ValidationError("--workers must be between 1 and 64") }
        if let threads, threads < 1 || threads > 64 { throw ValidationError("--threads must be between 1 and 64") }
        if let start, start < 0 { throw ValidationError("--start must not be negative") }
        if let duration, duration <= 0 { throw ValidationError("--duration must be positive") }
        if let frameRate, !(frameRate > 0 && frameRate <= 1000) { throw ValidationError("--frame-rate must be between 0 and 1000") }
        if let segment {
            do { _ = try SegmentPlan.parse(segment) } catch { throw ValidationError("--\(error)") }
            if start != nil || duration != nil { throw ValidationError("--segment cannot be combined with --start or --duration") }
            if (output as NSString).pathExtension.lowercased() != "mkv" {
                throw ValidationError("--segment writes Matroska (.mkv): it carries the segment's index and its input for `streamd join`")
            }
        } else if plan != nil {
            throw ValidationError("--plan needs --segment")
        }
    }

    /// Frames decoded, stylized and smoothed before a segment's first frame and then thrown away when it smooths,
    /// so smoothing has the history at the seam that a one-process transcode has there. Measured on a real clip
    /// (SegmentTranscodeTests): with 8 the frames after a seam differed from the one-process file by 38–48 dB
    /// PSNR for a dozen frames (smoothing is a recursive filter along the motion); with 40, by 76 dB or less.
    /// Without smoothing frames are independent and nothing is read ahead.
    static let segmentLeadFrames = 40

    /// `--smooth` and `--smooth-mode` checked (one-line errors naming the option); nil for no smoothing.
    func smoothingSettings() throws -> SmoothingSettings? {
        guard let smooth else {
            if smoothMode != nil { throw SmoothingSettingsError("--smooth-mode needs --smooth") }
            return nil
        }
        let strength = try SmoothingSettings.strength(parsing: smooth, key: "--smooth")
        let mode = try smoothMode.map { try SmoothingSettings.mode(parsing: $0, key: "--smooth-mode") } ?? .flow
        return SmoothingSettings(strength: strength, mode: mode)
    }

    /// `--smooth` may stand alone (`--smooth IN OUT`): ArgumentParser has no options with an optional value, so
    /// the command line is rewritten first. A `--smooth` not followed by a number gets the default strength;
    /// one followed by a number keeps it, in or out of range (so `--smooth 2` is an error, not a file name).
    static func normalizedArguments(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--" { out += arguments[i...]; break }
            if a == "--smooth", i + 1 >= arguments.count || Double(arguments[i + 1]) == nil {
                out.append("--smooth=\(SmoothingSettings.defaultStrength)")
            } else {
                out.append(a)
            }
            i += 1
        }
        return out
    }

    func run() async throws {
        try await runReportingErrors {
            FFmpegLog.setQuiet()
            let smoothing = try smoothingSettings()
            try OutputPath.checkVideo(output, overwrite: overwrite)
            let model = try ModelLoader.load(path: try ModelLibrary.standard(modelsDir: modelOptions.modelsDir).resolve(paintings.modelName(modelOptions)))
            // A segment: its part of the plan, read from a few frames before it (see `segmentLeadFrames`).
            let part = try segment.map { spec -> (plan: SegmentPlan, segment: SegmentPlan.Segment, readFrom: Double?) in
                let (index, count) = try SegmentPlan.parse(spec)
                let plan = try self.plan.map { try SegmentPlan.load($0, input: input, count: count) } ?? SegmentPlan(path: input, count: count)
                let part = plan.segments[index]
                let lead = smoothing == nil ? 0 : Int64(Self.segmentLeadFrames)
                let readFrom = part.start.map { max(0, plan.seconds($0 - plan.firstPTS - lead * plan.frameDuration)) }
                return (plan, part, readFrom)
            }
            let readerOptions = VideoReaderOptions(
                threadCount: 2, start: part?.readFrom ?? start, duration: duration,
                sequenceFrameRate: frameRate.map { Rational(Int(($0 * 1000).rounded()), 1000) } ?? Rational(25, 1))
            // A painting's strength below 1 moves its embedding towards the video's own, taken from its first frame
            // (one embedding for the whole video, so the style does not flicker with the content).
            let options = try style.options(model: model, paintings: paintings) {
                guard let first = try VideoReader(path: input, options: readerOptions).nextFrame() else {
                    throw MediaError(.decodeFailed, path: input, "no video frame to take the content's style embedding from")
                }
                return first.image
            }
            let reader = try VideoReader(path: input, options: readerOptions)
            let info = reader.info
            let inputSize = PixelSize(width: info.displayWidth, height: info.displayHeight)
            let processing = size.processingSize(input: inputSize)
            let outputSize = size.outputSize(input: inputSize, processing: processing)
            var settings = VideoEncodeSettings(width: outputSize.width, height: outputSize.height, frameRate: info.frameRate, timeBase: info.timeBase,
                                               codec: codec, crf: crf, preset: preset, bitrate: bitrate, pixelFormat: pixFmt)
            // Measured (bench/transcode.sh): a worker per core with one compute thread each beats fewer workers
            // with more threads (frames are independent; a single frame's passes must synchronise). When memory
            // allows fewer workers, the spare cores become their compute threads.
            let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
            // One throwaway session fails on a model that cannot run before any output exists, and estimates a
            // worker's working memory. It goes away here, so its core reservation is free for the workers.
            let perWorker = try {
                let probe = try Stylizer(model: model)
                _ = try probe.session.profile(height: 64, width: 64)
                return try probe.estimatedPeakBytes(height: processing.height, width: processing.width)
            }()
            var workers = self.workers ?? cores
            if self.workers == nil {
                let fit = max(1, Self.workerMemoryBudget / max(perWorker, 1))
                if fit < workers {
                    note("streamd: using \(fit) worker(s): each needs about \(perWorker >> 20) MB at \(processing) (--workers overrides)")
                    workers = fit
                }
            }
            settings.startsAtZero = (start ?? 0) > 0
            if let part {
                // The input's own timestamps, no B-frames (decode order is presentation order, so the join copies
                // packets without reordering them), and the tags the join checks.
                settings.startsAtZero = false
                settings.codecOptions["bf"] = "0"
                settings.metadata[SegmentTags.segment] = "\(part.segment.index)/\(part.plan.count)"
                settings.metadata[SegmentTags.source] = part.plan.fingerprint
            }
            // Audio and subtitles: read beside the video and trimmed to the same span by the writer. They are
            // never a reason to fail: if they cannot be read, the video is written without them. (A segment is
            // video only: the join takes them from the input once.)
            var passthrough: Demuxer?
            // (An image sequence has nothing but pictures.)
            if ImageSequence(path: input) == nil && part == nil { do {
                let demuxer = try Demuxer(path: input, keep: noAudio ? [.subtitle] : [.audio, .subtitle])
                if let start, start > 0 { try demuxer.seek(to: start) }
                settings.videoStreamMetadata = demuxer.streams.first { $0.index == info.streamIndex }?
                    .metadata.filter { ["language", "title"].contains($0.key) } ?? [:]
                passthrough = demuxer
            } catch {
                if info.hasAudio && !noAudio { note("streamd: warning: leaving the audio out: \(oneLine(error))") }
            } }
            let writer = try VideoWriter(path: output, settings: settings, passthrough: passthrough)
            let dropped = writer.passthroughWarnings.count
            for w in writer.passthroughWarnings { note("streamd: warning: \(w)") }
            let job = TranscodeJob(reader: reader, writer: writer, model: model, options: options,
                                   workers: workers, threads: threads ?? max(1, cores / workers), processing: processing, output: outputSize, input: input,
                                   smoothing: smoothing)
            job.window = (start, duration)
            if let part {
                job.keep = { pts in pts.map { part.plan.contains(part.segment, pts: $0) } ?? false }
                job.stopAfter = part.segment.end
                job.expectedOverride = part.segment.frames
            }
            let outcome = try await job.run()
            // The reader's warnings name the input already.
            for w in reader.warnings { note("streamd: warning: \(w)") }
            for w in writer.passthroughWarnings.dropFirst(dropped) { note("streamd: warning: \(w)") }
            var summary = String(format: "%d frames in %.1f s (%.2f fps), %@", outcome.frames, outcome.seconds,
                                 Double(outcome.frames) / max(outcome.seconds, 1e-9), output)
            if let attributes = try? FileManager.default.attributesOfItem(atPath: output),
               attributes[.type] as? FileAttributeType == .typeRegular, let bytes = attributes[.size] as? Int {
                summary += bytes < 1_000_000 ? String(format: ", %.0f kB", Double(bytes) / 1e3)
                    : String(format: ", %.1f MB", Double(bytes) / 1e6)
            }
            if let statistics = job.smoothingStatistics?.values, statistics.frames > 0, job.stylizeSeconds > 0 {
                // Smoothing's cost against stylization's, both as CPU time per frame of the threads doing them.
                let smooth = (statistics.seconds + job.guideSeconds) / Double(statistics.frames)
                let stylize = job.stylizeSeconds / Double(statistics.frames)
                let cuts = statistics.resets[.sceneCut] ?? 0
                note(String(format: "streamd: smoothing (%@, strength %g): %.1f ms/frame, %.1f%% of stylization (%.1f ms/frame, CPU time); %d of %d frames blended, %d scene cut(s)",
                            smoothing?.mode.rawValue ?? "", smoothing?.strength ?? 0, smooth * 1e3, 100 * smooth / stylize, stylize * 1e3,
                            statistics.blended, statistics.frames, cuts))
            }
            if outcome.interrupted {
                note("streamd: interrupted: wrote the first \(summary)")
                throw ExitCode(130)
            }
            note("streamd: wrote \(summary)")
        }
    }
}

