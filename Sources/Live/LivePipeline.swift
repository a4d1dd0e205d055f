public import CoreMetrics
import Decode
import Foundation
import FrameGraph
public import Logging
import Pipeline
public import ServeConfig
import Stylize
import Temporal
public import WebRTC

/// Where an output stands: idle (not yet opened, or a recording between files), connected (or recording),
/// reconnecting after a failure.
public enum OutputState: String, Sendable, Codable, CaseIterable {
    case idle, connected, reconnecting
}

/// What the API shows about a pipeline.
public struct PipelineSnapshot: Sendable, Codable, Equatable {
    public struct Output: Sendable, Codable, Equatable {
        public var name: String
        public var state: OutputState
        public var framesWritten: Int
        public var reconnects: Int
        public var lastError: String?
        public var recordings: [String]
    }
    public struct Style: Sendable, Codable, Equatable {
        public var model: String
        /// The style's name, when one style of a model with named styles is chosen (by name or index).
        public var styleName: String?
        public var styleIndex: Int?
        public var styleMix: [String: Double]?
        /// The painting of a network that takes any painting.
        public var styleImage: Painting?
        public var strength: Double
        public var preserveColor: Bool
        public var smoothing: Smoothing
        public var generation: Int
    }
    public struct Painting: Sendable, Codable, Equatable {
        /// `StyleEmbeddings.Painting.id` (`GET /v1/styles/ID/thumbnail`).
        public var id: String
        public var label: String
    }
    public struct Smoothing: Sendable, Codable, Equatable {
        /// 0 when off.
        public var strength: Double
        public var mode: String
    }

    public var name: String
    /// When this pipeline object was created (seconds since 1970): a reload that restarts it changes it.
    public var startedAt: Double
    public var state: PipelineState
    public var source: String
    public var framesIn: Int
    public var framesStylized: Int
    public var framesOut: Int
    public var framesDropped: Int
    public var sourceReconnects: Int
    /// The sound a stream or file source gives now, as read ("aac, 44100 Hz, 2 channels"): nil while it has none,
    /// with `audio: false`, for a camera and for `whip:` (whose publisher may send Opus at any time).
    public var sound: String?
    public var fps: Double
    /// Mean time from capture to the stylized frame's hand-off to the outputs over the last second, in ms
    /// (nil before the first second of output). The outputs' own encode and write come on top.
    public var latencyMs: Double?
    public var lastError: String?
    public var style: Style
    public var outputs: [Output]
}

/// Where a pipeline is in its life (the API and `streamd_pipeline_state` show the raw value).
public enum PipelineState: String, Sendable, Codable, CaseIterable {
    case starting, running, reconnecting, stopping, stopped, failed

    /// A run is over in these; `start` may begin a new one.
    public var isFinal: Bool { self == .stopped || self == .failed }
}

/// One run of a pipeline: its stage group (every thread of the run, outputs included), the source's I/O
/// interrupt and the outputs. Stage threads write state only through their own run, so a run that is ending
/// can never overwrite the state of the run after it.
final class PipelineRun: @unchecked Sendable {
    let sourceInterrupt: IOInterrupt
    let outputs: [SinkRunner]
    /// The run's graph: set by `start` before the run is published and before any of its threads starts
    /// (the graph's stages refer to the run, so the run comes first).
    var group: StageGroup { graph.group }
    fileprivate var graph: FrameGraph!
    private let condition = NSCondition()
    private var ended = false

    init(sourceInterrupt: IOInterrupt, outputs: [SinkRunner]) {
        self.sourceInterrupt = sourceInterrupt; self.outputs = outputs
    }

    /// Called once, by the thread that joined the group.
    func markEnded() {
        condition.lock(); ended = true; condition.broadcast(); condition.unlock()
    }

    /// True once every thread of the run has been joined; false if `timeout` passed first.
    func waitEnded(_ timeout: Duration) -> Bool {
        let limit = Date().addingTimeInterval(timeout.inSeconds)
        condition.lock(); defer { condition.unlock() }
        while !ended { if !condition.wait(until: limit) { return ended } }
        return true
    }
}

