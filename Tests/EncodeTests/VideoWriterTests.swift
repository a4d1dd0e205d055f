import CFFmpeg
import Encode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// VideoWriter against the real FFmpeg: files are checked with ffprobe/ffmpeg as independent readers.
final class VideoWriterTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        // x264 prints its statistics at info level; keep the test log readable.
        av_log_set_level(AV_LOG_ERROR)
    }

    // MARK: Containers and codecs

    /// 64 frames of 160×120 at 25 fps into every container, each checked for frame count, size, codec, pixel
    /// format, colour tags and duration (64 / 25 = 2.56 s).
    func testEveryContainerHoldsAllFramesAtTheRightSizeAndDuration() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let cases: [(file: String, codec: String, pixFmt: String)] = [
            ("out.mp4", "h264", "yuv420p"), ("out.mov", "h264", "yuv420p"), ("out.mkv", "h264", "yuv420p"),
            ("out.webm", "vp9", "yuv420p"), ("out.avi", "mpeg4", "yuv420p"),
        ]
        for entry in cases {
            let path = directory.file(entry.file)
            let settings = VideoEncodeSettings(width: 160, height: 120, frameRate: Rational(25, 1), timeBase: Rational(1, 12800),
                                               metadata: ["title": "streamd test \(entry.file)"], threads: 2)
            try writeFrames(count: 64, width: 160, height: 120, to: path, settings: settings) { Int64($0 * 512) }
            let stream = try Probe.videoStream(path)
            XCTAssertEqual(stream["nb_read_frames"] as? String, "64", entry.file)
            XCTAssertEqual(stream["width"] as? Int, 160, entry.file)
            XCTAssertEqual(stream["height"] as? Int, 120, entry.file)
            XCTAssertEqual(stream["codec_name"] as? String, entry.codec, entry.file)
            XCTAssertEqual(stream["pix_fmt"] as? String, entry.pixFmt, entry.file)
            if entry.codec != "mpeg4" {   // MPEG-4 Part 2 in AVI has nowhere to put colour tags
                XCTAssertEqual(stream["color_range"] as? String, "tv", entry.file)
                XCTAssertEqual(stream["color_space"] as? String, "smpte170m", entry.file)
            }
            let duration = try Probe.formatDuration(path)
            XCTAssertEqual(duration, 2.56, accuracy: 0.05, entry.file)
            let title = try Probe.formatTag(path, "title")
            XCTAssertEqual(title, "streamd test \(entry.file)", entry.file)
            // Nothing but the finished files: no temporary left beside them.
            XCTAssertFalse(directory.contents().contains { $0.hasPrefix(".") }, entry.file)
        }
    }

    /// The other encoders the settings can name, with their own CRF and speed options. None of them leaves a
    /// thread of this process on a real-time policy, while it encodes or afterwards: Debian 12's SVT-AV1, run as
    /// root (as CI runs), switches the thread that opens it and its workers to SCHED_FIFO 99, and every thread and
    /// process started afterwards inherited it (a spinning real-time thread then starved the test runner).
    func testOtherEncodersLeaveNoThreadRealTime() throws {
        XCTAssertEqual(geteuid(), 0, "SVT-AV1 switches to real time only as root: this test must run as root, as CI does")
        XCTAssertEqual(try ThreadPolicies.realtimeThreads(), [], "real-time threads before any encoder opened")
        let directory = try TempDir()
        defer { directory.remove() }
        let cases: [(file: String, codec: String, crf: Int, preset: String, probed: String)] = [
            ("x265.mkv", "libx265", 28, "ultrafast", "hevc"), ("x265.mp4", "libx265", 28, "ultrafast", "hevc"),
            ("svt.mkv", "libsvtav1", 40, "12", "av1"), ("aom.webm", "libaom-av1", 40, "8", "av1"),
            ("vp8.webm", "libvpx", 20, "8", "vp8"),
        ]
        for entry in cases {
            let path = directory.file(entry.file)
            let settings = VideoEncodeSettings(width: 160, height: 120, frameRate: Rational(25, 1), codec: entry.codec,
                                               crf: entry.crf, preset: entry.preset)
            var whileOpen: [ThreadPolicies.RealtimeThread] = []
            try writeFrames(count: 12, width: 160, height: 120, to: path, settings: settings, pts: { Int64($0) },
                            afterFrame: { if $0 == 2 { whileOpen = (try? ThreadPolicies.realtimeThreads()) ?? [] } })
            XCTAssertEqual(whileOpen, [], "\(entry.codec): real-time threads while the encoder runs")
            XCTAssertEqual(try ThreadPolicies.realtimeThreads(), [], "\(entry.codec): real-time threads after the encode")
            let stream = try Probe.videoStream(path)
            XCTAssertEqual(stream["codec_name"] as? String, entry.probed, entry.file)
            XCTAssertEqual(stream["nb_read_frames"] as? String, "12", entry.file)
            XCTAssertEqual(try Probe.formatDuration(path), 0.48, accuracy: 0.05, entry.file)
        }
    }

    /// H.264 at CRF 18 decodes back (through ffmpeg's own YUV→RGB) to within 35 dB PSNR of what we wrote, on
    /// every frame; HD sizes are tagged BT.709.
    func testH264RoundTripQualityAtCRF18() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let path = directory.file("q.mp4")
        let settings = VideoEncodeSettings(width: 160, height: 120, frameRate: Rational(25, 1), crf: 18, preset: "fast")
        let frames = try writeFrames(count: 64, width: 160, height: 120, to: path, settings: settings) { Int64($0) }
        let decoded = try Probe.decodeRGB(path, width: 160, height: 120)
        XCTAssertEqual(decoded.count, 64)
        var worst = Double.infinity, total = 0.0
        for (ours, theirs) in zip(frames, decoded) {
            let value = psnr(ours, theirs)
            worst = min(worst, value)
            total += value
        }
        print("H.264 CRF 18 160x120: PSNR mean \(String(format: "%.2f", total / Double(decoded.count))) dB, worst \(String(format: "%.2f", worst)) dB")
        XCTAssertGreaterThanOrEqual(worst, 35)
    }

    func testHDIsTaggedBT709() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let path = directory.file("hd.mkv")
        let settings = VideoEncodeSettings(width: 1280, height: 720, frameRate: Rational(30, 1), preset: "ultrafast")
        try writeFrames(count: 3, width: 1280, height: 720, to: path, settings: settings) { Int64($0) }
        let stream = try Probe.videoStream(path)
        XCTAssertEqual(stream["color_space"] as? String, "bt709")
        XCTAssertEqual(stream["color_primaries"] as? String, "bt709")
        XCTAssertEqual(stream["color_transfer"] as? String, "bt709")
        XCTAssertEqual(stream["color_range"] as? String, "tv")
    }

    /// `moov` comes before `mdat` with faststart (the default) and after it without.
    func testFaststartPutsTheIndexFirst() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        for faststart in [true, false] {
            let path = directory.file("fs-\(faststart).mp4")
            let settings = VideoEncodeSettings(width: 160, height: 120, frameRate: Rational(25, 1), preset: "ultrafast",
                                               faststart: faststart)
            try writeFrames(count: 16, width: 160, height: 120, to: path, settings: settings) { Int64($0) }
            let atoms = try topLevelAtoms(path)
            let moov = try XCTUnwrap(atoms.firstIndex(of: "moov")), mdat = try XCTUnwrap(atoms.firstIndex(of: "mdat"))
            XCTAssertEqual(moov < mdat, faststart, "atoms \(atoms)")
        }
    }

    // MARK: Timestamps

    /// Irregular timestamps (in ms) come out unchanged: MP4 (H.264 with B-frames, so the encoder reorders) and
    /// Matroska (whose 1 ms tick equals the input's) and WebM.
    func testVariableFrameRateKeepsTimestamps() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let gaps: [Int64] = [40, 40, 100, 33, 17, 200, 40, 41, 39, 500, 40, 40, 20, 60, 40, 40]
        var times: [Int64] = [0]
        for gap in gaps { times.append(times.last! + gap) }
        for file in ["vfr.mp4", "vfr.mkv", "vfr.webm"] {
            let path = directory.file(file)
            let settings = VideoEncodeSettings(width: 160, height: 120, frameRate: Rational(25, 1), timeBase: Rational(1, 1000),
                                               preset: file.hasSuffix("webm") ? "8" : "fast")
            try writeFrames(count: times.count, width: 160, height: 120, to: path, settings: settings) { times[$0] }
            if file.hasSuffix("mp4") {   // the reordering case really happened
                XCTAssertEqual(try Probe.videoStream(path)["has_b_frames"] as? Int, 2, file)
            }
            let pts = try Probe.packetTimes(path).sorted()
            XCTAssertEqual(pts.count, times.count, file)
            for (got, want) in zip(pts, times) {
                XCTAssertEqual(got, Double(want) / 1000, accuracy: 0.0015, file)
            }
        }
    }

    /// Frames without a pts follow the previous one by their duration (or one frame period); frames in another
    /// time base than the settings' are rescaled from their own.
    func testMissingPtsAndForeignTimeBases() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let path = directory.file("mixed.mkv")
        let writer = try VideoWriter(path: path, settings: VideoEncodeSettings(
            width: 160, height: 120, frameRate: Rational(25, 1), timeBase: Rational(1, 1000), preset: "ultrafast"))
        var frames: [VideoFrame] = []
        frames.append(frame(0, width: 160, height: 120, pts: 0))                        // 0 ms
        frames.append(frame(1, width: 160, height: 120, pts: 0)); frames[1].pts = nil     // 40 ms (one period)
        frames.append(frame(2, width: 160, height: 120, pts: 9_000))                      // 1/90000: 100 ms
        frames[2].timeBase = Rational(1, 90_000)
        frames[2].duration = 18_000                                                       // 200 ms
        frames.append(frame(3, width: 160, height: 120, pts: 0)); frames[3].pts = nil     // 300 ms
        for index in [0, 1, 3] { frames[index].timeBase = Rational(1, 1000) }
        for videoFrame in frames { try writer.write(videoFrame) }
        try writer.finish()
        let times = try Probe.packetTimes(path).sorted()
        XCTAssertEqual(times.count, 4)
        for (got, want) in zip(times, [0.0, 0.04, 0.1, 0.3]) { XCTAssertEqual(got, want, accuracy: 0.0015) }
    }

    // MARK: Odd sizes

    /// 161×97 with 4:2:0: padded to 162×98 by default, exact at 4:4:4 under `.fullChroma`, refused under
    /// `.refuse` (with nothing left behind).
    func testOddSizePolicies() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let padded = directory.file("odd.mp4")
        let settings = VideoEncodeSettings(width: 161, height: 97, frameRate: Rational(25, 1), crf: 18, preset: "fast")
        let frames = try writeFrames(count: 64, width: 161, height: 97, to: padded, settings: settings) { Int64($0) }
        var stream = try Probe.videoStream(padded)
        XCTAssertEqual(stream["width"] as? Int, 162)
        XCTAssertEqual(stream["height"] as? Int, 98)
        XCTAssertEqual(stream["nb_read_frames"] as? String, "64")
        // The picture itself is intact in the top-left 161×97.
        let decoded = try Probe.decodeRGB(padded, width: 162, height: 98)
        XCTAssertEqual(decoded.count, 64)
        let worst = zip(frames, decoded).map { psnr($0, $1.cropped(x: 0, y: 0, width: 161, height: 97)) }.min() ?? 0
        XCTAssertGreaterThanOrEqual(worst, 35)

        let full = directory.file("odd.mkv")
        var fullSettings = settings
        fullSettings.oddSizePolicy = .fullChroma
        try writeFrames(count: 8, width: 161, height: 97, to: full, settings: fullSettings) { Int64($0) }
        stream = try Probe.videoStream(full)
        XCTAssertEqual(stream["width"] as? Int, 161)
        XCTAssertEqual(stream["height"] as? Int, 97)
        XCTAssertEqual(stream["pix_fmt"] as? String, "yuv444p")

        var refuse = settings
        refuse.oddSizePolicy = .refuse
        let refused = directory.file("refused.mp4")
        XCTAssertThrowsError(try VideoWriter(path: refused, settings: refuse)) { error in
            XCTAssertEqual((error as? MediaError)?.code, .invalidArgument)
        }
        XCTAssertEqual(directory.contents().sorted(), ["odd.mkv", "odd.mp4"])
    }

    // MARK: Picture sequences

    /// PNG pictures into a directory (`%06d.png`) and through a pattern, decoded back bit-exact (RGB in,
    /// lossless); an abandoned sequence leaves its directory empty.
    func testPNGSequenceIntoADirectoryAndThroughAPattern() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let frames = directory.file("frames")
        try FileManager.default.createDirectory(atPath: frames, withIntermediateDirectories: false)
        let settings = VideoEncodeSettings(width: 161, height: 97, frameRate: Rational(25, 1))
        let written = try writeFrames(count: 10, width: 161, height: 97, to: frames, settings: settings) { Int64($0) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: frames).sorted(),
                       (1...10).map { String(format: "%06d.png", $0) })
        XCTAssertEqual(try Probe.decodeRGB(frames + "/%06d.png", width: 161, height: 97), written)

        let pattern = directory.file("f_%04d.png")
        try writeFrames(count: 3, width: 161, height: 97, to: pattern, settings: settings) { Int64($0) }
        XCTAssertEqual(directory.contents().sorted(), ["f_0001.png", "f_0002.png", "f_0003.png", "frames"])
        XCTAssertEqual(try Probe.videoStream(directory.file("f_0002.png"))["codec_name"] as? String, "png")

        let abandoned = directory.file("abandoned")
        try FileManager.default.createDirectory(atPath: abandoned, withIntermediateDirectories: false)
        do {
            let writer = try VideoWriter(path: abandoned, settings: settings)
            for index in 0..<3 { try writer.write(frame(index, width: 161, height: 97, pts: Int64(index))) }
            withExtendedLifetime(writer) {}
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: abandoned), [])

        XCTAssertThrowsError(try VideoWriter(path: directory.file("bad_%d_%d.png"), settings: settings)) { error in
            XCTAssertEqual((error as? MediaError)?.code, .invalidArgument)
        }
    }

    // MARK: Errors and leftovers

    func testUnknownExtensionIsAOneLineErrorNamingIt() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let path = directory.file("out.xyz")
        XCTAssertThrowsError(try VideoWriter(path: path, settings: VideoEncodeSettings(width: 16, height: 16, frameRate: Rational(25, 1)))) { error in
            let error = error as? MediaError
            XCTAssertEqual(error?.code, .unsupportedFormat)
            XCTAssertTrue(error?.message.contains(".xyz") ?? false, error?.message ?? "")
            XCTAssertFalse(error?.message.contains("\n") ?? true)
        }
        XCTAssertEqual(directory.contents(), [])
    }

    func testUnwritableDirectoryIsAOneLineError() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        // A missing directory, and a "directory" that is a regular file (root ignores permission bits, so
        // chmod cannot make a directory unwritable here).
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.file("file")))
        for path in [directory.file("missing/out.mp4"), directory.file("file/out.mp4")] {
            XCTAssertThrowsError(try VideoWriter(path: path, settings: VideoEncodeSettings(width: 16, height: 16, frameRate: Rational(25, 1)))) { error in
                let error = error as? MediaError
                XCTAssertEqual(error?.code, .unwritable, path)
                XCTAssertTrue(error?.message.hasPrefix(path) ?? false, error?.message ?? "")
                XCTAssertFalse(error?.message.contains("\n") ?? true)
            }
        }
        XCTAssertEqual(directory.contents(), ["file"])
    }

    func testUnknownCodecOptionAndBadPixelFormatAreRefused() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        var settings = VideoEncodeSettings(width: 16, height: 16, frameRate: Rational(25, 1), codecOptions: ["no-such-option": "1"])
        XCTAssertThrowsError(try VideoWriter(path: directory.file("a.mp4"), settings: settings)) { error in
            XCTAssertEqual((error as? MediaError)?.code, .invalidArgument)
            XCTAssertTrue((error as? MediaError)?.message.contains("no-such-option") ?? false)
        }
        settings = VideoEncodeSettings(width: 16, height: 16, frameRate: Rational(25, 1), pixelFormat: "rgb48be")
        XCTAssertThrowsError(try VideoWriter(path: directory.file("b.mp4"), settings: settings)) { error in
            XCTAssertEqual((error as? MediaError)?.code, .invalidArgument)
        }
        settings = VideoEncodeSettings(width: 16, height: 16, frameRate: Rational(25, 1), codec: "libx264")
        XCTAssertThrowsError(try VideoWriter(path: directory.file("c.webm"), settings: settings)) { error in
            XCTAssertEqual((error as? MediaError)?.code, .unsupportedFormat)
        }
        XCTAssertEqual(directory.contents(), [])
    }

    /// Dropping a writer without `finish`, or aborting it, leaves nothing behind; an existing file at the path
    /// is untouched until a new one is finished.
    func testAbandonedOrAbortedWriterLeavesNothing() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let settings = VideoEncodeSettings(width: 160, height: 120, frameRate: Rational(25, 1), preset: "ultrafast")
        do {
            let writer = try VideoWriter(path: directory.file("dropped.mp4"), settings: settings)
            for index in 0..<5 { try writer.write(frame(index, width: 160, height: 120, pts: Int64(index))) }
            withExtendedLifetime(writer) {
                XCTAssertEqual((try? directory.contents().count) ?? 0, 1)   // the hidden temporary file
            }
        }
        XCTAssertEqual(directory.contents(), [])

        let existing = directory.file("existing.mkv")
        try Data("old".utf8).write(to: URL(fileURLWithPath: existing))
        let writer = try VideoWriter(path: existing, settings: settings)
        for index in 0..<5 { try writer.write(frame(index, width: 160, height: 120, pts: Int64(index))) }
        writer.abort()
        writer.abort()
        XCTAssertEqual(directory.contents(), ["existing.mkv"])
        XCTAssertEqual(try String(contentsOfFile: existing, encoding: .utf8), "old")
        XCTAssertThrowsError(try writer.write(frame(5, width: 160, height: 120, pts: 5)))
        XCTAssertThrowsError(try writer.finish())
    }

    func testWrongFrameSizeIsRefusedAndTheWriterStaysUsable() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let path = directory.file("size.mkv")
        let writer = try VideoWriter(path: path, settings: VideoEncodeSettings(width: 160, height: 120, frameRate: Rational(25, 1), preset: "ultrafast"))
        XCTAssertThrowsError(try writer.write(frame(0, width: 80, height: 60, pts: 0))) { error in
            XCTAssertEqual((error as? MediaError)?.code, .invalidArgument)
        }
        for index in 0..<4 { try writer.write(frame(index, width: 160, height: 120, pts: Int64(index))) }
        try writer.finish()
        XCTAssertEqual(try Probe.videoStream(path)["nb_read_frames"] as? String, "4")
    }

    // MARK: - Helpers

    /// Writes `count` synthetic frames with pts `pts(index)` in the settings' time base; returns the pictures.
    @discardableResult
    private func writeFrames(count: Int, width: Int, height: Int, to path: String, settings: VideoEncodeSettings,
                             pts: (Int) -> Int64, afterFrame: (Int) -> Void = { _ in }) throws -> [RGBImage] {
        let writer = try VideoWriter(path: path, settings: settings)
        var images: [RGBImage] = []
        for index in 0..<count {
            var videoFrame = frame(index, width: width, height: height, pts: pts(index))
            videoFrame.timeBase = settings.timeBase
            try writer.write(videoFrame)
            images.append(videoFrame.image)
            afterFrame(index)
        }
        try writer.finish()
        XCTAssertEqual(writer.framesWritten, count)
        return images
    }

    /// A smooth colour gradient that drifts with the frame index (so the encoder sees motion).
    private func frame(_ index: Int, width: Int, height: Int, pts: Int64) -> VideoFrame {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let t = Double(index)
        for y in 0..<height {
            for x in 0..<width {
                let u = Double(x) / Double(width), v = Double(y) / Double(height)
                let o = (y * width + x) * 3
                pixels[o] = UInt8(127.5 + 110 * sin(2 * .pi * (u + t / 32)))
                pixels[o + 1] = UInt8(127.5 + 110 * sin(2 * .pi * (v + t / 48)))
                pixels[o + 2] = UInt8(127.5 + 110 * cos(2 * .pi * (u + v - t / 64)))
            }
        }
        return VideoFrame(sequence: index, pts: pts, timeBase: Rational(1, 25),
                          image: RGBImage(width: width, height: height, pixels: pixels))
    }

    /// The four-character names of the top-level atoms of an MP4/MOV file, in file order.
    private func topLevelAtoms(_ path: String) throws -> [String] {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var atoms: [String] = []
        var offset = 0
        while offset + 8 <= data.count {
            var size = data[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let name = String(decoding: data[offset + 4..<offset + 8], as: UTF8.self)
            if size == 1, offset + 16 <= data.count {
                size = data[offset + 8..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
            }
            atoms.append(name)
            guard size >= 8 else { break }
            offset += size
        }
        return atoms
    }
}

/// ffprobe and ffmpeg as independent readers, each run with a bounded wait.
enum Probe {
    struct Failed: Error, CustomStringConvertible { var description: String }

    /// `tool` (ffmpeg or ffprobe) quiet, with a bounded wait: its standard output.
    static func run(_ tool: String, _ arguments: [String], timeout: Double = 60) throws -> Data {
        try runFFmpeg(arguments, tool: tool, timeout: timeout)
    }

    static func json(_ arguments: [String]) throws -> [String: Any] {
        let data = try run("ffprobe", ["-v", "error", "-of", "json"] + arguments)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Failed(description: "ffprobe gave no JSON object")
        }
        return object
    }

    static func videoStream(_ path: String) throws -> [String: Any] {
        let object = try json(["-count_frames", "-show_streams", "-select_streams", "v:0", path])
        guard let stream = (object["streams"] as? [[String: Any]])?.first else { throw Failed(description: "no video stream in \(path)") }
        return stream
    }

    static func formatDuration(_ path: String) throws -> Double {
        let object = try json(["-show_format", path])
        guard let text = (object["format"] as? [String: Any])?["duration"] as? String, let value = Double(text) else {
            throw Failed(description: "no duration in \(path)")
        }
        return value
    }

    static func formatTag(_ path: String, _ key: String) throws -> String? {
        let object = try json(["-show_format", path])
        let tags = (object["format"] as? [String: Any])?["tags"] as? [String: Any]
        return tags?.first { $0.key.lowercased() == key }?.value as? String
    }

    /// Presentation times of the video packets, in seconds, in file order.
    static func packetTimes(_ path: String) throws -> [Double] {
        let object = try json(["-show_packets", "-select_streams", "v:0", "-show_entries", "packet=pts_time", path])
        return ((object["packets"] as? [[String: Any]]) ?? []).compactMap { ($0["pts_time"] as? String).flatMap(Double.init) }
    }

    /// Every frame decoded by ffmpeg to RGB24.
    static func decodeRGB(_ path: String, width: Int, height: Int) throws -> [RGBImage] {
        let data = try run("ffmpeg", ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        let size = width * height * 3
        guard data.count % size == 0 else { throw Failed(description: "\(data.count) bytes is not whole \(width)x\(height) frames") }
        let bytes = [UInt8](data)
        return stride(from: 0, to: bytes.count, by: size).map {
            RGBImage(width: width, height: height, pixels: Array(bytes[$0..<$0 + size]))
        }
    }
}
