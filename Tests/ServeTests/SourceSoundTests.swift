import Foundation
import TestSupport
import XCTest

/// A live pipeline from a file or stream with sound carries it to its outputs, in step with the stylized pictures,
/// as a `whip:` pipeline carries its publisher's.
final class SourceSoundTests: XCTestCase {
    /// The source: 12 s of the aiortc peer's pattern (a frame counter) and its beeps (440 Hz for the first half of
    /// every second, starting with frame 30·k), as H.264 and AAC at 44.1 kHz stereo: the pipeline converts the sound
    /// to its 48 kHz. The recording must carry the beeps as AAC, as long as its pictures, and each beep with the
    /// frame it started with: within the 45 ms ahead and 125 ms behind broadcasters hold to (ITU-R BT.1359).
    func testAFileSourcesSoundReachesTheRecordingInStepWithItsPictures() throws {
        let dir = try TempDir("source-sound")
        let clip = dir.file("beeps.mkv")
        let made = try runAiortcPeer(["clip", clip, "--seconds", "12"])
        XCTAssertEqual(made["frames"] as? Int, 360, "\(made)")
        let recordings = dir.file("rec")
        let pipeline = ["  clip:", "    source:", "      url: \(clip)", "    model: wave", "    max_size: 320", "    workers: 1",
                        "    outputs:", "      - record: \(recordings)/clip.mp4"].joined(separator: "\n")
        let serve = try ServeProcess(pipelines: pipeline, directory: dir.url)
        try serve.waitReady()
        // Played once at its own rate (12 s), then the recording is finished.
        try serve.waitFor("the file to be played and the recording finished", timeout: 60) {
            try serve.pipeline("clip")["state"] as? String == "stopped"
        }
        XCTAssertEqual(try serve.terminate(), 0)
        XCTAssertTrue(serve.log.contains("sound: aac, 44100 Hz, 2 channels"), "the pipeline says what sound it carries: \(serve.log.suffix(2000))")

        let files = try FileManager.default.contentsOfDirectory(atPath: recordings).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(files.count, 1, "\(files)")
        let file = recordings + "/" + (files.first ?? "")
        // Live, the oldest frames go when stylizing falls behind (a debug build keeps about a quarter of them).
        let recorded = try assertRecordedBeepsInStep(file, toneFrom: 1, minFrames: 40, minBeeps: 9)
        XCTAssertEqual(recorded.videoSeconds, 12, accuracy: 1.5, "the whole file was recorded")
        print("file source sound: the recording has \(recorded.summary)")
    }
}
