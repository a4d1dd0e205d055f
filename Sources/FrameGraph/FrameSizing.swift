public import Pipeline

/// The sizes a stylize worker takes a frame through: the size it is stylized at, and the size it leaves at.
public enum FrameSizing: Sendable, Equatable {
    /// Every frame stylized at `processing` and written at `output` (a transcode: the sizes come from the
    /// command line and the input, and the encoder was opened at `output`).
    case fixed(processing: PixelSize, output: PixelSize)
    /// Each frame stylized at its own size, its longer side cut to `maxSide` (a live source may change size
    /// at a reconnect), and left at that size.
    case fitted(maxSide: Int?)

    /// The processing and output sizes for a frame of `input`'s size.
    public func sizes(for input: PixelSize) -> (processing: PixelSize, output: PixelSize) {
        switch self {
        case .fixed(let processing, let output):
            return (processing, output)
        case .fitted(let maxSide):
            let fitted = Self.fitted(input, maxSide: maxSide)
            return (fitted, fitted)
        }
    }

    /// Longer side at most `maxSide` (as `transcode --max-size` fits it), both sides even (the encoder's 4:2:0
    /// needs it: an odd side that was not scaled would lose its last pixel).
    public static func fitted(_ size: PixelSize, maxSide: Int?) -> PixelSize {
        let (w, h) = FitSize.shrunk(width: size.width, height: size.height, maxSide: maxSide, rounding: .even, minimum: 2)
        return PixelSize(width: max(2, w & ~1), height: max(2, h & ~1))
    }
}
