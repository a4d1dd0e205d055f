import CFFmpeg
import Decode
import Encode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// VideoWriter with a passthrough `Demuxer`: the input's audio, subtitles and metadata in the output, checked
/// with ffprobe and ffmpeg as independent readers.
final class PassthroughTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        av_log_set_level(AV_LOG_ERROR)
    }

    /// face_mpeg4_960x400.avi: MPEG-4 video and 4.08 s of 48 kHz stereo MP3.
    private var face: String { get throws { try SharedData.path("media/video/face_mpeg4_960x400.avi") } }

    /// MP3 goes into Matroska, MP4 and AVI untouched: same codec, rate and channels, the input's packets byte for
    /// byte, cut to the 4 s of video written.
    func testMP3IsCopiedUntouchedIntoMatroskaMP4AndAVI() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let inputSizes = try Probe.audioPackets(try face).map(\.size)
        for name in ["out.mkv", "out.mp4", "out.avi"] {
            let path = directory.file(name)
            let writer = try writeVideo(seconds: 4, to: path, passthrough: try Demuxer(path: try face, keep: [.audio]))
            XCTAssertEqual(writer.passthroughKinds, [.audio], name)
            XCTAssertEqual(writer.passthroughWarnings, [], name)
            let audio = try XCTUnwrap(try Probe.streams(path, "a").first, name)
            XCTAssertEqual(audio["codec_name"] as? String, "mp3", name)
            XCTAssertEqual(audio["sample_rate"] as? String, "48000", name)
            XCTAssertEqual(audio["channels"] as? Int, 2, name)
            let packets = try Probe.audioPackets(path)
            XCTAssertEqual(packets.map(\.size), Array(inputSizes.prefix(packets.count)), "\(name): the input's packets, unchanged")
            // 4 s of video; MP3 packets are 24 ms, so the audio ends within one of 4 s.
            XCTAssertEqual(Probe.span(packets), 4.0, accuracy: 0.03, name)
            XCTAssertEqual(packets.first?.start ?? -1, 0, accuracy: 0.03, name)
        }
        XCTAssertFalse(directory.contents().contains { $0.hasPrefix(".") }, "no temporary file left")
    }

    /// WebM cannot carry MP3: the audio is re-encoded to Opus, as long as the video and audible (not silence).
    func testMP3IsReencodedToOpusForWebM() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let path = directory.file("out.webm")
        let writer = try writeVideo(seconds: 2, to: path, passthrough: try Demuxer(path: try face, keep: [.audio]))
        XCTAssertEqual(writer.passthroughKinds, [.audio])
        let audio = try XCTUnwrap(try Probe.streams(path, "a").first)
        XCTAssertEqual(audio["codec_name"] as? String, "opus")
        XCTAssertEqual(audio["channels"] as? Int, 2)
        XCTAssertEqual(Probe.span(try Probe.audioPackets(path)), 2.0, accuracy: 0.05)
        XCTAssertGreaterThan(try Probe.meanVolume(path), -40, "the speech is still there")
    }

    /// PCM audio (which MP4 cannot carry in FFmpeg 5.1) becomes AAC at the same rate.
    func testPCMIsReencodedToAACForMP4() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let input = directory.file("pcm.mkv")
        try Probe.ffmpeg(["-i", try face, "-t", "2", "-c:v", "copy", "-c:a", "pcm_s16le", input])
        let path = directory.file("out.mp4")
        try writeVideo(seconds: 2, to: path, passthrough: try Demuxer(path: input, keep: [.audio]))
        let audio = try XCTUnwrap(try Probe.streams(path, "a").first)
        XCTAssertEqual(audio["codec_name"] as? String, "aac")
        XCTAssertEqual(audio["sample_rate"] as? String, "48000")
        XCTAssertEqual(try Probe.duration(path, "a"), 2.0, accuracy: 0.05)
        XCTAssertGreaterThan(try Probe.meanVolume(path), -40)
    }

    /// The container's title and the audio stream's language survive; SubRip subtitles are copied into
    /// Matroska, converted to mov_text for MP4 and to WebVTT for WebM (the text intact), and dropped from AVI
    /// (which has no subtitles) with one warning line naming the input.
    func testMetadataLanguageAndSubtitles() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let srt = directory.file("cues.srt")
        try "1\n00:00:00,500 --> 00:00:01,000\nHello\n\n2\n00:00:01,200 --> 00:00:01,800\nAgain\n"
            .write(toFile: srt, atomically: true, encoding: .utf8)
        let input = directory.file("tagged.mkv")
        try Probe.ffmpeg(["-i", try face, "-i", srt, "-t", "2", "-map", "0", "-map", "1", "-c", "copy",
                          "-metadata", "title=A face, talking", "-metadata:s:a:0", "language=fra", input])

        for (name, codec) in [("out.mkv", "subrip"), ("out.mp4", "mov_text"), ("out.webm", "webvtt")] {
            let path = directory.file(name)
            let writer = try writeVideo(seconds: 2, to: path, passthrough: try Demuxer(path: input, keep: [.audio, .subtitle]))
            XCTAssertEqual(writer.passthroughKinds, [.audio, .subtitle], name)
            XCTAssertEqual(writer.passthroughWarnings, [], name)
            XCTAssertEqual(try Probe.formatTag(path, "title"), "A face, talking", name)
            let audio = try XCTUnwrap(try Probe.streams(path, "a").first, name)
            XCTAssertEqual((audio["tags"] as? [String: Any])?["language"] as? String, "fra", name)
            XCTAssertEqual(try Probe.streams(path, "s").map { $0["codec_name"] as? String }, [codec], name)
            let text = String(decoding: try Probe.run("ffmpeg", ["-v", "error", "-i", path, "-map", "0:s", "-f", "srt", "-"]), as: UTF8.self)
            XCTAssertTrue(text.contains("Hello") && text.contains("Again"), "\(name): \(text)")
            // WebM shifts every stream by Opus's 6.5 ms start-up (ffmpeg's own WebM has the cues 14 ms late).
            let starts = Self.cueStarts(text)
            XCTAssertEqual(starts.count, 2, "\(name): \(text)")
            for (got, expected) in zip(starts, [0.5, 1.2]) { XCTAssertEqual(got, expected, accuracy: 0.02, "\(name): \(text)") }
        }

        let avi = directory.file("out.avi")
        let dropping = try writeVideo(seconds: 2, to: avi, passthrough: try Demuxer(path: input, keep: [.audio, .subtitle]))
        XCTAssertEqual(dropping.passthroughKinds, [.audio])
        XCTAssertEqual(dropping.passthroughWarnings.count, 1)
        XCTAssertTrue(dropping.passthroughWarnings.first?.contains(input) == true && dropping.passthroughWarnings.first?.contains("subtitle") == true,
                      "\(dropping.passthroughWarnings)")
        XCTAssertEqual(try Probe.streams(avi, "s").count, 0)
        XCTAssertEqual(try Probe.streams(avi, "a").count, 1)
    }

    /// A clip from 1 s to 2 s with `startsAtZero`: video and audio both start at 0 and last 1 s.
    func testStartsAtZeroShiftsTheAudioLikeTheVideo() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let path = directory.file("cut.mkv")
        let demuxer = try Demuxer(path: try face, keep: [.audio])
        try demuxer.seek(to: 1)
        var settings = VideoEncodeSettings(width: 64, height: 48, frameRate: Rational(25, 1), timeBase: Rational(1, 25), threads: 1)
        settings.startsAtZero = true
        let writer = try VideoWriter(path: path, settings: settings, passthrough: demuxer)
        for index in 25..<50 { try writer.write(grey(index)) }
        try writer.finish()
        let video = try Probe.packets(path, "v")
        XCTAssertEqual(video.count, 25)
        XCTAssertEqual(video.map(\.start).min() ?? -1, 0, accuracy: 0.001)
        let audio = try Probe.audioPackets(path)
        XCTAssertEqual(audio.first?.start ?? -1, 0, accuracy: 0.03)
        XCTAssertEqual(Probe.span(audio), 1.0, accuracy: 0.03)
    }

    /// An aborted writer with passthrough streams leaves nothing behind.
    func testAbortLeavesNoFile() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let settings = VideoEncodeSettings(width: 64, height: 48, frameRate: Rational(25, 1), timeBase: Rational(1, 25), threads: 1)
        let writer = try VideoWriter(path: directory.file("gone.mp4"), settings: settings,
                                     passthrough: try Demuxer(path: try face, keep: [.audio]))
        for index in 0..<10 { try writer.write(grey(index)) }
        writer.abort()
        XCTAssertEqual(directory.contents(), [])
    }

    // MARK: - Helpers

    /// The start times of the cues of an SRT text, in seconds.
    static func cueStarts(_ srt: String) -> [Double] {
        srt.split(separator: "\n").filter { $0.contains(" --> ") }.compactMap { line in
            let fields = line.prefix(12).split { $0 == ":" || $0 == "," }.compactMap { Double($0) }
            guard fields.count == 4 else { return nil }
            return fields[0] * 3600 + fields[1] * 60 + fields[2] + fields[3] / 1000
        }
    }

    /// `seconds` of 64×48 frames at 25 fps from pts 0, with `passthrough`; finished.
    @discardableResult
    private func writeVideo(seconds: Int, to path: String, passthrough: Demuxer) throws -> VideoWriter {
        let settings = VideoEncodeSettings(width: 64, height: 48, frameRate: Rational(25, 1), timeBase: Rational(1, 25), threads: 1)
        let writer = try VideoWriter(path: path, settings: settings, passthrough: passthrough)
        for index in 0..<(seconds * 25) { try writer.write(grey(index)) }
        try writer.finish()
        return writer
    }

    private func grey(_ index: Int) -> VideoFrame {
        VideoFrame(sequence: index, pts: Int64(index), timeBase: Rational(1, 25), duration: 1,
                   image: RGBImage(width: 64, height: 48, pixels: [UInt8](repeating: UInt8(index * 5 % 256), count: 64 * 48 * 3)))
    }
}

