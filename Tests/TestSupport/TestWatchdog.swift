public import Foundation
public import XCTest

/// Bounds the whole run of a test that drives a server or a browser, not only each of its waits.
///
/// Every wait in the harnesses is bounded, but a test can still stop making progress as a whole: on the slower
/// CI machine a test process left on a real-time policy starved its own runner for 20 minutes while the server
/// and Chromium it had started kept both cores busy. A harness that starts a process hands it to the watchdog
/// (`adopt`) with a way to describe its state; when the running test passes its budget, the watchdog records a
/// failure on that test carrying every adopted process's state, then kills those processes and everything they
/// started (Chromium under chromedriver), so the test's next wait fails at once. If the test still has not
/// finished a grace period later, the watchdog prints the state and ends the test process: CI fails in minutes
/// with the reason instead of sitting out its 90.
public final class TestWatchdog: NSObject, XCTestObservation, @unchecked Sendable {
    /// The one watchdog of the test process, registered with XCTest on first use.
    public static let shared: TestWatchdog = {
        let watchdog = TestWatchdog()
        XCTestObservationCenter.shared.addTestObserver(watchdog)
        return watchdog
    }()

    /// How long one test may run once it has started a process, from the environment
    /// (`STREAMD_TEST_BUDGET_SECONDS`) or 600 s: the slowest such test took 25 s on a Zen 4, so about 75 s on the
    /// slower CPU; 600 s is for a test that has stopped making progress, not for a slow one.
    public static let budget: TimeInterval = {
        ProcessInfo.processInfo.environment["STREAMD_TEST_BUDGET_SECONDS"].flatMap(TimeInterval.init) ?? 600
    }()

    /// After the kill, how long the test has to fail on its own before the process is ended.
    public static let grace: TimeInterval = 120

    private struct Adopted {
        var label: String
        var pid: Int32
        var state: @Sendable () -> String
    }

    private let lock = NSLock()
    private var test: XCTestCase?
    private var testName = "the running test"
    private var started = Date()
    private var generation = 0
    private var armed = false
    private var adopted: [Adopted] = []

    public func testCaseWillStart(_ testCase: XCTestCase) { begin(testCase) }

    public func testCaseDidFinish(_ testCase: XCTestCase) { begin(nil) }

    /// A new test (or none) from now on: a timer armed for the previous one finds another generation and ends.
    private func begin(_ testCase: XCTestCase?) {
        lock.withLock {
            test = testCase
            testName = testCase?.name ?? "the running test"
            started = Date()
            generation += 1
            armed = false
            adopted = []
        }
    }

    /// Puts `pid` (labelled, e.g. "streamd serve") under the running test's budget. `state` describes it when
    /// the budget runs out (its API's view, the end of its log); it is called from the watchdog's thread.
    public func adopt(_ label: String, pid: Int32, state: @escaping @Sendable () -> String = { "" }) {
        let (arm, current, deadline): (Bool, Int, Date) = lock.withLock {
            adopted.append(Adopted(label: label, pid: pid, state: state))
            let arm = !armed
            armed = true
            return (arm, generation, started.addingTimeInterval(Self.budget))
        }
        guard arm else { return }
        let delay = max(0, deadline.timeIntervalSinceNow)
        Thread.detachNewThread { [self] in
            Thread.sleep(forTimeInterval: delay)
            fire(generation: current)
        }
    }

    private func fire(generation current: Int) {
        let snapshot: (XCTestCase?, String, [Adopted])? = lock.withLock {
            generation == current ? (test, testName, adopted) : nil
        }
        guard let (test, name, processes) = snapshot else { return }
        var report = "watchdog: \(name) still running after its budget of \(Int(Self.budget)) s; killed what it started:"
        for process in processes {
            let state = process.state()
            report += "\n- \(process.label) (pid \(process.pid))" + (state.isEmpty ? "" : ":\n\(state)")
        }
        for process in processes { Self.killTree(process.pid) }
        test?.recordFailure(withDescription: report, inFile: #filePath, atLine: #line, expected: false)
        FileHandle.standardError.write(Data((report + "\n").utf8))
        Thread.sleep(forTimeInterval: Self.grace)
        let stillRunning = lock.withLock { generation == current }
        guard stillRunning else { return }
        FileHandle.standardError.write(Data("watchdog: \(name) did not end \(Int(Self.grace)) s after its processes were killed; ending the test process\n".utf8))
        fflush(nil)
        _exit(3)
    }

    /// SIGKILL to `pid` and every process descended from it (read from /proc before the first kill, so the
    /// orphans' parents are still known).
    public static func killTree(_ pid: Int32) {
        var children: [Int32: [Int32]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry), let parent = ProcStat(path: "/proc/\(entry)/stat")?.int(4) else { continue }
            children[Int32(parent), default: []].append(child)
        }
        var tree: [Int32] = [pid], next = 0
        while next < tree.count {
            tree += children[tree[next]] ?? []
            next += 1
        }
        for member in tree { kill(member, SIGKILL) }
    }
}
