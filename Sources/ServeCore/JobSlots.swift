import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Admission for expensive one-off requests (`POST /v1/stylize`): `running` at once, `waiting` more in line,
/// and anything beyond is refused at once (429) before its body is read, so a burst of uploads costs the live
/// pipelines one core at most and never memory without bound. Thread-safe.
package final class JobSlots: @unchecked Sendable {
    package let running: Int
    package let waiting: Int
    /// Jobs run at nice +10 (uploads: seconds of work each). Thumbnails, a few milliseconds each and made once,
    /// keep normal priority: on a busy machine a page would otherwise wait minutes for them.
    package let lowersPriority: Bool
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var busy = 0
    private var admitted = 0
    private var closed = false

    package init(running: Int, waiting: Int, lowersPriority: Bool = true) {
        self.running = max(1, running)
        self.waiting = max(0, waiting)
        self.lowersPriority = lowersPriority
    }

    /// Why a job did not run.
    package enum Refusal: Error, CustomStringConvertible {
        /// Every slot and place in line is taken.
        case full
        /// It waited `waited` for a slot without getting one.
        case timedOut(waited: Duration)
        /// The service is shutting down.
        case closed

        package var description: String {
            switch self {
            case .full: "too many pictures are being stylized: try again in a few seconds"
            case .timedOut(let waited): "no free stylize slot within \(waited): try again later"
            case .closed: "the service is shutting down"
            }
        }
    }

    /// A place in line; `run` uses it once. Dropping it unused gives the place back.
    package final class Ticket: @unchecked Sendable {
        fileprivate weak var slots: JobSlots?
        fileprivate var used = false
        fileprivate init(_ slots: JobSlots) { self.slots = slots }
        deinit { if !used { slots?.giveBack() } }

        /// Waits (at most `timeout`) for a slot, then runs `body` on the calling thread, which must be one that may
        /// block. With `lowersPriority` the thread runs at nice +10, so live pipelines keep their cores first.
        package func run<T>(waitingAtMost timeout: Duration, _ body: () throws -> T) throws -> T {
            guard let slots, !used else { throw Refusal.closed }
            used = true
            try slots.acquire(timeout: timeout)
            defer { slots.release() }
            if slots.lowersPriority { lowerCurrentThreadPriority() }
            return try body()
        }
    }

    /// A place in line, or nil when the line is full (or the service closed).
    package func ticket() -> Ticket? {
        condition.withLock {
            guard !closed, admitted < running + waiting else { return nil }
            admitted += 1
            return Ticket(self)
        }
    }

    /// Jobs admitted and not finished (running or waiting).
    package var inFlight: Int { condition.withLock { admitted } }

    /// Refuses every waiting and future job (running ones finish).
    package func close() {
        condition.withLock { closed = true; condition.broadcast() }
    }

    private func acquire(timeout: Duration) throws(Refusal) {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        while busy >= running && !closed {
            if !condition.wait(until: deadline) && busy >= running {
                admitted -= 1
                throw .timedOut(waited: timeout)
            }
        }
        if closed { admitted -= 1; throw .closed }
        busy += 1
    }

    private func release() {
        condition.withLock { busy -= 1; admitted -= 1; condition.broadcast() }
    }

    fileprivate func giveBack() {
        condition.withLock { admitted -= 1; condition.broadcast() }
    }
}

/// Lowers the calling thread's CPU priority to nice 10 (on Linux the nice value belongs to the thread, and
/// `who` 0 is the calling thread). It is never raised again: call it only on a thread made for the job.
package func lowerCurrentThreadPriority() {
    #if canImport(Glibc)
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
    #endif
}
