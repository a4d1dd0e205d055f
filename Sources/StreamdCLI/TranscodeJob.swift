import Decode
import Encode
import Foundation
import FrameGraph
import Pipeline
import Stylize
import Synchronization
import Temporal

/// One transcode: the frame graph from a file to a file (`FrameGraph`), its progress and its interrupt handling.
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
    /// A segment's frames (by timestamp): the others are stylized and smoothed (the history at the seam) but
    /// not written. nil: every frame is written.
    var keep: (@Sendable (Int64?) -> Bool)?
    /// A segment's end: the source stops at the first frame at or after it.
    var stopAfter: Int64?
    /// Frames the progress display expects when the job writes part of the input (a segment).
    var expectedOverride: Int?
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

    /// Runs the graph on its dedicated threads and returns when every stage has been joined.
    func runBlocking() throws -> Outcome {
        let progress = ProgressReporter(total: expectedOverride ?? expectedFrames, frameRate: reader.info.frameRate.doubleValue)
        let (reader, writer, model, options) = (self.reader, self.writer, self.model, self.options)
        let (keep, stopAfter) = (self.keep, self.stopAfter)
        let style = WorkerStyle(model: model, identity: input, options: options, smoothing: smoothing)
        // One file is one continuous stream: `--start` begins a new history because the stage starts empty;
        // scene cuts inside it are found from the pictures.
        let graph = FrameGraph(
            layout: .init(name: "transcode", workers: workers, sourcePolicy: .block, smoothing: smoothing != nil),
            worker: .init(threads: threads, sizing: .fixed(processing: processing, output: output), source: input),
            style: { style }, observer: WorkerTimes(stylize: stylizeTime, guide: guideTime),
            deliver: { item, pool, _ in
                defer { pool.recycle(item.frame.image.pixels) }
                guard keep?(item.frame.pts) ?? true else { return }
                try writer.write(item.frame)
                progress.frameDone()
            },
            source: { feed, context in
                while !context.isStopRequested, let frame = try reader.nextFrame(pool: feed.pool) {
                    if let stopAfter, let pts = frame.pts, pts >= stopAfter {
                        feed.pool.recycle(frame.image.pixels)
                        break
                    }
                    if !feed.send(frame) { break }
                }
            })
        pool = graph.pool
        smoothingStatistics = graph.smoothingStatistics
        // SIGINT/SIGTERM: stop reading, let what is in flight drain, finalize the file.
        let interrupted = InterruptSignals { graph.group.stop() }
        defer { interrupted.cancel() }
        let started = Date()
        try graph.group.start()
        _ = try? graph.group.wait()
        progress.finish()
        if let error = graph.group.error {
            writer.abort()
            throw error.underlying.map { TranscodeFailure(message: oneLine($0)) } ?? TranscodeFailure(message: error.description)
        }
        try writer.finish()
        return Outcome(frames: writer.framesWritten, seconds: Date().timeIntervalSince(started), interrupted: interrupted.isSet)
    }
}

/// The workers' CPU time for the summary: stylizing (resizes included) and making smoothing guides.
private struct WorkerTimes: StylizeObserver {
    let stylize: SecondsCounter, guide: SecondsCounter
    func frameStylized(elapsed: Duration, cpuSeconds: Double, guideCPUSeconds: Double) {
        stylize.add(cpuSeconds - guideCPUSeconds)
        guide.add(guideCPUSeconds)
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
