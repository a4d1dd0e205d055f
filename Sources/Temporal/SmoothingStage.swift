public import Pipeline
import Synchronization

/// An item the smoothing stage can work on: a stylized picture (or none, for an item that only keeps a place,
/// such as a live frame dropped before stylization) and the tag of its input.
public protocol SmoothableFrame: Sendable {
    var temporalTag: TemporalTag? { get }
    /// Gives `body` the stylized picture in place (so a uniquely held buffer is modified without a copy); does
    /// nothing for an item without a picture.
    mutating func withStylizedImage(_ body: (inout RGBImage) throws -> Void) rethrows
}

extension Optional: SmoothableFrame where Wrapped: SmoothableFrame {
    public var temporalTag: TemporalTag? { self?.temporalTag }
    public mutating func withStylizedImage(_ body: (inout RGBImage) throws -> Void) rethrows {
        if self != nil { try self!.withStylizedImage(body) }
    }
}

/// What the smoothing stage did so far; read from any thread (the transcode summary, the bench script).
public final class SmoothingStatistics: Sendable {
    public struct Values: Sendable, Equatable {
        public var frames = 0
        public var blended = 0
        /// Resets by reason (a scene cut, a discontinuity the pipeline announced, …).
        public var resets: [SmoothingReset: Int] = [:]
        /// CPU time the stage's thread spent smoothing (flow, trust, warp and blend), for the cost against
        /// stylization.
        public var seconds = 0.0
    }

    private let state = Mutex(Values())

    public init() {}

    public var values: Values { state.withLock { $0 } }

    func record(_ step: SmoothingStep, seconds: Double) {
        state.withLock {
            $0.frames += 1
            $0.seconds += seconds
            switch step {
            case .passedThrough: break
            case .blended: $0.blended += 1
            case .reset(let reason): $0.resets[reason, default: 0] += 1
            }
        }
    }
}

/// The smoothing stage, the one both the transcode and the live pipeline build in after their ordered stylize
/// workers: `run` takes stylized frames in order from `input`, smooths each against the previous output
/// (`TemporalSmoother`), and hands them on to `output`, on the calling thread (a stage thread of the
/// pipeline's `StageGroup`). Its own thread because flow and blending must see frames in order, while the
/// workers before it run out of order and in parallel; bounded queues on both sides keep the memory bound.
///
/// Items without a picture are passed on and leave the history as it is: in a live pipeline that drops
/// frames before stylization, the flow is then taken between the inputs of consecutive *outputs*. End of
/// stream, cancellation and a consumer that went away propagate as in every stage.
public final class SmoothingStage: Sendable {
    public let statistics = SmoothingStatistics()
    private let flowPreset: DISFlow.Preset
    private let observer: (@Sendable (SmoothingStep, Double) -> Void)?

    /// `observer` hears of every frame's step and the CPU seconds it took, on the stage's thread (the live
    /// pipeline's metrics); it must be quick.
    public init(flowPreset: DISFlow.Preset = .fast, observer: (@Sendable (SmoothingStep, Double) -> Void)? = nil) {
        self.flowPreset = flowPreset
        self.observer = observer
    }

    public func run<Item: SmoothableFrame>(input: BoundedQueue<Item>, output: BoundedQueue<Item>) throws {
        let smoother = TemporalSmoother(flowPreset: flowPreset)
        while let received = input.receive() {
            var item = received
            let tag = item.temporalTag
            var failure: Error?
            item.withStylizedImage { image in
                let started = ThreadCPUClock.seconds()
                do {
                    let step = try smoother.process(&image, tag: tag)
                    let seconds = ThreadCPUClock.seconds() - started
                    statistics.record(step, seconds: seconds)
                    observer?(step, seconds)
                } catch {
                    failure = error
                }
            }
            if let failure {
                input.cancel()
                output.cancel()
                throw failure
            }
            if output.send(item) == .consumerGone {
                input.closeConsumer()
                return
            }
        }
        if input.isCancelled { output.cancel() } else { output.finish() }
    }
}
