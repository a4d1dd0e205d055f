import Foundation
import Pipeline
import TestSupport
import XCTest

/// Segment-parallel transcode as a scheduler drives it: `transcode --segment I/N` for every I (each a separate
/// process, in any order), then `join`. The joined file is the one-process transcode: the same frames (count,
/// timestamps, pictures, with smoothing across the seams), the same audio, no seam; a lost segment is run again
/// alone; mistakes get one line and leave nothing behind. The real binary, a real clip with audio, ffprobe and
/// ffmpeg as independent readers.
final class SegmentTranscodeTests: XCTestCase {
    private var input: String { get throws { try SharedData.path("media/video/face_mpeg4_960x400.avi") } }
    /// Lossless video (x264 at CRF 0), so the comparison sees the pictures streamd made, not the encoder's
    /// choices (the segments are coded without B-frames, the one-process file with them).
    private let style = ["--max-size", "96", "--smooth", "0.5", "--workers", "1", "--threads", "1", "--crf", "0"]

    private func transcodeSegment(_ index: Int, of count: Int, into path: String) throws {
        let r = try CLI.run(["transcode"] + style + ["--segment", "\(index)/\(count)", try input, path], timeout: 600)
        XCTAssertEqual(r.status, 0, "segment \(index)/\(count): \(r.stderr)")
    }

