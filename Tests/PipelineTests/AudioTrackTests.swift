import Pipeline
import XCTest

/// The live sound track: each sink reads the sound up to the picture it sends, in order, once; a sink that
/// opens late hears only what comes after; one that falls behind loses the oldest sound, never holds the source.
final class AudioTrackTests: XCTestCase {
    /// A block of `frames` stereo samples whose values say which block it is.
    private func block(_ mark: Int16, frames: Int = 960) -> [Int16] { [Int16](repeating: mark, count: frames * AudioTrack.channels) }

    func testEachReaderGetsTheSoundUpToItsPictureInOrderOnce() {
        let origin = ContinuousClock.now
        let track = AudioTrack(origin: origin)
        let early = track.reader()
        for i in 0..<5 { track.append(block(Int16(i)), captured: origin + .milliseconds(20 * i)) }
        let late = track.reader()
        track.append(block(5), captured: origin + .milliseconds(100))

        // Up to the picture at 45 ms: the blocks at 0, 20 and 40 ms, with their times.
        let first = early.take(upTo: 45_000)
        XCTAssertEqual(first.map { $0.samples[0] }, [0, 1, 2])
        XCTAssertEqual(first.map(\.micros), [0, 20_000, 40_000])
        XCTAssertEqual(first[0].frames, 960)
        XCTAssertTrue(early.take(upTo: 45_000).isEmpty, "nothing twice")
        XCTAssertEqual(early.take(upTo: 1_000_000).map { $0.samples[0] }, [3, 4, 5])
        // A reader made after the first five blocks hears only the sixth.
        XCTAssertEqual(late.take(upTo: 1_000_000).map { $0.samples[0] }, [5])
    }

    func testAReaderThatFallsBehindLosesTheOldestSoundOnly() {
        let origin = ContinuousClock.now
        let track = AudioTrack(origin: origin, capacity: .milliseconds(100))
        let reader = track.reader()
        // 20 blocks over 380 ms: the track keeps the last 100 ms of them.
        for i in 0..<20 { track.append(block(Int16(i)), captured: origin + .milliseconds(20 * i)) }
        let kept = reader.take(upTo: .max).map { $0.samples[0] }
        XCTAssertEqual(kept, [14, 15, 16, 17, 18, 19], "the newest 100 ms, in order")
        track.append(block(20), captured: origin + .milliseconds(400))
        XCTAssertEqual(reader.take(upTo: .max).map { $0.samples[0] }, [20], "and then on from there")
    }
}
