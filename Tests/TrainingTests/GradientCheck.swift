import TestSupport
import Training

/// Central finite differences in double precision (what `torch.autograd.gradcheck` estimates) and the error
/// measures every gradient test reports.
enum GradientCheck {
    /// ∂f/∂xᵢ ≈ (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h for every i.
    static func numericalGradient(at x: [Double], step h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
        var x = x
        return (0..<x.count).map { i in
            let saved = x[i]
            x[i] = saved + h
            let up = f(x)
            x[i] = saved - h
            let down = f(x)
            x[i] = saved
            return (up - down) / (2 * h)
        }
    }

    /// max |a − b|.
    static func maxAbsDifference(_ a: [Float], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "\(a.count) values against \(b.count)")
        return zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
    }

    /// max |a − b| / max |b|: the worst error relative to the gradient's scale (a per-element relative error
    /// blows up at entries that happen to be near zero).
    static func relativeError(_ a: [Float], _ b: [Double]) -> Double {
        let scale = b.map(abs).max() ?? 0
        precondition(scale > 0, "reference gradient is all zeros: the check would prove nothing")
        return maxAbsDifference(a, b) / scale
    }

    /// Σ y·r: a scalar loss whose gradient with respect to y is the fixed random r, so every output matters.
    static func dot(_ y: [Double], _ r: [Double]) -> Double { zip(y, r).reduce(0) { $0 + $1.0 * $1.1 } }

    static func randomMap(_ rng: inout SplitMix64, channels: Int, height: Int, width: Int) -> FeatureMap {
        FeatureMap(channels: channels, height: height, width: width, values: rng.floats(channels * height * width))
    }
}

extension FeatureMap {
    var doubles: [Double] { values.map(Double.init) }
}