    /// Decoded pictures of the first video stream, at `width`×`height`, as RGB bytes.
    private func frames(_ path: String, width: Int, height: Int) throws -> [RGBImage] {
        let data = try runFFmpeg(["-i", path, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        let size = width * height * 3
        return stride(from: 0, to: data.count - size + 1, by: size).map {
            RGBImage(width: width, height: height, pixels: [UInt8](data[$0..<($0 + size)]))
        }
    }

    func testSegmentsJoinedAreTheOneProcessTranscode() throws {
        let tmp = try TempDir()
        let whole = tmp.file("whole.mp4"), joined = tmp.file("joined.mp4")
        let r = try CLI.run(["transcode"] + style + [try input, whole], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        let parts = (0..<3).map { tmp.file("part-\($0).mkv") }
        // Out of order, as a scheduler may run them.
        for i in [2, 0, 1] { try transcodeSegment(i, of: 3, into: parts[i]) }
        let j = try CLI.run(["join", try input, joined] + parts.reversed(), timeout: 300)
        XCTAssertEqual(j.status, 0, j.stderr)
        let count = try MediaProbe.packets(whole, "v").count
        XCTAssertTrue(j.stderr.contains("joined 3 segments: \(count) frames"), j.stderr)

        // The same frames at the same times.
        let a = try MediaProbe.packets(whole, "v").map(\.start).sorted(), b = try MediaProbe.packets(joined, "v").map(\.start).sorted()
        XCTAssertGreaterThan(a.count, 90)
        XCTAssertEqual(b.count, a.count, "frame count")
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 0.002, "frame times") }
        XCTAssertEqual(MediaProbe.span(try MediaProbe.packets(joined, "v")), MediaProbe.span(try MediaProbe.packets(whole, "v")), accuracy: 0.05)
        // The same audio, continuous: as long as the one-process transcode's, no packet missing.
        let audioA = try MediaProbe.packets(whole, "a"), audioB = try MediaProbe.packets(joined, "a")
        XCTAssertEqual(audioB.count, audioA.count, "audio packets")
        XCTAssertEqual(MediaProbe.span(audioB), MediaProbe.span(audioA), accuracy: 0.03)
        for (p, q) in zip(audioB, audioB.dropFirst()) { XCTAssertEqual(q.start, p.start + p.duration, accuracy: 0.002, "no gap in the audio at \(p.start) s") }

        // The same pictures, at the seams too: smoothing had its history there (the lead frames).
        let video = try XCTUnwrap(try MediaProbe.streams(whole, "v").first)
        let (w, h) = (video["width"] as? Int ?? 0, video["height"] as? Int ?? 0)
        let pa = try frames(whole, width: w, height: h), pb = try frames(joined, width: w, height: h)
        XCTAssertEqual(pb.count, pa.count)
        let values = zip(pa, pb).map { psnr($0, $1) }
        let worst = values.min() ?? 0
        let differing = values.enumerated().filter { $0.element.isFinite }.map { "frame \($0.offset): \(String(format: "%.1f", $0.element)) dB" }
        print("segments vs one process over \(values.count) frames: worst PSNR \(worst) dB; not identical: \(differing)")
        // Smoothing had its history at the seams (the lead frames): what is left of the difference there is
        // far below a grey level (without lead frames it was 35 dB).
        XCTAssertGreaterThan(worst, 60, "no visible seam: \(differing)")
        XCTAssertEqual(tmp.contents(), ["joined.mp4", "part-0.mkv", "part-1.mkv", "part-2.mkv", "whole.mp4"], "no temporary files")
    }

    func testALostSegmentIsNamedAndRunAgainAlone() throws {
        let tmp = try TempDir()
        let parts = (0..<2).map { tmp.file("part-\($0).mkv") }
        for i in 0..<2 { try transcodeSegment(i, of: 2, into: parts[i]) }
        let joined = tmp.file("joined.mkv")
        // Lost: the join says which, and writes nothing.
        try FileManager.default.removeItem(atPath: parts[1])
        CLI.assertFails(try CLI.run(["join", try input, joined, parts[0]]), mentioning: ["segment 1/2 is missing"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: joined))
        // Run again alone, and the join goes through.
        try transcodeSegment(1, of: 2, into: parts[1])
        let j = try CLI.run(["join", try input, joined] + parts)
        XCTAssertEqual(j.status, 0, j.stderr)
        XCTAssertEqual(try MediaProbe.packets(joined, "v").count, 96, "every frame of the clip")
    }

    func testMistakesGetOneLineAndLeaveNothing() throws {
        let tmp = try TempDir()
        let out = tmp.file("part.mkv")
        for (spec, message) in [("3/2", "the index must be from 0 to 1"), ("1/0", "the count must be at least 1"), ("x", "INDEX/COUNT")] {
            let r = try CLI.run(["transcode", "--segment", spec, try input, out])
            XCTAssertEqual(r.status, 64, "\(spec): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(spec): \(r.stderr)")
        }
        let mp4 = try CLI.run(["transcode", "--segment", "0/2", try input, tmp.file("part.mp4")])
        XCTAssertTrue(mp4.stderr.contains("--segment writes Matroska (.mkv)"), mp4.stderr)
        // A segment of another input, and the same segment twice.
        let other = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let foreign = tmp.file("foreign.mkv"), first = tmp.file("first.mkv")
        XCTAssertEqual(try CLI.run(["transcode"] + style + ["--segment", "0/2", other, foreign], timeout: 600).status, 0)
        try transcodeSegment(0, of: 2, into: first)
        let joined = tmp.file("joined.mp4")
        CLI.assertFails(try CLI.run(["join", try input, joined, first, foreign]), mentioning: [foreign, "a segment of another input"])
        CLI.assertFails(try CLI.run(["join", try input, joined, first, first]), mentioning: [first, "is segment 0/2 again"])
        CLI.assertFails(try CLI.run(["join", try input, joined, try input]), mentioning: [try input, "is not a segment"])
        XCTAssertEqual(tmp.contents(), ["first.mkv", "foreign.mkv"], "nothing half-written")
    }

    /// `streamd plan` once, then every worker and the join read the plan instead of the input's packets; a plan
    /// is refused for another input.
    func testAPlanFileServesTheWorkersAndTheJoin() throws {
        let tmp = try TempDir()
        let plan = tmp.file("plan.json")
        let p = try CLI.run(["plan", "--segments", "2", try input, plan])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stderr.contains("2 segments of"), p.stderr)
        let parts = (0..<2).map { tmp.file("part-\($0).mkv") }
        for i in 0..<2 {
            let r = try CLI.run(["transcode"] + style + ["--plan", plan, "--segment", "\(i)/2", try input, parts[i]], timeout: 600)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let joined = tmp.file("joined.mkv")
        let j = try CLI.run(["join", "--plan", plan, try input, joined] + parts)
        XCTAssertEqual(j.status, 0, j.stderr)
        XCTAssertEqual(try MediaProbe.packets(joined, "v").count, 96)
        let other = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        CLI.assertFails(try CLI.run(["transcode", "--plan", plan, "--segment", "0/2", other, tmp.file("x.mkv")]),
                        mentioning: [plan, "was made for another input"])
        CLI.assertFails(try CLI.run(["transcode", "--plan", plan, "--segment", "0/3", try input, tmp.file("x.mkv")]),
                        mentioning: [plan, "has 2 segments, not 3"])
        // By length: the 4 s clip in segments of about 1.5 s is 3 of them.
        let byLength = try CLI.run(["plan", "--length", "1.5", try input, tmp.file("by-length.json")])
        XCTAssertEqual(byLength.status, 0, byLength.stderr)
        XCTAssertTrue(byLength.stderr.contains(": 3 segments of"), byLength.stderr)
        let alone = try CLI.run(["transcode", "--plan", plan, try input, tmp.file("x.mp4")])
        XCTAssertEqual(alone.status, 64, alone.stderr)
        XCTAssertTrue(alone.stderr.contains("--plan needs --segment"), alone.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("x.mkv")))
    }
}
