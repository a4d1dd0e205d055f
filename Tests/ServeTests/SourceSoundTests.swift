import Foundation
import TestSupport
import XCTest

/// A live pipeline from a file or stream with sound carries it to its outputs, in step with the stylized pictures,
/// as a `whip:` pipeline carries its publisher's.
final class SourceSoundTests: XCTestCase {
    /// The source: 10 s of the aiortc peer's pattern (a frame counter) and its beeps (440 Hz for the first half of
    /// every second, starting with frame 30·k), as H.264 and AAC at 44.1 kHz stereo: the pipeline converts the sound
    /// to its 48 kHz. A WebRTC player (aiortc) hears the beeps while the file plays; the recording must carry them as
    /// AAC, as long as its pictures, and each beep with the frame it started with: within the 45 ms ahead and 125 ms
    /// behind broadcasters hold to (ITU-R BT.1359).
    func testAFileSourcesSoundReachesTheRecordingInStepWithItsPictures() throws {
        let dir = try TempDir("source-sound")
        let clip = dir.file("beeps.mkv")
        let made = try runAiortcPeer(["clip", clip, "--seconds", "10"])
        XCTAssertEqual(made["frames"] as? Int, 300, "\(made)")
        let recordings = dir.file("rec")
        // And the same file with `audio: false`: pictures only.
        let pipeline = ["  clip:", "    source:", "      url: \(clip)", "    model: wave", "    max_size: 320", "    workers: 1",
                        "    outputs:", "      - record: \(recordings)/clip.mp4",
                        "  mute:", "    source:", "      url: \(clip)", "      audio: false", "    model: wave", "    max_size: 64",
                        "    workers: 1", "    outputs:", "      - record: \(dir.file("mute"))/mute.mp4"].joined(separator: "\n")
        let serve = try ServeProcess(pipelines: pipeline, directory: dir.url, server: "  webrtc_addresses: [127.0.0.1]")
        try serve.waitReady()
        try serve.waitFor("the file's sound in the API", timeout: 10) { try serve.pipeline("clip")["sound"] as? String == "aac, 44100 Hz, 2 channels" }
        XCTAssertNil(try serve.pipeline("mute")["sound"], "audio: false carries none")
        let played = try runAiortcPeer(["whep", "http://127.0.0.1:\(serve.port)/v1/pipelines/clip/whep", "--frames", "15", "--audio",
                                        "--timeout", "8"])
        let heard = played["audio"] as? [String: Any] ?? [:]
        XCTAssertGreaterThanOrEqual(heard["seconds"] as? Double ?? 0, 0.4, "a WebRTC player hears the file's sound: \(played)")
        XCTAssertEqual(heard["hz"] as? Double ?? 0, 440, accuracy: 15, "the beeps' pitch at the player: \(played)")
        // Played once at its own rate (10 s), then the recording is finished.
        try serve.waitFor("the file to be played and the recordings finished", timeout: 60) {
            try serve.pipeline("clip")["state"] as? String == "stopped" && serve.pipeline("mute")["state"] as? String == "stopped"
        }
        XCTAssertEqual(try serve.terminate(), 0)
        XCTAssertTrue(serve.log.contains("sound: aac, 44100 Hz, 2 channels"), "the pipeline says what sound it carries: \(serve.log.suffix(2000))")

        let files = try FileManager.default.contentsOfDirectory(atPath: recordings).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(files.count, 1, "\(files)")
        let file = recordings + "/" + (files.first ?? "")
        // Live, the oldest frames go when stylizing falls behind (a debug build keeps about a quarter of them).
        let recorded = try assertRecordedBeepsInStep(file, toneFrom: 1, minFrames: 30, minBeeps: 8)
        XCTAssertEqual(recorded.videoSeconds, 10, accuracy: 1.5, "the whole file was recorded")
        print("file source sound: the player heard \(heard); the recording has \(recorded.summary)")

        let muted = try FileManager.default.contentsOfDirectory(atPath: dir.file("mute")).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(muted.count, 1, "\(muted)")
        let mutedStreams = (try ffprobeJSON(["-v", "error", "-show_entries", "stream=codec_type", dir.file("mute") + "/" + (muted.first ?? "")])["streams"]
            as? [[String: Any]]) ?? []
        XCTAssertEqual(mutedStreams.compactMap { $0["codec_type"] as? String }, ["video"], "audio: false records pictures only")
    }

    /// What a streamer does: OBS-like, ffmpeg publishes the same file in real time over RTMP (H.264 and AAC at
    /// 44.1 kHz, copied) to nginx-rtmp; the pipeline reads that stream and pushes its stylized pictures with the
    /// sound to nginx again, which records them. The sound arrives as the network delivers it, unpaced by streamd:
    /// it must still reach the pushed stream in step with its pictures.
    func testAnRTMPStreamsSoundIsPushedOnInStepWithItsPictures() throws {
        let dir = try TempDir("source-sound-rtmp")
        let clip = dir.file("beeps.mkv")
        _ = try runAiortcPeer(["clip", clip, "--seconds", "12"])
        let port = try ServeProcess.freePort()
        let recorder = try LiveServersTests.RTMPRecorder(directory: dir.url, port: port)
        let nginx = try recorder.start(log: "nginx.log")
        defer { nginx.stop() }
        Thread.sleep(forTimeInterval: 0.5)
        let publisher = try LiveServersTests.Child("/usr/bin/ffmpeg", ["-hide_banner", "-loglevel", "error", "-re", "-i", clip,
                                                                       "-c", "copy", "-f", "flv", "rtmp://127.0.0.1:\(port)/rec/cam"],
                                                   log: dir.file("publisher.log"))
        defer { publisher.stop() }
        let pipeline = ["  live:", "    source:", "      url: rtmp://127.0.0.1:\(port)/rec/cam", "      timeout: 5s",
                        "    model: wave", "    max_size: 320", "    workers: 1", "    outputs:",
                        "      - url: rtmp://127.0.0.1:\(port)/rec/out", "        preset: ultrafast"].joined(separator: "\n")
        let serve = try ServeProcess(pipelines: pipeline, directory: dir.url)
        try serve.waitReady()
        func output() throws -> [String: Any] { try XCTUnwrap((try serve.pipeline("live")["outputs"] as? [[String: Any]])?.first) }
        try serve.waitFor("frames pushed over RTMP", timeout: 30) { (try output()["frames_written"] as? Int ?? 0) >= 10 }
        // The publisher sends 12 s in real time (enough frame counters in the pushed stream even when a loaded debug build
        // drops half the pictures), then leaves; what was pushed is then complete.
        let deadline = Date().addingTimeInterval(30)
        while publisher.process.isRunning && Date() < deadline { usleep(100_000) }
        XCTAssertFalse(publisher.process.isRunning, "the publisher sent its 12 s: \(publisher.log)")
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(try serve.terminate(), 0)
        XCTAssertTrue(serve.log.contains("sound: aac, 44100 Hz, 2 channels"), "\(serve.log.suffix(2000))")
        try recorder.quit(nginx)
        let pushed = recorder.recordDir.appendingPathComponent("out.flv").path
        let recorded = try assertRecordedBeepsInStep(pushed, toneFrom: 1.5, minFrames: 30, minBeeps: 6)
        print("RTMP source sound: nginx recorded \(recorded.summary)")
    }
}
