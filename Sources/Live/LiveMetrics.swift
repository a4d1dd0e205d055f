import CoreMetrics
import Foundation

/// A pipeline's instruments. Metric names and label names are the same for every pipeline:
/// `pipeline` everywhere, plus `stage` (decode, stylize, encode), `queue`, `output` where they apply.
final class LiveMetrics: @unchecked Sendable {
    let framesIn: [String: Counter]
    let framesOut: [String: Counter]
    let dropped: [String: Counter]
    let stageLatency: [String: CoreMetrics.Timer]
    let endToEnd: CoreMetrics.Timer
    let queueDepth: [String: Gauge]
    let sourceReconnects: Counter
    let fps: Gauge
    let state: Gauge
    private let factory: any MetricsFactory
    private let pipeline: String
    private let lock = NSLock()
    private var outputs: [String: (reconnects: Counter, frames: Counter)] = [:]

    init(pipeline: String, factory: any MetricsFactory) {
        self.factory = factory
        self.pipeline = pipeline
        let stages = ["decode", "stylize", "encode"]
        func dims(_ extra: [(String, String)] = []) -> [(String, String)] { [("pipeline", pipeline)] + extra }
        framesIn = Dictionary(uniqueKeysWithValues: stages.map {
            ($0, Counter(label: "streamd_frames_in_total", dimensions: dims([("stage", $0)]), factory: factory))
        })
        framesOut = Dictionary(uniqueKeysWithValues: stages.map {
            ($0, Counter(label: "streamd_frames_out_total", dimensions: dims([("stage", $0)]), factory: factory))
        })
        dropped = Dictionary(uniqueKeysWithValues: stages.map {
            ($0, Counter(label: "streamd_frames_dropped_total", dimensions: dims([("stage", $0)]), factory: factory))
        })
        stageLatency = Dictionary(uniqueKeysWithValues: stages.map {
            ($0, CoreMetrics.Timer(label: "streamd_stage_latency_seconds", dimensions: dims([("stage", $0)]), factory: factory))
        })
        endToEnd = CoreMetrics.Timer(label: "streamd_end_to_end_latency_seconds", dimensions: dims(), factory: factory)
        queueDepth = Dictionary(uniqueKeysWithValues: ["decoded", "stylized"].map {
            ($0, Gauge(label: "streamd_queue_depth", dimensions: dims([("queue", $0)]), factory: factory))
        })
        sourceReconnects = Counter(label: "streamd_source_reconnects_total", dimensions: dims(), factory: factory)
        fps = Gauge(label: "streamd_output_fps", dimensions: dims(), factory: factory)
        state = Gauge(label: "streamd_pipeline_running", dimensions: dims(), factory: factory)
    }

    func output(_ name: String) -> (reconnects: Counter, frames: Counter) {
        lock.lock(); defer { lock.unlock() }
        if let existing = outputs[name] { return existing }
        let dims = [("pipeline", pipeline), ("output", name)]
        let made = (Counter(label: "streamd_output_reconnects_total", dimensions: dims, factory: factory),
                    Counter(label: "streamd_output_frames_total", dimensions: dims, factory: factory))
        outputs[name] = made
        return made
    }
}
