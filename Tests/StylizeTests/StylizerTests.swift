import Foundation
import Pipeline
import Stylize
import TestSupport
import XCTest

final class StylizerTests: XCTestCase {
    func stata(_ name: String, _ h: Int, _ w: Int) throws -> RGBImage {
        RGBImage(width: w, height: h, pixels: try SharedData.bytes("models/ml5-testvectors/\(name).input.u8.rgb"))
    }

    func meanAbs(_ a: RGBImage, _ b: RGBImage) -> Double {
        zip(a.pixels, b.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.pixels.count)
    }

    func testMultipleOfFourSizeEqualsTheClippedNetworkOutput() throws {
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/udnie"))
        let out = try Stylizer(model: model).stylize(try stata("stata_64x96", 64, 96))
        let ref = try SharedData.floats("models/ml5-testvectors/stata_64x96.udnie.output.f32")
        XCTAssertEqual(out.width, 96)
        XCTAssertEqual(out.height, 64)
        var worst = 0
        for i in ref.indices { worst = max(worst, abs(Int(out.pixels[i]) - Int(max(0, min(255, ref[i].rounded()))))) }
        XCTAssertLessThanOrEqual(worst, 1)
    }

    /// Odd sizes come out at exactly the input size and line up with it: cropping the input by two rows and
    /// columns gives (nearly) the same pixels at the same places, and clearly not shifted ones.
    func testOddSizesKeepTheirSizeAndAlignment() throws {
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/wave"))
        let stylizer = try Stylizer(model: model)
        let full = try stata("stata_64x96", 64, 96)
        let whole = try stylizer.stylize(full)
        let part = full.cropped(x: 0, y: 0, width: 93, height: 61)
        let out = try stylizer.stylize(part)
        XCTAssertEqual(out.width, 93)
        XCTAssertEqual(out.height, 61)
        let region = (x: 12, y: 12, w: 60, h: 36)
        let a = out.cropped(x: region.x, y: region.y, width: region.w, height: region.h)
        let aligned = meanAbs(a, whole.cropped(x: region.x, y: region.y, width: region.w, height: region.h))
        let shifted = meanAbs(a, whole.cropped(x: region.x + 2, y: region.y + 2, width: region.w, height: region.h))
        XCTAssertLessThan(aligned, shifted / 2, "aligned \(aligned) vs shifted \(shifted)")
    }

