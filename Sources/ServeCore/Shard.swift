import Pipeline

/// Which of N replicas of `streamd serve` runs which pipeline, when N replicas share one configuration: each
/// pipeline runs on the replica that scores highest for its name (rendezvous, or highest-random-weight,
/// hashing; Thaler and Ravishankar 1998). Every replica computes the same owners from the names alone, with no
/// coordination, so the replicas run every pipeline exactly once; and when N changes, only the pipelines whose
/// highest score moves to a replica that appeared (or away from one that left) move.
package struct Shard: Sendable, Equatable, CustomStringConvertible {
    package let index: Int
    package let count: Int

    /// One replica: it runs everything.
    package static let whole = Shard(index: 0, count: 1)

    package init(index: Int, count: Int) {
        precondition(count >= 1 && (0..<count).contains(index))
        self.index = index; self.count = count
    }

    package var description: String { "\(index)/\(count)" }

    /// The replica that runs the pipeline called `name`, of `count`.
    package static func owner(of name: String, count: Int) -> Int {
        (0..<count).max { score(name, $0) < score(name, $1) }!
    }

    package func owns(_ name: String) -> Bool { Self.owner(of: name, count: count) == index }

    /// A 64-bit score of (name, replica): FNV-1a of the name's bytes, then the SplitMix64 step of the replica's
    /// place in the sequence seeded with it, so every replica's scores are independent of the others'. Fixed
    /// here, never Swift's `Hasher` (seeded per process): every replica, on every machine and build, must agree.
    static func score(_ name: String, _ replica: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        var generator = SeededRandom(seed: h &+ 0x9e37_79b9_7f4a_7c15 &* UInt64(replica))
        return generator.next()
    }

    /// A malformed shard.
    package struct ParseError: Error, CustomStringConvertible {
        package var description: String
    }

    /// "INDEX/COUNT" (from 0), or "auto/COUNT": the index from the environment as a scheduler gives it, a
    /// Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`, else the ordinal that ends a StatefulSet pod's name
    /// (`HOSTNAME` streamd-2 → 2), else Slurm's `SLURM_ARRAY_TASK_ID` or `SLURM_PROCID`.
    package static func parse(_ text: String, environment: [String: String]) throws -> Shard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[1]) else {
            throw ParseError(description: "shard '\(text)' must be INDEX/COUNT (such as 0/3) or auto/COUNT")
        }
        guard count >= 1 else { throw ParseError(description: "shard '\(text)': the count must be at least 1") }
        let index: Int
        if parts[0] == "auto" {
            let hostOrdinal = environment["HOSTNAME"].flatMap { host in host.split(separator: "-").last.flatMap { Int($0) } }
            guard let found = environment["JOB_COMPLETION_INDEX"].flatMap({ Int($0) }) ?? hostOrdinal
                    ?? environment["SLURM_ARRAY_TASK_ID"].flatMap({ Int($0) }) ?? environment["SLURM_PROCID"].flatMap({ Int($0) }) else {
                throw ParseError(description: "shard '\(text)': no index in the environment (JOB_COMPLETION_INDEX, a HOSTNAME ending in -N, SLURM_ARRAY_TASK_ID or SLURM_PROCID)")
            }
            index = found
        } else {
            guard let given = Int(parts[0]) else {
                throw ParseError(description: "shard '\(text)' must be INDEX/COUNT (such as 0/3) or auto/COUNT")
            }
            index = given
        }
        guard (0..<count).contains(index) else {
            throw ParseError(description: "shard '\(text)': the index must be from 0 to \(count - 1), got \(index)")
        }
        return Shard(index: index, count: count)
    }
}
