public import Foundation

/// The scheduling policy of every thread of a process, read from `/proc/PID/task/TID/stat` (fields 40 and 41:
/// rt_priority and policy), independently of streamd's own scheduling code.
public enum ThreadPolicies {
    /// One thread on a real-time policy: `tid comm SCHED_FIFO 99`.
    public struct RealtimeThread: CustomStringConvertible, Equatable {
        public var tid: Int
        public var name: String
        public var policy: Int
        public var priority: Int
        public var description: String { "\(tid) \(name) \(policy == 1 ? "SCHED_FIFO" : "SCHED_RR") \(priority)" }
    }

    /// The threads of `pid` (this process by default) that run SCHED_FIFO (1) or SCHED_RR (2) now. Threads that
    /// end while being read are left out.
    public static func realtimeThreads(of pid: Int32 = getpid()) throws -> [RealtimeThread] {
        let tasks = "/proc/\(pid)/task"
        var found: [RealtimeThread] = []
        for tid in try FileManager.default.contentsOfDirectory(atPath: tasks) {
            guard let stat = try? String(contentsOfFile: "\(tasks)/\(tid)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            // Field 3 (state) is the first after the name in parentheses, so field N is at index N - 3.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 38, let priority = Int(fields[37]), let policy = Int(fields[38]) else { continue }
            if policy == 1 || policy == 2 {
                found.append(RealtimeThread(tid: Int(tid) ?? 0, name: String(stat[stat.index(after: open)..<close]),
                                            policy: policy, priority: priority))
            }
        }
        return found
    }
}
