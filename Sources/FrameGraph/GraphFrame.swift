public import Pipeline
public import Temporal

/// A frame on its way through the graph: the picture, when the source delivered it, and the stylize worker's
/// tag for the smoothing stage. One type for every pipeline, file or live.
public struct GraphFrame: SmoothableFrame {
    public var frame: VideoFrame
    /// When the source handed the frame on (the pipeline clock): the latency budget and the live outputs'
    /// timestamps are measured from it.
    public var captured: ContinuousClock.Instant
    /// Counts the source's (re)connections: frames of different segments are not one continuous stream, so
    /// smoothing never blends across them. A file is one segment.
    public var segment: Int
    /// Set by the stylize worker when the style smooths: the guide of the input frame.
    public var temporalTag: TemporalTag?

    public init(frame: VideoFrame, captured: ContinuousClock.Instant = .now, segment: Int = 0, temporalTag: TemporalTag? = nil) {
        self.frame = frame; self.captured = captured; self.segment = segment; self.temporalTag = temporalTag
    }

    public mutating func withStylizedImage(_ body: (inout RGBImage) throws -> Void) rethrows {
        try body(&frame.image)
    }
}
