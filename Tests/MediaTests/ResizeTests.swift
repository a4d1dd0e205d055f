import Decode
import Pipeline
import TestSupport
import XCTest

final class ResizeTests: XCTestCase {
    func testSizes() throws {
        let image = TestImages.gradient(width: 37, height: 23)
        for (width, height) in [(18, 11), (74, 46), (1, 1), (37, 5), (100, 23), (20, 40)] {
            let resized = try ImageDecoder.resize(image, width: width, height: height)
            XCTAssertEqual(resized.width, width)
            XCTAssertEqual(resized.height, height)
            XCTAssertEqual(resized.pixels.count, width * height * 3)
        }
        XCTAssertEqual(try ImageDecoder.resize(image, width: 37, height: 23), image)
    }

    /// A flat colour stays exactly that colour, shrinking (area) or growing (bicubic), including odd factors:
    /// no ringing, no rounding drift, no colour-space round trip.
    func testFlatColourStaysFlat() throws {
        for colour: [UInt8] in [[10, 200, 77], [0, 0, 0], [255, 255, 255], [1, 128, 254]] {
            let flat = RGBImage(width: 101, height: 67, pixels: Array((0..<(101 * 67)).map { _ in colour }.joined()))
            for (width, height) in [(50, 33), (13, 7), (1, 1), (202, 134), (317, 89), (60, 200)] {
                let resized = try ImageDecoder.resize(flat, width: width, height: height)
                XCTAssertEqual(resized, RGBImage(width: width, height: height,
                                                 pixels: Array((0..<(width * height)).map { _ in colour }.joined())),
                               "\(colour) to \(width)x\(height)")
            }
        }
    }

    /// Halving with the area filter is the mean of each 2×2 block, to within rounding.
    func testHalvingAveragesBlocks() throws {
        let photo = try ImageDecoder.decode(path: try SharedData.url("media/images/content/chicago.jpg").path)
        let half = try ImageDecoder.resize(photo, width: 356, height: 237)
        var worst = 0.0
        for y in 0..<237 {
            for x in 0..<356 {
                for c in 0..<3 {
                    var sum = 0
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        sum += Int(photo.pixels[((2 * y + dy) * 712 + 2 * x + dx) * 3 + c])
                    }
                    worst = max(worst, abs(Double(half.pixels[(y * 356 + x) * 3 + c]) - Double(sum) / 4))
                }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1.0)
    }

    /// Shrinking then growing a smooth picture comes back close to it.
    func testDownUpIsClose() throws {
        let image = TestImages.gradient(width: 120, height: 80)
        let small = try ImageDecoder.resize(image, width: 60, height: 40)
        let back = try ImageDecoder.resize(small, width: 120, height: 80)
        XCTAssertGreaterThan(psnr(back, image), 35)
    }
}
