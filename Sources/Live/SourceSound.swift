import Decode
import Pipeline

/// Places the decoded sound of a stream or file on the pipeline clock, beside its pictures.
///
/// Pictures are stamped with the instant the source hands them on; sound comes with the input's own timestamps.
/// The two meet through the pictures' timestamps: the instant at which the input's clock read zero is taken from
/// the first picture and kept, so the sound does not wobble with every picture's decoding and pacing jitter
/// (that would leave gaps and overlaps in it), and taken again when a picture puts it more than `reanchor` away
/// (the input's clock jumped, or the source stalled and caught up). A file paced at its own rate and a network
/// stream arriving in real time both keep it steady. One per opening of the source: a reconnect or a loop of the
/// file starts a new one.
struct SourceSound {
    let track: AudioTrack
    /// How far a picture may move the anchor before it is taken again.
    static let reanchor: Duration = .milliseconds(500)
    /// Sound decoded before the first picture, held (bounded) until there is an anchor.
    static let maxEarly = 100
    /// The instant the input's clock read zero.
    private var zero: ContinuousClock.Instant?
    /// Where the block after the last one starts: for a block without a timestamp.
    private var next: ContinuousClock.Instant?
    private var early: [DecodedSound] = []

    init(track: AudioTrack) { self.track = track }

    /// A picture with its timestamp on the input's clock (microseconds), handed on at `captured`.
    mutating func picture(micros: Int64?, captured: ContinuousClock.Instant) {
        guard let micros else { return }
        let anchor = captured - .microseconds(micros)
        if let zero, abs((anchor - zero).microseconds) <= Self.reanchor.microseconds { return }
        zero = anchor
        next = nil
        if !early.isEmpty {
            let held = early
            early = []
            add(held)
        }
    }

    /// Decoded sound, into the track at the instants its timestamps give.
    mutating func add(_ sound: [DecodedSound]) {
        guard let zero else {
            early.append(contentsOf: sound)
            if early.count > Self.maxEarly { early.removeFirst(early.count - Self.maxEarly) }
            return
        }
        for block in sound {
            let at: ContinuousClock.Instant
            if let micros = block.micros { at = zero + .microseconds(micros) } else if let next { at = next } else { continue }
            track.append(block.samples, captured: at)
            let frames = Int64(block.samples.count / AudioTrack.channels)
            next = at + .microseconds(frames * 1_000_000 / Int64(AudioTrack.sampleRate))
        }
    }
}
