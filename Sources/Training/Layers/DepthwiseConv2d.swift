public import Stylize

/// A trainable depthwise convolution with bias (PyTorch `Conv2d(c, c, k, stride, padding, groups=c,
/// padding_mode=…)`): each channel convolved with its own k×k kernel, the first half of the light style
/// networks' depthwise-separable convolutions (a 1×1 `Conv2d` is the second).
///
/// Forward: pad, then the inference engine's depthwise kernel. The forward keeps the padded input; the backward
/// is direct loops over each channel (the work is k² multiply-adds per output value, too little for a GEMM):
///
///     dW[c, ky, kx] += Σ dy[c, oy, ox] · xp[c, oy·s + ky, ox·s + kx]     (summed in Double)
///     dxp[c, oy·s + ky, ox·s + kx] += W[c, ky, kx] · dy[c, oy, ox]
///     db[c] += Σ dy[c]
///
/// then folds dxp back onto the input like `Conv2d` (crop, and the adjoint of mirrored or repeated borders).
public final class DepthwiseConv2d {
    public let channels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let padMode: PadMode
    /// [C][1][k][k], PyTorch's layout for groups = C.
    public var weight: [Float]
    public var bias: [Float]
    public private(set) var weightGradient: [Float]
    public private(set) var biasGradient: [Float]

    private let context: TrainingContext
    private var paddedInput: [Float] = []
    private var paddedInputGradient: [Float] = []
    private var geometry: Convolution.Geometry?

    public init(channels: Int, kernel: Int = 3, stride: Int = 1, padding: Int = 1, padMode: PadMode = .reflect,
                weight: [Float], bias: [Float], context: TrainingContext) {
        precondition(weight.count == channels * kernel * kernel, "weight is not \(channels)×1×\(kernel)×\(kernel)")
        precondition(bias.count == channels, "bias is not \(channels) values")
        self.channels = channels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.padMode = padMode
        self.weight = weight
        self.bias = bias
        weightGradient = [Float](repeating: 0, count: weight.count)
        biasGradient = [Float](repeating: 0, count: channels)
        self.context = context
    }

    public func zeroGradients() {
        for i in weightGradient.indices { weightGradient[i] = 0 }
        for i in biasGradient.indices { biasGradient[i] = 0 }
    }

    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        precondition(x.channels == channels, "input has \(x.channels) channels, not \(channels)")
        let g = Convolution.Geometry(cin: channels, hp: x.height + 2 * padding, wp: x.width + 2 * padding,
                                     cout: channels, kh: kernel, kw: kernel, sh: stride, sw: stride)
        precondition(g.hp >= kernel && g.wp >= kernel, "a \(x.height)×\(x.width) input is smaller than the \(kernel)×\(kernel) kernel")
        geometry = g
        if paddedInput.count != channels * g.hp * g.wp { paddedInput = [Float](repeating: 0, count: channels * g.hp * g.wp) }
        y.reshape(channels: channels, height: g.ho, width: g.wo)
        let pool = context.pool
        x.values.withUnsafeBufferPointer { xb in
            paddedInput.withUnsafeMutableBufferPointer { xp in
                Elementwise.pad(xb.baseAddress!, c: channels, h: x.height, w: x.width, pads: .uniform(padding), mode: padMode,
                                into: xp.baseAddress!, pool: pool)
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        y.values.withUnsafeMutableBufferPointer { yb in
                            Convolution.forwardDepthwise(UnsafePointer(xp.baseAddress!), g, weight: w.baseAddress!, bias: b.baseAddress!,
                                                         into: yb.baseAddress!, pool: pool)
                        }
                    }
                }
            }
        }
    }

    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let g = geometry else { preconditionFailure("backward before forward") }
        precondition(dy.channels == channels && dy.height == g.ho && dy.width == g.wo, "dy does not match the last forward's output")
        if paddedInputGradient.count != paddedInput.count { paddedInputGradient = [Float](repeating: 0, count: paddedInput.count) }
        let k = kernel, s = stride, ho = g.ho, wo = g.wo, hp = g.hp, wp = g.wp
        var weightSums = [Double](repeating: 0, count: weight.count), biasSums = [Double](repeating: 0, count: channels)
        dy.values.withUnsafeBufferPointer { db in
            paddedInput.withUnsafeBufferPointer { xb in
                weight.withUnsafeBufferPointer { wb in
                    paddedInputGradient.withUnsafeMutableBufferPointer { gb in
                        weightSums.withUnsafeMutableBufferPointer { ws in
                            biasSums.withUnsafeMutableBufferPointer { bs in
                                let (d, xp, w, dxp, wsum, bsum) = (db.baseAddress!, xb.baseAddress!, wb.baseAddress!, gb.baseAddress!,
                                                                   ws.baseAddress!, bs.baseAddress!)
                                context.pool.parallelFor(channels) { c in
                                    let dyc = d + c * ho * wo, xc = xp + c * hp * wp, gc = dxp + c * hp * wp, wc = w + c * k * k
                                    gc.update(repeating: 0, count: hp * wp)
                                    var b = 0.0
                                    for i in 0..<(ho * wo) { b += Double(dyc[i]) }
                                    bsum[c] = b
                                    for ky in 0..<k {
                                        for kx in 0..<k {
                                            let tap = wc[ky * k + kx]
                                            var sum = 0.0
                                            for oy in 0..<ho {
                                                let drow = dyc + oy * wo, xrow = xc + (oy * s + ky) * wp + kx, grow = gc + (oy * s + ky) * wp + kx
                                                var rowSum: Float = 0
                                                for ox in 0..<wo {
                                                    rowSum += drow[ox] * xrow[ox * s]
                                                    grow[ox * s] += tap * drow[ox]
                                                }
                                                sum += Double(rowSum)
                                            }
                                            wsum[c * k * k + ky * k + kx] = sum
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for i in weightGradient.indices { weightGradient[i] += Float(weightSums[i]) }
        for c in 0..<channels { biasGradient[c] += Float(biasSums[c]) }
        Conv2d.unpad(paddedInputGradient, channels: channels, paddedHeight: hp, paddedWidth: wp, padding: padding, mode: padMode,
                     into: &dx, pool: context.pool)
    }
}
