import Foundation

/// y = a · tanh(x) + b: the bounded output transform of style networks (Engstrom's `tanh · 150 + 127.5`,
/// or a = b = ½ for a 0…1 picture). The forward keeps t = tanh(x); dx = dy · a · (1 − t²).
public final class ScaledTanh {
    public let scale: Float
    public let offset: Float
    private var t: [Float] = []
    private var shape: (channels: Int, height: Int, width: Int)?

    public init(scale: Float, offset: Float) {
        self.scale = scale
        self.offset = offset
    }

    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        shape = (x.channels, x.height, x.width)
        if t.count != x.count { t = [Float](repeating: 0, count: x.count) }
        y.reshape(channels: x.channels, height: x.height, width: x.width)
        for i in 0..<x.count {
            let v = Foundation.tanh(x.values[i])
            t[i] = v
            y.values[i] = scale * v + offset
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let s = shape else { preconditionFailure("backward before forward") }
        precondition(dy.count == t.count, "dy does not match the last forward's output")
        dx.reshape(channels: s.channels, height: s.height, width: s.width)
        for i in 0..<dy.count { dx.values[i] = dy.values[i] * scale * (1 - t[i] * t[i]) }
    }
}
