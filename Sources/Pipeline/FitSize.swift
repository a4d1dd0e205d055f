/// A picture scaled so its longer side has a given length, the aspect ratio kept: the one rule behind
/// `--max-size` (image, transcode, eval), a pipeline's `max_size`, `POST /v1/stylize`'s `max_size`, `optimize`'s
/// sizes and the paintings' thumbnails.
public enum FitSize {
    public enum Rounding: Sendable {
        /// The other side to the nearest whole pixel.
        case nearest
        /// The other side to the nearest even number (4:2:0 video needs even sides).
        case even
    }

    /// `width`×`height` scaled so that the longer side is `longer`; the other side rounded as `rounding` says,
    /// and at least `minimum`.
    public static func longerSide(width: Int, height: Int, to longer: Int, rounding: Rounding = .nearest, minimum: Int = 1) -> (width: Int, height: Int) {
        precondition(width > 0 && height > 0 && longer > 0)
        let scale = Double(longer) / Double(max(width, height))
        func side(_ v: Int) -> Int {
            let scaled = Double(v) * scale
            let rounded = rounding == .even ? Int((scaled / 2).rounded()) * 2 : Int(scaled.rounded())
            return max(minimum, rounded)
        }
        return width >= height ? (max(minimum, longer), side(height)) : (side(width), max(minimum, longer))
    }

    /// `width`×`height` unchanged when its longer side is at most `maxSide`, otherwise scaled down to it.
    public static func shrunk(width: Int, height: Int, maxSide: Int?, rounding: Rounding = .nearest, minimum: Int = 1) -> (width: Int, height: Int) {
        guard let maxSide, max(width, height) > maxSide else { return (width, height) }
        return longerSide(width: width, height: height, to: maxSide, rounding: rounding, minimum: minimum)
    }
}
