package import CFFmpeg
import CThreadScheduling
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Keeps libraries from leaving streamd's threads on a real-time scheduling policy.
///
/// Debian 12's SVT-AV1 (`libsvtav1`), run as root, switches the thread that opens the encoder to SCHED_FIFO
/// priority 99 and starts its worker threads from it, so they inherit the policy, and so does every thread or
/// process created from them later. A real-time thread that spins (a stylize worker, a child process) never
/// yields its core: on two cores that froze the machine. librist (the `rist://` protocol) can do the same.
/// streamd never asks for a real-time policy itself, so every FFmpeg call that may start a library's threads
/// runs through `containRealtimePolicies`: afterwards every thread of the process that a library put on a
/// real-time policy is put back on the policy the calling thread had before the call (normally SCHED_OTHER;
/// the administrator's own policy when streamd was started under `chrt`), and competes for the cores like any
/// other thread.
package enum RealtimePolicyGuard {
    private static let logger = Logger(label: "streamd.scheduling")

    /// Runs `body` (an `avcodec_open2`, `avformat_open_input`, `avio_open2`) and then undoes any real-time
    /// policy it left on a thread of this process. Undoing never fails the call: a thread that refuses the
    /// change is logged and the open goes on.
    package static func containRealtimePolicies<T>(_ body: () throws -> T) rethrows -> T {
        var policy: Int32 = 0, priority: Int32 = 0
        let known = streamd_current_thread_policy(&policy, &priority) == 0
        defer {
            if known, streamd_reset_realtime_threads(policy, priority) < 0 {
                logger.warning("a library left a thread on a real-time scheduling policy that could not be undone: \(String(cString: strerror(errno)))")
            }
        }
        return try body()
    }
}

/// `avcodec_open2` for every decoder and encoder streamd opens, with the library's real-time policy undone
/// (`RealtimePolicyGuard`).
package func openCodec(_ context: UnsafeMutablePointer<AVCodecContext>, _ codec: UnsafePointer<AVCodec>,
                       _ options: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    RealtimePolicyGuard.containRealtimePolicies { avcodec_open2(context, codec, options) }
}
