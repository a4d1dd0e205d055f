/// Gatys' content loss on one feature map: the mean squared error against the content image's features,
/// PyTorch's `F.mse_loss(x, target)` (reduction "mean"):
///
///     L = (1 / (C·H·W)) · Σ (x − target)²,   dL/dx = 2 (x − target) / (C·H·W)
///
/// Summed in Double.
public struct ContentLoss: Sendable {
    public let target: FeatureMap

    public init(target: FeatureMap) { self.target = target }

    /// Returns weight · L and adds weight · dL/dx into `gradient` (which has x's shape): losses at different
    /// layers of one network add their gradients into the same map before it flows backward.
    public func evaluate(_ x: FeatureMap, weight: Double = 1, addingGradientTo gradient: inout FeatureMap) -> Double {
        precondition(x.channels == target.channels && x.height == target.height && x.width == target.width,
                     "content features are \(x.channels)×\(x.height)×\(x.width), target \(target.channels)×\(target.height)×\(target.width)")
        precondition(gradient.count == x.count, "gradient does not have the features' shape")
        let scale = weight / Double(x.count)
        var sum = 0.0
        for i in 0..<x.count {
            let d = Double(x.values[i]) - Double(target.values[i])
            sum += d * d
            gradient.values[i] += Float(2 * scale * d)
        }
        return scale * sum
    }
}
