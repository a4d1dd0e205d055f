/// 2×2 average pooling, stride 2 (PyTorch `AvgPool2d(2, 2)`; Gatys et al. report better-looking results with
/// average than with max pooling in VGG): output ⌊h/2⌋ × ⌊w/2⌋, an odd last row or column dropped.
/// The backward spreads dy/4 over each window; it needs only the input's shape.
public final class AvgPool2x2 {
    private var inputShape: (channels: Int, height: Int, width: Int)?

    public init() {}

    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        inputShape = (x.channels, x.height, x.width)
        let ho = x.height / 2, wo = x.width / 2, w = x.width
        y.reshape(channels: x.channels, height: ho, width: wo)
        for c in 0..<x.channels {
            for oy in 0..<ho {
                let top = (c * x.height + 2 * oy) * w
                for ox in 0..<wo {
                    let i = top + 2 * ox
                    y.values[(c * ho + oy) * wo + ox] = 0.25 * (x.values[i] + x.values[i + 1] + x.values[i + w] + x.values[i + w + 1])
                }
            }
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let s = inputShape else { preconditionFailure("backward before forward") }
        let ho = s.height / 2, wo = s.width / 2, w = s.width
        precondition(dy.channels == s.channels && dy.height == ho && dy.width == wo, "dy does not match the last forward's output")
        dx.reshape(channels: s.channels, height: s.height, width: s.width)
        for i in 0..<dx.count { dx.values[i] = 0 }
        for c in 0..<s.channels {
            for oy in 0..<ho {
                let top = (c * s.height + 2 * oy) * w
                for ox in 0..<wo {
                    let g = 0.25 * dy.values[(c * ho + oy) * wo + ox], i = top + 2 * ox
                    dx.values[i] = g
                    dx.values[i + 1] = g
                    dx.values[i + w] = g
                    dx.values[i + w + 1] = g
                }
            }
        }
    }
}
