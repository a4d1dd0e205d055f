/// What to do when a producer sends into a full queue.
public enum QueuePolicy: Sendable, Equatable {
    /// The producer waits for room: files, where nothing is lost by slowing down the reader.
    case block
    /// The oldest queued item is discarded and counted: live sources, which cannot be back-pressured —
    /// blocking a camera only adds latency (GStreamer's `queue leaky=downstream`).
    case dropOldest
}

/// The outcome of `BoundedQueue.send(_:)`.
public enum SendResult: Sendable, Equatable {
    case sent
    /// Nobody will ever receive: the consumer closed its end or the queue was cancelled. The producer should
    /// stop producing (and, if it is a decoder, stop reading), which is not an error.
    case consumerGone
}

/// The outcome of `BoundedQueue.receive(timeout:)`.
public enum ReceiveResult<Element: Sendable>: Sendable {
    case element(Element)
    /// The producer finished and every item was received.
    case finished
    /// The queue was cancelled (or the consumer closed it); queued items were discarded.
    case cancelled
    case timedOut

    /// The element, if this result carries one.
    public var element: Element? {
        if case .element(let element) = self { return element }
        return nil
    }
}

/// A queue that can be cancelled as a whole, whatever it carries, so one owner can hard-stop a graph.
public protocol CancellableQueue: AnyObject, Sendable {
    /// Wakes every waiter; later sends return `.consumerGone` and receives return nothing.
    func cancel()
}

/// A fixed-capacity queue between two stages on dedicated threads: mutex and condition variables, never
/// Swift concurrency, because its callers are blocking code (avcodec, sgemm) on their own threads.
///
/// The shape is fftools' `thread_queue.h`: `send` reports whether anybody still listens, `finish` is the
/// producer's end of stream, `receive` yields items until finished and drained, `cancel` wakes everyone. The
/// capacity is the memory bound between two stages; every wait is woken by `cancel`, so a hard stop never
/// waits on a full or empty queue.
public final class BoundedQueue<Element: Sendable>: CancellableQueue, @unchecked Sendable {
    public let capacity: Int
    public let policy: QueuePolicy

    private static var consumers: Int { 0 }
    private static var producers: Int { 1 }

    private let monitor = Monitor(conditions: 2)
    // Guarded by `monitor`. Capacities are small (1–8), so an array's `removeFirst` costs nothing worth a ring.
    private var items: [Element] = []
    private var finished = false
    private var cancelled = false
    private var consumerClosed = false
    private var dropped = 0
    private var highWater = 0

    /// - Parameters:
    ///   - capacity: how many items may wait, at least 1.
    ///   - policy: `.block` for files, `.dropOldest` for live sources.
    public init(capacity: Int, policy: QueuePolicy = .block) {
        precondition(capacity >= 1, "BoundedQueue capacity must be at least 1, got \(capacity)")
        self.capacity = capacity
        self.policy = policy
        items.reserveCapacity(capacity)
    }

    /// Items waiting now.
    public var count: Int { monitor.withLock { items.count } }
    /// Items discarded by `.dropOldest` because the queue was full.
    public var droppedCount: Int { monitor.withLock { dropped } }
    /// The most items ever waiting at once: the measured back-pressure, never above `capacity`.
    public var highWaterMark: Int { monitor.withLock { highWater } }
    public var isCancelled: Bool { monitor.withLock { cancelled } }
    /// The producer finished (items may still be waiting).
    public var isFinished: Bool { monitor.withLock { finished } }

    /// Queues `element`. With `.block` waits while the queue is full; with `.dropOldest` never waits.
    /// Returns `.consumerGone` (and drops `element`) once the queue is cancelled or the consumer closed it.
    /// Sending after `finish()` is a programming error.
    @discardableResult
    public func send(_ element: Element) -> SendResult {
        monitor.lock()
        defer { monitor.unlock() }
        precondition(!finished, "BoundedQueue.send after finish")
        while !(cancelled || consumerClosed) && items.count >= capacity {
            if policy == .dropOldest {
                items.removeFirst()
                dropped += 1
            } else {
                monitor.wait(Self.producers)
            }
        }
        if cancelled || consumerClosed { return .consumerGone }
        items.append(element)
        highWater = max(highWater, items.count)
        monitor.signal(Self.consumers)
        return .sent
    }

    /// The next item, waiting for one; nil once the producer finished and everything was received, or once the
    /// queue was cancelled (check `isCancelled` to tell the two apart).
    public func receive() -> Element? {
        receive(until: nil).element
    }

    /// Like `receive()` but gives up after `timeout`, and says why it returned nothing.
    public func receive(timeout: Duration) -> ReceiveResult<Element> {
        receive(until: deadline(after: timeout))
    }

    private func receive(until deadline: UInt64?) -> ReceiveResult<Element> {
        monitor.lock()
        defer { monitor.unlock() }
        while true {
            if cancelled || consumerClosed { return .cancelled }
            if !items.isEmpty {
                let element = items.removeFirst()
                monitor.signal(Self.producers)
                return .element(element)
            }
            if finished { return .finished }
            if let deadline {
                if !monitor.wait(Self.consumers, until: deadline) && items.isEmpty && !finished
                    && !cancelled && !consumerClosed {
                    return .timedOut
                }
            } else {
                monitor.wait(Self.consumers)
            }
        }
    }

    /// The producer's end of stream: receivers get what is queued, then nil.
    public func finish() {
        monitor.withLock {
            finished = true
            monitor.broadcastAll()
        }
    }

    /// Hard stop: discards queued items and wakes every waiter; later sends return `.consumerGone`, later
    /// receives nothing. Idempotent.
    public func cancel() {
        monitor.withLock {
            cancelled = true
            items.removeAll()
            monitor.broadcastAll()
        }
    }

    /// The consumer stops early (an output closed, a worker failed): discards queued items and makes every
    /// present and future `send` return `.consumerGone`, so the producer learns it can stop.
    public func closeConsumer() {
        monitor.withLock {
            consumerClosed = true
            items.removeAll()
            monitor.broadcastAll()
        }
    }
}
