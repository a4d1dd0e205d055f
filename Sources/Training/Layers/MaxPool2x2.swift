/// 2×2 max pooling, stride 2 (VGG's pooling; PyTorch `MaxPool2d(2, 2)`): output ⌊h/2⌋ × ⌊w/2⌋, so an odd last
/// row or column is dropped (ceil_mode = false) and gets zero gradient.
///
/// The forward keeps, per output, the flat input index of its maximum (the first one in row-major window order
/// when values tie, and a NaN wins, as in PyTorch's CPU kernel); the backward adds dy there and nowhere else.
public final class MaxPool2x2 {
    private var argmax: [Int32] = []
    private var inputShape: (channels: Int, height: Int, width: Int)?

    public init() {}

    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        precondition(x.count <= Int(Int32.max), "argmax indices are 32-bit")
        inputShape = (x.channels, x.height, x.width)
        let ho = x.height / 2, wo = x.width / 2
        y.reshape(channels: x.channels, height: ho, width: wo)
        if argmax.count != y.count { argmax = [Int32](repeating: 0, count: y.count) }
        for c in 0..<x.channels {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    let first = (c * x.height + 2 * oy) * x.width + 2 * ox
                    var best = first
                    func consider(_ i: Int) { if x.values[i] > x.values[best] || x.values[i].isNaN { best = i } }
                    consider(first + 1)
                    consider(first + x.width)
                    consider(first + x.width + 1)
                    let o = (c * ho + oy) * wo + ox
                    argmax[o] = Int32(best)
                    y.values[o] = x.values[best]
                }
            }
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let s = inputShape else { preconditionFailure("backward before forward") }
        precondition(dy.count == argmax.count && dy.channels == s.channels, "dy does not match the last forward's output")
        dx.reshape(channels: s.channels, height: s.height, width: s.width)
        for i in 0..<dx.count { dx.values[i] = 0 }
        // Windows do not overlap, so each input receives at most one output's gradient.
        for o in 0..<dy.count { dx.values[Int(argmax[o])] += dy.values[o] }
    }
}
