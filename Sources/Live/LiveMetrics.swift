import CoreMetrics
import Foundation
import Temporal

/// A stage of the live pipeline, as its metrics' `stage` label names it.
enum PipelineStage: String, CaseIterable, Sendable {
    case decode, stylize, encode
}

/// A queue between the stages, as the `queue` label names it.
enum QueueName: String, CaseIterable, Sendable {
    case decoded, stylized
}

/// One instrument per case of `Key`: a typo in a stage's name is a compile error, not a metric silently lost.
struct Instruments<Key: Hashable & CaseIterable, Value> {
    private let values: [Key: Value]
    init(_ make: (Key) -> Value) { values = Dictionary(uniqueKeysWithValues: Key.allCases.map { ($0, make($0)) }) }
    subscript(_ key: Key) -> Value { values[key]! }
}

/// A pipeline's instruments. Metric names and label names are the same for every pipeline:
/// `pipeline` everywhere, plus `stage` (decode, stylize, encode), `queue`, `output` where they apply.
final class LiveMetrics: @unchecked Sendable {
    let framesIn: Instruments<PipelineStage, Counter>
    let framesOut: Instruments<PipelineStage, Counter>
    let dropped: Instruments<PipelineStage, Counter>
    let stageLatency: Instruments<PipelineStage, CoreMetrics.Timer>
    let endToEnd: CoreMetrics.Timer
    let queueDepth: Instruments<QueueName, Gauge>
    let sourceReconnects: Counter
    let fps: Gauge
    /// 1 while running (kept beside the per-state gauges for simple alerts).
    let running: Gauge
    /// `streamd_pipeline_state{state=…}`: 1 for the current state, 0 for the others.
    let states: [PipelineState: Gauge]
    /// Temporal smoothing: frames blended with the previous output, new histories by reason, and the CPU time
    /// per smoothed frame (to compare with `stage="stylize"` latency).
    let smoothingBlended: Counter
    let smoothingResets: [SmoothingReset: Counter]
    let smoothingSeconds: CoreMetrics.Timer
    private let factory: any MetricsFactory
    private let pipeline: String
    private let lock = NSLock()
    private var outputs: [String: OutputInstruments] = [:]

    struct OutputInstruments {
        let reconnects: Counter
        let frames: Counter
        /// 1 while connected (or recording), 0 while idle or reconnecting.
        let connected: Gauge
    }

    init(pipeline: String, factory: any MetricsFactory) {
        self.factory = factory
        self.pipeline = pipeline
        func dims(_ extra: [(String, String)] = []) -> [(String, String)] { [("pipeline", pipeline)] + extra }
        framesIn = Instruments { Counter(label: "streamd_frames_in_total", dimensions: dims([("stage", $0.rawValue)]), factory: factory) }
        framesOut = Instruments { Counter(label: "streamd_frames_out_total", dimensions: dims([("stage", $0.rawValue)]), factory: factory) }
        dropped = Instruments { Counter(label: "streamd_frames_dropped_total", dimensions: dims([("stage", $0.rawValue)]), factory: factory) }
        stageLatency = Instruments {
            CoreMetrics.Timer(label: "streamd_stage_latency_seconds", dimensions: dims([("stage", $0.rawValue)]), factory: factory)
        }
        endToEnd = CoreMetrics.Timer(label: "streamd_end_to_end_latency_seconds", dimensions: dims(), factory: factory)
        queueDepth = Instruments { Gauge(label: "streamd_queue_depth", dimensions: dims([("queue", $0.rawValue)]), factory: factory) }
        sourceReconnects = Counter(label: "streamd_source_reconnects_total", dimensions: dims(), factory: factory)
        fps = Gauge(label: "streamd_output_fps", dimensions: dims(), factory: factory)
        running = Gauge(label: "streamd_pipeline_running", dimensions: dims(), factory: factory)
        states = Dictionary(uniqueKeysWithValues: PipelineState.allCases.map {
            ($0, Gauge(label: "streamd_pipeline_state", dimensions: dims([("state", $0.rawValue)]), factory: factory))
        })
        smoothingBlended = Counter(label: "streamd_smoothing_blended_frames_total", dimensions: dims(), factory: factory)
        smoothingResets = Dictionary(uniqueKeysWithValues: SmoothingReset.allCases.map {
            ($0, Counter(label: "streamd_smoothing_resets_total", dimensions: dims([("reason", $0.metricLabel)]), factory: factory))
        })
        smoothingSeconds = CoreMetrics.Timer(label: "streamd_smoothing_cpu_seconds", dimensions: dims(), factory: factory)
    }

    /// One frame through the smoothing stage; frames with smoothing off are not counted.
    func recordSmoothing(_ step: SmoothingStep, seconds: Double) {
        switch step {
        case .passedThrough: return
        case .blended: smoothingBlended.increment()
        case .reset(let reason): smoothingResets[reason]?.increment()
        }
        smoothingSeconds.recordNanoseconds(Int64(seconds * 1e9))
    }

    func setState(_ value: PipelineState) {
        running.record(value == .running ? 1 : 0)
        for (state, gauge) in states { gauge.record(state == value ? 1 : 0) }
    }

    func output(_ name: String) -> OutputInstruments {
        lock.lock(); defer { lock.unlock() }
        if let existing = outputs[name] { return existing }
        let dims = [("pipeline", pipeline), ("output", name)]
        let made = OutputInstruments(
            reconnects: Counter(label: "streamd_output_reconnects_total", dimensions: dims, factory: factory),
            frames: Counter(label: "streamd_output_frames_total", dimensions: dims, factory: factory),
            connected: Gauge(label: "streamd_output_connected", dimensions: dims, factory: factory))
        outputs[name] = made
        return made
    }
}

extension SmoothingReset {
    /// The `reason` label: snake case, as Prometheus labels are.
    var metricLabel: String {
        switch self {
        case .first: "first"
        case .discontinuity: "discontinuity"
        case .style: "style"
        case .sceneCut: "scene_cut"
        case .changed: "changed"
        }
    }
}
