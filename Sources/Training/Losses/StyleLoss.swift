import Stylize

/// Gatys' style loss on one feature map: the mean squared error between Gram matrices (see `GramMatrix`),
/// PyTorch's `F.mse_loss(gram(x), gram(target))`:
///
///     L = (1 / C²) · Σᵢⱼ (G − Gₜ)ᵢⱼ²,   G = F·Fᵀ / (C·H·W)
///
/// Its gradient, since dL/dG = 2 (G − Gₜ) / C² is symmetric:
///
///     dL/dF = (dL/dG + dL/dGᵀ) · F / (C·H·W) = 4 (G − Gₜ) · F / (C² · C·H·W)
///
/// which is one sgemm ([C × C]·[C × H·W]) added straight into the gradient map. The squared differences are
/// summed in Double. The target may have another height and width than x (a style picture of any size);
/// only the channel counts must agree.
public final class StyleLoss {
    public let channels: Int
    /// Gₜ, C×C row-major.
    public let targetGram: [Float]
    private let context: TrainingContext

    public init(target: FeatureMap, context: TrainingContext) {
        channels = target.channels
        targetGram = GramMatrix.compute(target, context: context)
        self.context = context
    }

    /// Gram matrix of `x` (C×C, row-major), as this loss computes it.
    public func gram(_ x: FeatureMap) -> [Float] { GramMatrix.compute(x, context: context) }

    /// Returns weight · L and adds weight · dL/dx into `gradient` (which has x's shape).
    public func evaluate(_ x: FeatureMap, weight: Double = 1, addingGradientTo gradient: inout FeatureMap) -> Double {
        precondition(x.channels == channels, "style features have \(x.channels) channels, the target \(channels)")
        precondition(gradient.channels == x.channels && gradient.height == x.height && gradient.width == x.width,
                     "gradient does not have the features' shape")
        let c = channels, n = x.plane
        let g = GramMatrix.compute(x, context: context)
        let cc = Double(c * c)
        let gradientScale = weight * 4 / (cc * Double(x.count))
        var sum = 0.0
        var d = [Float](repeating: 0, count: c * c)
        for i in 0..<(c * c) {
            let diff = Double(g[i]) - Double(targetGram[i])
            sum += diff * diff
            d[i] = Float(gradientScale * diff)
        }
        d.withUnsafeBufferPointer { db in
            x.values.withUnsafeBufferPointer { f in
                gradient.values.withUnsafeMutableBufferPointer { gb in
                    GEMM.multiply(m: c, n: n, k: c, a: db.baseAddress!, lda: c, b: f.baseAddress!, ldb: n,
                                  c: gb.baseAddress!, ldc: n, accumulate: true, pool: context.pool)
                }
            }
        }
        return weight * sum / cc
    }
}