extension Probe {
    typealias Packet = ProbedPacket

    /// The streams of one kind ("v", "a", "s").
    static func streams(_ path: String, _ kind: String) throws -> [[String: Any]] {
        (try json(["-show_streams", "-select_streams", kind, path])["streams"] as? [[String: Any]]) ?? []
    }

    /// The packets of the first stream of a kind, in file order.
    static func packets(_ path: String, _ kind: String) throws -> [Packet] { try mediaPackets(path, kind) }

    static func audioPackets(_ path: String) throws -> [Packet] { try packets(path, "a") }

    /// From the first packet's start to the last one's end.
    static func span(_ packets: [Packet]) -> Double { mediaSpan(packets) }

    /// The span of the first stream of a kind.
    static func duration(_ path: String, _ kind: String) throws -> Double { span(try packets(path, kind)) }

    /// Mean volume of the decoded audio in dBFS (ffmpeg's volumedetect).
    static func meanVolume(_ path: String) throws -> Double {
        let text = try runToolCapturing("/usr/bin/ffmpeg", ["-hide_banner", "-nostats", "-nostdin", "-i", path, "-map", "0:a:0",
                                                           "-af", "volumedetect", "-f", "null", "-"]).stderr
        guard let line = text.split(separator: "\n").first(where: { $0.contains("mean_volume:") }),
              let value = line.split(separator: " ").dropLast().last.flatMap({ Double($0) }) else {
            throw Failed(description: "no mean_volume for \(path): \(text.suffix(300))")
        }
        return value
    }

    /// Runs ffmpeg to make an input file (overwriting it), failing the test if ffmpeg fails.
    static func ffmpeg(_ arguments: [String]) throws {
        _ = try run("ffmpeg", ["-v", "error", "-y"] + arguments)
    }
}
