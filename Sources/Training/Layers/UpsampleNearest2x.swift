/// Nearest-neighbour 2× upsampling (PyTorch `interpolate(scale_factor=2, mode="nearest")`), the style networks'
/// decoder without transposed convolution's checkerboard. The backward sums each 2×2 block of dy.
public final class UpsampleNearest2x {
    private var inputShape: (channels: Int, height: Int, width: Int)?

    public init() {}

    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        inputShape = (x.channels, x.height, x.width)
        let h = x.height, w = x.width, wo = 2 * w
        y.reshape(channels: x.channels, height: 2 * h, width: wo)
        x.values.withUnsafeBufferPointer { xb in
            y.values.withUnsafeMutableBufferPointer { yb in
                for c in 0..<x.channels {
                    for r in 0..<h {
                        let src = xb.baseAddress! + (c * h + r) * w
                        let top = yb.baseAddress! + (c * 2 * h + 2 * r) * wo
                        for i in 0..<w { top[2 * i] = src[i]; top[2 * i + 1] = src[i] }
                        (top + wo).update(from: top, count: wo)
                    }
                }
            }
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let s = inputShape else { preconditionFailure("backward before forward") }
        precondition(dy.channels == s.channels && dy.height == 2 * s.height && dy.width == 2 * s.width, "dy does not match the last forward's output")
        let h = s.height, w = s.width, wo = 2 * w
        dx.reshape(channels: s.channels, height: h, width: w)
        dy.values.withUnsafeBufferPointer { db in
            dx.values.withUnsafeMutableBufferPointer { xb in
                for c in 0..<s.channels {
                    for r in 0..<h {
                        let top = db.baseAddress! + (c * 2 * h + 2 * r) * wo, bottom = top + wo
                        let out = xb.baseAddress! + (c * h + r) * w
                        for i in 0..<w { out[i] = top[2 * i] + top[2 * i + 1] + bottom[2 * i] + bottom[2 * i + 1] }
                    }
                }
            }
        }
    }
}
