@testable import Live
import XCTest

/// Source pacing with the clock passed in: a burst (an HLS segment's frames, all read at once) goes out at the
/// stream's rate; a stall starts the schedule over instead of bursting to catch up.
final class SourcePacerTests: XCTestCase {
    let t0 = ContinuousClock.now
    func ms(_ d: Duration) -> Int { Int((Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) * 1000 + 0.5) }

    func testASegmentReadAtOnceGoesOutAtTheFrameRate() {
        var pacer = SourcePacer(framesPerSecond: 25)
        var now = t0
        var sent: [Int] = []
        for _ in 0..<25 {   // every frame is ready the moment the previous one has gone
            now += pacer.delay(now: now)
            sent.append(ms(now - t0))
        }
        XCTAssertEqual(sent, (0..<25).map { $0 * 40 })
    }

    func testLateFramesGoAtOnceAndAStallStartsOver() {
        var pacer = SourcePacer(framesPerSecond: 25)
        XCTAssertEqual(pacer.delay(now: t0), .zero)
        // 0.5 s late (the next segment was slow): on time again at once, with no burst beyond the schedule.
        XCTAssertEqual(pacer.delay(now: t0 + .milliseconds(500)), .zero)
        XCTAssertEqual(pacer.delay(now: t0 + .milliseconds(500)), .zero, "still behind the schedule")
        // A 3 s stall: the schedule starts over from now, so the following frames are spaced again.
        XCTAssertEqual(pacer.delay(now: t0 + .seconds(3)), .zero)
        XCTAssertEqual(ms(pacer.delay(now: t0 + .seconds(3))), 40)
    }
}
