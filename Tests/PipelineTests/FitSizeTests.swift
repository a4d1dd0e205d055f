import Pipeline
import XCTest

/// The one "fit to the longer side" rule: the longer side exact, the other rounded to the nearest whole or even
/// number, never below the minimum, and nothing changed when the picture already fits.
final class FitSizeTests: XCTestCase {
    func testLongerSideIsExactAndTheOtherRounded() {
        XCTAssertTrue(FitSize.longerSide(width: 1000, height: 178, to: 300) == (300, 53))
        // 53.4 to the nearest even number is 54 (the live pipeline used to floor it to 52 while transcode made 54).
        XCTAssertTrue(FitSize.longerSide(width: 1000, height: 178, to: 300, rounding: .even) == (300, 54))
        XCTAssertTrue(FitSize.longerSide(width: 144, height: 176, to: 64, rounding: .even) == (52, 64), "portrait: the height is the longer side")
        XCTAssertTrue(FitSize.longerSide(width: 4000, height: 10, to: 100, minimum: 16) == (100, 16))
        XCTAssertTrue(FitSize.longerSide(width: 640, height: 480, to: 1280) == (1280, 960), "it scales up too")
    }

    func testShrunkLeavesAFittingPictureAlone() {
        XCTAssertTrue(FitSize.shrunk(width: 175, height: 143, maxSide: 200, rounding: .even) == (175, 143))
        XCTAssertTrue(FitSize.shrunk(width: 175, height: 143, maxSide: nil) == (175, 143))
        XCTAssertTrue(FitSize.shrunk(width: 176, height: 144, maxSide: 64, rounding: .even) == (64, 52))
    }
}
