import Decode
import Pipeline
import XCTest

/// A stage that resizes every frame keeps one `PictureResizer`: one swscale context for as long as the sizes
/// stay the same, a new one when they change, and pictures identical to a one-off `ImageDecoder.resize`.
final class PictureResizerTests: XCTestCase {
    func testOneScalerPerSizeAndTheSamePicturesAsAOneOffResize() throws {
        let resizer = PictureResizer()
        let pool = FramePool(capacity: 4)
        for seed in 0..<5 as Range<UInt64> {
            let frame = TestImages.noise(width: 176, height: 144, seed: seed)
            let kept = try resizer.resize(frame, width: 88, height: 72, pool: pool)
            let oneOff = try ImageDecoder.resize(frame, width: 88, height: 72)
            XCTAssertEqual(kept, oneOff, "frame \(seed)")
            pool.recycle(kept.pixels)
        }
        XCTAssertEqual(resizer.scalersBuilt, 1, "five frames of one size share a scaler")

        // The source changes size (a stream switching resolution), then the target (a new max_size).
        let larger = TestImages.gradient(width: 320, height: 240)
        XCTAssertEqual(try resizer.resize(larger, width: 88, height: 72), try ImageDecoder.resize(larger, width: 88, height: 72))
        XCTAssertEqual(try resizer.resize(larger, width: 160, height: 120).width, 160)
        XCTAssertEqual(try resizer.resize(larger, width: 160, height: 120).height, 120)
        XCTAssertEqual(resizer.scalersBuilt, 3)

        // Same size: the picture itself, no scaler.
        XCTAssertEqual(try resizer.resize(larger, width: 320, height: 240), larger)
        XCTAssertEqual(resizer.scalersBuilt, 3)
        XCTAssertThrowsError(try resizer.resize(larger, width: 0, height: 10))
    }
}
