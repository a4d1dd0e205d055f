/// Instance normalisation, fused with the ReLU that usually follows.
///
/// Statistics are exact-ish regardless of frame size: partial sums in SIMD float lanes over short blocks,
/// blocks accumulated in Double, and the variance taken around the mean in a second pass (no E[x²]-E[x]²
/// cancellation; conv1 of a real photo reaches variances above 1e6).
enum Normalization {
    @inline(__always)
    static func blockSum(_ p: UnsafePointer<Float>, _ n: Int, centre: Float, squared: Bool) -> Double {
        var total = 0.0
        var i = 0
        let c8 = SIMD8<Float>(repeating: centre)
        while i < n {
            let end = min(i + 1024, n)
            var acc = SIMD8<Float>(repeating: 0)
            var j = i
            while j + 8 <= end {
                let v = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self) - c8
                acc += squared ? v * v : v
                j += 8
            }
            var s = acc.sum()
            while j < end {
                let v = p[j] - centre
                s += squared ? v * v : v
                j += 1
            }
            total += Double(s)
            i = end
        }
        return total
    }

    /// Mean and biased variance of one plane.
    static func moments(_ p: UnsafePointer<Float>, _ n: Int) -> (mean: Double, variance: Double) {
        let mean = blockSum(p, n, centre: 0, squared: false) / Double(n)
        let centre = Float(mean)
        // Centred on the float-rounded mean; the offset d corrects for that rounding exactly.
        let d = mean - Double(centre)
        let variance = blockSum(p, n, centre: centre, squared: true) / Double(n) - d * d
        return (mean, max(variance, 0))
    }

    /// y_c = scale_c·(x_c − μ_c)/√(σ²_c + ε) + shift_c, then ReLU if asked. `y` may equal `x`.
    static func instanceNorm(_ x: UnsafePointer<Float>, channels: Int, plane: Int,
                             scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?, epsilon: Float,
                             relu: Bool, into y: UnsafeMutablePointer<Float>, threads: Int) {
        parallelFor(channels, threads: threads) { c in
            let src = x + c * plane, dst = y + c * plane
            let (mean, variance) = moments(src, plane)
            let s = Double(scale?[c] ?? 1)
            let a = Float(s / (variance + Double(epsilon)).squareRoot())
            let b = Float(Double(shift?[c] ?? 0) - mean * Double(a))
            if relu {
                for i in 0..<plane { dst[i] = max(src[i] * a + b, 0) }
            } else {
                for i in 0..<plane { dst[i] = src[i] * a + b }
            }
        }
    }
}
