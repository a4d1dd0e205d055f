#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with a fixed set of condition variables bound to it: the one synchronisation shape every
/// data-plane structure here needs (fftools' `thread_queue.c` and libavcodec's frame threads use the same).
///
/// It is pthreads rather than `Synchronization.Mutex` because the waits must sleep the thread (stages run on
/// dedicated threads, never on Swift's cooperative pool) and `Mutex` has no condition variable. Timed waits
/// use the monotonic clock on Linux, so a wall-clock jump can neither cut a wait short nor stretch it.
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    private let conditionCount: Int

    init(conditions count: Int) {
        conditionCount = count
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        conditions = .allocate(capacity: max(count, 1))
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if os(Linux)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        for index in 0..<count {
            (conditions + index).initialize(to: pthread_cond_t())
            precondition(pthread_cond_init(conditions + index, &attributes) == 0, "pthread_cond_init failed")
        }
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        for index in 0..<conditionCount { pthread_cond_destroy(conditions + index) }
        conditions.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Sleeps on condition `index` until signalled (spurious wake-ups possible: callers loop on their predicate).
    /// The caller holds the lock.
    func wait(_ index: Int) {
        pthread_cond_wait(conditions + index, mutex)
    }

    /// Sleeps on condition `index` until signalled or until `deadline` (monotonic nanoseconds) has passed.
    /// Returns false once the deadline has passed. The caller holds the lock.
    func wait(_ index: Int, until deadline: UInt64) -> Bool {
        let now = monotonicNanoseconds()
        if now >= deadline { return false }
        #if os(Linux)
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(conditions + index, mutex, &time)
        #else
        let remaining = deadline - now
        var time = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        pthread_cond_timedwait_relative_np(conditions + index, mutex, &time)
        #endif
        return monotonicNanoseconds() < deadline
    }

    func signal(_ index: Int) { pthread_cond_signal(conditions + index) }
    func broadcast(_ index: Int) { pthread_cond_broadcast(conditions + index) }
    func broadcastAll() { for index in 0..<conditionCount { pthread_cond_broadcast(conditions + index) } }
}

/// Nanoseconds on the monotonic clock, the time base of every timed wait in this module.
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// The monotonic instant `timeout` from now, saturating instead of overflowing for huge timeouts.
func deadline(after timeout: Duration) -> UInt64 {
    let (seconds, attoseconds) = timeout.components
    if seconds < 0 { return 0 }
    let nanoseconds = UInt64(max(attoseconds, 0) / 1_000_000_000)
    let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
    if overflow { return .max }
    let (span, overflow2) = scaled.addingReportingOverflow(nanoseconds)
    let (total, overflow3) = monotonicNanoseconds().addingReportingOverflow(span)
    return overflow2 || overflow3 ? .max : total
}
