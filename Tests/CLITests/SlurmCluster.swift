import Foundation
import TestSupport

/// A real Slurm cluster on loopback, started by the test itself (Debian 12's slurm-wlm 22.05 and munge): a
/// controller and two compute nodes `n1` and `n2`, one CPU each, every daemon in the foreground as a child of
/// the test, each slurmd in its own PID namespace (`unshare -pf --mount-proc`) so that killing a node kills the
/// jobs running on it, as a machine that dies would. Clients (`sbatch`, `scontrol`) find it through
/// `SLURM_CONF`. Every wait is bounded.
final class SlurmCluster {
    let directory: TempDir
    let configuration: String
    /// The daemons' process ids. They are started through a shell and left to the system, not as children of
    /// this process: `Process` on Linux waits forever for a child whose descriptors a daemon it started still
    /// holds.
    private var controller: Int32?
    /// munged, when this cluster started it (a system one that runs already is used as it is).
    private var munge: Int32?
    private var nodes: [String: Int32] = [:]
    private let controllerPort: Int
    private let nodePorts: [String: Int]

    var environment: [String: String] { ["SLURM_CONF": configuration] }

    init() throws {
        directory = try TempDir("slurm")
        configuration = directory.file("slurm.conf")
        let ports = try (0..<3).map { _ in try Self.freePort() }
        controllerPort = ports[0]
        nodePorts = ["n1": ports[1], "n2": ports[2]]
        for sub in ["state", "spool-n1", "spool-n2"] {
            try FileManager.default.createDirectory(atPath: directory.file(sub), withIntermediateDirectories: true)
        }
        let d = directory.path
        // Short timeouts so a dead node is noticed in seconds; completed jobs stay visible to `scontrol` for the
        // test's length; a node that comes back returns to service by itself.
        try """
        ClusterName=streamdtest
        SlurmctldHost=localhost
        SlurmctldPort=\(controllerPort)
        AuthType=auth/munge
        CredType=cred/munge
        SlurmUser=root
        SlurmdUser=root
        StateSaveLocation=\(d)/state
        SlurmdSpoolDir=\(d)/spool-%n
        SlurmctldPidFile=\(d)/slurmctld.pid
        SlurmdPidFile=\(d)/slurmd-%n.pid
        SlurmctldLogFile=\(d)/slurmctld.log
        SlurmdLogFile=\(d)/slurmd-%n.log
        ProctrackType=proctrack/linuxproc
        TaskPlugin=task/none
        SelectType=select/cons_tres
        SelectTypeParameters=CR_CPU
        SchedulerType=sched/backfill
        SlurmdParameters=config_overrides
        ReturnToService=2
        SlurmdTimeout=3
        SlurmctldTimeout=5
        MessageTimeout=5
        InactiveLimit=0
        KillWait=2
        MinJobAge=600
        JobRequeue=1
        MpiDefault=none
        NodeName=n1 NodeHostname=localhost Port=\(nodePorts["n1"]!) CPUs=1 RealMemory=1000 State=UNKNOWN
        NodeName=n2 NodeHostname=localhost Port=\(nodePorts["n2"]!) CPUs=1 RealMemory=1000 State=UNKNOWN
        PartitionName=main Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
        """.write(toFile: configuration, atomically: true, encoding: .utf8)
        try startMunge()
        controller = try launch("/usr/sbin/slurmctld", ["-D", "-c", "-f", configuration], log: "slurmctld.out")
        for name in ["n1", "n2"] { try startNode(name) }
        try wait("both nodes idle", seconds: 60) {
            let (_, out) = try runTool("/usr/bin/sinfo", ["-h", "-N", "-o", "%N %T"], environment: environment)
            return out.split(separator: "\n").filter { $0.hasSuffix(" idle") }.count == 2
        }
    }

    deinit { stop() }

    /// munged as the munge user on the system socket, unless one runs already. In the foreground and started
    /// like every other daemon here: a munged that forks itself into the background keeps the descriptors
    /// Foundation gave its parent, and the parent then never looks finished (on a fresh machine, where no
    /// munged ran yet, that hung the suite until CI gave up).
    private func startMunge() throws {
        if (try? runTool("/usr/bin/pgrep", ["-x", "munged"]))?.status == 0 { return }
        try FileManager.default.createDirectory(atPath: "/run/munge", withIntermediateDirectories: true)
        try runTool("/usr/bin/chown", ["munge:munge", "/run/munge"])
        munge = try launch("/usr/sbin/runuser", ["-u", "munge", "--", "/usr/sbin/munged", "--foreground"], log: "munged.out")
        try wait("munged answering", seconds: 20) {
            guard let pid = munge, Self.alive(pid) else {
                throw Failure("munged stopped: \((try? String(contentsOfFile: directory.file("munged.out"), encoding: .utf8)) ?? "")")
            }
            return (try runTool("/usr/bin/munge", ["-n"])).status == 0
        }
    }

