import Stylize

/// The style statistic of Gatys et al.: the channel correlations of a C×H×W feature map, normalised by its size,
///
///     G = F·Fᵀ / (C·H·W),   F = x viewed as [C × H·W]
///
/// i.e. PyTorch's `f = x.view(c, h*w); G = f @ f.t() / (c*h*w)`. One sgemm (Fᵀ is read transposed, never
/// copied); its fp32 sums are what PyTorch computes too.
enum GramMatrix {
    /// G (C×C, row-major) of `x`.
    static func compute(_ x: FeatureMap, context: TrainingContext) -> [Float] {
        let c = x.channels, n = x.plane
        var g = [Float](repeating: 0, count: c * c)
        x.values.withUnsafeBufferPointer { f in
            g.withUnsafeMutableBufferPointer { gb in
                GEMM.multiply(m: c, n: c, k: n, a: f.baseAddress!, lda: n, b: f.baseAddress!, ldb: n, transB: true,
                              c: gb.baseAddress!, ldc: c, pool: context.pool)
            }
        }
        let scale = 1 / Float(x.count)
        for i in g.indices { g[i] *= scale }
        return g
    }
}