/// What every pipeline of a service shares.
public struct LiveEnvironment: Sendable {
    public var modelDirectories: [String]
    public var logger: Logger
    public var metrics: any MetricsFactory
    /// Reconnect back-off: first delay and cap.
    public var backoffInitial: Duration
    public var backoffCap: Duration
    /// The service's paintings, turned into style embeddings once each (they outlive pipelines and reloads).
    public var embeddings: StyleEmbeddings
    /// WebRTC players and publishers (`server.webrtc_*`).
    public var webrtc: WebRTCSettings

    public init(modelDirectories: [String], logger: Logger, metrics: any MetricsFactory, embeddings: StyleEmbeddings = StyleEmbeddings(),
                webrtc: WebRTCSettings = WebRTCSettings(), backoffInitial: Duration = .milliseconds(500), backoffCap: Duration = .seconds(10)) {
        self.modelDirectories = modelDirectories; self.logger = logger; self.metrics = metrics
        self.embeddings = embeddings
        self.webrtc = webrtc
        self.backoffInitial = backoffInitial; self.backoffCap = backoffCap
    }
}

/// One named live pipeline: source → decode → [drop-oldest queue] → stylize × N (ordered) → smooth → encode → sinks.
///
/// The data plane runs on dedicated threads (a source thread, the stylize workers, an encode thread); the
/// control plane talks to it only through thread-safe state: the style holder, the stop flag/IO interrupt
/// and the counters. The source reconnects with capped back-off when it is lost (state `reconnecting`); each
/// output does the same on its own. Output timestamps come from the pipeline clock at capture, so they
/// increase across drops and reconnects.
public final class LivePipeline: @unchecked Sendable {
    public let config: PipelineConfig
    public let style: LiveStyle
    /// The web page's preview of this pipeline's output (idle, and free, while nobody watches).
    public let preview = PreviewTap()
    /// WebRTC players of the stylized output (WHEP), from the first start to the pipeline's end.
    public let viewers: WHEPViewers
    /// The WebRTC publisher slot, for a pipeline whose source is `whip:` (nil otherwise).
    public let publisher: WHIPIngest?
    /// The source's sound, carried to the outputs and players beside the pictures: a `whip:` publisher's, or a
    /// stream's or file's best audio stream (`carriesSound` says whether the one open now has one); nil for a
    /// camera and for a source with `audio: false`, whose outputs are pictures only.
    let audio: AudioTrack?
    private let environment: LiveEnvironment
    private let logger: Logger
    private let metrics: LiveMetrics
    private let lock = NSLock()
    /// Where the outputs' timestamps count from.
    private let origin: ContinuousClock.Instant
    private let createdAt = Date().timeIntervalSince1970
    /// Held for the whole of `start` and `stop`, so they never interleave (a start during a stop waits for
    /// the stop to finish, then starts a fresh run; a second start finds the first run and returns).
    private let lifecycle = NSLock()
    // Guarded by `lock`.
    private var state = PipelineState.stopped
    private var run: PipelineRun?
    private var lastError: String?
    private var framesIn = 0, framesStylized = 0, framesOut = 0, dropped = 0, sourceReconnects = 0
    /// The sound format of the source open now (nil: none).
    private var soundFormat: String?
    private var fps = 0.0
    private var latencyMs: Double?
    private var outputSnapshots: [PipelineSnapshot.Output] = []
    private var lastFrameAt: ContinuousClock.Instant?

