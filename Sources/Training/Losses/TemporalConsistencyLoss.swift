public import Pipeline
import Foundation

/// Output stability between two frames whose motion is known exactly, the training-time counterpart of the
/// run-time smoothing of `Temporal` (Huang et al. 2017, "Real-Time Neural Style Transfer for Videos"; ReCoNet,
/// Gao et al. 2018). Training has photos, not clips, so the second frame is made from the first: the photo moved
/// by a whole-pixel translation (dx, dy) with its revealed border repeated from the edge, plus sensor-like noise
/// (`TemporalPair`). The network's output for the moved frame should then be its output for the first frame,
/// moved the same way:
///
///     L = (1 / N) · Σ_{c, y, x ∈ M} (ŷ₁[c, y − dy, x − dx] − ŷ₂[c, y, x])²
///
/// over the N values of the overlap M (where (y − dy, x − dx) is inside the picture), pictures in 0…1. ŷ₂ is a
/// target (computed by a forward of its own, no gradient through it), so one backward through ŷ₁'s pass
/// serves the step; its gradient is dL/dŷ₁[c, y', x'] = 2 (ŷ₁[c, y', x'] − ŷ₂[c, y' + dy, x' + dx]) / N.
/// Summed in Double.
public enum TemporalConsistencyLoss {
    /// Returns weight · L and adds weight · dL/dŷ₁ into `gradient` (which has ŷ₁'s shape).
    public static func evaluate(_ first: FeatureMap, moved second: FeatureMap, dx: Int, dy: Int, weight: Double = 1,
                                addingGradientTo gradient: inout FeatureMap) -> Double {
        precondition(first.channels == second.channels && first.height == second.height && first.width == second.width,
                     "the two outputs differ in shape")
        precondition(gradient.count == first.count, "gradient does not have the output's shape")
        let h = first.height, w = first.width
        let ys = max(0, -dy)..<min(h, h - dy), xs = max(0, -dx)..<min(w, w - dx)
        let n = first.channels * ys.count * xs.count
        guard n > 0 else { return 0 }
        let scale = weight / Double(n)
        var sum = 0.0
        for c in 0..<first.channels {
            for y in ys {
                let row = (c * h + y) * w, movedRow = (c * h + y + dy) * w + dx
                for x in xs {
                    let d = Double(first.values[row + x]) - Double(second.values[movedRow + x])
                    sum += d * d
                    gradient.values[row + x] += Float(2 * scale * d)
                }
            }
        }
        return scale * sum
    }
}

/// The second frame of a synthetic pair: `picture` moved by (dx, dy) whole pixels, the revealed border repeated
/// from the edge, plus Gaussian noise of standard deviation `noise` (0…1 units), clamped to 0…1. Drawn from
/// `random`, so a seeded generator reproduces it.
public enum TemporalPair {
    public static func moved(_ picture: FeatureMap, dx: Int, dy: Int, noise: Float, random: inout SeededRandom) -> FeatureMap {
        let h = picture.height, w = picture.width
        var out = FeatureMap(channels: picture.channels, height: h, width: w)
        for c in 0..<picture.channels {
            for y in 0..<h {
                let sy = min(max(y - dy, 0), h - 1)
                for x in 0..<w {
                    let sx = min(max(x - dx, 0), w - 1)
                    var v = picture.values[(c * h + sy) * w + sx]
                    if noise > 0 { v += noise * gaussian(&random) }
                    out.values[(c * h + y) * w + x] = min(max(v, 0), 1)
                }
            }
        }
        return out
    }

    /// A standard normal value (Box–Muller).
    static func gaussian(_ random: inout SeededRandom) -> Float {
        let u = max(random.unit(), 1e-7), v = random.unit()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
