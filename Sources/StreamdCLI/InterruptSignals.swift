import Dispatch
import Foundation

/// Set once, read from any thread.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// SIGINT and SIGTERM turned into a flag (and an optional action) for a long command that stops cleanly between
/// units of work instead of dying mid-file; `cancel()` gives the signals back their default action.
final class InterruptSignals {
    let flag = InterruptFlag()
    private let sources: [DispatchSourceSignal]

    init(onSignal action: @escaping @Sendable () -> Void = {}) {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let flag = self.flag
        sources = [SIGINT, SIGTERM].map { sig in
            let s = DispatchSource.makeSignalSource(signal: sig)
            s.setEventHandler { flag.set(); action() }
            s.resume()
            return s
        }
    }

    var isSet: Bool { flag.isSet }

    func cancel() {
        sources.forEach { $0.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}


/// A signal that asks for something without stopping (Slurm's `--signal=B:USR1@120`, sent before a job's time
/// runs out or it is preempted): counted as it arrives, taken by the loop between units of work.
final class SignalRequests {
    private let pending = InterruptFlagCounter()
    private let source: DispatchSourceSignal
    private let number: Int32

    init(_ number: Int32) {
        self.number = number
        signal(number, SIG_IGN)
        let pending = self.pending
        source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { pending.add() }
        source.resume()
    }

    /// True once for every burst of signals since the last call.
    func take() -> Bool { pending.take() }

    func cancel() {
        source.cancel()
        signal(number, SIG_DFL)
    }
}

final class InterruptFlagCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.lock(); count += 1; lock.unlock() }
    func take() -> Bool { lock.lock(); defer { count = 0; lock.unlock() }; return count > 0 }
}