    /// Loads the model (so a bad model fails here, not later) and prepares; `start()` runs it.
    public init(config: PipelineConfig, environment: LiveEnvironment) throws {
        self.config = config
        self.environment = environment
        origin = .now
        audio = switch config.source {
        case .whip: AudioTrack(origin: origin)
        case .url(let source): source.audio ? AudioTrack(origin: origin, carriesSound: false) : nil
        case .device: nil
        }
        viewers = WHEPViewers(pipeline: config.name, settings: environment.webrtc, audio: audio)
        publisher = config.source == .whip ? WHIPIngest(settings: environment.webrtc, audio: audio) : nil
        var logger = environment.logger
        logger[metadataKey: "pipeline.name"] = .string(config.name)
        self.logger = logger
        let library = LiveStyle.library(modelDirectories: environment.modelDirectories)
        style = LiveStyle(try LiveStyle.load(config.style, library: library, embeddings: environment.embeddings),
                          embeddings: environment.embeddings)
        metrics = LiveMetrics(pipeline: config.name, factory: environment.metrics)
        outputSnapshots = config.outputs.map {
            PipelineSnapshot.Output(name: $0.target.name, state: .idle, framesWritten: 0, reconnects: 0, lastError: nil, recordings: [])
        }
    }

    /// True while frames reached the outputs within `window`.
    /// A `whip:` pipeline that runs and waits for a publisher counts as flowing: waiting is its normal state,
    /// not a stall (or systemd's watchdog would restart a service whose pipelines are all waiting for a camera).
    public func isFlowing(within window: Duration) -> Bool {
        let waitingForPublisher = publisher.map { !$0.hasPublisher } ?? false
        lock.lock(); defer { lock.unlock() }
        if waitingForPublisher && run != nil { return true }
        guard let lastFrameAt else { return false }
        return ContinuousClock.now - lastFrameAt < window
    }

    public var snapshot: PipelineSnapshot {
        let current = style.current
        lock.lock(); defer { lock.unlock() }
        var mix: [String: Double]?
        if let m = current.config.styleMix { mix = Dictionary(uniqueKeysWithValues: m.map { (String($0.index), $0.weight) }) }
        let names = current.model.info.styleNames
        let index = current.config.styleName.flatMap { names.firstIndex(of: $0) } ?? current.config.styleIndex
        return PipelineSnapshot(
            name: config.name, startedAt: createdAt, state: state, source: sourceName, framesIn: framesIn, framesStylized: framesStylized,
            framesOut: framesOut, framesDropped: dropped, sourceReconnects: sourceReconnects, sound: soundFormat, fps: fps, latencyMs: latencyMs,
            lastError: lastError,
            style: .init(model: current.modelName, styleName: index.flatMap { names.indices.contains($0) ? names[$0] : nil },
                         styleIndex: index, styleMix: mix,
                         styleImage: current.painting.map { .init(id: $0.id, label: $0.label) },
                         strength: current.config.strength, preserveColor: current.config.preserveColor,
                         smoothing: .init(strength: current.config.smoothing.strength, mode: current.config.smoothing.mode.rawValue),
                         generation: current.generation),
            outputs: outputSnapshots)
    }

    /// Switches style between frames (validated first; the output is not interrupted).
    @discardableResult
    public func setStyle(_ change: StyleChange) throws -> PipelineSnapshot {
        let applied = try style.apply(change, modelDirectories: environment.modelDirectories)
        logger.info("style switched", metadata: ["model": .string(applied.modelName), "generation": .stringConvertible(applied.generation)])
        return snapshot
    }

    /// True while a run exists (from `start` until its threads are joined).
    public var isRunning: Bool { lock.withLock { run != nil } }

    public var currentState: PipelineState { lock.withLock { state } }

    /// Sets the state of `run` if it is still the current run. `stopping` is left only for a final state, so a
    /// source reconnecting during a stop cannot make the pipeline look alive again.
    private func setState(_ value: PipelineState, for run: PipelineRun, error: String? = nil) {
        let applied: Bool = lock.withLock {
            guard self.run === run, state != value, state != .stopping || value.isFinal else { return false }
            state = value
            if let error { lastError = error }
            return true
        }
        if applied { metrics.setState(value) }
    }

    // MARK: - Running

