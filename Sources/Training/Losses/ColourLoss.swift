/// How far a picture's colours are from a painting's, as distributions: the squared sliced Wasserstein distance
/// along the 16 directions in RGB (0…1) that `PictureQuality.colourDistance` measures along in CIELAB. Along each
/// direction d the picture's N projected colours p_i = d·y_i, sorted, are compared with the painting's quantiles
/// at the same ranks,
///
///     L = (1/D) Σ_d (1/N) Σ_i (p_d,i − q_d(rank_d(i)))²,   dL/dy_i = (2/(D N)) Σ_d (p_d,i − q_d(rank_d(i))) d
///
/// (ranks are piecewise constant, so this is the gradient almost everywhere). Which colours and how much of each,
/// not where: the term a pixel loss against a teacher and a Gram-matrix style loss both leave loose.
public struct ColourLoss: Sendable {
    /// Per direction, the painting's projections at `levels` evenly spaced quantiles.
    let quantiles: [[Double]]
    static let levels = 1024

    /// `painting`: RGB 0…1, any size.
    public init(painting: FeatureMap) {
        let n = painting.height * painting.width
        precondition(painting.channels == 3 && n > 0, "a colour loss needs an RGB painting")
        quantiles = PictureQuality.directions.map { d in
            var projected = [Double](repeating: 0, count: n)
            for i in 0..<n {
                projected[i] = d.x * Double(painting.values[i]) + d.y * Double(painting.values[n + i]) + d.z * Double(painting.values[2 * n + i])
            }
            projected.sort()
            return (0..<Self.levels).map { k in projected[min(n - 1, Int((Double(k) + 0.5) / Double(Self.levels) * Double(n)))] }
        }
    }

    /// The painting's value along direction `d` at quantile (r + 0.5) / n, interpolated between the stored levels.
    public func quantile(_ d: Int, rank r: Int, of n: Int) -> Double {
        let q = quantiles[d]
        let position = (Double(r) + 0.5) / Double(n) * Double(Self.levels) - 0.5
        let lower = max(0, min(Self.levels - 1, Int(position.rounded(.down))))
        let upper = min(Self.levels - 1, lower + 1)
        let t = max(0, min(1, position - Double(lower)))
        return q[lower] + (q[upper] - q[lower]) * t
    }

    /// Returns weight · L for the picture `y` (RGB 0…1) and adds weight · dL/dy into `gradient` (y's shape).
    public func evaluate(_ y: FeatureMap, weight: Double = 1, addingGradientTo gradient: inout FeatureMap) -> Double {
        let n = y.height * y.width
        precondition(y.channels == 3 && gradient.values.count == y.values.count, "a colour loss needs an RGB picture and its gradient")
        guard n > 0 else { return 0 }
        let directions = PictureQuality.directions
        let scale = 2 * weight / (Double(directions.count) * Double(n))
        var total = 0.0
        var projected = [Double](repeating: 0, count: n)
        var order = [Int](repeating: 0, count: n)
        for (di, d) in directions.enumerated() {
            for i in 0..<n {
                projected[i] = d.x * Double(y.values[i]) + d.y * Double(y.values[n + i]) + d.z * Double(y.values[2 * n + i])
                order[i] = i
            }
            order.sort { projected[$0] < projected[$1] }
            for (rank, i) in order.enumerated() {
                let difference = projected[i] - quantile(di, rank: rank, of: n)
                total += difference * difference
                let g = scale * difference
                gradient.values[i] += Float(g * d.x)
                gradient.values[n + i] += Float(g * d.y)
                gradient.values[2 * n + i] += Float(g * d.z)
            }
        }
        return weight * total / (Double(directions.count) * Double(n))
    }
}
