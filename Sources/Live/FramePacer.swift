/// Spaces the frames of a UDP or SRT output at their own rate.
///
/// Why: MPEG-TS over UDP/SRT has no flow control; receivers (players, set-top boxes, `ffplay`) buffer a few
/// hundred milliseconds and overflow when frames arrive in a burst — which is what a live pipeline produces
/// after a stall or a source reconnect (the queued frames are encoded back to back). RTMP and RTSP push run
/// over TCP and are paced by their servers; recordings and HLS want frames as fast as possible.
///
/// Each frame is due at anchor wall time + (its timestamp − the anchor's timestamp). A frame that is due in the
/// future is held until then (at most `maxHold`); a frame that is late goes at once. When the output has fallen
/// more than `maxHold` behind (the source stalled) or the timestamps jump ahead, the pacer re-anchors on the
/// current frame instead of bursting or stalling to catch up.
struct FramePacer {
    let maxHold: Duration
    private var anchor: (wall: ContinuousClock.Instant, micros: Int64)?

    init(maxHold: Duration = .seconds(1)) {
        self.maxHold = maxHold
    }

    /// Forget the timing (a new connection starts a new schedule).
    mutating func reset() { anchor = nil }

    /// How long to wait before sending the frame shown at `micros` (pipeline clock), the clock reading `now`.
    mutating func delay(micros: Int64, now: ContinuousClock.Instant) -> Duration {
        guard let a = anchor else {
            anchor = (now, micros)
            return .zero
        }
        let due = a.wall + .microseconds(micros - a.micros)
        if due <= now {
            if now - due > maxHold { anchor = (now, micros) }
            return .zero
        }
        let wait = due - now
        if wait > maxHold {
            anchor = (now, micros)
            return .zero
        }
        return wait
    }
}
