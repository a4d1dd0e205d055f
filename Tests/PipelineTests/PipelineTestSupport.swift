import Foundation
import XCTest
@testable import Pipeline

/// A value shared between a test and the threads it starts.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    var current: Value { withLock { $0 } }
}

/// Runs `body` on a new thread; `wait(timeout:)` reports whether it returned in time, so a hang in the code
/// under test becomes a test failure instead of a stuck run.
final class TestThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        Thread.detachNewThread {
            body()
            done.signal()
        }
    }

    func wait(timeout: TimeInterval = 10) -> Bool {
        done.wait(timeout: .now() + timeout) == .success
    }
}

struct TestFailure: Error, Equatable, CustomStringConvertible {
    var item: Int
    var description: String { "synthetic failure at \(item)" }
}

/// Sleeps up to `maxMicroseconds`, differently per item, reproducibly (a small hash, not a shared RNG).
func jitter(_ item: Int, salt: Int, maxMicroseconds: Int) {
    var x = UInt64(truncatingIfNeeded: item &* 2_654_435_761 &+ salt &* 40_503)
    x ^= x >> 13
    x = x &* 0x5bd1_e995
    x ^= x >> 15
    usleep(UInt32(x % UInt64(maxMicroseconds + 1)))
}

/// The names of this process's threads, from /proc (Linux); nil elsewhere. Names, not a count: the runtime
/// may start helper threads of its own at any time.
func processThreadNames() -> [String]? {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return nil }
    return tasks.compactMap {
        (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
