import Synchronization

/// Pixel buffers handed from stage to stage and back, so a running pipeline stops allocating after its first
/// few frames.
///
/// Why: a 1080p RGB frame is 6 MB. Allocated fresh for every frame in every stage, each buffer is a new
/// `mmap` whose pages the kernel zero-fills on first touch — thousands of page faults per frame, on the same
/// cores the stylize workers need. The stage that is done with a frame (`recycle`) gives its buffer to the
/// stage that needs a new one (`take`).
///
/// Bounded: the pool keeps at most `capacity` idle buffers (size it from the queue capacities plus the
/// frames the stages hold), and drops the rest. A buffer still referenced elsewhere when recycled is simply
/// copied on its next write (Swift arrays are values), so misuse costs an allocation, never a wrong picture.
public final class FramePool: Sendable {
    public let capacity: Int
    private let state: Mutex<State>

    private struct State {
        var idle: [[UInt8]] = []
        var allocations = 0
        var reuses = 0
    }

    public init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
        state = Mutex(State())
    }

    /// A buffer of exactly `count` bytes, recycled when one large enough is idle. Its contents are unspecified:
    /// the caller overwrites all of it.
    public func take(count: Int) -> [UInt8] {
        precondition(count >= 0)
        let reused: [UInt8]? = state.withLock { state in
            // The smallest idle buffer that is big enough, so a small frame does not take the big one.
            var best: Int?
            for (i, b) in state.idle.enumerated() where b.capacity >= count {
                if best == nil || b.capacity < state.idle[best!].capacity { best = i }
            }
            guard let best else {
                state.allocations += 1
                return nil
            }
            state.reuses += 1
            state.idle.swapAt(best, state.idle.count - 1)
            return state.idle.removeLast()
        }
        guard var buffer = reused else {
            return [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        }
        if buffer.count > count {
            buffer.removeLast(buffer.count - count)
        } else if buffer.count < count {
            buffer.append(contentsOf: repeatElement(0, count: count - buffer.count))
        }
        return buffer
    }

    /// Gives a buffer back; kept while fewer than `capacity` are idle.
    public func recycle(_ buffer: consuming [UInt8]) {
        let b = buffer
        guard b.capacity > 0 else { return }
        state.withLock { state in
            if state.idle.count < capacity { state.idle.append(b) }
        }
    }

    /// Buffers `take` had to allocate, and buffers it reused: a steady pipeline's allocations stop growing.
    public var statistics: (allocations: Int, reuses: Int, idle: Int) {
        state.withLock { ($0.allocations, $0.reuses, $0.idle.count) }
    }
}
