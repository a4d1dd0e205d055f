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

    @Option(help: "Stylize workers (frames in flight at once).")
    var workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

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
        if workers < 1 || workers > 64 { throw ValidationError("--workers must be between 1 and 64") }
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

/// One transcode: owns the stage group, the queues and the interrupt handling.
final class TranscodeJob: @unchecked Sendable {
    struct Outcome {
        var frames: Int
        var seconds: Double
        var interrupted: Bool
    }

    let reader: VideoReader
    let writer: VideoWriter
    let model: StyleModel
    let options: StyleOptions
    let workers: Int, threads: Int
    let width: Int, height: Int
    let input: String

    init(reader: VideoReader, writer: VideoWriter, model: StyleModel, options: StyleOptions,
         workers: Int, threads: Int, width: Int, height: Int, input: String) {
        self.reader = reader; self.writer = writer; self.model = model; self.options = options
        self.workers = workers; self.threads = threads; self.width = width; self.height = height; self.input = input
    }

    func run() async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try self.runBlocking() }) }
            thread.name = "transcode"
            thread.start()
        }
    }

    /// Runs the pipeline on dedicated threads and returns when every stage has been joined.
    func runBlocking() throws -> Outcome {
        let group = StageGroup(name: "transcode")
        let decoded = BoundedQueue<VideoFrame>(capacity: 2, policy: .block)
        let stylized = BoundedQueue<VideoFrame>(capacity: 2, policy: .block)
        group.addQueue(decoded)
        group.addQueue(stylized)
        let progress = ProgressReporter(total: reader.info.estimatedFrameCount, frameRate: reader.info.frameRate.doubleValue)
        let (reader, writer, model, options, threads) = (self.reader, self.writer, self.model, self.options, self.threads)
        let (width, height) = (self.width, self.height)
        group.addStage("encode") { _ in
            while let frame = stylized.receive() {
                try writer.write(frame)
                progress.frameDone()
            }
        }
        let stylize = OrderedWorkers<VideoFrame, VideoFrame>(name: "stylize", count: workers) { _ in
            let stylizer = try Stylizer(model: model, threads: threads)
            return { frame in
                var out = frame
                if frame.image.width != width || frame.image.height != height {
                    out.image = try ImageDecoder.resize(frame.image, width: width, height: height)
                }
                out.image = try stylizer.stylize(out.image, options: options)
                return out
            }
        }
        group.addStage("stylize") { _ in try stylize.run(input: decoded, output: stylized) }
        group.addStage("decode") { context in
            while !context.isStopRequested, let frame = try reader.nextFrame() {
                if decoded.send(frame) == .consumerGone { break }
            }
            decoded.finish()
        }
        // SIGINT/SIGTERM: stop reading, let what is in flight drain, finalize the file.
        let interrupted = InterruptFlag()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig)
            s.setEventHandler { interrupted.set(); group.stop() }
            s.resume()
            return s
        }
        defer {
            sources.forEach { $0.cancel() }
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
        let started = Date()
        try group.start()
        _ = try? group.wait()
        progress.finish()
        if let error = group.error {
            writer.abort()
            throw error.underlying.map { TranscodeFailure(message: oneLine($0)) } ?? TranscodeFailure(message: error.description)
        }
        try writer.finish()
        return Outcome(frames: writer.framesWritten, seconds: Date().timeIntervalSince(started), interrupted: interrupted.isSet)
    }
}

struct TranscodeFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// Progress of a long run: a bar on a terminal, a log line every few seconds otherwise.
final class ProgressReporter: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int?
    private let frameRate: Double
    private let started = Date()
    private var done = 0
    private var lastPrint = Date.distantPast
    private let terminal = standardErrorIsTerminal

    init(total: Int?, frameRate: Double) {
        self.total = total
        self.frameRate = frameRate
    }

    func frameDone() {
        lock.lock()
        defer { lock.unlock() }
        done += 1
        let now = Date()
        let interval = terminal ? 0.2 : 5
        guard now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        FileHandle.standardError.write(Data(line(now).utf8))
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if terminal && done > 0 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private func line(_ now: Date) -> String {
        let elapsed = max(now.timeIntervalSince(started), 1e-6)
        let fps = Double(done) / elapsed
        let speed = frameRate > 0 ? fps / frameRate : 0
        var text = String(format: "%d", done)
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let eta = fps > 0 ? Double(max(total - done, 0)) / fps : 0
            text += String(format: "/%d frames %3.0f%%  %.2f fps  %.2fx  ETA %@", total, fraction * 100, fps, speed, formatDuration(eta))
            if terminal {
                let width = 24, filled = Int(fraction * Double(width))
                text = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " + text
            }
        } else {
            text += String(format: " frames  %.2f fps  %.2fx", fps, speed)
        }
        return terminal ? "\r" + text + "\u{1B}[K" : "streamd: " + text + "\n"
    }
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
