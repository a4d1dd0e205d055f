/// Instance normalisation, fused with the ReLU that usually follows.
///
/// Two passes over each plane: statistics (see `moments`), then normalise (and clip at zero). Where the
/// normalised tensor has a single reader, the second pass is left to that reader (`PlaneAffine`).
enum Normalization {
    /// Mean and biased variance of one plane in one pass: sums of (x − K) and (x − K)² around a pilot value
    /// K (the mean of 64 samples spread over the plane, so border rows do not dominate it), accumulated in SIMD float lanes over short blocks and in Double
    /// across blocks. Centring on K keeps the E[d²] − E[d]² step free of cancellation even when the mean is
    /// large next to the spread (conv1 of a real photo has means in the thousands and variances above 1e6).
    static func moments(_ p: UnsafePointer<Float>, _ n: Int) -> (mean: Double, variance: Double) {
        var pilot: Float = 0
        let samples = min(n, 64)
        for i in 0..<samples { pilot += p[i * n / samples] }
        pilot /= Float(max(samples, 1))
        let k8 = SIMD8<Float>(repeating: pilot)
        var sum = 0.0, sumSq = 0.0
        var i = 0
        while i < n {
            let end = min(i + 512, n)
            var s1 = SIMD8<Float>(repeating: 0), s2 = SIMD8<Float>(repeating: 0)
            var j = i
            while j + 8 <= end {
                let d = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self) - k8
                s1 += d
                s2 += d * d
                j += 8
            }
            var a = s1.sum(), b = s2.sum()
            while j < end {
                let d = p[j] - pilot
                a += d
                b += d * d
                j += 1
            }
            sum += Double(a)
            sumSq += Double(b)
            i = end
        }
        let meanD = sum / Double(n)
        let variance = max(sumSq / Double(n) - meanD * meanD, 0)
        return (Double(pilot) + meanD, variance)
    }

    /// y_c = scale_c·(x_c − μ_c)/√(σ²_c + ε) + shift_c, then ReLU if asked. `y` may equal `x`.
    static func instanceNorm(_ x: UnsafePointer<Float>, channels: Int, plane: Int, _ parameters: NormParameters,
                             into y: UnsafeMutablePointer<Float>, pool: ComputePool) {
        pool.parallelFor(channels) { c in
            parameters.affine(channel: c, of: x + c * plane, count: plane).apply(x + c * plane, into: y + c * plane, plane)
        }
    }

    /// The per-channel map of every channel of `x`, in parallel (for steps that normalise while they copy).
    static func affines(_ x: UnsafePointer<Float>, channels: Int, plane: Int, _ parameters: NormParameters,
                        pool: ComputePool) -> [PlaneAffine] {
        [PlaneAffine](unsafeUninitializedCapacity: channels) { buffer, count in
            let out = buffer
            pool.parallelFor(channels) { c in (out.baseAddress! + c).initialize(to: parameters.affine(channel: c, of: x + c * plane, count: plane)) }
            count = channels
        }
    }
}

/// One channel's instance normalisation once its moments are known: y = a·x + b, clipped at zero if `relu`.
/// Steps that read a normalised tensor only once apply it while they copy their input (`Plan.FoldedNorm`).
package struct PlaneAffine: Sendable, Equatable {
    var a: Float, b: Float, relu: Bool

    @inline(__always) func callAsFunction(_ v: Float) -> Float { relu ? max(v * a + b, 0) : v * a + b }

    /// `y[i] = self(x[i])`; `y` may equal `x`.
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        let (a, b) = (a, b)
        if relu {
            for i in 0..<n { y[i] = max(x[i] * a + b, 0) }
        } else {
            for i in 0..<n { y[i] = x[i] * a + b }
        }
    }
}

/// A normalisation's per-channel scale and shift for one frame (a conditional one's already mixed from the
/// style weights), its ε and its fused ReLU.
struct NormParameters: Sendable {
    var scale: [Float]?
    var shift: [Float]?
    var epsilon: Float
    var relu: Bool

    func affine(channel c: Int, of plane: UnsafePointer<Float>, count n: Int) -> PlaneAffine {
        let (mean, variance) = Normalization.moments(plane, n)
        let a = Double(scale?[c] ?? 1) / (variance + Double(epsilon)).squareRoot()
        return PlaneAffine(a: Float(a), b: Float(Double(shift?[c] ?? 0) - mean * a), relu: relu)
    }
}
