import Foundation
public import Pipeline

/// The temporal warping error of Lai et al. 2018 ("Learning Blind Video Temporal Consistency"), accumulated over
/// consecutive frame pairs: for frames t−1, t of the *original* video, the flow from t to t−1 and back; pixels
/// failing the forward–backward check (occluded or mismatched) are masked out; the error of the pair is the
/// masked mean, over pixels, of the squared RGB distance (channels in 0…1, summed) between stylized frame t and
/// stylized frame t−1 warped to t. The video's error is the mean over pairs.
///
/// Flow here is DIS at its `medium` preset on the full-size grey originals, deliberately not the smoothing
/// stage's cheaper flow on reduced guides, so the measure does not simply reward the smoother's own motion
/// estimate (Lai et al. used FlowNet2, which is not available here; the same caveat applies to any flow).
public final class WarpingErrorMeter {
    private let dis: DISFlow
    private var previousOriginal: [UInt8] = []
    private var previousStylized: RGBImage?
    private var backward = FlowField(width: 0, height: 0, vectors: [])
    private var forward = FlowField(width: 0, height: 0, vectors: [])
    private var size = (width: 0, height: 0)
    public private(set) var pairErrors: [Double] = []
    /// Share of pixels the occlusion mask kept, per pair.
    public private(set) var pairCoverage: [Double] = []

    public init() throws {
        dis = try DISFlow(preset: .medium)
    }

    /// The mean warping error over the pairs added so far (0 with fewer than two frames).
    public var meanError: Double { pairErrors.isEmpty ? 0 : pairErrors.reduce(0, +) / Double(pairErrors.count) }

    /// Adds the next frame: its original and its stylization, the same size.
    public func add(original: RGBImage, stylized: RGBImage) throws {
        guard original.width == stylized.width, original.height == stylized.height else {
            throw TemporalError("original frame \(original.width)x\(original.height) and stylized frame \(stylized.width)x\(stylized.height) differ in size")
        }
        let grey = Self.grey(original)
        defer {
            previousOriginal = grey
            previousStylized = stylized
            size = (original.width, original.height)
        }
        guard let previousStylized, size == (original.width, original.height) else { return }
        let w = original.width, h = original.height
        try dis.flow(from: grey, to: previousOriginal, width: w, height: h, into: &backward)
        try dis.flow(from: previousOriginal, to: grey, width: w, height: h, into: &forward)
        var sum = 0.0, kept = 0
        previousStylized.pixels.withUnsafeBufferPointer { prev in
            stylized.pixels.withUnsafeBufferPointer { cur in
                backward.vectors.withUnsafeBufferPointer { b in
                    forward.vectors.withUnsafeBufferPointer { f in
                        for y in 0..<h {
                            for x in 0..<w {
                                let i = y * w + x
                                let bx = b[2 * i], by = b[2 * i + 1]
                                let px = Float(x) + bx, py = Float(y) + by
                                guard px >= 0, py >= 0, px <= Float(w - 1), py <= Float(h - 1) else { continue }
                                let (fx, fy) = FlowField.sample(f, width: w, height: h, px, py)
                                let ex = bx + fx, ey = by + fy
                                guard ex * ex + ey * ey <= 0.01 * (bx * bx + by * by + fx * fx + fy * fy) + 0.5 else { continue }
                                let x0 = Int(px), y0 = Int(py)
                                let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                                let ax = px - Float(x0), ay = py - Float(y0)
                                var pixel = 0.0
                                for ch in 0..<3 {
                                    let p00 = Float(prev[(y0 * w + x0) * 3 + ch]), p01 = Float(prev[(y0 * w + x1) * 3 + ch])
                                    let p10 = Float(prev[(y1 * w + x0) * 3 + ch]), p11 = Float(prev[(y1 * w + x1) * 3 + ch])
                                    let top = p00 + (p01 - p00) * ax, bottom = p10 + (p11 - p10) * ax
                                    let d = Double((Float(cur[i * 3 + ch]) - (top + (bottom - top) * ay)) / 255)
                                    pixel += d * d
                                }
                                sum += pixel
                                kept += 1
                            }
                        }
                    }
                }
            }
        }
        pairErrors.append(kept > 0 ? sum / Double(kept) : 0)
        pairCoverage.append(Double(kept) / Double(w * h))
    }

    /// Full-size grey (BT.601 weights), what the flow runs on.
    static func grey(_ image: RGBImage) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<dst.count {
                    let v = 77 * UInt32(src[3 * i]) + 150 * UInt32(src[3 * i + 1]) + 29 * UInt32(src[3 * i + 2])
                    dst[i] = UInt8((v + 128) >> 8)
                }
            }
        }
        return out
    }
}

/// Peak signal-to-noise ratio between two videos frame by frame (8-bit RGB, peak 255): how far smoothing moved
/// the picture from the unsmoothed stylization.
public struct PSNRMeter {
    private var squaredError = 0.0
    private var samples = 0
    public private(set) var worstFrame = Double.infinity

    public init() {}

    public mutating func add(_ a: RGBImage, _ b: RGBImage) throws {
        guard a.width == b.width, a.height == b.height else {
            throw TemporalError("frames \(a.width)x\(a.height) and \(b.width)x\(b.height) differ in size")
        }
        var sum = 0.0
        a.pixels.withUnsafeBufferPointer { x in
            b.pixels.withUnsafeBufferPointer { y in
                for i in 0..<x.count {
                    let d = Double(Int(x[i]) - Int(y[i]))
                    sum += d * d
                }
            }
        }
        squaredError += sum
        samples += a.pixels.count
        worstFrame = min(worstFrame, Self.psnr(mse: sum / Double(a.pixels.count)))
    }

    /// Over all frames added (the mean squared error of every sample), infinite for identical videos.
    public var psnr: Double { samples == 0 ? .infinity : Self.psnr(mse: squaredError / Double(samples)) }

    static func psnr(mse: Double) -> Double {
        mse == 0 ? .infinity : 10 * log10((255.0 * 255.0) / mse)
    }
}
