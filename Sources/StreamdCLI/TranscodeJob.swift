import Decode
import Encode
import Foundation
import Pipeline
import Stylize

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
    /// The size frames are stylized at, and the size they are written at.
    let processing: PixelSize, output: PixelSize
    let input: String
    /// Frames the progress display expects: the input's estimate, cut to the `--start/--duration` window.
    var expectedFrames: Int? {
        let info = reader.info
        guard var frames = info.estimatedFrameCount, info.frameRate.doubleValue > 0 else { return info.estimatedFrameCount }
        let rate = info.frameRate.doubleValue
        if let start = window.start { frames -= Int((start * rate).rounded()) }
        if let duration = window.duration { frames = min(frames, Int((duration * rate).rounded())) }
        return max(frames, 1)
    }
    /// `--start` and `--duration`, for the progress display.
    var window: (start: Double?, duration: Double?) = (nil, nil)
    /// The frame buffers of the last run (for its allocation statistics).
    private(set) var pool: FramePool?

    init(reader: VideoReader, writer: VideoWriter, model: StyleModel, options: StyleOptions,
         workers: Int, threads: Int, processing: PixelSize, output: PixelSize, input: String) {
        self.reader = reader; self.writer = writer; self.model = model; self.options = options
        self.workers = workers; self.threads = threads; self.processing = processing; self.output = output; self.input = input
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
        // Every frame buffer in flight at once: both queues, the one each stage holds, and the reorder buffer.
        let pool = FramePool(capacity: decoded.capacity + stylized.capacity + 2 * workers + 4)
        self.pool = pool
        let progress = ProgressReporter(total: expectedFrames, frameRate: reader.info.frameRate.doubleValue)
        let (reader, writer, model, options, threads) = (self.reader, self.writer, self.model, self.options, self.threads)
        let (processing, output) = (self.processing, self.output)
        group.addStage("encode") { _ in
            while let frame = stylized.receive() {
                try writer.write(frame)
                pool.recycle(frame.image.pixels)
                progress.frameDone()
            }
        }
        let input = self.input
        let stylize = OrderedWorkers<VideoFrame, VideoFrame>(name: "stylize", count: workers) { _ in
            let stylizer = try Stylizer(model: model, threads: threads)
            // One scaler each way per worker, built at the first frame (not per frame).
            let toProcessing = PictureResizer(), toOutput = PictureResizer()
            return { frame in
                var out = frame
                do {
                    if frame.image.width != processing.width || frame.image.height != processing.height {
                        out.image = try toProcessing.resize(frame.image, width: processing.width, height: processing.height, pool: pool)
                        pool.recycle(frame.image.pixels)
                    }
                    let source = out.image
                    out.image = try stylizer.stylize(source, options: options, pool: pool)
                    pool.recycle(source.pixels)
                    if output != processing {
                        let stylized = out.image
                        out.image = try toOutput.resize(stylized, width: output.width, height: output.height, pool: pool)
                        pool.recycle(stylized.pixels)
                    }
                } catch {
                    throw PipelineError(stage: "stylize", message: "\(input): frame \(frame.sequence + 1): \(error)", underlying: error)
                }
                return out
            }
        }
        group.addStage("stylize") { _ in try stylize.run(input: decoded, output: stylized) }
        group.addStage("decode") { context in
            while !context.isStopRequested, let frame = try reader.nextFrame(pool: pool) {
                if decoded.send(frame) == .consumerGone { break }
            }
            decoded.finish()
        }
        // SIGINT/SIGTERM: stop reading, let what is in flight drain, finalize the file.
        let interrupted = InterruptSignals { group.stop() }
        defer { interrupted.cancel() }
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

/// SIGINT and SIGTERM turned into a flag (and an optional action) for a long command that stops cleanly between
/// units of work instead of dying mid-file; `cancel()` gives the signals back their default action.
final class InterruptSignals {
    let flag = InterruptFlag()
    private let sources: [DispatchSourceSignal]

    init(onSignal action: @escaping @Sendable () -> Void = {}) {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let flag = self.flag
        sources = [SIGINT, SIGTERM].map { sig in
            let s = DispatchSource.makeSignalSource(signal: sig)
            s.setEventHandler { flag.set(); action() }
            s.resume()
            return s
        }
    }

    var isSet: Bool { flag.isSet }

    func cancel() {
        sources.forEach { $0.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

