/// max(x, 0), with the backward pass. The forward keeps one flag per element (x > 0), which is all the
/// backward needs: dx = dy where x > 0, else 0 (PyTorch's `threshold_backward`, so the gradient at exactly
/// 0 is 0).
public final class ReLU {
    private var positive: [Bool] = []
    private var shape: (channels: Int, height: Int, width: Int)?

    public init() {}

    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        shape = (x.channels, x.height, x.width)
        if positive.count != x.count { positive = [Bool](repeating: false, count: x.count) }
        y.reshape(channels: x.channels, height: x.height, width: x.width)
        for i in 0..<x.count {
            let v = x.values[i]
            positive[i] = v > 0
            y.values[i] = v > 0 ? v : 0
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let shape else { preconditionFailure("backward before forward") }
        precondition(dy.channels == shape.channels && dy.height == shape.height && dy.width == shape.width,
                     "dy does not match the last forward's output")
        dx.reshape(channels: shape.channels, height: shape.height, width: shape.width)
        for i in 0..<dy.count { dx.values[i] = positive[i] ? dy.values[i] : 0 }
    }
}