    /// Starts a run. Returns at once; `stop` ends the run. Calling it while a run exists does nothing.
    public func start() throws {
        lifecycle.lock(); defer { lifecycle.unlock() }
        guard lock.withLock({ self.run == nil }) else { return }
        let workers = max(1, config.workers ?? ProcessInfo.processInfo.activeProcessorCount)
        let timeout: Duration = if case .url(let u) = config.source { u.timeout } else { .seconds(10) }
        let outputs = config.outputs.map {
            SinkRunner(sink: OutputSink(config: $0, pipeline: config.name, logger: logger, interrupt: IOInterrupt(),
                                        timeout: timeout, metrics: metrics, audio: audio?.reader()), metrics: metrics)
        }
        let run = PipelineRun(sourceInterrupt: IOInterrupt(), outputs: outputs)
        let encode = EncodeWindow()
        let style = self.style
        let graph = FrameGraph(
            layout: .init(name: config.name, workers: workers, sourcePolicy: .dropOldest, smoothing: true,
                          heldDownstream: outputs.reduce(0) { $0 + $1.queue.capacity + 1 }),
            worker: .init(threads: config.threads, sizing: .fitted(maxSide: config.style.maxSize), latencyBudget: config.maxLatency,
                          source: sourceName),
            style: { style.current.workerStyle },
            observer: WorkerCounts(pipeline: self),
            smoothingObserver: { [metrics] step, seconds in metrics.recordSmoothing(step, seconds: seconds) },
            // Each output is a stage of the graph: a hard stop cancels its queue and the group joins its thread.
            companions: outputs.enumerated().map { i, output in
                .init(name: "output\(i)", queue: output.queue) { [self] in
                    output.run()
                    publishOutputs(run)
                }
            },
            deliver: { [self] frame, pool, waiting in deliver(frame, pool: pool, waiting: waiting, run: run, window: encode) },
            // End of stream for every output; they finalize in parallel, joined by the group.
            delivered: { [self] in
                for output in outputs { output.queue.finish() }
                publishOutputs(run)
            },
            source: { [self] feed, context in runSource(feed, run: run, context: context) })
        run.graph = graph
        let group = graph.group
        lock.withLock {
            self.run = run
            state = .starting
            lastError = nil
        }
        metrics.setState(.starting)
        do {
            try group.start()
        } catch {
            // `start` has cancelled and joined whatever began.
            setState(.failed, for: run, error: "\(error)")
            lock.withLock { if self.run === run { self.run = nil } }
            run.markEnded()
            throw error
        }
        // The one thread that joins the run; it alone ends it, whatever ended it.
        let joiner = Thread { [self] in
            var failure: String?
            do { try group.wait() } catch {
                logger.error("pipeline failed: \(error)")
                failure = "\(error)"
            }
            publishOutputs(run)
            if let failure { setState(.failed, for: run, error: failure) } else { setState(.stopped, for: run) }
            lock.withLock { if self.run === run { self.run = nil } }
            run.markEnded()
        }
        joiner.name = "\(config.name)-join"
        joiner.start()
    }

    /// Graceful stop: the source stops reading (its blocking I/O is interrupted), frames in flight drain,
    /// recordings are finalized, all outputs at once. Past `timeout` it stops hard: every queue is cancelled
    /// and the network outputs' I/O interrupted (recordings still finalize); 5 s later the recordings' I/O too
    /// (a recording that cannot finish then is deleted, never left half-written). Returns true if it drained.
    @discardableResult
    public func stop(timeout: Duration = .seconds(10)) -> Bool {
        lifecycle.lock(); defer { lifecycle.unlock() }
        guard let run = lock.withLock({ self.run }) else { return true }
        setState(.stopping, for: run)
        run.group.stop()
        run.sourceInterrupt.stop()
        // WebRTC sessions end with the run: players and the publisher see the connection close and may come back.
        viewers.closeAll()
        publisher?.close()
        // A network output still connecting (or waiting to reconnect) has nothing to finalize: interrupt it now
        // rather than let a peer that never answers hold the stop for its whole timeout.
        for output in run.outputs where output.sink.isNetwork && output.snapshot.state != .connected {
            output.sink.interrupt.stop()
        }
        if run.waitEnded(timeout) { return true }
        logger.warning("pipeline did not drain within \(timeout), stopping hard")
        run.group.cancel()
        for output in run.outputs where output.sink.isNetwork { output.sink.interrupt.stop() }
        if run.waitEnded(.seconds(5)) { return false }
        logger.warning("outputs still finalizing 5 s after the hard stop: interrupting their files")
        for output in run.outputs { output.sink.interrupt.stop() }
        if !run.waitEnded(.seconds(5)) { logger.error("pipeline threads still running after the hard stop") }
        return false
    }

