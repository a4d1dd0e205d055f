@testable import Decode
import Pipeline
import XCTest

/// The display-matrix → pixel mapping for all eight EXIF orientations, against the EXIF definitions written
/// out by hand. The matrices are the ones FFmpeg 5.1's mjpeg decoder attaches for tags 1…8 (dumped with
/// `ffprobe -show_frames`).
final class OrientationTests: XCTestCase {
    func testAllEightEXIFOrientations() {
        let w = 3, h = 2
        // Every pixel distinct: (x, y) stored as R = x, G = y.
        let source = RGBImage(width: w, height: h, pixels: (0..<h).flatMap { y in (0..<w).flatMap { x in [UInt8(x), UInt8(y), 0] } })
        let u: Int32 = 65536
        let matrices: [Int: [Int32]] = [
            1: [u, 0, 0, 0, u, 0, 0, 0, 1 << 30],
            2: [-u, 0, 0, 0, u, 0, 0, 0, 1 << 30],
            3: [-u, 0, 0, 0, -u, 0, 0, 0, 1 << 30],
            4: [u, 0, 0, 0, -u, 0, 0, 0, 1 << 30],
            5: [0, u, 0, u, 0, 0, 0, 0, 1 << 30],
            6: [0, u, 0, -u, 0, 0, 0, 0, 1 << 30],
            7: [0, -u, 0, -u, 0, 0, 0, 0, 1 << 30],
            8: [0, -u, 0, u, 0, 0, 0, 0, 1 << 30],
        ]
        // For each orientation: displayed size and which source pixel lands at displayed (x, y).
        let expected: [Int: (Int, Int, (Int, Int) -> (Int, Int))] = [
            1: (w, h, { x, y in (x, y) }),
            2: (w, h, { x, y in (w - 1 - x, y) }),              // mirror horizontal
            3: (w, h, { x, y in (w - 1 - x, h - 1 - y) }),      // rotate 180°
            4: (w, h, { x, y in (x, h - 1 - y) }),              // mirror vertical
            5: (h, w, { x, y in (y, x) }),                      // transpose
            6: (h, w, { x, y in (y, h - 1 - x) }),              // rotate 90° clockwise
            7: (h, w, { x, y in (w - 1 - y, h - 1 - x) }),      // transverse
            8: (h, w, { x, y in (w - 1 - y, x) }),              // rotate 90° counter-clockwise
        ]
        for tag in 1...8 {
            guard let orientation = Orientation(displayMatrix: matrices[tag]!) else {
                XCTFail("matrix for tag \(tag) not recognised")
                continue
            }
            let out = orientation.apply(to: source)
            let (ew, eh, from) = expected[tag]!
            XCTAssertEqual(out.width, ew, "tag \(tag)")
            XCTAssertEqual(out.height, eh, "tag \(tag)")
            for y in 0..<eh {
                for x in 0..<ew {
                    let (sx, sy) = from(x, y)
                    XCTAssertEqual(out.pixel(x, y), [UInt8(sx), UInt8(sy), 0], "tag \(tag) at (\(x), \(y))")
                }
            }
        }
    }

    func testNonAxisAlignedMatrixIsIgnored() {
        // 45°: cos = sin ≈ 0.7071 in 16.16.
        let c: Int32 = 46341
        XCTAssertNil(Orientation(displayMatrix: [c, c, 0, -c, c, 0, 0, 0, 1 << 30]))
        XCTAssertNil(Orientation(displayMatrix: [0, 0, 0, 0, 0, 0, 0, 0, 1 << 30]))
        XCTAssertNil(Orientation(displayMatrix: [65536, 0, 0]))
    }
}
