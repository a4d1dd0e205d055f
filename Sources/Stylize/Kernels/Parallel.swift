import Foundation
import Synchronization

/// A small fork-join pool: `threads − 1` dedicated worker threads plus the caller.
///
/// Why not GCD's `concurrentPerform`: a frame runs hundreds of short parallel passes, and an idle GCD
/// thread parks between them, so each pass can pay a wake-up (on a virtual machine, a descheduled vCPU).
/// Workers here spin for a short while (2 ms) after each job before they block, so a running frame does
/// not wait for wake-ups, and an idle pool costs nothing. Each session owns its pool, so the threads of a
/// process are exactly workers × threads. Blocking work (BLAS) runs on these threads, never on Swift's
/// cooperative pool.
package final class ComputePool: @unchecked Sendable {
    package let threads: Int
    private let core: Core
    /// The cores this pool's threads are kept on (see `CoreAffinity`): the caller's (during `pinningCaller`)
    /// first, then one per worker thread. Nil when the pool runs unpinned.
    let pinnedCores: [Int]?

    package init(threads: Int) {
        self.threads = max(1, threads)
        pinnedCores = CoreAffinity.reserve(self.threads)
        core = Core(threads: self.threads, cores: pinnedCores)
    }

    /// Stops the workers (they hold `core`, not the pool, so the pool can go away while they run down).
    deinit {
        core.stop()
        if let pinnedCores { CoreAffinity.release(pinnedCores) }
    }

    /// Runs `body` with the calling thread kept on the pool's first core, then gives the thread its old CPU
    /// set back, so a caller's thread is only pinned while it computes for this pool.
    func pinningCaller<T>(_ body: () throws -> T) rethrows -> T {
        guard let first = pinnedCores?.first, let previous = CoreAffinity.currentMask(),
              CoreAffinity.pinCurrentThread(to: [first]) else { return try body() }
        defer { CoreAffinity.pinCurrentThread(to: previous) }
        return try body()
    }

    /// Runs `body(i)` for every i in 0..<n across the pool and returns when all have finished. Callers
    /// partition their work so that different i never write the same memory.
    package func parallelFor(_ n: Int, _ body: (Int) -> Void) { core.parallelFor(n, body) }
}

/// The pool's shared state and worker loop.
private final class Core: @unchecked Sendable {
    let threads: Int
    private let generation = Atomic<Int>(0)
    private let nextIndex = Atomic<Int>(0)
    /// Workers that have finished their part of the current job. The caller waits for all of them, so a
    /// worker never sees the next job before everyone has left this one (no stale body pointer).
    private let acknowledged = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var job: UnsafeRawPointer?     // the current body, valid while a parallelFor runs
    private var jobCount = 0
    // Heap-allocated: pthread objects must not move, which a stored property does not promise.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let exited = DispatchSemaphore(value: 0)

    /// How long a worker spins for the next job before it blocks.
    static let spinNanoseconds: UInt64 = 2_000_000

    init(threads: Int, cores: [Int]?) {
        self.threads = threads
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        for i in 1..<self.threads {
            let t = Thread { [self] in
                if let cores { CoreAffinity.pinCurrentThread(to: [cores[i]]) }
                self.workerLoop()
            }
            t.name = "streamd-compute-\(i)"
            t.start()
        }
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for _ in 1..<threads { exited.wait() }
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        if threads == 1 || n <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            withUnsafePointer(to: body) { bodyPointer in
                job = UnsafeRawPointer(bodyPointer)
                jobCount = n
                nextIndex.store(0, ordering: .relaxed)
                acknowledged.store(0, ordering: .relaxed)
                generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(mutex)
                    pthread_cond_broadcast(wake)
                    pthread_mutex_unlock(mutex)
                }
                runClaimed(body, n)
                var spins = 0
                while acknowledged.load(ordering: .acquiring) < threads - 1 { backOff(&spins) }
                job = nil
            }
        }
    }

    @inline(__always)
    private func runClaimed(_ body: (Int) -> Void, _ n: Int) {
        while true {
            let i = nextIndex.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= n { return }
            body(i)
        }
    }

    private func workerLoop() {
        // Generation 0 is "no job yet" (not a fresh load: the first job may be published before this
        // thread runs, and it must still take part in it).
        var seen = 0
        while true {
            // Spin briefly for the next job, then block.
            var current = generation.load(ordering: .acquiring)
            if current == seen {
                let deadline = DispatchTime.now().uptimeNanoseconds + Core.spinNanoseconds
                var spins = 0
                while current == seen {
                    backOff(&spins)
                    if spins & 1023 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
                    current = generation.load(ordering: .acquiring)
                }
                if current == seen {
                    pthread_mutex_lock(mutex)
                    sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen {
                        pthread_cond_wait(wake, mutex)
                    }
                    sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                    current = generation.load(ordering: .acquiring)
                }
            }
            seen = current
            if stopping.load(ordering: .sequentiallyConsistent) { break }
            if let job {
                let body = job.assumingMemoryBound(to: ((Int) -> Void).self).pointee
                runClaimed(body, jobCount)
            }
            acknowledged.wrappingAdd(1, ordering: .releasing)
        }
        exited.signal()
    }

    /// One step of a wait: poll a few times, then give the core away on every step. Without the yield, a
    /// busy machine (another process, or more threads than cores) turns each wait into a whole scheduler
    /// quantum spent spinning while the thread being waited for cannot run (seen: a test suite 6× slower
    /// when two ran at once).
    @inline(__always)
    private func backOff(_ spins: inout Int) {
        spins += 1
        if spins > 64 { sched_yield() }
    }
}
