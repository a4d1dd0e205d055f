public import Pipeline
public import Temporal

/// The graph of every streamd pipeline, declared in one place for `transcode` and the live service:
///
///     source → [frames] → stylize ×N (ordered) → [stylized] → smooth → [smoothed] → encode → (outputs)
///
/// The graph owns every thread (each stage, the outputs that follow the encode stage, through one
/// `StageGroup`, as FFmpeg's `ffmpeg_sched` is the one owner of its graph), every queue (bounded, registered
/// with the group so a hard stop cancels them all) and the frame pool, sized by one formula. What differs
/// between a file and a live stream is data, not code: the source queue's policy, the latency budget, the
/// sizes, and the bodies of the source and encode stages.
public final class FrameGraph: Sendable {
    public struct Layout: Sendable {
        /// The group's name (thread names, logs).
        public var name: String
        public var workers: Int
        /// What the source queue does when stylizing cannot keep up: `.block` makes the source wait (a file:
        /// every frame), `.dropOldest` drops the oldest waiting frame (live: the newest frames win).
        public var sourcePolicy: QueuePolicy
        /// Builds the smoothing stage. A live pipeline always has one (smoothing can be switched on through the
        /// style API at any time; while it is off frames only pass through); a transcode only when it smooths.
        public var smoothing: Bool
        /// Frames the encode stage's consumers may hold after it hands them on (the live outputs' queues and
        /// the one each is writing), counted into the pool's size.
        public var heldDownstream: Int

        public init(name: String, workers: Int, sourcePolicy: QueuePolicy, smoothing: Bool, heldDownstream: Int = 0) {
            precondition(workers >= 1 && heldDownstream >= 0)
            self.name = name; self.workers = workers; self.sourcePolicy = sourcePolicy; self.smoothing = smoothing
            self.heldDownstream = heldDownstream
        }
    }

    /// A stage that runs beside the graph and is owned by it (a live output behind its own queue): started
    /// before everything else, cancelled and joined with the rest.
    public struct Companion: Sendable {
        public var name: String
        public var queue: any CancellableQueue
        public var body: @Sendable () -> Void

        public init(name: String, queue: any CancellableQueue, body: @escaping @Sendable () -> Void) {
            self.name = name; self.queue = queue; self.body = body
        }
    }

    /// Every queue between two stages holds this many frames: enough to ride out one slow frame, few enough
    /// that a live frame does not wait long.
    public static let queueCapacity = 2

    /// Every frame buffer that can be in flight at once, so a running graph stops allocating: the frames in
    /// the queues, two per worker (its input and the picture it is making), one each held by the source, the
    /// workers' collector, the smoothing stage and the encode stage, one spare, and what is held downstream.
    public static func poolCapacity(_ layout: Layout) -> Int {
        let queues = (layout.smoothing ? 3 : 2) * queueCapacity
        let stages = 4 + (layout.smoothing ? 1 : 0)
        return queues + 2 * layout.workers + stages + layout.heldDownstream
    }

    public let group: StageGroup
    public let pool: FramePool
    /// What the smoothing stage did (nil without one).
    public let smoothingStatistics: SmoothingStatistics?

    /// Declares the graph; `group.start()` runs it.
    ///
    /// - Parameters:
    ///   - worker: each stylize worker's settings; `style` is read at every frame.
    ///   - companions: stages owned by the graph that run beside it (the live outputs); `deliver` feeds them.
    ///   - deliver: the encode stage's work for each stylized frame, in order, with the graph's pool and the
    ///     number of stylized frames waiting behind it. It owns the frame's buffer: it recycles it into the
    ///     pool, or hands it on to something that will.
    ///   - delivered: called once when the encode stage ends, however it ends (end of stream for companions).
    ///   - source: the source stage: sends frames through the feed until the input ends, the feed says the
    ///     graph is gone, or the context says stop. The graph finishes the stream when it returns.
    public init(layout: Layout, worker: StylizeWorker.Settings, style: @escaping @Sendable () -> WorkerStyle,
                observer: (any StylizeObserver)? = nil,
                smoothingObserver: (@Sendable (SmoothingStep, Double) -> Void)? = nil,
                companions: [Companion] = [],
                deliver: @escaping @Sendable (GraphFrame, _ pool: FramePool, _ waiting: Int) throws -> Void,
                delivered: @escaping @Sendable () -> Void = {},
                source: @escaping @Sendable (FrameFeed, StageContext) throws -> Void) {
        let group = StageGroup(name: layout.name)
        let pool = FramePool(capacity: Self.poolCapacity(layout))
        let frames = BoundedQueue<GraphFrame>(capacity: Self.queueCapacity, policy: layout.sourcePolicy)
        // nil keeps the place of a frame the latency budget dropped, so smoothing sees the order of what is left.
        let stylized = BoundedQueue<GraphFrame?>(capacity: Self.queueCapacity, policy: .block)
        let smoothed = layout.smoothing ? BoundedQueue<GraphFrame?>(capacity: Self.queueCapacity, policy: .block) : stylized
        group.addQueue(frames)
        group.addQueue(stylized)
        if smoothed !== stylized { group.addQueue(smoothed) }

        // Consumers first, the source last: every stage is waiting before anything is produced.
        for companion in companions {
            group.addQueue(companion.queue)
            group.addStage(companion.name) { _ in companion.body() }
        }
        group.addStage("encode") { _ in
            defer { delivered() }
            while let item = smoothed.receive() {
                guard let frame = item else { continue }
                try deliver(frame, pool, smoothed.count)
            }
        }
        if layout.smoothing {
            let stage = SmoothingStage(observer: smoothingObserver)
            smoothingStatistics = stage.statistics
            group.addStage("smooth") { _ in try stage.run(input: stylized, output: smoothed) }
        } else {
            smoothingStatistics = nil
        }
        let workers = OrderedWorkers<GraphFrame, GraphFrame?>(name: "stylize", count: layout.workers) { _ in
            let body = StylizeWorker(settings: worker, style: style, pool: pool, observer: observer)
            return { try body.process($0) }
        }
        group.addStage("stylize") { _ in try workers.run(input: frames, output: stylized) }
        let feed = FrameFeed(queue: frames, pool: pool)
        group.addStage("source") { context in
            defer { frames.finish() }
            try source(feed, context)
        }
        self.group = group
        self.pool = pool
    }
}

/// The source stage's end of the graph's first queue.
public struct FrameFeed: Sendable {
    fileprivate let queue: BoundedQueue<GraphFrame>
    /// Decode into buffers from here: the graph gives them back as it is done with them.
    public let pool: FramePool

    /// Hands a frame on, stamped with the time it leaves the source. False when the rest of the graph has gone
    /// (stop reading).
    public func send(_ frame: VideoFrame, segment: Int = 0) -> Bool {
        queue.send(GraphFrame(frame: frame, captured: .now, segment: segment)) != .consumerGone
    }

    /// Frames the queue dropped so far (a live source's oldest, when stylizing cannot keep up).
    public var droppedCount: Int { queue.droppedCount }
    /// Frames waiting for a stylize worker.
    public var waiting: Int { queue.count }
}
