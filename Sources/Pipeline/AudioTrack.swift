import Foundation

/// A live pipeline's sound, carried beside its pictures: the source appends blocks of samples stamped on the
/// pipeline clock, and each sink reads them up to the time of the picture it is about to send, so sound and
/// stylized picture leave together however long stylizing took (the sound simply waits in here).
///
/// One format for every live sink: 48 kHz, two channels, signed 16-bit, interleaved (what WebRTC's Opus decodes
/// to and AAC and Opus encoders take after one conversion). Bounded: the last `capacity` of sound is kept; a
/// reader that falls further behind loses the oldest blocks, never blocks the source.
public final class AudioTrack: @unchecked Sendable {
    public static let sampleRate = 48000
    public static let channels = 2

    /// A block of interleaved samples and where its first sample lies on the pipeline clock.
    public struct Block: Sendable {
        /// Microseconds since the track's origin (the pipeline's clock origin, as the pictures' timestamps).
        public var micros: Int64
        /// Interleaved: `channels` values per sample frame.
        public var samples: [Int16]
        public var frames: Int { samples.count / AudioTrack.channels }
    }

    private let origin: ContinuousClock.Instant
    private let capacity: Duration
    private let lock = NSLock()
    private var blocks: [Block] = []
    /// The sequence number of `blocks[0]`; readers hold the number of the next block they want.
    private var firstSequence: UInt64 = 0
    private var carries: Bool

    /// `origin` is the instant the pictures' microseconds count from. `carriesSound`: whether the source has
    /// sound to give (a `whip:` publisher may send some at any time; a stream or file says when it opens).
    public init(origin: ContinuousClock.Instant, capacity: Duration = .seconds(3), carriesSound: Bool = true) {
        self.origin = origin
        self.capacity = capacity
        carries = carriesSound
    }

    /// Whether the source has sound: outputs opened while it does get a sound track (silent where no block
    /// came), players are offered Opus; those opened while it does not stay pictures only. Set by the source
    /// each time it opens.
    public var carriesSound: Bool {
        get { lock.withLock { carries } }
        set { lock.withLock { carries = newValue } }
    }

    /// Adds a block whose first sample was heard at `captured` (the clock the pictures' capture times use).
    public func append(_ samples: [Int16], captured: ContinuousClock.Instant) {
        guard samples.count >= Self.channels else { return }
        let since = captured - origin
        let micros = since.microseconds, limit = capacity.microseconds
        lock.withLock {
            blocks.append(Block(micros: micros, samples: samples))
            while let first = blocks.first, micros - first.micros > limit {
                blocks.removeFirst()
                firstSequence += 1
            }
        }
    }

    /// A reader that starts with the next block appended (sound from before it opened is not its own).
    public func reader() -> Reader { Reader(track: self, next: lock.withLock { firstSequence + UInt64(blocks.count) }) }

    fileprivate func blocks(from next: inout UInt64, upTo micros: Int64) -> [Block] {
        lock.withLock {
            if next < firstSequence { next = firstSequence }
            var taken: [Block] = []
            var i = Int(next - firstSequence)
            while i < blocks.count, blocks[i].micros <= micros {
                taken.append(blocks[i])
                i += 1
            }
            next = firstSequence + UInt64(i)
            return taken
        }
    }

    /// One sink's place in the track. Used by one thread.
    public final class Reader: @unchecked Sendable {
        private let track: AudioTrack
        private var next: UInt64

        fileprivate init(track: AudioTrack, next: UInt64) {
            self.track = track
            self.next = next
        }

        /// Whether the track's source has sound now (see `AudioTrack.carriesSound`).
        public var carriesSound: Bool { track.carriesSound }

        /// The blocks not read yet that start at or before `micros` (the picture about to be sent), oldest first.
        public func take(upTo micros: Int64) -> [Block] { track.blocks(from: &next, upTo: micros) }
    }
}
