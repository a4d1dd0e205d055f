import FrameGraph
import XCTest

/// The stylize stage's latency policy, with the clock passed in: late frames are dropped, young ones go
/// through even when stylizing is slow, and an overloaded pipeline still lets a frame through every budget.
final class LatencyGateTests: XCTestCase {
    let t0 = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .nanoseconds(Int64(seconds * 1e9)) }

    func testFramesThatWouldLeaveLateAreDropped() {
        var gate = LatencyGate(budget: .milliseconds(500))
        XCTAssertTrue(gate.admit(age: 0.01, now: at(0)))
        gate.record(stylizeSeconds: 0.1)
        // 0.45 s old + 0.1 s to stylize would leave at 0.55 s: over the budget.
        XCTAssertFalse(gate.admit(age: 0.45, now: at(0.1)))
        XCTAssertTrue(gate.admit(age: 0.35, now: at(0.15)))
    }

    func testYoungFramesGoThroughWhenStylizingTakesMostOfTheBudget() {
        var gate = LatencyGate(budget: .milliseconds(500))
        XCTAssertTrue(gate.admit(age: 0, now: at(0)))
        gate.record(stylizeSeconds: 0.45)
        XCTAssertTrue(gate.admit(age: 0.1, now: at(0.45)), "younger than a quarter of the budget")
        XCTAssertFalse(gate.admit(age: 0.2, now: at(0.5)))
    }

    func testAnOverloadedPipelineStillEmitsAFrameEveryBudget() {
        var gate = LatencyGate(budget: .milliseconds(500))
        XCTAssertTrue(gate.admit(age: 0, now: at(0)))
        gate.record(stylizeSeconds: 0.6)
        // Every frame now arrives too old (queued behind slow stylizing on a saturated machine).
        var admitted: [Double] = []
        for step in 1...40 {
            let now = Double(step) * 0.05
            if gate.admit(age: 0.3, now: at(now)) { admitted.append(now) }
        }
        XCTAssertEqual(admitted.count, 3, "one per budget over 2 s: \(admitted)")
        XCTAssertTrue(zip(admitted.dropFirst(), admitted).allSatisfy { $0 - $1 > 0.5 })
    }
}
