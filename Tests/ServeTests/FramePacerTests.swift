@testable import Live
import XCTest

/// UDP/SRT pacing: a burst of frames is spread out at the frames' own rate; a stalled or jumping stream
/// re-anchors instead of bursting or stalling.
final class FramePacerTests: XCTestCase {
    let frame: Int64 = 33_333   // µs at 30 fps

    func testABurstIsSpreadAtTheFrameRate() {
        var pacer = FramePacer()
        let t0 = ContinuousClock.now
        // Ten frames arrive at the same instant (frames queued during a reconnect).
        let delays = (0..<10).map { pacer.delay(micros: 5_000_000 + Int64($0) * frame, now: t0) }
        for (i, d) in delays.enumerated() {
            XCTAssertEqual(d, .microseconds(Int64(i) * frame), "frame \(i) waits its turn")
        }
        // A frame that arrives on time goes at once.
        XCTAssertEqual(pacer.delay(micros: 5_000_000 + 10 * frame, now: t0 + .microseconds(10 * frame)), .zero)
    }

    func testLateFramesGoAtOnceAndAStallReanchors() {
        var pacer = FramePacer(maxHold: .seconds(1))
        let t0 = ContinuousClock.now
        XCTAssertEqual(pacer.delay(micros: 0, now: t0), .zero)
        // Slightly late: no wait, schedule kept.
        XCTAssertEqual(pacer.delay(micros: frame, now: t0 + .milliseconds(50)), .zero)
        XCTAssertEqual(pacer.delay(micros: 2 * frame, now: t0 + .milliseconds(50)), .microseconds(2 * frame) - .milliseconds(50))
        // The source stalls for 3 s and then delivers a burst stamped from before: re-anchor on the first, then
        // space the rest instead of sending all at once.
        let t1 = t0 + .seconds(3)
        XCTAssertEqual(pacer.delay(micros: 3 * frame, now: t1), .zero)
        XCTAssertEqual(pacer.delay(micros: 4 * frame, now: t1), .microseconds(frame))
        // Timestamps jump 10 s ahead (a new source clock): no 10 s stall.
        XCTAssertEqual(pacer.delay(micros: 10_000_000, now: t1), .zero)
        XCTAssertEqual(pacer.delay(micros: 10_000_000 + frame, now: t1), .microseconds(frame))
    }

    func testResetStartsANewSchedule() {
        var pacer = FramePacer()
        let t0 = ContinuousClock.now
        _ = pacer.delay(micros: 0, now: t0)
        pacer.reset()
        XCTAssertEqual(pacer.delay(micros: 900_000, now: t0), .zero, "a new connection does not inherit the old schedule")
    }
}
