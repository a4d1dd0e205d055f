/// A rational number, FFmpeg's way of writing time bases and frame rates (1/90000, 30000/1001).
public struct Rational: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var numerator: Int
    public var denominator: Int

    public init(_ numerator: Int, _ denominator: Int) {
        self.numerator = numerator
        self.denominator = denominator
    }

    public var doubleValue: Double { denominator == 0 ? 0 : Double(numerator) / Double(denominator) }
    public var description: String { "\(numerator)/\(denominator)" }
}

/// One decoded video frame on its way through the pipeline: the picture plus where it sits in time.
///
/// `sequence` counts frames in decode order from 0 (the pipeline's ordering key); `pts` is the
/// presentation timestamp in `timeBase` units as the source gave it (nil when the source had none), so
/// variable frame rate survives a transcode untouched.
public struct VideoFrame: Sendable, Equatable {
    public var sequence: Int
    public var pts: Int64?
    public var timeBase: Rational
    /// Display duration in `timeBase` units when known.
    public var duration: Int64?
    public var image: RGBImage

    public init(sequence: Int, pts: Int64?, timeBase: Rational, duration: Int64? = nil, image: RGBImage) {
        self.sequence = sequence
        self.pts = pts
        self.timeBase = timeBase
        self.duration = duration
        self.image = image
    }

    /// Presentation time in seconds, when known.
    public var seconds: Double? { pts.map { Double($0) * timeBase.doubleValue } }
}
