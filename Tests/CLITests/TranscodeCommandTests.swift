import Decode
import Foundation
import Pipeline
import Stylize
import TestSupport
import XCTest

/// `streamd transcode` end to end: real clips, the real binary, ffprobe as an independent reader.
final class TranscodeCommandTests: XCTestCase {
    struct Probe {
        var frames: Int
        var width: Int
        var height: Int
        var duration: Double
        var codec: String
    }

    /// ffprobe's view of the first video stream (frames counted by decoding).
    func probe(_ path: String) throws -> Probe {
        let json = try ffprobeJSON(["-count_frames", "-select_streams", "v:0", "-show_entries",
                                    "stream=nb_read_frames,width,height,codec_name:format=duration", path])
        let stream = try XCTUnwrap((json["streams"] as? [[String: Any]])?.first)
        let format = json["format"] as? [String: Any]
        return Probe(frames: Int(stream["nb_read_frames"] as? String ?? "") ?? -1,
                     width: stream["width"] as? Int ?? -1, height: stream["height"] as? Int ?? -1,
                     duration: Double(format?["duration"] as? String ?? "") ?? -1,
                     codec: stream["codec_name"] as? String ?? "")
    }

    func testTranscodesAClipFrameForFrameWithTheStyleOfStreamdImage() throws {
        let tmp = try TempDir()
        let input = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let model = try SharedData.path("models/johnson-fns-onnx/candy.onnx")
        let out = tmp.file("carphone.mp4")
        let r = try CLI.run(["transcode", "--model", model, "--crf", "12", input, out], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("120 frames"), r.stderr)
        let p = try probe(out)
        XCTAssertEqual(p.frames, 120)
        XCTAssertEqual(p.width, 176)
        XCTAssertEqual(p.height, 144)
        XCTAssertEqual(p.codec, "h264")
        XCTAssertEqual(p.duration, 4.0, accuracy: 0.1)
        // Frame 30 of the output is frame 30 of the input, stylized as `streamd image` would.
        let (source, got) = (try videoFrame(30, of: input), try videoFrame(30, of: out))
        let expected = try Stylizer(model: try ModelLoader.load(path: model)).stylize(source)
        XCTAssertGreaterThanOrEqual(psnr(got, expected), 30, "stylized frame vs streamd image")
        XCTAssertLessThan(psnr(got, source), 20, "and clearly not the unstylized frame")
        XCTAssertEqual(tmp.contents(), ["carphone.mp4"], "no temporary files left")
    }

    func testRotatedPortraitComesOutUpright() throws {
        let tmp = try TempDir()
        let out = tmp.file("portrait.mkv")
        let r = try CLI.run(["transcode", "--model", try SharedData.path("models/johnson-fns-onnx/mosaic.onnx"), "--max-size", "160",
                             try SharedData.path("media/video/portrait_h264_3840x2160_60fps_rot-90.mp4"), out], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        let p = try probe(out)
        XCTAssertEqual(p.frames, 18)
        XCTAssertEqual(p.width, 90)
        XCTAssertEqual(p.height, 160)
    }

    func testBadInputsFailWithOneLineAndNoOutput() throws {
        let tmp = try TempDir()
        let model = try SharedData.path("models/johnson-fns-onnx/candy.onnx")
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let out = tmp.file("out.mp4")
        CLI.assertFails(try CLI.run(["transcode", "--model", model, tmp.file("missing.mp4"), out]), mentioning: ["missing.mp4"])
        let junk = tmp.file("junk.mp4")
        try Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }).write(to: URL(fileURLWithPath: junk))
        CLI.assertFails(try CLI.run(["transcode", "--model", model, junk, out]), mentioning: [junk])
        CLI.assertFails(try CLI.run(["transcode", "--model", model, clip, "/nonexistent-dir/out.mp4"]), mentioning: ["/nonexistent-dir"])
        // A directory nobody may create files in (sysfs refuses even root, which the tests may run as).
        CLI.assertFails(try CLI.run(["transcode", "--model", model, clip, "/sys/streamd-out.mp4"]), mentioning: ["/sys", "Permission denied"])
        CLI.assertFails(try CLI.run(["transcode", "--model", model, clip, tmp.file("out.xyz")]), mentioning: ["out.xyz"])
        CLI.assertFails(try CLI.run(["transcode", "--model", tmp.file("nomodel.onnx"), clip, out]), mentioning: ["nomodel.onnx"])
        XCTAssertEqual(tmp.contents(), ["junk.mp4"], "no output or temporary file left behind")
    }

    func testInterruptFinalizesAPlayableFile() throws {
        let tmp = try TempDir()
        let out = tmp.file("fox.mp4")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try CLI.binary)
        p.arguments = ["transcode", "--model", try SharedData.path("models/ml5/udnie"), "--max-size", "320",
                       try SharedData.path("media/video/fox_h264_640x640.mp4"), out]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Let it produce some frames, then interrupt as a user would with Ctrl-C.
        Thread.sleep(forTimeInterval: 8)
        XCTAssertTrue(p.isRunning, "the transcode should still be running after 8 s")
        kill(p.processIdentifier, SIGINT)
        if !waitForExit(p, seconds: 60) {
            kill(p.processIdentifier, SIGKILL)
            _ = waitForExit(p, seconds: 5)
            return XCTFail("did not stop within 60 s of SIGINT")
        }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(stderr.contains("interrupted"), stderr)
        let probed = try probe(out)
        XCTAssertGreaterThan(probed.frames, 0)
        XCTAssertLessThan(probed.frames, 420)
    }
}
