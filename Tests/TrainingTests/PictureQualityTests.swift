import Decode
import Foundation
import Pipeline
import TestSupport
import Training
import XCTest

/// The measures of `streamd eval quality` read as a person looking at the pictures would: a photo keeps all of
/// its own structure, keeps it when only its colours change, loses it when its shapes move or vanish; colours
/// are compared as distributions in CIELAB units.
final class PictureQualityTests: XCTestCase {
    func photo() throws -> RGBImage {
        let picture = try ImageDecoder.decode(path: try SharedData.path("media/images/content/chicago.jpg"))
        return try ImageDecoder.resize(picture, width: 160, height: 120)
    }

    func flat(_ value: UInt8, width: Int = 160, height: Int = 120) -> RGBImage {
        RGBImage(width: width, height: height, pixels: [UInt8](repeating: value, count: width * height * 3))
    }

    func testStructureIsKeptWhenColoursChangeAndLostWhenShapesMove() throws {
        let photo = try photo()
        XCTAssertEqual(PictureQuality.structure(photo: photo, result: photo), 1, accuracy: 1e-9)
        // Other colours, same shapes: a negative and a channel swap keep (nearly) every edge.
        let negative = RGBImage(width: photo.width, height: photo.height, pixels: photo.pixels.map { 255 - $0 })
        XCTAssertEqual(PictureQuality.structure(photo: photo, result: negative), 1, accuracy: 1e-9)
        var swapped = photo
        for i in 0..<(photo.width * photo.height) { swapped.pixels.swapAt(3 * i, 3 * i + 2) }
        XCTAssertGreaterThan(PictureQuality.structure(photo: photo, result: swapped), 0.9)
        // Same picture moved by a fifth of its width: the edges are no longer where the photo's are.
        var moved = photo
        for y in 0..<photo.height {
            for x in 0..<photo.width {
                let from = (y * photo.width + (x + 32) % photo.width) * 3
                for c in 0..<3 { moved.pixels[(y * photo.width + x) * 3 + c] = photo.pixels[from + c] }
            }
        }
        XCTAssertLessThan(PictureQuality.structure(photo: photo, result: moved), 0.5)
        // A flat picture has no structure at all.
        XCTAssertEqual(PictureQuality.structure(photo: photo, result: flat(128)), 0)
    }

    func testColourDistanceIsInCIELABUnits() throws {
        let photo = try photo()
        XCTAssertEqual(PictureQuality.colourDistance(photo, photo), 0)
        // Black against white: 100 L*, whatever the sizes (16 directions average the sphere to within 1%).
        XCTAssertEqual(PictureQuality.colourDistance(flat(0), flat(255, width: 40, height: 30)), 100, accuracy: 1.5)
        // sRGB grey 119 is L* 50.0: half way.
        XCTAssertEqual(PictureQuality.colourDistance(flat(0), flat(119)), 50, accuracy: 0.75)
        // Symmetric, and a negative is far from the photo.
        let negative = RGBImage(width: photo.width, height: photo.height, pixels: photo.pixels.map { 255 - $0 })
        XCTAssertEqual(PictureQuality.colourDistance(photo, negative), PictureQuality.colourDistance(negative, photo), accuracy: 1e-9)
        XCTAssertGreaterThan(PictureQuality.colourDistance(photo, negative), 10)
    }
}
