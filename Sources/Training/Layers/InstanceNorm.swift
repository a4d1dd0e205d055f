/// Instance normalisation with a learned scale and shift per channel (PyTorch `InstanceNorm2d(c, affine=True)`,
/// ε = 1e-5, biased variance), or conditional instance normalisation (Dumoulin et al. 2017, the multistyle26
/// form): one scale and shift row per style, mixed by the style weights set before the forward,
///
///     y = γ · (x − μ) / √(σ² + ε) + β,   γ = Σₛ wₛ γₛ,   β = Σₛ wₛ βₛ.
///
/// The forward keeps the normalised x̂ and 1/√(σ² + ε) per channel; the backward is
///
///     dx = (1/√(σ² + ε)) · (g − mean(g) − x̂ · mean(g · x̂)),   g = γ · dy,
///     dγₛ += wₛ Σ dy · x̂,   dβₛ += wₛ Σ dy.
///
/// Statistics and the per-channel sums are accumulated in Double.
public final class InstanceNorm {
    public let channels: Int
    public let styles: Int
    public let epsilon: Double
    /// [styles][channels] scale and shift rows.
    public var scale: [Float]
    public var shift: [Float]
    public private(set) var scaleGradient: [Float]
    public private(set) var shiftGradient: [Float]
    /// The mix of style rows (one weight per style); [1] for plain instance norm.
    public var styleWeights: [Float]

    private var normalized: [Float] = []
    private var inverseDeviation: [Double] = []
    private var shape: (channels: Int, height: Int, width: Int)?
    private let context: TrainingContext

    public init(channels: Int, styles: Int = 1, scale: [Float]? = nil, shift: [Float]? = nil, epsilon: Double = 1e-5,
                context: TrainingContext) {
        precondition(channels > 0 && styles > 0)
        self.channels = channels
        self.styles = styles
        self.epsilon = epsilon
        self.scale = scale ?? [Float](repeating: 1, count: styles * channels)
        self.shift = shift ?? [Float](repeating: 0, count: styles * channels)
        precondition(self.scale.count == styles * channels && self.shift.count == styles * channels, "scale and shift are [styles][channels]")
        scaleGradient = [Float](repeating: 0, count: styles * channels)
        shiftGradient = scaleGradient
        styleWeights = [Float](repeating: 0, count: styles)
        styleWeights[0] = 1
        self.context = context
    }

    public func zeroGradients() {
        for i in scaleGradient.indices { scaleGradient[i] = 0; shiftGradient[i] = 0 }
    }

    /// γ and β of channel c under the current style weights.
    private func mixed(_ c: Int) -> (Double, Double) {
        var g = 0.0, b = 0.0
        for s in 0..<styles where styleWeights[s] != 0 {
            g += Double(styleWeights[s]) * Double(scale[s * channels + c])
            b += Double(styleWeights[s]) * Double(shift[s * channels + c])
        }
        return (g, b)
    }

    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        precondition(x.channels == channels, "input has \(x.channels) channels, not \(channels)")
        precondition(styleWeights.count == styles, "\(styleWeights.count) style weights for \(styles) styles")
        shape = (x.channels, x.height, x.width)
        let n = x.plane
        if normalized.count != x.count { normalized = [Float](repeating: 0, count: x.count) }
        if inverseDeviation.count != channels { inverseDeviation = [Double](repeating: 0, count: channels) }
        y.reshape(channels: x.channels, height: x.height, width: x.width)
        let gammaBeta = (0..<channels).map(mixed)
        x.values.withUnsafeBufferPointer { xb in
            normalized.withUnsafeMutableBufferPointer { nb in
                y.values.withUnsafeMutableBufferPointer { yb in
                    inverseDeviation.withUnsafeMutableBufferPointer { inv in
                        let (xp, np, yp, ip) = (xb.baseAddress!, nb.baseAddress!, yb.baseAddress!, inv.baseAddress!)
                        context.pool.parallelFor(channels) { c in
                            let src = xp + c * n
                            var sum = 0.0
                            for i in 0..<n { sum += Double(src[i]) }
                            let mean = sum / Double(n)
                            var squares = 0.0
                            for i in 0..<n { let d = Double(src[i]) - mean; squares += d * d }
                            let invStd = 1 / (squares / Double(n) + epsilon).squareRoot()
                            ip[c] = invStd
                            let (g, b) = gammaBeta[c]
                            let xhat = np + c * n, out = yp + c * n
                            let m = Float(mean), s = Float(invStd), gf = Float(g), bf = Float(b)
                            for i in 0..<n {
                                let v = (src[i] - m) * s
                                xhat[i] = v
                                out[i] = gf * v + bf
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let s = shape else { preconditionFailure("backward before forward") }
        precondition(dy.channels == s.channels && dy.height == s.height && dy.width == s.width, "dy does not match the last forward's output")
        dx.reshape(channels: s.channels, height: s.height, width: s.width)
        let n = s.height * s.width
        var sums = [(Double, Double)](repeating: (0, 0), count: channels)
        let gammas = (0..<channels).map { mixed($0).0 }
        dy.values.withUnsafeBufferPointer { db in
            normalized.withUnsafeBufferPointer { nb in
                dx.values.withUnsafeMutableBufferPointer { xb in
                    sums.withUnsafeMutableBufferPointer { sb in
                        let (dp, np, xp, sp) = (db.baseAddress!, nb.baseAddress!, xb.baseAddress!, sb.baseAddress!)
                        let inv = inverseDeviation
                        context.pool.parallelFor(channels) { c in
                            let g = dp + c * n, xhat = np + c * n, out = xp + c * n
                            var sumDy = 0.0, sumDyXhat = 0.0
                            for i in 0..<n {
                                sumDy += Double(g[i])
                                sumDyXhat += Double(g[i]) * Double(xhat[i])
                            }
                            sp[c] = (sumDy, sumDyXhat)
                            let gamma = gammas[c]
                            let meanG = Float(gamma * sumDy / Double(n)), meanGXhat = Float(gamma * sumDyXhat / Double(n))
                            let a = Float(inv[c]), gf = Float(gamma)
                            for i in 0..<n { out[i] = a * (gf * g[i] - meanG - xhat[i] * meanGXhat) }
                        }
                    }
                }
            }
        }
        for c in 0..<channels {
            for st in 0..<styles where styleWeights[st] != 0 {
                let w = Double(styleWeights[st])
                scaleGradient[st * channels + c] += Float(w * sums[c].1)
                shiftGradient[st * channels + c] += Float(w * sums[c].0)
            }
        }
    }
}
