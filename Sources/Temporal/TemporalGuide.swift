public import Pipeline

/// A small grey copy of an *input* frame: what the smoothing stage computes optical flow on.
///
/// Why input and not stylized frames: the flow must follow the scene, and brush strokes that flicker from frame
/// to frame are exactly what flow must not follow. Why small: DIS flow cost grows with the pixel count while
/// the motion that matters for smoothing is coarse; at most `defaultMaxSide` pixels on the longer side keeps a
/// 640×480 frame's flow at a few milliseconds. Made by the stylize workers (in parallel, before the input
/// buffer goes back to the pool), so the smoothing thread only computes flow, warps and blends.
public struct TemporalGuide: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `width * height` grey levels, rows top to bottom, no padding.
    public var pixels: [UInt8]

    /// The longer side of a guide made by `init(reducing:)` with the default limit.
    public static let defaultMaxSide = 320

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height,
                     "TemporalGuide \(width)x\(height) needs \(width * height) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// `image` in grey (BT.601 luma weights), shrunk by the smallest whole factor that brings its longer side to
    /// at most `maxSide`, each guide pixel the mean of its factor×factor block (a box filter: no aliasing of fine
    /// texture into false motion). Edge rows and columns that do not fill a whole block are left out.
    public init(reducing image: RGBImage, maxSide: Int = TemporalGuide.defaultMaxSide) {
        precondition(maxSide >= 8)
        let longer = max(image.width, image.height)
        let factor = max(1, (longer + maxSide - 1) / maxSide)
        let w = max(1, image.width / factor), h = max(1, image.height / factor)
        var out = [UInt8](repeating: 0, count: w * h)
        let sourceWidth = image.width
        let area = UInt32(factor * factor)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                // One row of block sums at a time, weighted luma in 8.8 fixed point: 77 R + 150 G + 29 B.
                var sums = [UInt32](repeating: 0, count: w)
                sums.withUnsafeMutableBufferPointer { sums in
                    for gy in 0..<h {
                        for i in 0..<w { sums[i] = 0 }
                        for dy in 0..<factor {
                            var p = ((gy * factor + dy) * sourceWidth) * 3
                            for gx in 0..<w {
                                var s: UInt32 = 0
                                for _ in 0..<factor {
                                    s &+= 77 &* UInt32(src[p]) &+ 150 &* UInt32(src[p + 1]) &+ 29 &* UInt32(src[p + 2])
                                    p += 3
                                }
                                sums[gx] &+= s
                            }
                        }
                        let row = gy * w
                        for gx in 0..<w { dst[row + gx] = UInt8((sums[gx] + (area << 7)) / (area << 8)) }
                    }
                }
            }
        }
        self.init(width: w, height: h, pixels: out)
    }
}
