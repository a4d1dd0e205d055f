@testable import Live
import Pipeline
import XCTest

/// The preview's promises to the pipeline: nothing done without a viewer, at most `framesPerSecond` copies,
/// one shared JPEG per picture, a stale picture never shown to the next viewer, and no thread left behind.
final class PreviewTapTests: XCTestCase {
    /// A 96×64 picture whose colour depends on `seed`.
    func picture(_ seed: UInt8) -> RGBImage {
        RGBImage(width: 96, height: 64, pixels: (0..<(96 * 64 * 3)).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0 / 97) })
    }

    func waitForFrame(_ tap: PreviewTap, after sequence: Int, timeout: TimeInterval = 5) -> PreviewFrame? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let frame = tap.frame(after: sequence) { return frame }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return nil
    }

    func testNothingHappensWithoutAViewer() {
        let threads = StageThread.liveCount
        let tap = PreviewTap()
        for i in 0..<20 { tap.offer(picture(UInt8(i))) }
        XCTAssertEqual(StageThread.liveCount, threads, "no preview thread without a viewer")
        XCTAssertNil(waitForFrame(tap, after: 0, timeout: 0.3))
    }

    func testAViewerGetsSmallJPEGsAtTheBoundedRateAndTheThreadEnds() throws {
        let threads = StageThread.liveCount
        let tap = PreviewTap(framesPerSecond: 5, maxSide: 48, idleExit: .milliseconds(300))
        tap.join()
        let start = ContinuousClock.now
        tap.offer(picture(0), now: start)
        let first = try XCTUnwrap(waitForFrame(tap, after: 0))
        XCTAssertEqual(Array(first.jpeg.prefix(3)), [0xFF, 0xD8, 0xFF])
        XCTAssertEqual([first.width, first.height], [48, 32], "the longer side shrunk to maxSide, aspect kept")
        // Within the same 200 ms, further frames are not even copied.
        for i in 1...10 { tap.offer(picture(UInt8(i)), now: start + .milliseconds(10 * i)) }
        XCTAssertNil(waitForFrame(tap, after: first.sequence, timeout: 0.3))
        tap.offer(picture(50), now: start + .milliseconds(250))
        let second = try XCTUnwrap(waitForFrame(tap, after: first.sequence))
        XCTAssertEqual(second.sequence, first.sequence + 1)
        XCTAssertNotEqual(second.jpeg, first.jpeg)

        // The last viewer leaves: the picture is dropped, so the next viewer never sees it as live.
        tap.leave()
        XCTAssertNil(tap.frame(after: 0))
        XCTAssertEqual(tap.viewerCount, 0)
        let deadline = Date().addingTimeInterval(5)
        while StageThread.liveCount > threads && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(StageThread.liveCount, threads, "the preview thread ends once frames stop coming")

        // A new viewer starts a new thread, and sequences keep increasing.
        tap.join()
        tap.offer(picture(99), now: start + .seconds(5))
        let third = try XCTUnwrap(waitForFrame(tap, after: 0))
        XCTAssertGreaterThan(third.sequence, second.sequence)
        tap.leave()
    }
}