    private func publishOutputs(_ run: PipelineRun) {
        let outs = run.outputs.map(\.snapshot)
        lock.withLock { if self.run === run || self.run == nil { outputSnapshots = outs } }
    }

    private var sourceName: String {
        switch config.source {
        case .url(let u): u.url
        case .device(let d): d.path
        case .whip: "whip:"
        }
    }

    private func count(in n: Int = 0, stylized: Int = 0, out: Int = 0, dropped d: Int = 0) {
        lock.lock()
        framesIn += n; framesStylized += stylized; framesOut += out; dropped += d
        if out > 0 { lastFrameAt = .now }
        lock.unlock()
    }

    // MARK: Source

    private func runSource(_ feed: FrameFeed, run: PipelineRun, context: StageContext) {
        if let publisher { return runPublisherSource(publisher, feed: feed, run: run, context: context) }
        let interrupt = run.sourceInterrupt
        let isFile: Bool, loop: Bool, name: String
        let options: StreamReaderOptions
        let open: () throws -> StreamReader
        switch config.source {
        case .url(let source):
            isFile = source.kind == .file
            loop = source.loop
            name = source.url
            options = StreamReaderOptions(rtspTransport: source.rtspTransport.rawValue, timeout: source.timeout, sound: audio != nil)
            open = { try StreamReader(url: source.url, options: options, interrupt: interrupt) }
        case .whip:
            return  // runPublisherSource, above
        case .device(let device):
            // A camera paces itself; unplugged or busy, it is retried like a lost network source.
            isFile = false
            loop = false
            name = device.path
            options = StreamReaderOptions(timeout: .seconds(5))
            let size = device.width.flatMap { w in device.height.map { (width: w, height: $0) } }
            // The driver quietly substitutes a format or size the camera does not offer: say so, once.
            var warned = false
            open = { [logger] in
                let reader = try StreamReader(device: device.path, size: size, frameRate: device.frameRate,
                                              inputFormat: device.inputFormat?.rawValue, options: options, interrupt: interrupt)
                var differences: [String] = []
                if let wanted = device.inputFormat?.rawValue, reader.deliveredFormat != wanted {
                    differences.append("\(reader.deliveredFormat) instead of \(wanted)")
                }
                if let size, reader.width != size.width || reader.height != size.height {
                    differences.append("\(reader.width)x\(reader.height) instead of \(size.width)x\(size.height)")
                }
                if !differences.isEmpty && !warned {
                    warned = true
                    logger.warning("\(device.path): the camera does not offer what the source asks for; capturing \(differences.joined(separator: " and "))")
                }
                return reader
            }
        }
        var backoff = Backoff(initial: environment.backoffInitial, cap: environment.backoffCap)
        var knownDrops = 0
        // Bumped at every (re)open: smoothing never blends across a reconnect or a file that starts over.
        var segment = -1
        while !context.isStopRequested {
            let reader: StreamReader
            do {
                reader = try open()
                segment += 1
                setState(.running, for: run)
                noteSound(of: reader)
            } catch {
                if context.isStopRequested { break }
                lostSource("\(error)", backoff: &backoff, run: run, context: context)
                continue
            }
            let rate = reader.frameRate.doubleValue > 0 ? reader.frameRate.doubleValue : 25
            lock.lock(); nominalFrameRate = Int(rate.rounded()); lock.unlock()
            // Files and segmented streams (HLS) are handed on at their own rate (see SourcePacer).
            var pacer = isFile || reader.isSegmented ? SourcePacer(framesPerSecond: rate) : nil
            var sound = reader.soundFormat == nil ? nil : audio.map(SourceSound.init(track:))
            do {
                while !context.isStopRequested {
                    let started = ContinuousClock.now
                    guard let frame = try reader.nextFrame(pool: feed.pool) else { break }
                    // Back-off starts over only once frames come: a source that opens and then delivers
                    // nothing (a starved camera, a stream with no video yet) keeps backing off.
                    backoff.reset()
                    metrics.stageLatency[.decode].recordInterval(since: started)
                    metrics.framesIn[.decode].increment()
                    if let wait = pacer?.delay(now: .now), wait > .zero {
                        Thread.sleep(forTimeInterval: wait.inSeconds)
                    }
                    count(in: 1)
                    metrics.framesOut[.decode].increment()
                    if sound != nil {
                        sound!.picture(micros: frame.seconds.map { Int64(($0 * 1_000_000).rounded()) }, captured: .now)
                        sound!.add(reader.takeSound())
                    }
                    if !feed.send(frame, segment: segment) { return }
                    countSourceDrops(feed, known: &knownDrops)
                    metrics.queueDepth[.decoded].record(feed.waiting)
                }
            } catch {
                if context.isStopRequested { break }
                lostSource("\(error)", backoff: &backoff, run: run, context: context)
                continue
            }
            if context.isStopRequested { break }
            if isFile {
                if loop { continue }
                logger.info("source ended")
                return
            }
            lostSource("\(name): the stream ended", backoff: &backoff, run: run, context: context)
        }
    }

