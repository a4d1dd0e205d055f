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

