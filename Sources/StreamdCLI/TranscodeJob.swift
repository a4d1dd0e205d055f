import Decode
import Encode
import Foundation
import Pipeline
import Stylize
import Synchronization
import Temporal

/// A stylized frame on its way from the workers to the encoder, with the guide of its input when the job
/// smooths.
struct TranscodeFrame: SmoothableFrame {
    var frame: VideoFrame
    var temporalTag: TemporalTag?

    mutating func withStylizedImage(_ body: (inout RGBImage) throws -> Void) rethrows {
        try body(&frame.image)
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
    /// Temporal smoothing after the workers, or nil for none (then there is no smoothing stage at all).
    let smoothing: SmoothingSettings?
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
    /// What the smoothing stage of the last run did, and how long it took.
    private(set) var smoothingStatistics: SmoothingStatistics?
    /// CPU seconds the workers' own threads spent stylizing (resizes included), summed over workers:
    /// smoothing's cost is reported against it. With `--threads` above 1 the session's other compute threads
    /// are not counted, so the share reported is then an upper bound.
    var stylizeSeconds: Double { stylizeTime.total }
    /// CPU seconds the workers spent making smoothing guides (part of smoothing's cost).
    var guideSeconds: Double { guideTime.total }
    private let stylizeTime = SecondsCounter(), guideTime = SecondsCounter()

    init(reader: VideoReader, writer: VideoWriter, model: StyleModel, options: StyleOptions,
         workers: Int, threads: Int, processing: PixelSize, output: PixelSize, input: String,
         smoothing: SmoothingSettings? = nil) {
        self.reader = reader; self.writer = writer; self.model = model; self.options = options
        self.workers = workers; self.threads = threads; self.processing = processing; self.output = output; self.input = input
        self.smoothing = smoothing
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
        let stylized = BoundedQueue<TranscodeFrame>(capacity: 2, policy: .block)
        // With smoothing, a stage of its own between the workers and the encoder (and a queue after it).
        let smoothed = smoothing == nil ? stylized : BoundedQueue<TranscodeFrame>(capacity: 2, policy: .block)
        group.addQueue(decoded)
        group.addQueue(stylized)
        if smoothed !== stylized { group.addQueue(smoothed) }
        // Every frame buffer in flight at once: the queues, the one each stage holds, and the reorder buffer.
        let pool = FramePool(capacity: decoded.capacity + stylized.capacity + 2 * workers + 4
                             + (smoothed !== stylized ? smoothed.capacity + 1 : 0))
        self.pool = pool
        let progress = ProgressReporter(total: expectedFrames, frameRate: reader.info.frameRate.doubleValue)
        let (reader, writer, model, options, threads) = (self.reader, self.writer, self.model, self.options, self.threads)
        let (processing, output, smoothing) = (self.processing, self.output, self.smoothing)
        let (stylizeTime, guideTime) = (self.stylizeTime, self.guideTime)
        group.addStage("encode") { _ in
            while let item = smoothed.receive() {
                try writer.write(item.frame)
                pool.recycle(item.frame.image.pixels)
                progress.frameDone()
            }
        }
        if smoothed !== stylized {
            let stage = SmoothingStage()
            smoothingStatistics = stage.statistics
            // One file is one continuous stream: `--start` begins a new history because the stage starts empty;
            // scene cuts inside it are found from the pictures.
            group.addStage("smooth") { _ in try stage.run(input: stylized, output: smoothed) }
        }
        let input = self.input
        let stylize = OrderedWorkers<VideoFrame, TranscodeFrame>(name: "stylize", count: workers) { _ in
            let stylizer = try Stylizer(model: model, threads: threads)
            // One scaler each way per worker, built at the first frame (not per frame).
            let toProcessing = PictureResizer(), toOutput = PictureResizer()
            return { frame in
                var out = frame
                // The guide comes from the input as decoded, before it is resized and its buffer recycled; its
                // time counts as smoothing's.
                let guideStarted = ThreadCPUClock.seconds()
                let tag = smoothing.map { TemporalTag(guide: TemporalGuide(reducing: frame.image), continuity: Continuity(), settings: $0) }
                if tag != nil { guideTime.add(ThreadCPUClock.seconds() - guideStarted) }
                let started = ThreadCPUClock.seconds()
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
                stylizeTime.add(ThreadCPUClock.seconds() - started)
                return TranscodeFrame(frame: out, temporalTag: tag)
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

/// Seconds added up by several threads (the workers' time, for the summary).
final class SecondsCounter: Sendable {
    private let value = Mutex(0.0)
    func add(_ seconds: Double) { value.withLock { $0 += seconds } }
    var total: Double { value.withLock { $0 } }
}

struct TranscodeFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
