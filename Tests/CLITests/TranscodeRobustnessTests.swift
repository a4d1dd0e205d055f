import Foundation
import TestSupport
import XCTest

/// Broadcast-style input that changes under the reader: audio layout and rate switching mid-stream, holes in
/// the audio timestamps, a resolution change, a timestamp jump and a truncated file. Every input is made here
/// with FFmpeg's lavfi sources and joined the way a transport stream is (bytes concatenated), then transcoded
/// by the real binary. The rule for all of them: no crash, no hang, exit 0 with a playable output (or 1 with a
/// one-line error), and no hidden temporary file left behind.
final class TranscodeRobustnessTests: XCTestCase {
    private var model: String { get throws { try SharedData.path("models/johnson-fns-onnx/candy.onnx") } }

    private func transcode(_ arguments: [String]) throws -> CLI.Result {
        try CLI.run(["transcode", "--model", try model, "--max-size", "64"] + arguments, timeout: 600)
    }

    /// A 2-second MPEG-TS piece: a 128×96 test picture and a sine tone in MP2 with `audio` options.
    private func piece(_ path: String, audio: [String], size: String = "128x96", frequency: Int = 440,
                       offset: Double? = nil, audioFilter: String? = nil) throws {
        var args = ["-f", "lavfi", "-i", "testsrc2=size=\(size):rate=25:duration=2",
                    "-f", "lavfi", "-i", "sine=frequency=\(frequency):sample_rate=48000:duration=2"]
        if let audioFilter { args += ["-af", audioFilter] }
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "mp2"] + audio
        if let offset { args += ["-output_ts_offset", String(offset)] }
        try MediaProbe.ffmpeg(args + ["-f", "mpegts", path])
    }

    private func join(_ parts: [String], into path: String) throws {
        var data = Data()
        for part in parts { data.append(try Data(contentsOf: URL(fileURLWithPath: part))) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Root mean square of the output's sound between `from` and `from + length` seconds (lavfi's sine has
    /// amplitude 1/8: 0.088 when it plays).
    private func loudness(_ path: String, from: Double, length: Double) throws -> Double {
        let samples = try MediaProbe.samples(path, from: from, length: length)
        guard !samples.isEmpty else { return 0 }
        return (samples.reduce(0) { $0 + Double($1 * $1) } / Double(samples.count)).squareRoot()
    }

    private func assertAudioFollowsVideo(_ out: String, codec: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let audio = try MediaProbe.streams(out, "a")
        XCTAssertEqual(audio.map { $0["codec_name"] as? String }, [codec], file: file, line: line)
        let video = MediaProbe.span(try MediaProbe.packets(out, "v"))
        let sound = MediaProbe.span(try MediaProbe.packets(out, "a"))
        XCTAssertEqual(video, 4, accuracy: 0.1, "video span", file: file, line: line)
        XCTAssertEqual(sound, video, accuracy: 0.15, "audio \(sound) s against video \(video) s", file: file, line: line)
    }

    /// The issue's reproduction: stereo then mono MP2, joined, into WebM (so the audio is re-encoded to Opus).
    /// It crashed with SIGSEGV and left `.out.webm….tmp`; now the converter is rebuilt at the change, both halves
    /// are audible, the audio lasts as long as the video, and the change is reported once.
    func testStereoThenMonoIntoWebMIsConvertedNotACrash() throws {
        let tmp = try TempDir()
        try piece(tmp.file("a.ts"), audio: ["-ac", "2"])
        try piece(tmp.file("b.ts"), audio: ["-ac", "1"], offset: 2)
        try join([tmp.file("a.ts"), tmp.file("b.ts")], into: tmp.file("joined.ts"))
        let out = tmp.file("out.webm")
        let r = try transcode([tmp.file("joined.ts"), out])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertAudioFollowsVideo(out, codec: "opus")
        XCTAssertGreaterThan(try loudness(out, from: 0.5, length: 1), 0.05, "the stereo half is heard")
        XCTAssertGreaterThan(try loudness(out, from: 2.5, length: 1), 0.05, "the mono half is heard")
        XCTAssertTrue(r.stderr.contains("channel layout, sample format or rate changed 1 time"), r.stderr)
        XCTAssertEqual(tmp.contents(), ["a.ts", "b.ts", "joined.ts", "out.webm"], "no temporary file left")
    }

    /// Mono to 5.1 and a rate change (48 kHz to 32 kHz), in AC-3: converted at the right speed, so the sound
    /// still lasts as long as the video and the second tone stays at its pitch (not stretched).
    func testLayoutAndSampleRateChangesKeepTheAudioAtItsSpeed() throws {
        let tmp = try TempDir()
        try piece(tmp.file("a.ts"), audio: ["-c:a", "ac3", "-ac", "1"])
        try piece(tmp.file("b.ts"), audio: ["-c:a", "ac3", "-ac", "6", "-ar", "32000"], frequency: 1000, offset: 2)
        try join([tmp.file("a.ts"), tmp.file("b.ts")], into: tmp.file("joined.ts"))
        // WebM cannot carry MP2, so the audio goes through the converter (MP4 and Matroska would copy it).
        let webm = tmp.file("out.webm")
        let r = try transcode([tmp.file("joined.ts"), webm])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertAudioFollowsVideo(webm, codec: "opus")
        // The 1 kHz tone of the second half: at 8 kHz sampling, 8 samples per period. Correlate against it.
        let samples = try MediaProbe.samples(webm, from: 2.5, length: 1)
        XCTAssertGreaterThan(samples.count, 7000)
        func power(at hz: Double) -> Double {
            var re = 0.0, im = 0.0
            for (i, s) in samples.enumerated() {
                let phase = 2 * Double.pi * hz * Double(i) / 8000
                re += Double(s) * cos(phase); im += Double(s) * sin(phase)
            }
            return (re * re + im * im).squareRoot() / Double(samples.count)
        }
        // A converter still set for 48 kHz would move the tone to 1000 × 32/48 ≈ 667 Hz.
        XCTAssertGreaterThan(power(at: 1000), 5 * power(at: 667), "the tone stays at 1 kHz")
        XCTAssertGreaterThan(power(at: 1000), 5 * power(at: 1500), "the tone stays at 1 kHz")
    }

    /// A one-second hole in the audio timestamps (a dropout on the air): the hole is filled with silence, so
    /// the sound after it plays at its own time, in sync with the picture, instead of a second early.
    func testAGapInTheAudioIsFilledWithSilenceAndTheRestStaysInSync() throws {
        let tmp = try TempDir()
        let input = tmp.file("gap.ts")
        try MediaProbe.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=4",
                               "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4",
                               "-af", "aselect='not(between(t,1.5,2.5))'",
                               "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "mp2",
                               "-f", "mpegts", input])
        let out = tmp.file("out.webm")
        let r = try transcode([input, out])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertAudioFollowsVideo(out, codec: "opus")
        XCTAssertLessThan(try loudness(out, from: 1.7, length: 0.6), 0.01, "the hole is silent")
        XCTAssertGreaterThan(try loudness(out, from: 2.8, length: 0.8), 0.05, "the sound after the hole is back")
        XCTAssertTrue(r.stderr.contains("gaps in its timestamps with silence"), r.stderr)
    }

    /// Damage of every other kind a receiver meets: a resolution change, a timestamp jump and a truncated
    /// file. Each is transcoded to a playable file (never a signal, never a hang) and nothing hidden is left.
    func testResolutionChangeTimestampJumpAndTruncationNeverCrash() throws {
        let tmp = try TempDir()
        try piece(tmp.file("small.ts"), audio: ["-ac", "2"])
        try piece(tmp.file("large.ts"), audio: ["-ac", "2"], size: "192x144", offset: 2)
        try join([tmp.file("small.ts"), tmp.file("large.ts")], into: tmp.file("resize.ts"))
        try piece(tmp.file("late.ts"), audio: ["-ac", "2"], offset: 60)
        try join([tmp.file("small.ts"), tmp.file("late.ts")], into: tmp.file("jump.ts"))
        let whole = try Data(contentsOf: URL(fileURLWithPath: tmp.file("resize.ts")))
        try whole.prefix(whole.count * 2 / 3).write(to: URL(fileURLWithPath: tmp.file("truncated.ts")))

        for (name, container) in [("resize", "webm"), ("jump", "webm"), ("jump", "mp4"), ("truncated", "mkv")] {
            let out = tmp.file("\(name)-out.\(container)")
            let r = try transcode([tmp.file("\(name).ts"), out])
            XCTAssertEqual(r.status, 0, "\(name) → \(container): \(r.stderr)")
            let frames = try MediaProbe.packets(out, "v").count
            XCTAssertGreaterThan(frames, 40, "\(name) → \(container): frames written")
            let size = try MediaProbe.streams(out, "v").first.map { "\($0["width"] ?? 0)x\($0["height"] ?? 0)" }
            XCTAssertEqual(size, "64x48", "\(name) → \(container): one output size throughout")
            if name == "jump" && container == "webm" {
                // Re-encoded audio steps over the 58 s jump with the picture: both end at the same time.
                let video = try MediaProbe.packets(out, "v"), audio = try MediaProbe.packets(out, "a")
                let videoEnd = video.map { $0.start + $0.duration }.max() ?? 0, audioEnd = audio.map { $0.start + $0.duration }.max() ?? 0
                XCTAssertGreaterThan(videoEnd, 60, "the picture keeps its timestamps")
                XCTAssertEqual(audioEnd, videoEnd, accuracy: 0.2, "the sound ends with the picture")
                XCTAssertTrue(r.stderr.contains("stepped over"), r.stderr)
            }
        }
        XCTAssertFalse(tmp.contents().contains { $0.hasPrefix(".") }, "no temporary file left: \(tmp.contents())")
    }
}
