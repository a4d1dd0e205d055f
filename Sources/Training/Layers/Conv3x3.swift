import Stylize

/// VGG's only convolution: 3×3 kernel, stride 1, zero padding 1, with bias (PyTorch `Conv2d(cin, cout, 3,
/// padding=1)`), with the backward pass Gatys' optimisation needs.
///
/// Forward and backward use the inference engine's im2col + GEMM lowering, band by band of output rows so the
/// column matrix stays cache-sized at any picture size (VGG's conv1_2 at 512×512 would need 600 MB of columns
/// at once). The forward keeps only the zero-padded input; the backward rebuilds each band's columns from it
/// (Caffe does the same) and computes, per band:
/// - weight gradient  dW += dY_band · colᵀ            (GEMM, [cout × n]·[n × K])
/// - input gradient   dXp += col2im(Wᵀ · dY_band)     (GEMM, [K × cout]·[cout × n], then `Col2im`)
/// - bias gradient    db[c] += Σ dY[c, ·]             (summed in Double)
/// then crops the padding off dXp. Parameter gradients accumulate across calls, like PyTorch's `.grad`, until
/// `zeroGradients()`.
public final class Conv3x3 {
    public let inputChannels: Int
    public let outputChannels: Int
    /// OIHW, [cout][cin][3][3], the layout of PyTorch's `Conv2d.weight`.
    public var weight: [Float]
    public var bias: [Float]
    public private(set) var weightGradient: [Float]
    public private(set) var biasGradient: [Float]

    private let context: TrainingContext
    /// The last forward's input, zero-padded: what the backward's im2col reads.
    private var paddedInput: [Float] = []
    private var geometry: Convolution.Geometry?
    /// dL/d(padded input), reused between calls.
    private var paddedInputGradient: [Float] = []

    public init(inputChannels: Int, outputChannels: Int, weight: [Float], bias: [Float], context: TrainingContext) {
        precondition(weight.count == outputChannels * inputChannels * 9, "weight is not \(outputChannels)×\(inputChannels)×3×3")
        precondition(bias.count == outputChannels, "bias is not \(outputChannels) values")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.weight = weight
        self.bias = bias
        weightGradient = [Float](repeating: 0, count: weight.count)
        biasGradient = [Float](repeating: 0, count: bias.count)
        self.context = context
    }

    public func zeroGradients() {
        for i in weightGradient.indices { weightGradient[i] = 0 }
        for i in biasGradient.indices { biasGradient[i] = 0 }
    }

    /// y = W ⊛ x + b, same height and width as x.
    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        precondition(x.channels == inputChannels, "input has \(x.channels) channels, not \(inputChannels)")
        let g = Convolution.Geometry(cin: inputChannels, hp: x.height + 2, wp: x.width + 2,
                                     cout: outputChannels, kh: 3, kw: 3, sh: 1, sw: 1)
        geometry = g
        if paddedInput.count != g.cin * g.hp * g.wp { paddedInput = [Float](repeating: 0, count: g.cin * g.hp * g.wp) }
        y.reshape(channels: outputChannels, height: x.height, width: x.width)
        let (pool, workspace) = (context.pool, context.workspace)
        x.values.withUnsafeBufferPointer { xb in
            paddedInput.withUnsafeMutableBufferPointer { xp in
                Elementwise.pad(xb.baseAddress!, c: g.cin, h: x.height, w: x.width, pads: .uniform(1), mode: .zero,
                                into: xp.baseAddress!, pool: pool)
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        y.values.withUnsafeMutableBufferPointer { yb in
                            Convolution.forwardIm2col(UnsafePointer(xp.baseAddress!), g, weight: w.baseAddress!, into: yb.baseAddress!,
                                                      workspace: workspace, pool: pool)
                            Convolution.addBias(yb.baseAddress!, channels: g.cout, plane: g.ho * g.wo, bias: b.baseAddress!)
                        }
                    }
                }
            }
        }
    }

    /// Given dL/dy for the last forward, accumulates dL/dW and dL/db and writes dL/dx.
    public func backward(_ dy: FeatureMap, into dx: inout FeatureMap) {
        guard let g = geometry else { preconditionFailure("backward before forward") }
        precondition(dy.channels == g.cout && dy.height == g.ho && dy.width == g.wo, "dy does not match the last forward's output")
        let ho = g.ho, wo = g.wo, k = g.k
        accumulateBiasGradient(dy)
        if paddedInputGradient.count != paddedInput.count {
            paddedInputGradient = [Float](repeating: 0, count: paddedInput.count)
        } else {
            for i in paddedInputGradient.indices { paddedInputGradient[i] = 0 }
        }
        let bandRows = Convolution.balancedBand(ho, budget: Convolution.bandBudget, perRow: k * wo)
        let (pool, workspace) = (context.pool, context.workspace)
        let col = workspace.scratch(0, k * bandRows * wo)
        let dcol = workspace.scratch(1, k * bandRows * wo)
        dy.values.withUnsafeBufferPointer { dyb in
            paddedInput.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { w in
                    weightGradient.withUnsafeMutableBufferPointer { dw in
                        paddedInputGradient.withUnsafeMutableBufferPointer { dxp in
                            var oy0 = 0
                            while oy0 < ho {
                                let rows = oy0..<min(oy0 + bandRows, ho)
                                let n = rows.count * wo
                                let dyBand = dyb.baseAddress! + oy0 * wo
                                Convolution.im2col(xp.baseAddress!, g, rows: rows, into: col, pool: pool)
                                GEMM.multiply(m: g.cout, n: k, k: n, a: dyBand, lda: ho * wo, b: col, ldb: n, transB: true,
                                              c: dw.baseAddress!, ldc: k, accumulate: true, pool: pool)
                                GEMM.multiply(m: k, n: n, k: g.cout, a: w.baseAddress!, lda: k, transA: true, b: dyBand, ldb: ho * wo,
                                              c: dcol, ldc: n, pool: pool)
                                Col2im.add(dcol, g, rows: rows, into: dxp.baseAddress!, pool: pool)
                                oy0 = rows.upperBound
                            }
                        }
                    }
                }
            }
        }
        dx.reshape(channels: g.cin, height: g.hp - 2, width: g.wp - 2)
        paddedInputGradient.withUnsafeBufferPointer { dxp in
            dx.values.withUnsafeMutableBufferPointer { d in
                Elementwise.crop(dxp.baseAddress!, c: g.cin, h: g.hp, w: g.wp, pads: .uniform(1), into: d.baseAddress!)
            }
        }
    }

    /// db[c] += Σ over the plane of dy[c], summed in Double (a 512×512 plane is 262,144 terms).
    private func accumulateBiasGradient(_ dy: FeatureMap) {
        dy.values.withUnsafeBufferPointer { d in
            for c in 0..<dy.channels {
                var sum = 0.0
                for v in d[(c * dy.plane)..<((c + 1) * dy.plane)] { sum += Double(v) }
                biasGradient[c] += Float(sum)
            }
        }
    }
}
