#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time of the calling thread, in seconds. Why not wall time: the cost of smoothing is stated against
/// the cost of stylization, and on a busy machine (two workers on two cores, other processes) wall time
/// mostly measures waiting for a core, differently for each thread.
public enum ThreadCPUClock {
    public static func seconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}
