/// Hands a source's frames on at the source's own frame rate: frame k is due k periods after the first.
///
/// Why: a file would otherwise be read as fast as it decodes, and a segmented stream (HLS) arrives a whole
/// segment at a time; either way the 2-frame drop-oldest queue behind the source would keep two frames of
/// each burst and drop the rest. A frame that is late goes at once; more than `maxLag` behind (a stall), the
/// schedule starts over from now instead of bursting to catch up.
struct SourcePacer {
    let period: Duration
    let maxLag: Duration
    private var due: ContinuousClock.Instant?

    init(framesPerSecond: Double, maxLag: Duration = .seconds(1)) {
        period = .nanoseconds(Int64(1e9 / framesPerSecond))
        self.maxLag = maxLag
    }

    /// How long to wait before handing on a frame read at `now`.
    mutating func delay(now: ContinuousClock.Instant) -> Duration {
        var next = due ?? now
        if now - next > maxLag { next = now }
        due = next + period
        return next > now ? next - now : .zero
    }
}
