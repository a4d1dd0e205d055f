/// What a running stage may ask of the group that owns it.
public struct StageContext: Sendable {
    /// The stage's name, as given to `StageGroup.addStage`.
    public let stage: String
    private let group: StageGroup

    init(stage: String, group: StageGroup) {
        self.stage = stage
        self.group = group
    }

    /// True once `StageGroup.stop()` asked for a graceful stop: a source checks it between frames and, when
    /// set, finishes its output queue so end of stream flows down and encoders write their trailers.
    public var isStopRequested: Bool { group.isStopRequested }
}

/// The one owner of a pipeline's threads (fftools' scheduler in `ffmpeg_sched.h`): it knows every stage and
/// every queue, starts each stage on its own named thread, and stops them all.
///
/// Stages talk only to their queues. The first error a stage throws is recorded (later ones are consequences
/// of the stop and are dropped) and every registered queue is cancelled, which wakes every stage. `stop()` is
/// the graceful stop (the source ends the stream, everything downstream drains); `cancel()` is the hard stop.
/// `wait` joins every thread, so after it returns nothing of the pipeline runs any more.
public final class StageGroup: @unchecked Sendable {
    /// Threads started by this module (stages and workers) that are still running, for leak checks.
    public static var liveThreadCount: Int { StageThread.liveCount }

    public let name: String

    private struct PendingStage {
        let name: String
        let body: @Sendable (StageContext) throws -> Void
    }

    private static var finishedCondition: Int { 0 }
    private let monitor = Monitor(conditions: 1)
    // Guarded by `monitor`.
    private var pending: [PendingStage] = []
    private var queues: [any CancellableQueue] = []
    private var threads: [StageThread] = []
    private var running = 0
    private var started = false
    private var stopRequested = false
    private var firstError: PipelineError?

    public init(name: String = "pipeline") {
        self.name = name
    }

    /// Registers a queue to cancel on error or hard stop.
    public func addQueue(_ queue: any CancellableQueue) {
        monitor.withLock { queues.append(queue) }
    }

    /// Adds a stage; it runs on its own thread named `name` once `start()` is called. Stages start in the
    /// order they were added, so add the sink first and the source last when the order matters.
    public func addStage(_ name: String, _ body: @escaping @Sendable (StageContext) throws -> Void) {
        monitor.withLock {
            precondition(!started, "StageGroup.addStage after start")
            pending.append(PendingStage(name: name, body: body))
        }
    }

    /// Starts every stage. If a thread cannot be created, the stages already started are cancelled and joined
    /// and the error is thrown.
    public func start() throws {
        let stages: [PendingStage] = monitor.withLock {
            precondition(!started, "StageGroup.start called twice")
            started = true
            defer { pending = [] }
            return pending
        }
        for stage in stages {
            monitor.withLock { running += 1 }
            do {
                let thread = try StageThread(name: stage.name) { [self] in
                    runStage(stage)
                }
                monitor.withLock { threads.append(thread) }
            } catch {
                monitor.withLock {
                    running -= 1
                    monitor.broadcastAll()
                }
                record(PipelineError(stage: stage.name, wrapping: error))
                _ = try? wait()
                throw error
            }
        }
    }

    private func runStage(_ stage: PendingStage) {
        do {
            try stage.body(StageContext(stage: stage.name, group: self))
        } catch is StageCancelled {
            // The stage noticed the stop; that is not the pipeline's error.
        } catch {
            record(PipelineError(stage: stage.name, wrapping: error))
        }
        monitor.withLock {
            running -= 1
            monitor.broadcastAll()
        }
    }

    /// Keeps the first error and hard-stops the group.
    private func record(_ error: PipelineError) {
        monitor.withLock {
            if firstError == nil { firstError = error }
        }
        cancel()
    }

    var isStopRequested: Bool { monitor.withLock { stopRequested } }

    /// The error that stopped the pipeline, if any.
    public var error: PipelineError? { monitor.withLock { firstError } }

    /// Graceful stop: sets the flag sources poll through `StageContext.isStopRequested`. The source ends its
    /// stream and the rest of the graph drains, so outputs stay playable.
    public func stop() {
        monitor.withLock { stopRequested = true }
    }

    /// Hard stop: cancels every registered queue, which wakes every waiting stage. Idempotent.
    public func cancel() {
        let toCancel: [any CancellableQueue] = monitor.withLock {
            stopRequested = true
            return queues
        }
        for queue in toCancel { queue.cancel() }
    }

    /// Waits until every stage has returned, then joins their threads and throws the first error.
    /// With a `timeout`, returns false if stages are still running when it passes (nothing is joined then).
    /// Called by the group's owner, from one thread.
    @discardableResult
    public func wait(timeout: Duration? = nil) throws -> Bool {
        let limit = timeout.map { deadline(after: $0) }
        let toJoin: [StageThread]? = monitor.withLock {
            while running > 0 {
                if let limit {
                    if !monitor.wait(Self.finishedCondition, until: limit) && running > 0 { return nil }
                } else {
                    monitor.wait(Self.finishedCondition)
                }
            }
            defer { threads = [] }
            return threads
        }
        guard let toJoin else { return false }
        // Every body has returned, so these joins only wait for the threads' last instructions.
        for thread in toJoin { thread.join() }
        if let error = monitor.withLock({ firstError }) { throw error }
        return true
    }
}
