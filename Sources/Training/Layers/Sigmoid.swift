import Foundation

/// y = a · σ(x), σ(x) = 1/(1 + e⁻ˣ): the logistic activation (a = 1), or the output transform of style networks
/// that end in `255 · sigmoid` instead of `ScaledTanh`. The forward keeps s = σ(x); dx = dy · a · s(1 − s).
public final class Sigmoid {
    public let scale: Float
    private var s: [Float] = []
    private var shape: (channels: Int, height: Int, width: Int)?

    public init(scale: Float = 1) {
        self.scale = scale
    }

    /// e⁻ˣ overflows to +∞ below x ≈ −88, where σ correctly becomes 0 (no NaN).
    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        shape = (x.channels, x.height, x.width)
        if s.count != x.count { s = [Float](repeating: 0, count: x.count) }
        y.reshape(channels: x.channels, height: x.height, width: x.width)
        for i in 0..<x.count {
            let v = 1 / (1 + Foundation.exp(-x.values[i]))
            s[i] = v
            y.values[i] = scale * v
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let shape else { preconditionFailure("backward before forward") }
        precondition(dy.count == s.count, "dy does not match the last forward's output")
        dx.reshape(channels: shape.channels, height: shape.height, width: shape.width)
        for i in 0..<dy.count { dx.values[i] = dy.values[i] * scale * s[i] * (1 - s[i]) }
    }
}
