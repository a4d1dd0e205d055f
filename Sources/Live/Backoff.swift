/// Capped exponential back-off for reconnects: 0.5 s, 1 s, 2 s, … up to `cap`, back to the start after a
/// success.
struct Backoff {
    var initial: Duration = .milliseconds(500)
    var cap: Duration = .seconds(10)
    private(set) var attempts = 0

    init(initial: Duration = .milliseconds(500), cap: Duration = .seconds(10)) {
        self.initial = initial
        self.cap = cap
    }

    /// The delay before the next attempt; grows each call.
    mutating func next() -> Duration {
        let factor = 1 << min(attempts, 16)
        attempts += 1
        let delay = initial * factor
        return delay < cap ? delay : cap
    }

    mutating func reset() { attempts = 0 }
}
