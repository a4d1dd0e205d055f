import CFFmpeg
import CFFmpegLogBridge
import FFmpegSupport
public import Logging
import Synchronization

/// Control over FFmpeg's own logging, which by default writes to stderr from any thread.
///
/// The command line prints its own one-line errors (`MediaError.message`), which already carry FFmpeg's error
/// text; FFmpeg's messages on top of them ("No JPEG data found in image", "[mjpeg @ 0x…] error dc") would be
/// noise that names no file. The level is process-wide, so set it once at start-up.
public enum FFmpegLog {
    /// FFmpeg's log levels, quietest first.
    public enum Level: Sendable {
        case quiet, panic, fatal, error, warning, info, verbose, debug

        var rawLevel: Int32 {
            switch self {
            case .quiet: AV_LOG_QUIET
            case .panic: AV_LOG_PANIC
            case .fatal: AV_LOG_FATAL
            case .error: AV_LOG_ERROR
            case .warning: AV_LOG_WARNING
            case .info: AV_LOG_INFO
            case .verbose: AV_LOG_VERBOSE
            case .debug: AV_LOG_DEBUG
            }
        }
    }

    /// Silences FFmpeg completely, so that only our own errors reach the user. Even AV_LOG_ERROR would let
    /// through messages such as the mjpeg decoder's "No JPEG data found in image" (logged at fatal level)
    /// that duplicate the error we throw.
    public static func setQuiet() {
        av_log_set_level(AV_LOG_QUIET)
    }

    /// Sets FFmpeg's log level, e.g. `.warning` with a `--verbose` flag to see why a file is rejected.
    public static func setLevel(_ level: Level) {
        av_log_set_level(level.rawLevel)
    }

    /// Sends FFmpeg's messages at `level` or more severe to `logger` instead of stderr, one log entry per line
    /// (FFmpeg's "[h264 @ 0x…]" prefix kept), at most `burst` entries per `window` seconds: a damaged stream
    /// makes decoders complain about every packet, and the log must not drown in it. What the limit holds back
    /// is counted in one summary entry per window. For the service, where FFmpeg's warnings (a reconnecting
    /// RTSP session, a muxer's complaints) belong in the same log as everything else.
    public static func route(to logger: Logger, level: Level = .warning, burst: Int = 20, window: Double = 10) {
        router.withLock { $0 = Router(logger: logger, burst: burst, window: window) }
        av_log_set_level(level.rawLevel)
        streamd_ffmpeg_log_route { level, line in
            guard let line else { return }
            FFmpegLog.deliver(level: level, line: String(cString: line))
        }
    }

    /// Back to FFmpeg's own stderr logger.
    public static func stopRouting() {
        streamd_ffmpeg_log_route(nil)
        router.withLock { $0 = nil }
    }

    /// Where routed lines go, and the rate limit's state.
    struct Router {
        var logger: Logger
        var burst: Int
        var window: Double
        var windowStart = ContinuousClock.now
        var sent = 0
        var suppressed = 0
    }

    private static let router = Mutex<Router?>(nil)

    /// swift-log's level for an AV_LOG_* value.
    static func loggerLevel(_ level: Int32) -> Logger.Level {
        switch level {
        case ...AV_LOG_FATAL: .critical
        case ...AV_LOG_ERROR: .error
        case ...AV_LOG_WARNING: .warning
        case ...AV_LOG_INFO: .info
        default: .debug
        }
    }

    /// Called on whatever thread FFmpeg logs from.
    static func deliver(level: Int32, line: String) {
        let (logger, summary, pass): (Logger?, Int, Bool) = router.withLock { router in
            guard var r = router else { return (nil, 0, false) }
            var summary = 0
            let now = ContinuousClock.now
            if now - r.windowStart >= .milliseconds(Int64(r.window * 1000)) {
                summary = r.suppressed
                r.windowStart = now
                r.sent = 0
                r.suppressed = 0
            }
            let pass = r.sent < r.burst
            if pass { r.sent += 1 } else { r.suppressed += 1 }
            router = r
            return (r.logger, summary, pass)
        }
        guard let logger else { return }
        if summary > 0 { logger.warning("ffmpeg: \(summary) more message(s) suppressed in the last window") }
        if pass { logger.log(level: loggerLevel(level), "\(line)", metadata: ["source": "ffmpeg"]) }
    }
}

