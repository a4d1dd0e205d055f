import CThreadScheduling
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps compute threads on distinct cores.
///
/// Why: a frame is hundreds of short fork-join passes. When the scheduler puts two compute threads of the
/// process on one core (it does, briefly, after every block/wake), a pass waits for the slower half and the
/// cache-warm tiles of a GEMM move between cores. Each `ComputePool` reserves as many cores as it has threads
/// from the process's allowed CPU set; pools that together want more threads than there are cores run
/// unpinned (then the scheduler has to share them out anyway). Set `STREAMD_PIN_THREADS=0` to turn it off.
///
/// Linux only (`sched_setaffinity`, through the CThreadScheduling shim); elsewhere nothing is pinned.
enum CoreAffinity {
    /// Cores of the allowed CPU set that no live pool has reserved.
    private static let state = Mutex<State?>(nil)

    private struct State {
        var allowed: [Int]
        var reserved: Set<Int> = []
    }

    /// Whether pinning is on (the default) — `STREAMD_PIN_THREADS=0` turns it off.
    static var enabled: Bool {
        guard let value = getenv("STREAMD_PIN_THREADS") else { return true }
        return String(cString: value) != "0"
    }

    /// Reserves `count` distinct cores, or returns nil when fewer are free (or pinning is off).
    static func reserve(_ count: Int) -> [Int]? {
        guard enabled, count >= 1 else { return nil }
        return state.withLock { state -> [Int]? in
            if state == nil { state = State(allowed: currentMask() ?? []) }
            let free = state!.allowed.filter { !state!.reserved.contains($0) }
            guard free.count >= count else { return nil }
            let chosen = Array(free.prefix(count))
            state!.reserved.formUnion(chosen)
            return chosen
        }
    }

    static func release(_ cores: [Int]) {
        state.withLock { state in
            for c in cores { state?.reserved.remove(c) }
        }
    }

    /// The calling thread's allowed cores, ascending.
    static func currentMask() -> [Int]? {
        var cpus = [Int32](repeating: 0, count: 1024)
        let n = streamd_allowed_cpus(&cpus, Int32(cpus.count))
        return n > 0 ? cpus.prefix(Int(n)).map(Int.init) : nil
    }

    /// Restricts the calling thread to `cores`; false if the system refused.
    @discardableResult
    static func pinCurrentThread(to cores: [Int]) -> Bool {
        guard !cores.isEmpty else { return false }
        let cpus = cores.map(Int32.init)
        return streamd_pin_current_thread(cpus, Int32(cpus.count)) == 0
    }
}
