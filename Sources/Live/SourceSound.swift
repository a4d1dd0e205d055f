import Decode
import Pipeline

/// Places the decoded sound of a stream or file on the pipeline clock, beside its pictures.
///
/// Pictures are stamped with the instant the source hands them on; sound comes with the input's own timestamps.
/// The two meet through the pictures' timestamps, by the instant at which the input's clock read zero (the
/// anchor). A picture is never handed on before its time, only late: the reader's first look at a network stream
/// reads ahead (the first picture comes hundreds of milliseconds after its packet, the next ones in a burst), the
/// decoder holds pictures for reordering, the thread is scheduled late. So for the first `settle` pictures one that
/// puts the anchor earlier moves it at once (the burst drains to the real pace); after that every picture moves it
/// by only 1/`creep` of the difference, either way, so the sound stays smooth through the pictures' jitter (a
/// moving anchor would leave gaps and overlaps in it) and follows a sender whose clock runs a little fast or slow.
/// One that puts it more than `reanchor` away takes it over (the input's clock jumped, or the source stalled).
/// Measured through nginx-rtmp, anchoring at the first picture alone left the sound 217 ms behind its pictures.
/// One per opening of the source: a reconnect or a loop of the file starts a new one.
struct SourceSound {
    let track: AudioTrack
    /// How far a picture may move the anchor before it is taken again.
    static let reanchor: Duration = .milliseconds(500)
    /// Pictures after the anchor is taken during which an earlier one moves it at once.
    static let settle = 60
    /// After those, a picture moves the anchor by this fraction of the difference.
    static let creep = 256
    /// Pictures since the anchor was taken.
    private var pictures = 0
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
        if let zero, abs((anchor - zero).microseconds) <= Self.reanchor.microseconds {
            pictures += 1
            self.zero = anchor < zero && pictures <= Self.settle ? anchor : zero + (anchor - zero) / Self.creep
            return
        }
        zero = anchor
        pictures = 0
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
