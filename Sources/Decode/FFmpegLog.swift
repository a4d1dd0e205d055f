import CFFmpeg
import FFmpegSupport

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
}
