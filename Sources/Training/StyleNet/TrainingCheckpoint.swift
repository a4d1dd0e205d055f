import Foundation
import Pipeline
import Stylize

/// A resumable training state in one folder:
/// - `model.safetensors`: the network as a native model file (usable at once by `image`, `transcode`, `serve`);
/// - `optimizer.f32`: every parameter array's Adam moments, first then second, in `visitParameters` order;
/// - `state.json`: architecture, settings, step, the data position (epoch, position of the last photo used),
///   the seed and each array's Adam step and size.
/// Written to a temporary folder and renamed, so a checkpoint is complete or absent.
public struct TrainingCheckpoint: Codable, Sendable {
    public struct ArrayState: Codable, Sendable {
        public var name: String
        public var count: Int
        public var step: Int
    }

    public var architecture: StyleNetworkArchitecture
    public var settings: PerceptualTrainer.Settings
    public var steps: Int
    public var epoch: Int
    /// Position in the epoch's order of the last photo used; training resumes after it.
    public var position: Int
    public var seed: UInt64
    public var imageSize: Int
    public var styleNames: [String]
    public var arrays: [ArrayState]
    /// Who wrote it: the scheduler's attempt (Slurm's job and restart count, a Kubernetes pod), the host and the
    /// process, so a run that moved between machines leaves a trail. Absent in checkpoints of older versions.
    public var attempt: String?

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes `trainer`'s network and optimiser state into the folder `path` (replacing an older one).
    public static func write(_ trainer: PerceptualTrainer, epoch: Int, position: Int, seed: UInt64, imageSize: Int,
                             styleNames: [String], attempt: String? = nil, to path: String) throws {
        let fm = FileManager.default
        // Beside the final folder and named after the host and process: two nodes that share the folder never
        // write into one temporary folder.
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.hostName)-\(getpid())"
        try? fm.removeItem(atPath: temporary)
        do {
            try fm.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            let model = trainer.network.export(name: (path as NSString).lastPathComponent, styleNames: styleNames,
                                               notes: "checkpoint of streamd train at step \(trainer.steps)")
            try NativeModelFile.write(model, to: (temporary as NSString).appendingPathComponent("model.safetensors"))
            let state = trainer.optimizerState()
            var moments: [Float] = []
            for s in state { moments += s.first; moments += s.second }
            try moments.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("optimizer.f32")))
            let checkpoint = TrainingCheckpoint(architecture: trainer.network.architecture, settings: trainer.settings, steps: trainer.steps,
                                                epoch: epoch, position: position, seed: seed, imageSize: imageSize, styleNames: styleNames,
                                                arrays: state.map { ArrayState(name: $0.name, count: $0.first.count, step: $0.step) },
                                                attempt: attempt ?? Self.currentAttempt())
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(checkpoint).write(to: URL(fileURLWithPath: (temporary as NSString).appendingPathComponent("state.json")))
            try? fm.removeItem(atPath: path)
            try fm.moveItem(atPath: temporary, toPath: path)
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw Problem(description: "\(path): cannot write the checkpoint (\(error.localizedDescription))")
        }
    }

    /// The scheduler's name for this attempt, the host and the process: "slurm job 42 restart 1 on n2 (pid 311)".
    public static func currentAttempt(environment given: [String: String]? = nil) -> String {
        let environment = given ?? ProcessInfo.processInfo.environment
        var parts: [String] = []
        if let job = environment["SLURM_JOB_ID"] {
            parts.append("slurm job \(job)" + (environment["SLURM_RESTART_COUNT"].map { " restart \($0)" } ?? ""))
        } else if let pod = environment["POD_NAME"] ?? environment["KUBERNETES_SERVICE_HOST"].flatMap({ _ in environment["HOSTNAME"] }) {
            parts.append("pod \(pod)")
        }
        let host = environment["SLURMD_NODENAME"] ?? ProcessInfo.processInfo.hostName
        parts.append("on \(host) (pid \(getpid()))")
        return parts.joined(separator: " ")
    }

    /// The checkpoint of the most steps in `directory` (folders `step-N` with a state), or nil when it has none:
    /// where a requeued run goes on.
    public static func latest(in directory: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let steps = names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("step-"), let n = Int(name.dropFirst(5)) else { return nil }
            let path = (directory as NSString).appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("state.json")) ? (n, path) : nil
        }
        return steps.max { $0.0 < $1.0 }?.1
    }

    /// Reads a checkpoint folder's state.
    public static func read(_ path: String) throws -> TrainingCheckpoint {
        let statePath = (path as NSString).appendingPathComponent("state.json")
        guard let data = FileManager.default.contents(atPath: statePath) else {
            throw Problem(description: "\(path): not a streamd training checkpoint (no state.json)")
        }
        do { return try JSONDecoder().decode(TrainingCheckpoint.self, from: data) } catch {
            throw Problem(description: "\(statePath): not a valid checkpoint state (\(error))")
        }
    }

    /// Puts the checkpoint's weights into `trainer.network` and its optimiser state into `trainer`.
    public func restore(into trainer: PerceptualTrainer, from path: String) throws {
        guard trainer.network.architecture == architecture else {
            throw Problem(description: "\(path): the checkpoint is a \(architecture.name) network (\(architecture.widths), \(architecture.residualBlocks) blocks, \(architecture.styleEmbedding > 0 ? "a \(architecture.styleEmbedding)-value style embedding" : "\(architecture.styles) styles")), not the one asked for")
        }
        let model = try NativeModelFile.load(path: (path as NSString).appendingPathComponent("model.safetensors"))
        var missing: [String] = []
        trainer.network.visitParameters { name, values, _ in
            guard let exported = StyleNetwork.exportedParameter(name, in: model), exported.count == values.count else { missing.append(name); return }
            values = exported
        }
        guard missing.isEmpty else { throw Problem(description: "\(path): model.safetensors lacks or mis-sizes \(missing.joined(separator: ", "))") }
        let momentsPath = (path as NSString).appendingPathComponent("optimizer.f32")
        guard let data = FileManager.default.contents(atPath: momentsPath) else { throw Problem(description: "\(momentsPath): missing") }
        let floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        guard floats.count == arrays.reduce(0, { $0 + 2 * $1.count }) else {
            throw Problem(description: "\(momentsPath): \(floats.count) values, expected \(arrays.reduce(0, { $0 + 2 * $1.count }))")
        }
        var offset = 0
        var state: [(name: String, step: Int, first: [Float], second: [Float])] = []
        for a in arrays {
            let first = Array(floats[offset..<(offset + a.count)])
            let second = Array(floats[(offset + a.count)..<(offset + 2 * a.count)])
            offset += 2 * a.count
            state.append((a.name, a.step, first, second))
        }
        trainer.restore(steps: steps, optimizerState: state)
    }
}
