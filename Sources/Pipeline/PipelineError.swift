/// The error that stopped a pipeline: which stage, a one-line message for people, and the cause for the log.
///
/// The first real error wins and stops the whole graph (fftools' `task_wrapper`); later errors are
/// consequences of the stop and are not reported, so callers see exactly one of these per failed run.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    /// The stage that failed, as it was named when it was added ("decode", "stylize", "encode").
    public var stage: String
    /// One line for people, without the stage name.
    public var message: String
    /// What the stage threw, kept for `catch` and for the debug log.
    public var underlying: (any Error)?

    public init(stage: String, message: String, underlying: (any Error)? = nil) {
        self.stage = stage
        self.message = message
        self.underlying = underlying
    }

    /// Wraps whatever a stage threw; a `PipelineError` from a nested component is kept as it is, so the stage
    /// that actually failed (a worker inside "stylize") is the one named.
    public init(stage: String, wrapping error: any Error) {
        if let error = error as? PipelineError {
            self = error
        } else {
            self.init(stage: stage, message: Pipeline.oneLine(error), underlying: error)
        }
    }

    /// "<stage>: <message>".
    public var description: String { "\(stage): \(message)" }
}

/// What a stage may throw when it notices the pipeline was cancelled; it ends the stage without being
/// reported as the pipeline's error.
public struct StageCancelled: Error, Sendable {
    public init() {}
}
