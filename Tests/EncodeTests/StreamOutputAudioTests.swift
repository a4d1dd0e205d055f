import Encode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// A live output's sound track (`StreamOutput.write(audio:shift:through:)`), recorded to a file and read back.
final class StreamOutputAudioTests: XCTestCase {
    /// `frames` stereo samples of a 440 Hz tone.
    private func tone(frames: Int) -> [Int16] {
        (0..<frames).flatMap { i -> [Int16] in
            let v = Int16(8000 * sin(2 * Double.pi * 440 * Double(i) / Double(AudioTrack.sampleRate)))
            return [v, v]
        }
    }

    /// Sound that stops and comes back 15 s later, while the pictures stalled in between (one call covers the
    /// whole gap): the sound after the gap plays at its own time, 15 s, not 10 s in after the longest silence
    /// filled, and the timestamps still rise.
    func testAGapLongerThanTheLongestSilenceIsAJumpNotALateBlock() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let origin = ContinuousClock.now
        let track = AudioTrack(origin: origin, capacity: .seconds(30))
        let reader = track.reader()
        track.append(tone(frames: 9_600), captured: origin)
        track.append(tone(frames: 9_600), captured: origin + .seconds(15))
        let path = directory.file("gap.mp4")
        let output = try StreamOutput(url: path, format: "mp4",
                                      settings: LiveEncodeSettings(width: 64, height: 48, frameRate: 25, preset: "ultrafast"),
                                      audio: true, interrupt: IOInterrupt())
        let picture = RGBImage(width: 64, height: 48, fill: 90)
        for micros: Int64 in [0, 15_000_000, 15_200_000] {
            try output.write(picture, micros: micros)
            try output.write(audio: reader.take(upTo: micros), shift: 0, through: micros)
        }
        try output.finish()

        let packets = try XCTUnwrap(try ffprobeJSON(["-select_streams", "a:0", "-show_packets", path])["packets"] as? [[String: Any]])
        let starts = packets.compactMap { Double($0["pts_time"] as? String ?? "") }
        XCTAssertEqual(starts.count, packets.count)
        XCTAssertEqual(starts, starts.sorted(), "rising timestamps")
        let seen = "\(starts.count) packets: \(starts.prefix(3)) … \(starts.suffix(3))"
        let beforeGap = starts.filter { $0 < 1 }, afterGap = starts.filter { $0 >= 1 }
        XCTAssertFalse(beforeGap.isEmpty, "the sound before the gap: \(seen)")
        XCTAssertLessThan(beforeGap.count, 15, "the first 0.2 s, not silence on to 10 s: \(seen)")
        let resumed = try XCTUnwrap(afterGap.first, "the sound after the gap: \(seen)")
        XCTAssertEqual(resumed, 15, accuracy: 0.03, "the sound after the gap where its time puts it: \(seen)")
    }
}
