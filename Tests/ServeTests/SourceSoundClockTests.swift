@testable import Decode
@testable import Live
@testable import Pipeline
import XCTest

/// Where a stream's sound lands on the pipeline clock, with the pictures' hand-off instants passed in: the reader's
/// read-ahead (a late first picture, then a burst) must not delay the sound, and the pictures' jitter must not
/// move it.
final class SourceSoundClockTests: XCTestCase {
    let origin = ContinuousClock.now

    /// 20 ms of sound at `ms` on the input's clock.
    func block(_ ms: Int64) -> DecodedSound { DecodedSound(micros: ms * 1000, samples: [Int16](repeating: 1, count: 960 * AudioTrack.channels)) }

    /// Where each block added after the pictures landed, in ms against where the input's clock puts it when
    /// pictures arrive on time at `steady` ms after their timestamps.
    func placements(_ pictures: [(pts: Int64, handedOn: Int64)], sound: [Int64], steady: Int64) -> [Int64] {
        let track = AudioTrack(origin: origin, capacity: .seconds(60))
        let reader = track.reader()
        var clock = SourceSound(track: track)
        for p in pictures { clock.picture(micros: p.pts * 1000, captured: origin + .milliseconds(p.handedOn)) }
        clock.add(sound.map(block))
        return reader.take(upTo: .max).map { $0.micros / 1000 - steady }
    }

    func testAReadAheadAndBurstAtTheStartDoNotDelayTheSound() {
        // The first picture comes 250 ms late (the reader's first look read ahead), the next ones in a burst, 1 ms
        // apart but never before their packet arrived, then every picture 40 ms after its timestamp (33 ms apart).
        var pictures: [(pts: Int64, handedOn: Int64)] = [(0, 290)]
        for i in 1...8 { pictures.append((Int64(i) * 33, max(290 + Int64(i), Int64(i) * 33 + 40))) }
        for i in 9..<120 { pictures.append((Int64(i) * 33, Int64(i) * 33 + 40)) }
        let offsets = placements(pictures, sound: [4000, 4020], steady: 40)
        XCTAssertEqual(offsets.count, 2)
        XCTAssertEqual(offsets.first ?? 999, 4000, accuracy: 3, "the sound placed as the steady pictures are, not 250 ms later")
    }

    func testThePicturesJitterDoesNotMoveTheSound() {
        // Steady pictures 40 ms late, every fifth one 30 ms later still (a decode that took longer).
        var pictures: [(pts: Int64, handedOn: Int64)] = []
        for i in 0..<300 { pictures.append((Int64(i) * 33, Int64(i) * 33 + 40 + (i % 5 == 4 ? 30 : 0))) }
        let offsets = placements(pictures, sound: [9000], steady: 40)
        XCTAssertEqual(offsets.first ?? 999, 9000, accuracy: 8, "within a few ms of the steady pictures")
    }

    func testAJumpOfTheInputsClockIsFollowedAtOnce() {
        // The input's clock jumps back to 0 at picture 60 (a new broadcast): the anchor is taken over.
        var pictures: [(pts: Int64, handedOn: Int64)] = []
        for i in 0..<60 { pictures.append((Int64(i) * 33, Int64(i) * 33 + 40)) }
        for i in 0..<30 { pictures.append((Int64(i) * 33, 2000 + Int64(i) * 33 + 40)) }
        let offsets = placements(pictures, sound: [500], steady: 40)
        XCTAssertEqual(offsets.first ?? 999, 2500, accuracy: 3, "sound at 0.5 s of the new clock lands 0.5 s after the jump")
    }
}