    /// Whether the source just opened has sound for the outputs (said once per change, not at every reconnect).
    private func noteSound(of reader: StreamReader) {
        guard let audio else { return }
        let format = reader.soundFormat
        let before = lock.withLock { () -> String? in
            defer { soundFormat = format }
            return soundFormat
        }
        if before != format {
            if let format { logger.info("sound: \(format)") } else { logger.info("the source has no sound: outputs opened now are pictures only") }
        }
        audio.carriesSound = format != nil
    }

    /// The source of a `whip:` pipeline: pictures from whichever publisher sends, waiting (state `reconnecting`,
    /// with the reason) while none does. Each publisher is a new segment, so smoothing never blends two.
    private func runPublisherSource(_ publisher: WHIPIngest, feed: FrameFeed, run: PipelineRun, context: StageContext) {
        var segment = 0, sequence = 0, knownDrops = 0
        var sending = false
        setState(.reconnecting, for: run, error: "waiting for a WHIP publisher")
        while !context.isStopRequested && !run.sourceInterrupt.isStopped {
            guard let image = publisher.nextFrame(timeout: .milliseconds(200), pool: feed.pool) else {
                if sending && !publisher.hasPublisher {
                    sending = false
                    let why = publisher.lastEnd ?? "the publisher left"
                    logger.notice("\(why); waiting for a WHIP publisher")
                    setState(.reconnecting, for: run, error: "\(why); waiting for a WHIP publisher")
                }
                continue
            }
            if !sending {
                sending = true
                segment += 1
                setState(.running, for: run)
                logger.info("a WHIP publisher is sending \(image.width)x\(image.height)")
            }
            metrics.framesIn[.decode].increment()
            count(in: 1)
            metrics.framesOut[.decode].increment()
            let frame = VideoFrame(sequence: sequence, pts: nil, timeBase: Rational(1, 1_000_000), image: image)
            sequence += 1
            if !feed.send(frame, segment: segment) { return }
            countSourceDrops(feed, known: &knownDrops)
        }
    }

    /// The frames the source queue dropped since `known` (its oldest, when stylizing lags), counted and logged.
    private func countSourceDrops(_ feed: FrameFeed, known: inout Int) {
        let drops = feed.droppedCount
        guard drops > known else { return }
        let new = drops - known
        known = drops
        count(dropped: new)
        metrics.dropped[.decode].increment(by: Int64(new))
        logDrop(new)
    }

    private var nominalFrameRate = 25
    private var lastDropLog: ContinuousClock.Instant?
    private var dropsSinceLog = 0

