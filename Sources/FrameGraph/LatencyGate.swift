import Pipeline

/// Decides, frame by frame, whether a frame is still worth stylizing under a pipeline's latency budget
/// (`max_latency`, capture to output). Pure bookkeeping with the clock passed in, so it is tested
/// deterministically.
public struct LatencyGate: Sendable {
    /// The budget, in seconds.
    public let budget: Double
    /// Recent stylize time (exponential moving average, seconds); nil before the first frame.
    public private(set) var typical: Double?
    private var lastAdmitted: ContinuousClock.Instant?

    public init(budget: Duration) {
        self.budget = budget.inSeconds
    }

    /// A frame captured `age` seconds ago is admitted when it can still leave within the budget (its age
    /// plus the typical stylize time), when it is younger than a quarter of the budget (stylizing alone may
    /// take most of it), or when nothing was admitted for a whole budget: on an overloaded machine every frame
    /// is already late, and a picture that moves slowly beats none at all.
    public mutating func admit(age: Double, now: ContinuousClock.Instant) -> Bool {
        let allowed = max(budget - (typical ?? 0), budget / 4)
        let starving = lastAdmitted.map { now - $0 > .nanoseconds(Int64(budget * 1e9)) } ?? true
        guard age <= allowed || starving else { return false }
        lastAdmitted = now
        return true
    }

    /// Feeds back how long an admitted frame took to stylize.
    public mutating func record(stylizeSeconds took: Double) {
        typical = typical.map { 0.8 * $0 + 0.2 * took } ?? took
    }
}
