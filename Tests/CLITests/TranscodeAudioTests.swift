import Foundation
import TestSupport
import XCTest

/// `streamd transcode` keeps the input's audio (copied, or re-encoded where the container needs it), its
/// subtitles and its metadata, cut to the same span as the video: real clips, the real binary, ffprobe and
/// ffmpeg as independent readers. Small output sizes keep the (debug-build) stylization quick.
final class TranscodeAudioTests: XCTestCase {
    private var model: String { get throws { try SharedData.path("models/johnson-fns-onnx/candy.onnx") } }

    private func clip(_ name: String) throws -> String { try SharedData.path("media/video/\(name)") }

    private func transcode(_ arguments: [String]) throws -> CLI.Result {
        try CLI.run(["transcode", "--model", try model, "--max-size", "96"] + arguments, timeout: 600)
    }

    /// The three clips with audio: the audio stream is there, in its own codec (copied), and as long as the
    /// video to within 0.15 s.
    func testClipsWithAudioKeepItAsLongAsTheVideo() throws {
        let tmp = try TempDir()
        let cases: [(clip: String, output: String, extra: [String], codec: String)] = [
            ("face_mpeg4_960x400.avi", "face.mkv", [], "mp3"),
            ("cockatoo_h264-444_1280x720.mp4", "cockatoo.mp4", ["--duration", "2"], "mp3"),
            ("portrait_h264_3840x2160_60fps_rot-90.mp4", "portrait.mp4", [], "aac"),
        ]
        for entry in cases {
            let out = tmp.file(entry.output)
            let r = try transcode(entry.extra + [try clip(entry.clip), out])
            XCTAssertEqual(r.status, 0, "\(entry.clip): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("warning"), "\(entry.clip): \(r.stderr)")
            let audio = try MediaProbe.streams(out, "a")
            XCTAssertEqual(audio.map { $0["codec_name"] as? String }, [entry.codec], entry.clip)
            let video = MediaProbe.span(try MediaProbe.packets(out, "v"))
            let sound = MediaProbe.span(try MediaProbe.packets(out, "a"))
            XCTAssertGreaterThan(video, 0.25, entry.clip)
            XCTAssertEqual(sound, video, accuracy: 0.15, "\(entry.clip): audio \(sound) s, video \(video) s")
        }
        XCTAssertEqual(tmp.contents(), ["cockatoo.mp4", "face.mkv", "portrait.mp4"], "no temporary files left")
    }

    /// `--no-audio` leaves it out, without a warning.
    func testNoAudioLeavesTheAudioOut() throws {
        let tmp = try TempDir()
        let out = tmp.file("silent.mp4")
        let r = try transcode(["--no-audio", "--duration", "1", try clip("face_mpeg4_960x400.avi"), out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        XCTAssertEqual(try MediaProbe.streams(out, "a").count, 0)
        XCTAssertEqual(try MediaProbe.streams(out, "v").count, 1)
    }

    /// `--start 1 --duration 1`: one second of video and of audio, both from 0, and the audio is the input's
    /// second second — found at the same place by cross-correlating the decoded sound (in sync to 20 ms).
    func testStartAndDurationCutTheAudioInSync() throws {
        let tmp = try TempDir()
        let input = try clip("face_mpeg4_960x400.avi")
        let out = tmp.file("cut.mkv")
        let r = try transcode(["--start", "1", "--duration", "1", input, out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let video = try MediaProbe.packets(out, "v")
        let audio = try MediaProbe.packets(out, "a")
        XCTAssertEqual(video.map(\.start).min() ?? -1, 0, accuracy: 0.001)
        XCTAssertEqual(MediaProbe.span(video), 1.0, accuracy: 0.05)
        XCTAssertEqual(audio.map(\.start).min() ?? -1, 0, accuracy: 0.03)
        XCTAssertEqual(MediaProbe.span(audio), 1.0, accuracy: 0.05)

        // 8 kHz mono samples of the output, and of the input from 0.8 s to 2.2 s: the output's sound, which starts
        // at its first packet's time, must be the input's from 1.0 s plus that time (lag 0.2 s + start into the
        // excerpt). Measured: 0.216 s against 0.207 s expected (the MP3 decoder's start-up on a cut stream).
        let got = try MediaProbe.samples(out, from: 0, length: 1)
        let reference = try MediaProbe.samples(input, from: 0.8, length: 1.4)
        XCTAssertGreaterThan(got.count, 7000)
        let lag = MediaProbe.bestLag(of: Array(got.prefix(6000)), in: reference)
        let expected = 0.2 + (audio.map(\.start).min() ?? 0)
        XCTAssertEqual(Double(lag) / 8000, expected, accuracy: 0.02, "audio offset against the input")
    }

    /// WebM cannot carry MP3: the audio is re-encoded to Opus.
    func testWebMOutputFromMP3InputHasOpusAudio() throws {
        let tmp = try TempDir()
        let out = tmp.file("face.webm")
        let r = try transcode(["--duration", "1", try clip("face_mpeg4_960x400.avi"), out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let audio = try MediaProbe.streams(out, "a")
        XCTAssertEqual(audio.map { $0["codec_name"] as? String }, ["opus"])
        XCTAssertEqual(MediaProbe.span(try MediaProbe.packets(out, "a")), 1.0, accuracy: 0.1)
    }

    /// A file with SubRip subtitles, a title and stream languages: Matroska keeps them all; MP4 gets the
    /// subtitles as mov_text; AVI, which has no subtitles, leaves them out with a warning.
    func testSubtitlesAndTitleAreKept() throws {
        let tmp = try TempDir()
        let srt = tmp.file("cues.srt")
        try "1\n00:00:00,300 --> 00:00:00,900\nHello from the subtitles\n"
            .write(toFile: srt, atomically: true, encoding: .utf8)
        let input = tmp.file("subtitled.mkv")
        try MediaProbe.ffmpeg(["-i", try clip("face_mpeg4_960x400.avi"), "-i", srt, "-t", "1.2", "-map", "0", "-map", "1",
                               "-c", "copy", "-metadata", "title=Talking face", "-metadata:s:v:0", "language=deu",
                               "-metadata:s:a:0", "language=fra", input])

        let mkv = tmp.file("out.mkv")
        var r = try transcode([input, mkv])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try MediaProbe.streams(mkv, "s").map { $0["codec_name"] as? String }, ["subrip"])
        XCTAssertEqual(try MediaProbe.streams(mkv, "a").count, 1)
        XCTAssertEqual(try MediaProbe.title(mkv), "Talking face")
        XCTAssertEqual(try MediaProbe.streams(mkv, "v").map { ($0["tags"] as? [String: Any])?["language"] as? String }, ["deu"])
        XCTAssertEqual(try MediaProbe.streams(mkv, "a").map { ($0["tags"] as? [String: Any])?["language"] as? String }, ["fra"])
        let text = String(decoding: try MediaProbe.run("ffmpeg", ["-v", "error", "-i", mkv, "-map", "0:s", "-f", "srt", "-"]), as: UTF8.self)
        XCTAssertTrue(text.contains("Hello from the subtitles"), text)

        // MP4 cannot carry SubRip: the cue is converted to mov_text, as ffmpeg does.
        let mp4 = tmp.file("out.mp4")
        r = try transcode([input, mp4])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)
        XCTAssertEqual(try MediaProbe.streams(mp4, "s").map { $0["codec_name"] as? String }, ["mov_text"])
        XCTAssertEqual(try MediaProbe.streams(mp4, "a").count, 1)
        XCTAssertEqual(try MediaProbe.title(mp4), "Talking face")
        let converted = String(decoding: try MediaProbe.run("ffmpeg", ["-v", "error", "-i", mp4, "-map", "0:s", "-f", "srt", "-"]), as: UTF8.self)
        XCTAssertTrue(converted.contains("00:00:00,300 --> 00:00:00,900\nHello from the subtitles"), converted)

        // AVI has no subtitles: left out with one warning line naming the input.
        let avi = tmp.file("out.avi")
        r = try transcode([input, avi])
        XCTAssertEqual(r.status, 0, r.stderr)
        let warnings = r.stderr.split(separator: "\n").filter { $0.contains("warning") }
        XCTAssertEqual(warnings.count, 1, r.stderr)
        XCTAssertTrue(warnings.first?.contains(input) == true && warnings.first?.contains("subtitle") == true, r.stderr)
        XCTAssertEqual(try MediaProbe.streams(avi, "s").count, 0)
        XCTAssertEqual(try MediaProbe.streams(avi, "a").count, 1)
    }

    /// An input with audio and no video fails with one line naming it, and writes nothing.
    func testAudioOnlyInputFailsWithoutOutput() throws {
        let tmp = try TempDir()
        let input = tmp.file("speech.m4a")
        try MediaProbe.ffmpeg(["-i", try clip("portrait_h264_3840x2160_60fps_rot-90.mp4"), "-vn", "-c:a", "copy", input])
        let r = try transcode([input, tmp.file("out.mp4")])
        CLI.assertFails(r, mentioning: [input, "no video stream"])
        XCTAssertEqual(tmp.contents(), ["speech.m4a"], "no output or temporary file")
    }
}

/// ffprobe and ffmpeg as independent readers.
enum MediaProbe {
    typealias Packet = ProbedPacket

    /// `tool` quiet (TestSupport's `runFFmpeg`): its standard output.
    static func run(_ tool: String, _ arguments: [String]) throws -> Data { try runFFmpeg(arguments, tool: tool) }

    static func ffmpeg(_ arguments: [String]) throws {
        _ = try run("ffmpeg", ["-y"] + arguments)
    }

    static func json(_ arguments: [String]) throws -> [String: Any] {
        let data = try run("ffprobe", ["-v", "error", "-of", "json"] + arguments)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// The streams of one kind ("v", "a", "s").
    static func streams(_ path: String, _ kind: String) throws -> [[String: Any]] {
        (try json(["-show_streams", "-select_streams", kind, path])["streams"] as? [[String: Any]]) ?? []
    }

    static func title(_ path: String) throws -> String? {
        let tags = (try json(["-show_format", path])["format"] as? [String: Any])?["tags"] as? [String: Any]
        return tags?.first { $0.key.lowercased() == "title" }?.value as? String
    }

    /// The packets of the first stream of a kind.
    static func packets(_ path: String, _ kind: String) throws -> [Packet] { try mediaPackets(path, kind) }

    /// From the first packet's start to the last one's end, in seconds.
    static func span(_ packets: [Packet]) -> Double { mediaSpan(packets) }

    /// The first audio stream decoded to 8 kHz mono floats, `length` seconds from `from`.
    static func samples(_ path: String, from: Double, length: Double) throws -> [Float] {
        let data = try run("ffmpeg", ["-v", "error", "-ss", String(from), "-t", String(length), "-i", path, "-map", "0:a:0",
                                      "-ac", "1", "-ar", "8000", "-f", "f32le", "-"])
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The offset of `needle` in `haystack` with the highest normalised correlation.
    static func bestLag(of needle: [Float], in haystack: [Float]) -> Int {
        var best = (lag: -1, score: -Double.infinity)
        guard haystack.count > needle.count else { return best.lag }
        let needleEnergy = needle.reduce(0) { $0 + Double($1 * $1) }
        for lag in 0...(haystack.count - needle.count) {
            var dot = 0.0, energy = 0.0
            for i in 0..<needle.count {
                let h = Double(haystack[lag + i])
                dot += Double(needle[i]) * h
                energy += h * h
            }
            let score = dot / max(1e-12, (needleEnergy * energy).squareRoot())
            if score > best.score { best = (lag, score) }
        }
        return best.lag
    }
}