    /// Rate-limited: at most one line per 5 s.
    private func logDrop(_ n: Int) {
        lock.lock()
        dropsSinceLog += n
        let now = ContinuousClock.now
        guard lastDropLog.map({ now - $0 > .seconds(5) }) ?? true else { lock.unlock(); return }
        let total = dropsSinceLog
        dropsSinceLog = 0
        lastDropLog = now
        lock.unlock()
        logger.notice("stylize cannot keep up: dropped \(total) oldest frame(s)")
    }

    private func lostSource(_ message: String, backoff: inout Backoff, run: PipelineRun, context: StageContext) {
        let interrupt = run.sourceInterrupt
        let delay = backoff.next()
        logger.warning("source lost, reconnecting in \(delay): \(message)")
        lock.lock(); sourceReconnects += 1; lock.unlock()
        metrics.sourceReconnects.increment()
        setState(.reconnecting, for: run, error: message)
        // Sleep in small steps so a stop is noticed at once.
        let until = ContinuousClock.now + delay
        while ContinuousClock.now < until && !context.isStopRequested && !interrupt.isStopped {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    // MARK: Encode

    /// The fan-out: every stylized frame to every output's queue (a lagging output drops its oldest), and the
    /// preview; the rate and latency published once a second.
    private func deliver(_ frame: GraphFrame, pool: FramePool, waiting: Int, run: PipelineRun, window: EncodeWindow) {
        let runners = run.outputs
        let latency = ContinuousClock.now - frame.captured
        metrics.framesIn[.encode].increment()
        let since = frame.captured - origin
        let micros = since.microseconds
        lock.lock(); let rate = nominalFrameRate; lock.unlock()
        preview.offer(frame.frame.image)
        viewers.offer(frame.frame.image, micros: micros)
        if runners.isEmpty {
            pool.recycle(frame.frame.image.pixels)
        } else {
            let picture = SharedPicture(image: frame.frame.image, micros: micros, frameRate: rate, captured: frame.captured,
                                        holders: runners.count, pool: pool)
            for runner in runners {
                runner.send(picture)
                let lagging = runner.takeDrops()
                if lagging > 0 { metrics.dropped[.encode].increment(by: Int64(lagging)) }
            }
        }
        metrics.framesOut[.encode].increment()
        metrics.queueDepth[.stylized].record(waiting)
        count(out: 1)
        if let (fps, mean) = window.add(latency: latency) {
            lock.lock(); self.fps = fps; latencyMs = mean; lock.unlock()
            metrics.fps.record(fps)
            publishOutputs(run)
        }
    }

    /// Counts the stylize workers' frames for the snapshot and the metrics.
    private struct WorkerCounts: StylizeObserver {
        let pipeline: LivePipeline
        func frameArrived() { pipeline.metrics.framesIn[.stylize].increment() }
        func frameDropped() {
            pipeline.metrics.dropped[.stylize].increment()
            pipeline.count(dropped: 1)
        }
        func frameStylized(elapsed: Duration, cpuSeconds: Double, guideCPUSeconds: Double) {
            pipeline.metrics.stageLatency[.stylize].recordNanoseconds(elapsed.nanoseconds)
            pipeline.metrics.framesOut[.stylize].increment()
            pipeline.count(stylized: 1)
        }
    }
}

/// The encode stage's one-second window: output rate and mean capture-to-hand-off latency. Used by the encode
/// thread alone.
private final class EncodeWindow: @unchecked Sendable {
    private var start = ContinuousClock.now, frames = 0, latency = Duration.zero

    /// Adds a frame; once a second has passed, the window's (fps, mean latency in ms), and a new window.
    func add(latency frameLatency: Duration) -> (Double, Double)? {
        frames += 1
        latency += frameLatency
        let now = ContinuousClock.now
        guard now - start >= .seconds(1) else { return nil }
        let result = (Double(frames) / (now - start).inSeconds, latency.inSeconds * 1000 / Double(frames))
        start = now; frames = 0; latency = .zero
        return result
    }
}

extension CoreMetrics.Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }
}
