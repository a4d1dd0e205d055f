import Foundation

/// When a blocking network call (FFmpeg's open, read or write) must give up: as soon as `stop()` is called, or
/// once the current operation has run past its deadline. FFmpeg polls `shouldInterrupt` from its interrupt
/// callback, so a stopped pipeline never waits on a dead socket. Thread-safe.
public final class IOInterrupt: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var deadline: ContinuousClock.Instant?

    public init() {}

    /// Interrupts every current and later operation.
    public func stop() { lock.lock(); stopped = true; lock.unlock() }

    public var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    /// Starts timing one operation: it is interrupted if it is still running after `timeout` (nil: no limit).
    public func arm(_ timeout: Duration?) {
        lock.lock()
        deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        lock.unlock()
    }

    /// True when FFmpeg should abandon the call in progress.
    public var shouldInterrupt: Bool {
        lock.lock(); defer { lock.unlock() }
        if stopped { return true }
        if let deadline, ContinuousClock.now > deadline { return true }
        return false
    }
}