    /// Starts `executable` in the background with its output in `log`: its process id.
    private func launch(_ executable: String, _ arguments: [String], log: String) throws -> Int32 {
        let words = ([executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }.joined(separator: " ")
        // Every descriptor above 2 closed first: Foundation learns that a child exited when the last copy of a
        // descriptor it gave the child closes, and a daemon holding one would make the shell look alive forever.
        let closeInherited = #"for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null; done; "#
        let r = try runTool("/bin/bash", ["-c", closeInherited + "\(words) > '\(directory.file(log))' 2>&1 < /dev/null & echo $!"],
                            environment: environment)
        guard r.status == 0, let pid = Int32(r.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure("cannot start \(executable): \(r.output)")
        }
        return pid
    }

    /// Starts (or restarts) node `name`'s slurmd in a PID namespace of its own.
    func startNode(_ name: String) throws {
        nodes[name] = try launch("/usr/bin/unshare", ["-pf", "--mount-proc", "/usr/sbin/slurmd", "-D", "-f", configuration, "-N", name],
                                 log: "slurmd-\(name).out")
    }

    /// Kills node `name` as a machine dies: its slurmd, the namespace's first process, gets SIGKILL, and the
    /// kernel kills every job process in the namespace with it.
    func killNode(_ name: String) throws {
        guard let unshare = nodes[name] else { throw Failure("no node \(name)") }
        let (_, children) = try runTool("/usr/bin/pgrep", ["-P", String(unshare)])
        guard let slurmd = children.split(separator: "\n").first.flatMap({ Int32($0) }) else { throw Failure("\(name): no slurmd under unshare") }
        kill(slurmd, SIGKILL)
        try wait("node \(name) gone", seconds: 10) { !Self.alive(unshare) }
        nodes[name] = nil
    }

    /// `sbatch --parsable ARGS SCRIPT`: the job id.
    func submit(_ arguments: [String], script: String) throws -> String {
        let path = directory.file("job-\(UUID().uuidString.prefix(8)).sh")
        try ("#!/bin/bash\nset -euo pipefail\n" + script + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        let r = try runTool("/usr/bin/sbatch", ["--parsable"] + arguments + [path], environment: environment, captureErrors: true)
        guard r.status == 0, let id = r.output.split(separator: "\n").first.map({ String($0.split(separator: ";")[0]) }) else {
            throw Failure("sbatch failed: \(r.output)")
        }
        return id
    }

    /// `scontrol show job ID`'s fields (for an array, its first task's).
    func job(_ id: String) throws -> [String: String] {
        let (_, out) = try runTool("/usr/bin/scontrol", ["show", "job", "-o", id], environment: environment)
        var fields: [String: String] = [:]
        for line in out.split(separator: "\n").prefix(1) {
            for pair in line.split(separator: " ") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
            }
        }
        return fields
    }

    /// The states of every job (array tasks one by one), by id.
    func states() throws -> [String: String] {
        let (_, out) = try runTool("/usr/bin/squeue", ["-h", "-t", "all", "-r", "-o", "%i %T"], environment: environment)
        return Dictionary(out.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }, uniquingKeysWith: { $1 })
    }

    /// Slurm holds a batch job requeued after a node failure for two minutes before it may start again (a
    /// fixed delay of slurmctld); an operator in a hurry moves its begin time to now, as this does.
    func releaseRequeued() throws {
        let (_, out) = try runTool("/usr/bin/squeue", ["-h", "-t", "PD", "-r", "-o", "%i %r"], environment: environment)
        for line in out.split(separator: "\n") where line.hasSuffix(" BeginTime") {
            _ = try runTool("/usr/bin/scontrol", ["update", "jobid=\(line.split(separator: " ")[0])", "StartTime=now"], environment: environment)
        }
    }

    func wait(_ what: String, seconds: TimeInterval, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else {
                let log = (try? String(contentsOfFile: directory.file("slurmctld.log"), encoding: .utf8))?.split(separator: "\n").suffix(15).joined(separator: "\n") ?? ""
                throw Failure("Slurm: \(what): not within \(Int(seconds)) s; states \((try? states()) ?? [:]); slurmctld.log:\n\(log)")
            }
            usleep(200_000)
        }
    }

    func stop() {
        _ = try? runTool("/usr/bin/scancel", ["--full", "--user", "root"], environment: environment)
        for (_, unshare) in nodes {
            if let (_, children) = try? runTool("/usr/bin/pgrep", ["-P", String(unshare)]) {
                for pid in children.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
            kill(unshare, SIGKILL)
        }
        nodes = [:]
        if let controller {
            kill(controller, SIGTERM)
            let deadline = Date().addingTimeInterval(5)
            while Self.alive(controller) && Date() < deadline { usleep(50_000) }
            kill(controller, SIGKILL)
        }
        controller = nil
        if let munge { kill(munge, SIGTERM) }
        munge = nil
    }

    /// Running (a zombie that nobody reaped yet is not).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    static func freePort() throws -> Int { try freeLoopbackPort() }
}
