/// Total variation regulariser: the sum (not the mean) of squared differences between vertical and horizontal
/// neighbours, over every channel,
///
///     L = Σ (x[c, y+1, x] − x[c, y, x])² + Σ (x[c, y, x+1] − x[c, y, x])²
///
/// i.e. in PyTorch `((x[..., 1:, :] - x[..., :-1, :])**2).sum() + ((x[..., :, 1:] - x[..., :, :-1])**2).sum()`
/// — the `tv_loss` of Stanford CS231n's PyTorch style-transfer assignment, with its `tv_weight` as `weight`.
/// Other code calls variants by the same name (a mean per direction, or absolute instead of squared
/// differences, as neural-style-pt does); this is none of those. Summed in Double.
/// Each difference d between a pixel p and the neighbour q after it adds 2d to dL/dq and −2d to dL/dp.
public enum TotalVariationLoss {
    /// Returns weight · L and adds weight · dL/dx into `gradient` (which has x's shape).
    public static func evaluate(_ x: FeatureMap, weight: Double = 1, addingGradientTo gradient: inout FeatureMap) -> Double {
        precondition(gradient.channels == x.channels && gradient.height == x.height && gradient.width == x.width,
                     "gradient does not have the picture's shape")
        let h = x.height, w = x.width
        if x.count == 0 { return 0 }
        var sum = 0.0
        func pair(_ p: Int, _ q: Int) {
            let d = Double(x.values[q]) - Double(x.values[p])
            sum += d * d
            let g = Float(2 * weight * d)
            gradient.values[q] += g
            gradient.values[p] -= g
        }
        for c in 0..<x.channels {
            for y in 0..<h {
                let row = (c * h + y) * w
                for i in row..<(row + w - 1) { pair(i, i + 1) }
                if y + 1 < h { for i in row..<(row + w) { pair(i, i + w) } }
            }
        }
        return weight * sum
    }
}
