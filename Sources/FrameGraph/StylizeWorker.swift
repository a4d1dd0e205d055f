public import Pipeline
public import Stylize
public import Temporal
import Decode

/// The style a worker applies to one frame: read at every frame, so a live pipeline's style can change
/// between two frames.
public struct WorkerStyle: Sendable {
    public var model: StyleModel
    /// Names the model: a worker builds a new session (weights, plan, scratch) only when it changes; new
    /// options alone need none.
    public var identity: String
    public var options: StyleOptions
    /// Smoothing after the workers (the worker makes each frame's guide), or nil when the style does not smooth.
    public var smoothing: SmoothingSettings?
    /// Changes whenever the pictures change look (a new model or new options): smoothing starts over there.
    public var look: Int

    public init(model: StyleModel, identity: String, options: StyleOptions, smoothing: SmoothingSettings? = nil, look: Int = 0) {
        self.model = model; self.identity = identity; self.options = options
        self.smoothing = smoothing.flatMap { $0.isOff ? nil : $0 }
        self.look = look
    }
}

/// Hears what each stylize worker did, on the worker's thread (metrics, counters, the transcode summary): keep
/// it quick. Every method has an empty default.
public protocol StylizeObserver: Sendable {
    /// A frame reached a worker.
    func frameArrived()
    /// A frame was dropped by the latency budget, unstylized.
    func frameDropped()
    /// A frame was stylized: `elapsed` wall time from arrival to the result (resizes included), `cpuSeconds`
    /// the worker thread's CPU time for it, `guideCPUSeconds` the part spent making the smoothing guide.
    func frameStylized(elapsed: Duration, cpuSeconds: Double, guideCPUSeconds: Double)
}

extension StylizeObserver {
    public func frameArrived() {}
    public func frameDropped() {}
    public func frameStylized(elapsed: Duration, cpuSeconds: Double, guideCPUSeconds: Double) {}
}

/// A frame that could not be stylized: names the source, the frame and its size.
public struct StylizeFrameError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// The one body of every stylize worker, file or live: admit the frame (the latency budget), make its
/// smoothing guide, resize it to the processing size, stylize, resize to the output size; every buffer given
/// back to the pool as soon as it is used. Owns its `Stylizer` (the session and scratch memory) on its worker
/// thread, so it is not Sendable.
public final class StylizeWorker {
    public struct Settings: Sendable {
        /// Compute threads of the worker's session.
        public var threads: Int
        public var sizing: FrameSizing
        /// Capture-to-output budget (`max_latency`): frames that would leave later are dropped. Nil: every
        /// frame is stylized (a file).
        public var latencyBudget: Duration?
        /// The source, named in errors.
        public var source: String

        public init(threads: Int, sizing: FrameSizing, latencyBudget: Duration? = nil, source: String) {
            self.threads = threads; self.sizing = sizing; self.latencyBudget = latencyBudget; self.source = source
        }
    }

    private let settings: Settings
    private let style: @Sendable () -> WorkerStyle
    private let pool: FramePool
    private let observer: (any StylizeObserver)?
    private var gate: LatencyGate?
    private var stylizer: Stylizer?
    private var identity = ""
    /// One scaler each way, kept across frames: rebuilt only when a size changes.
    private let toProcessing = PictureResizer(), toOutput = PictureResizer()

    public init(settings: Settings, style: @escaping @Sendable () -> WorkerStyle, pool: FramePool, observer: (any StylizeObserver)? = nil) {
        self.settings = settings; self.style = style; self.pool = pool; self.observer = observer
        gate = settings.latencyBudget.map { LatencyGate(budget: $0) }
    }

    /// The stylized frame, or nil when the latency budget drops it.
    public func process(_ input: GraphFrame) throws -> GraphFrame? {
        observer?.frameArrived()
        let arrived = ContinuousClock.now
        if gate != nil, !gate!.admit(age: (arrived - input.captured).inSeconds, now: arrived) {
            pool.recycle(input.frame.image.pixels)
            observer?.frameDropped()
            return nil
        }
        let cpuStarted = ThreadCPUClock.seconds()
        let current = style()
        // A new model needs a new session; new options alone do not.
        if stylizer == nil || current.identity != identity {
            stylizer = try Stylizer(model: current.model, threads: settings.threads)
            identity = current.identity
        }
        var frame = input.frame
        // The guide comes from the input as decoded, before it is resized and its buffer recycled.
        let tag = current.smoothing.map {
            TemporalTag(guide: TemporalGuide(reducing: frame.image), continuity: Continuity(segment: input.segment, style: current.look), settings: $0)
        }
        let guideSeconds = tag == nil ? 0 : ThreadCPUClock.seconds() - cpuStarted
        var image = frame.image
        let (processing, output) = settings.sizing.sizes(for: PixelSize(width: image.width, height: image.height))
        do {
            if image.width != processing.width || image.height != processing.height {
                let resized = try toProcessing.resize(image, width: processing.width, height: processing.height, pool: pool)
                pool.recycle(image.pixels)
                image = resized
            }
            let stylized = try stylizer!.stylize(image, options: current.options, pool: pool)
            pool.recycle(image.pixels)
            image = stylized
            if output != processing {
                let resized = try toOutput.resize(image, width: output.width, height: output.height, pool: pool)
                pool.recycle(image.pixels)
                image = resized
            }
        } catch {
            pool.recycle(image.pixels)
            throw StylizeFrameError(description: "\(settings.source): frame \(frame.sequence + 1) (\(image.width)x\(image.height)): \(oneLine(error))")
        }
        frame.image = image
        let elapsed = ContinuousClock.now - arrived
        gate?.record(stylizeSeconds: elapsed.inSeconds)
        observer?.frameStylized(elapsed: elapsed, cpuSeconds: ThreadCPUClock.seconds() - cpuStarted, guideCPUSeconds: guideSeconds)
        return GraphFrame(frame: frame, captured: input.captured, segment: input.segment, temporalTag: tag)
    }
}
