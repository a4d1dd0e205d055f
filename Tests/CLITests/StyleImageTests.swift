import Decode
import Encode
import Foundation
import Pipeline
import Stylize
import TestSupport
import XCTest

/// `--style-image`: any painting as the style through the built-in arbitrary-style network, end to end with
/// the real binary, against onnxruntime's picture (`scripts/fixtures/arbitrary_fixture.py`).
final class StyleImageTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("StylizeTests/Fixtures/arbitrary")

    func testImageWithAPaintingMatchesOnnxruntime() throws {
        let tmp = try TempDir()
        let out = tmp.file("parrots-wave.png")
        let r = try CLI.run(["image", "--style-image", try SharedData.path("media/images/style/wave.jpg"), "--max-size", "384",
                             try SharedData.path("media/images/kodak/kodim23.png"), out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("arbitrary"), r.stderr)
        let got = try ImageDecoder.decode(path: out)
        XCTAssertEqual([got.width, got.height], [384, 256])
        let golden = [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent("image384x256.u8.rgb")))
        // The photo and the painting are scaled in-process here and by the ffmpeg CLI for the golden: the only
        // difference (44 dB measured).
        XCTAssertGreaterThan(psnr(samples: got.pixels, golden), 38)
        let photo = try ImageDecoder.resize(try ImageDecoder.decode(path: try SharedData.path("media/images/kodak/kodim23.png")), width: 384, height: 256)
        XCTAssertLessThan(psnr(samples: got.pixels, photo.pixels), 20, "and it is not the photo")
    }

    /// Two paintings blended by weight: weight 1/0 is the first painting alone, 0.5/0.5 lies between; a strength
    /// below 1 moves towards the photo's own style.
    func testBlendAndStrength() throws {
        let tmp = try TempDir()
        let photo = try SharedData.path("media/images/content/face.jpg")
        let wave = try SharedData.path("media/images/style/wave.jpg"), scream = try SharedData.path("media/images/style/scream.jpg")
        func run(_ name: String, _ args: [String]) throws -> RGBImage {
            let out = tmp.file(name + ".png")
            let r = try CLI.run(["image", "--max-size", "160"] + args + [photo, out])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try ImageDecoder.decode(path: out)
        }
        let w = try run("wave", ["--style-image", wave])
        let s = try run("scream", ["--style-image", scream])
        XCTAssertEqual(try run("w10", ["--style-image", wave, "--style-image", scream, "--style-blend", "1,0"]), w)
        let half = try run("half", ["--style-image", wave, "--style-image", scream])
        XCTAssertLessThan(psnr(samples: w.pixels, s.pixels), 20, "two paintings, two pictures")
        XCTAssertGreaterThan(psnr(samples: half.pixels, w.pixels), psnr(samples: s.pixels, w.pixels))
        XCTAssertGreaterThan(psnr(samples: half.pixels, s.pixels), psnr(samples: w.pixels, s.pixels))
        let original = try ImageDecoder.resize(try ImageDecoder.decode(path: photo), width: w.width, height: w.height)
        let weak = try run("weak", ["--style-image", wave, "--strength", "0.3"])
        XCTAssertGreaterThan(psnr(samples: weak.pixels, original.pixels), psnr(samples: w.pixels, original.pixels) + 1,
                             "a weaker style keeps more of the photo")
    }

    func testMistakesGetOneLineAndNoOutput() throws {
        let tmp = try TempDir()
        let photo = try SharedData.path("media/images/content/face.jpg")
        let out = tmp.file("o.png")
        let text = tmp.file("notes.txt")
        try "not a picture\n".write(toFile: text, atomically: true, encoding: .utf8)
        let empty = tmp.file("empty.jpg")
        FileManager.default.createFile(atPath: empty, contents: Data())
        CLI.assertFails(try CLI.run(["image", "--style-image", text, photo, out]), mentioning: [text])
        CLI.assertFails(try CLI.run(["image", "--style-image", empty, photo, out]), mentioning: [empty])
        CLI.assertFails(try CLI.run(["image", "--style-image", tmp.file("missing.jpg"), photo, out]), mentioning: ["missing.jpg"])
        let wave = try SharedData.path("media/images/style/wave.jpg")
        CLI.assertFails(try CLI.run(["image", "--model", try SharedData.path("models/ml5/udnie"), "--style-image", wave, photo, out]),
                        mentioning: ["udnie", "cannot take a style picture"])
        CLI.assertFails(try CLI.run(["image", "--model", "arbitrary", photo, out]), mentioning: ["--style-image"])
        CLI.assertFails(try CLI.run(["image", "--style-image", wave, "--style-blend", "1,2", photo, out]), mentioning: ["--style-blend"])
        CLI.assertFails(try CLI.run(["image", "--style-image", wave, "--style", "wave", photo, out]), mentioning: ["--style-blend"])
        XCTAssertEqual(tmp.contents(), ["empty.jpg", "notes.txt"], "nothing written")
    }

    /// A video with a painting: every frame, the same picture `streamd image` makes of that frame.
    func testTranscodeWithAPainting() throws {
        let tmp = try TempDir()
        let input = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let wave = try SharedData.path("media/images/style/wave.jpg")
        let out = tmp.file("carphone-wave.mp4")
        let r = try CLI.run(["transcode", "--style-image", wave, "--crf", "12", input, out], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("120 frames"), r.stderr)
        let (source, stylized) = (try videoFrame(30, of: input), try videoFrame(30, of: out))
        let frame = tmp.file("frame30.png")
        try ImageEncoder.write(source, to: frame)
        let still = tmp.file("still.png")
        XCTAssertEqual(try CLI.run(["image", "--style-image", wave, frame, still]).status, 0)
        XCTAssertGreaterThan(psnr(samples: stylized.pixels, try ImageDecoder.decode(path: still).pixels), 30)
        XCTAssertLessThan(psnr(samples: stylized.pixels, source.pixels), 20)
    }
}
