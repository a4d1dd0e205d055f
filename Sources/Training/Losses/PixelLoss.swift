/// The distillation loss: the mean squared difference between the student's picture and the teacher's, over
/// every value (both RGB 0…1),
///
///     L = (1/N) Σ (y_i − t_i)²,   dL/dy_i = 2 (y_i − t_i) / N
///
/// as PyTorch's `F.mse_loss(y, t)`. Summed in Double.
public enum PixelLoss {
    /// Returns weight · L and adds weight · dL/dy into `gradient` (which has y's shape).
    public static func evaluate(_ y: FeatureMap, target t: FeatureMap, weight: Double = 1, addingGradientTo gradient: inout FeatureMap) -> Double {
        precondition(y.channels == t.channels && y.height == t.height && y.width == t.width, "the teacher's picture does not have the student's shape")
        precondition(gradient.values.count == y.values.count, "gradient does not have the picture's shape")
        let n = Double(max(y.values.count, 1))
        var sum = 0.0
        let k = 2 * weight / n
        for i in y.values.indices {
            let d = Double(y.values[i]) - Double(t.values[i])
            sum += d * d
            gradient.values[i] += Float(k * d)
        }
        return weight * sum / n
    }
}