    func testStrengthZeroGivesTheOriginalAndPreserveColorKeepsChroma() throws {
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/scream"))
        let stylizer = try Stylizer(model: model)
        let img = try stata("stata_64x96", 64, 96)
        XCTAssertEqual(try stylizer.stylize(img, options: StyleOptions(strength: 0)), img)
        let half = try stylizer.stylize(img, options: StyleOptions(strength: 0.5))
        let full = try stylizer.stylize(img)
        XCTAssertLessThan(meanAbs(half, img), meanAbs(full, img))
        let kept = try stylizer.stylize(img, options: StyleOptions(preserveColor: true))
        // Chroma of the result is close to the original's, much closer than the plain stylized picture's.
        func chroma(_ p: RGBImage) -> [Float] {
            stride(from: 0, to: p.pixels.count, by: 3).flatMap { i -> [Float] in
                let r = Float(p.pixels[i]), g = Float(p.pixels[i + 1]), b = Float(p.pixels[i + 2])
                return [-0.168736 * r - 0.331264 * g + 0.5 * b, 0.5 * r - 0.418688 * g - 0.081312 * b]
            }
        }
        func dist(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) } / Float(a.count) }
        XCTAssertLessThan(dist(chroma(kept), chroma(img)) * 3, dist(chroma(full), chroma(img)))
        XCTAssertThrowsError(try stylizer.stylize(img, options: StyleOptions(strength: 1.5)))
    }

    func testTilesAreFeatheredWithoutSeams() throws {
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/udnie"))
        let stylizer = try Stylizer(model: model)
        // stata at 3× (192×288, pixel repetition) so tiles are large enough to have meaningful statistics.
        let small = try stata("stata_64x96", 64, 96)
        var px = [UInt8](repeating: 0, count: 192 * 288 * 3)
        for y in 0..<192 { for x in 0..<288 { for c in 0..<3 { px[(y * 288 + x) * 3 + c] = small.pixels[((y / 3) * 96 + x / 3) * 3 + c] } } }
        let img = RGBImage(width: 288, height: 192, pixels: px)
        let tiled = try stylizer.stylizeTiled(img, tile: 128, overlap: 32)
        XCTAssertEqual(tiled.width, 288)
        XCTAssertEqual(tiled.height, 192)
        let whole = try stylizer.stylize(img)
        // Same picture as the untiled run up to instance-norm differences between tiles, and much closer to
        // it than to a different style of the same input.
        let other = try Stylizer(model: try ML5Importer.load(path: try SharedData.path("models/ml5/wave"))).stylize(img)
        let tiledDiff = meanAbs(tiled, whole)
        XCTAssertLessThan(tiledDiff * 2, meanAbs(other, whole), "tiled differs by \(tiledDiff)")
        // No seam: next to the tile boundaries the tiled picture is no further from the untiled one than it
        // is elsewhere (a border frame or an unblended edge would show up as a band of larger differences).
        func columnDiff(_ x: Int) -> Double {
            var s = 0.0
            for y in 0..<192 { for c in 0..<3 {
                s += abs(Double(tiled.pixels[(y * 288 + x) * 3 + c]) - Double(whole.pixels[(y * 288 + x) * 3 + c]))
            } }
            return s / (192 * 3)
        }
        // Tiles start at x = 0, 96, 160 (tile 128, step 96); their edges fall at 96, 128, 160, 224.
        let nearEdges = [94, 95, 96, 97, 98, 126, 127, 128, 129, 130, 158, 159, 160, 161, 162, 222, 223, 224, 225, 226]
        let edgeDiff = nearEdges.map(columnDiff).reduce(0, +) / Double(nearEdges.count)
        let interior = Array(40..<80) + Array(240..<270)
        let interiorDiff = interior.map(columnDiff).reduce(0, +) / Double(interior.count)
        XCTAssertLessThan(edgeDiff, interiorDiff * 1.5 + 2, "near tile edges \(edgeDiff), elsewhere \(interiorDiff)")
        // Tiles that run with surrounding context stay close to the untiled picture (measured 12.3 here;
        // without the context, the tiles' own border frames raise it to 18).
        XCTAssertLessThan(tiledDiff, 15)
        XCTAssertThrowsError(try stylizer.stylizeTiled(img, tile: 32, overlap: 16))
    }

    /// The one style rule (`StyleChoice`): indices, mixes (normalised, each weight a finite Float ≥ 0, the sum
    /// finite), index 0 of a single-style model is its style, and every refusal names the model's styles.
    func testStyleSelection() throws {
        let four = ["a", "b", "c", "d"]
        XCTAssertEqual(try StyleChoice.index(2).weights(styleNames: four), [0, 0, 1, 0])
        XCTAssertEqual(try StyleChoice.mix(try StyleChoice.parseMix("0:1,3:3")).weights(styleNames: four), [0.25, 0, 0, 0.75])
        XCTAssertNil(try StyleChoice.first.weights(styleNames: four))
        XCTAssertNil(try StyleChoice.index(0).weights(styleNames: []), "index 0 of a single-style model is its style")
        for bad in ["x", "1:", "1:2:3", ""] {
            XCTAssertThrowsError(try StyleChoice.parseMix(bad), bad)
        }
        let refused: [(StyleChoice, [String], String)] = [
            (.index(4), four, "style 4 does not exist: the model has styles 0 to 3"),
            (.index(1), [], "style 1 does not exist: the model has a single style"),
            (.mix([.init(index: 9, weight: 1)]), four, "style 9 in the mix does not exist: the model has styles 0 to 3"),
            (.mix([.init(index: 1, weight: -1)]), four, "the weight of style 1 in the mix must be a number from 0 to"),
            (.mix([.init(index: 1, weight: 1e300)]), four, "the weight of style 1 in the mix must be a number from 0 to"),
            (.mix([.init(index: 0, weight: 3e38), .init(index: 1, weight: 3e38)]), four, "the mix's weights are too large"),
            (.mix([.init(index: 0, weight: 0)]), four, "the mix's weights add up to 0"),
            (.mix([.init(index: 0, weight: 1)]), [], "a mix of styles needs a multi-style model: the model has a single style"),
        ]
        for (choice, names, message) in refused {
            XCTAssertThrowsError(try choice.weights(styleNames: names), "\(choice)") { e in
                XCTAssertTrue("\(e)".hasPrefix(message), "\(e)")
                XCTAssertFalse("\(e)".contains("--"), "names no command-line option: \(e)")
            }
        }
    }
}
