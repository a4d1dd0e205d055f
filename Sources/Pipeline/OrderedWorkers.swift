/// N workers on dedicated threads that transform items in parallel and hand them on in input order.
///
/// This is libavcodec's frame threading: worker k owns slot k, which holds one item at a time. Items are
/// submitted round-robin (item i goes to slot i mod N, once the collector emptied it) and collected
/// round-robin, so the output order is the input order without a reorder buffer, and at most N items are in
/// flight. Each worker gets its own state from `makeWorker`, called on the worker's own thread — a stylize
/// worker owns its session and scratch memory while the model weights are shared read-only.
///
/// The first error (a worker that cannot start or throws on an item) is kept, every thread stops, both queues
/// are cancelled so the neighbours stop too, and `run` throws it once. The end of the input stream drains
/// every item in flight before the output is finished.
public final class OrderedWorkers<Input: Sendable, Output: Sendable>: @unchecked Sendable {
    /// One worker's transform; it stays on the thread that created it, so it may hold non-Sendable state.
    public typealias Work = (Input) throws -> Output

    public let name: String
    public let count: Int
    private let makeWorker: @Sendable (Int) throws -> Work

    private enum Slot {
        case empty
        case pending(Input, sequence: Int)
        case busy(sequence: Int)
        case done(Output)
    }

    // Condition 0 wakes the feeder (a slot emptied), 1 the collector (a slot done), 2 + k worker k.
    private static var feeder: Int { 0 }
    private static var collector: Int { 1 }
    private let monitor: Monitor
    // Guarded by `monitor`.
    private var slots: [Slot]
    private var submitted = 0
    private var inputEnded = false
    private var stopping = false
    private var failure: PipelineError?
    private var hasRun = false

    /// - Parameters:
    ///   - name: the stage name used in errors and thread names ("stylize" gives threads "stylize-0"…).
    ///   - count: the number of workers, at least 1.
    ///   - makeWorker: builds worker k's transform on worker k's thread before its first item.
    public init(name: String = "workers", count: Int, makeWorker: @escaping @Sendable (Int) throws -> Work) {
        precondition(count >= 1, "OrderedWorkers needs at least one worker, got \(count)")
        self.name = name
        self.count = count
        self.makeWorker = makeWorker
        slots = Array(repeating: .empty, count: count)
        monitor = Monitor(conditions: 2 + count)
    }

    /// Moves every item of `input` through the workers into `output` in order, on the calling thread (the
    /// feeder), N worker threads and one collector thread; returns when all of them have been joined.
    ///
    /// Normal end: `input` finished and drained, every result sent, `output` finished. Early ends that are not
    /// errors: `output`'s consumer went away (the input's consumer side is closed so the producer stops), or
    /// `input` was cancelled (`output` is cancelled too). A hard stop that cancels both queues ends the run as
    /// soon as the items being worked on are done: a transform (an sgemm) cannot be interrupted. Throws the first worker error as a `PipelineError`
    /// naming the worker and the item, with the worker's error as `underlying`. Call once.
    public func run(input: BoundedQueue<Input>, output: BoundedQueue<Output>) throws {
        monitor.withLock {
            precondition(!hasRun, "OrderedWorkers.run called twice")
            hasRun = true
        }
        var threads: [StageThread] = []
        do {
            for index in 0..<count {
                threads.append(try StageThread(name: "\(name)-\(index)") { [self] in
                    workerLoop(index, input: input, output: output)
                })
            }
            threads.append(try StageThread(name: "\(name)-out") { [self] in
                collectorLoop(input: input, output: output)
            })
        } catch {
            fail(error as? PipelineError ?? PipelineError(stage: name, wrapping: error), input: input, output: output)
        }
        feederLoop(input: input, output: output)
        for thread in threads { thread.join() }
        if let failure = monitor.withLock({ failure }) { throw failure }
    }

    /// Receives items and places item i in slot i mod N as soon as that slot is empty.
    private func feederLoop(input: BoundedQueue<Input>, output: BoundedQueue<Output>) {
        var sequence = 0
        while let item = input.receive() {
            monitor.lock()
            let slot = sequence % count
            while !stopping && !isEmpty(slots[slot]) { monitor.wait(Self.feeder) }
            if stopping {
                monitor.unlock()
                return
            }
            slots[slot] = .pending(item, sequence: sequence)
            submitted += 1
            monitor.signal(2 + slot)
            monitor.unlock()
            sequence += 1
        }
        let cancelled = input.isCancelled
        monitor.withLock {
            inputEnded = true
            if cancelled { stopping = true }
            monitor.broadcastAll()
        }
        if cancelled { output.cancel() }
    }

    private func workerLoop(_ index: Int, input: BoundedQueue<Input>, output: BoundedQueue<Output>) {
        let work: Work
        do {
            work = try makeWorker(index)
        } catch {
            fail(PipelineError(stage: name, message: "worker \(index) could not start: \(oneLine(error))",
                               underlying: error), input: input, output: output)
            return
        }
        while true {
            monitor.lock()
            while !stopping && !isPending(slots[index]) && !inputEnded { monitor.wait(2 + index) }
            guard !stopping, case .pending(let item, let sequence) = slots[index] else {
                // Stopped, or the input ended with nothing left for this worker.
                monitor.unlock()
                return
            }
            slots[index] = .busy(sequence: sequence)
            monitor.unlock()

            let result: Output
            do {
                result = try work(item)
            } catch {
                fail(PipelineError(stage: name, message: "worker \(index) failed on item \(sequence): \(oneLine(error))",
                                   underlying: error), input: input, output: output)
                return
            }
            monitor.lock()
            if stopping {
                monitor.unlock()
                return
            }
            slots[index] = .done(result)
            monitor.signal(Self.collector)
            monitor.unlock()
        }
    }

    /// Takes results from slot 0, 1, …, N-1, 0, … in turn and sends them on; finishes `output` once the input
    /// ended and every submitted item was sent.
    private func collectorLoop(input: BoundedQueue<Input>, output: BoundedQueue<Output>) {
        var next = 0
        while true {
            monitor.lock()
            while !stopping && !isDone(slots[next % count]) && !(inputEnded && next == submitted) {
                monitor.wait(Self.collector)
            }
            if stopping {
                monitor.unlock()
                return
            }
            guard case .done(let result) = slots[next % count] else {
                // The input ended and everything submitted went out.
                monitor.unlock()
                output.finish()
                return
            }
            slots[next % count] = .empty
            monitor.signal(Self.feeder)
            monitor.unlock()

            if output.send(result) == .consumerGone {
                // Downstream stopped early: stop quietly and tell upstream nobody listens any more.
                monitor.withLock {
                    stopping = true
                    monitor.broadcastAll()
                }
                input.closeConsumer()
                return
            }
            next += 1
        }
    }

    /// Records the first error, stops every thread and cancels both queues so the neighbouring stages stop.
    private func fail(_ error: PipelineError, input: BoundedQueue<Input>, output: BoundedQueue<Output>) {
        monitor.withLock {
            if failure == nil { failure = error }
            stopping = true
            monitor.broadcastAll()
        }
        input.cancel()
        output.cancel()
    }

    private func isEmpty(_ slot: Slot) -> Bool {
        if case .empty = slot { return true }
        return false
    }

    private func isPending(_ slot: Slot) -> Bool {
        if case .pending = slot { return true }
        return false
    }

    private func isDone(_ slot: Slot) -> Bool {
        if case .done = slot { return true }
        return false
    }
}
