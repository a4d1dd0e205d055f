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
            guard let stat = ProcStat(path: "\(tasks)/\(tid)/stat"), let priority = stat.int(40), let policy = stat.int(41) else { continue }
            if policy == 1 || policy == 2 {
                found.append(RealtimeThread(tid: Int(tid) ?? 0, name: stat.name, policy: policy, priority: priority))
            }
        }
        return found
    }
}

/// One `/proc/PID/stat` (or `/proc/PID/task/TID/stat`) line: the command name in parentheses, then fields 3 on,
/// numbered as proc(5) numbers them. Nil when the process or thread has ended.
public struct ProcStat {
    public let name: String
    private let fields: [Substring]

    public init?(path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        name = String(text[text.index(after: open)..<close])
        // The name may hold spaces and parentheses: the fields start after its last ')'.
        fields = text[text.index(after: close)...].split(separator: " ")
    }

    /// Field `number` (proc(5)'s numbering, 3 or more) as an integer.
    public func int(_ number: Int) -> Int? {
        number >= 3 && number - 3 < fields.count ? Int(fields[number - 3]) : nil
    }
}
