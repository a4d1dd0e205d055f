public import Stylize

/// A trainable square convolution with bias: k×k kernel, stride s, padding p on every side by zeros, mirroring
/// or edge repetition (PyTorch `Conv2d(cin, cout, k, stride=s, padding=p, padding_mode=…)`; the style networks'
/// `ReflectionPad2d` + `Conv2d` is `padMode: .reflect`). `Conv3x3` is the 3×3, stride-1, zero-padded case.
///
/// Forward and backward use the inference engine's im2col + GEMM lowering, band by band of output rows so the
/// column matrix stays cache-sized at any picture size (VGG's conv1_2 at 512×512 would need 600 MB of columns
/// at once). The forward keeps only the padded input; the backward rebuilds each band's columns from it
/// (Caffe does the same) and computes, per band:
/// - weight gradient  dW += dY_band · colᵀ            (GEMM, [cout × n]·[n × K])
/// - input gradient   dXp += col2im(Wᵀ · dY_band)     (GEMM, [K × cout]·[cout × n], then `Col2im`)
/// - bias gradient    db[c] += Σ dY[c, ·]             (summed in Double)
/// then folds dXp back onto the unpadded input: the padding's adjoint (a crop for zeros; for mirrored or
/// repeated borders each padded position adds its gradient to the pixel it copied). Parameter gradients
/// accumulate across calls, like PyTorch's `.grad`, until `zeroGradients()`.
///
/// A 3×3 stride-1 convolution on at least 16 channels each side (a style network's residual and decoder
/// convolutions, most of its work) runs its forward and its input gradient on the engine's Winograd
/// lowering instead, as `ConvReLU3x3` does for VGG: dXp = conv3×3(pad₂(dY), W′), W′ the kernel flipped with
/// channels swapped. Its weights are packed once per change of `weight` (once per optimiser step); the
/// weight gradient keeps the im2col GEMM. `lowering: .im2col` forces the plain path (the tests' reference).
public final class Conv2d {
    public enum Lowering: Sendable { case automatic, im2col }

    public let inputChannels: Int
    public let outputChannels: Int
    public let kernel: Int
    public let stride: Int
    /// Rows and columns added on every side (ignored with `tensorFlowSame`).
    public let padding: Int
    /// TensorFlow's "SAME" padding, as the ml5/Engstrom networks were trained with: the output has ⌈h/s⌉ rows,
    /// and the padding that needs, ((⌈h/s⌉ − 1)·s + k − h), is split with the odd row at the bottom (likewise
    /// columns at the right). It depends on the input's size, so it is worked out at each forward.
    public let tensorFlowSame: Bool
    public let padMode: PadMode
    /// OIHW, [cout][cin][k][k], the layout of PyTorch's `Conv2d.weight`.
    public var weight: [Float] { didSet { packed = nil } }
    public var bias: [Float]
    public private(set) var weightGradient: [Float]
    public private(set) var biasGradient: [Float]

    private let context: TrainingContext
    /// The last forward's input, padded: what the backward's im2col reads.
    private var paddedInput: [Float] = []
    private var geometry: Convolution.Geometry?
    /// The padding of the last forward.
    private var lastPads = Pads.zero
    /// dL/d(padded input), reused between calls.
    private var paddedInputGradient: [Float] = []
    /// The Winograd transform when this convolution qualifies for it (see the type's documentation).
    private let winograd: Winograd.Transform?
    /// `weight` packed for the Winograd forward and, flipped and transposed, for the input gradient; nil
    /// until needed after each change of `weight`.
    private var packed: (forward: [Float], backward: [Float])?
    /// pad₂(dY) for the Winograd input gradient.
    private var paddedOutputGradient: [Float] = []

    public init(inputChannels: Int, outputChannels: Int, kernel: Int = 3, stride: Int = 1, padding: Int = 1, tensorFlowSame: Bool = false,
                padMode: PadMode = .zero, weight: [Float], bias: [Float], lowering: Lowering = .automatic, context: TrainingContext) {
        precondition(weight.count == outputChannels * inputChannels * kernel * kernel,
                     "weight is not \(outputChannels)×\(inputChannels)×\(kernel)×\(kernel)")
        precondition(bias.count == outputChannels, "bias is not \(outputChannels) values")
        precondition(kernel >= 1 && stride >= 1 && padding >= 0, "kernel and stride must be positive, padding not negative")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.tensorFlowSame = tensorFlowSame
        self.padMode = padMode
        self.weight = weight
        self.bias = bias
        weightGradient = [Float](repeating: 0, count: weight.count)
        biasGradient = [Float](repeating: 0, count: bias.count)
        self.context = context
        if lowering == .automatic && kernel == 3 && stride == 1 && padding == 1 && !tensorFlowSame && inputChannels >= 16 && outputChannels >= 16 {
            winograd = inputChannels >= 64 && outputChannels >= 64 ? Winograd.f4 : Winograd.f2
        } else {
            winograd = nil
        }
    }

    /// The packed Winograd weights for the current `weight`.
    private func packedWeights(_ t: Winograd.Transform) -> (forward: [Float], backward: [Float]) {
        if let packed { return packed }
        let (cin, cout) = (inputChannels, outputChannels)
        var flipped = [Float](repeating: 0, count: weight.count)
        for co in 0..<cout {
            for ci in 0..<cin {
                for t in 0..<9 { flipped[(ci * cout + co) * 9 + (8 - t)] = weight[(co * cin + ci) * 9 + t] }
            }
        }
        let result = (Winograd.pack(weight, cout: cout, cin: cin, transform: t), Winograd.pack(flipped, cout: cin, cin: cout, transform: t))
        packed = result
        return result
    }

    public func zeroGradients() {
        for i in weightGradient.indices { weightGradient[i] = 0 }
        for i in biasGradient.indices { biasGradient[i] = 0 }
    }

    /// The padding on each side for an h×w input.
    public func pads(height h: Int, width w: Int) -> Pads {
        guard tensorFlowSame else { return .uniform(padding) }
        func split(_ n: Int) -> (Int, Int) {
            let total = max(((n + stride - 1) / stride - 1) * stride + kernel - n, 0)
            return (total / 2, total - total / 2)
        }
        let (top, bottom) = split(h), (left, right) = split(w)
        return Pads(top: top, left: left, bottom: bottom, right: right)
    }

    /// y = W ⊛ pad(x) + b: ⌊(h + top + bottom − k)/s⌋ + 1 rows, likewise columns.
    public func forward(_ x: FeatureMap, into y: inout FeatureMap) {
        precondition(x.channels == inputChannels, "input has \(x.channels) channels, not \(inputChannels)")
        let p = pads(height: x.height, width: x.width)
        precondition(padMode == .zero || (max(p.top, p.bottom) < x.height && max(p.left, p.right) < x.width),
                      "reflection padding \(p) needs more rows and columns than \(x.height)×\(x.width)")
        lastPads = p
        let g = Convolution.Geometry(cin: inputChannels, hp: x.height + p.top + p.bottom, wp: x.width + p.left + p.right,
                                     cout: outputChannels, kh: kernel, kw: kernel, sh: stride, sw: stride)
        precondition(g.hp >= kernel && g.wp >= kernel, "a \(x.height)×\(x.width) input is smaller than the \(kernel)×\(kernel) kernel")
        geometry = g
        if paddedInput.count != g.cin * g.hp * g.wp { paddedInput = [Float](repeating: 0, count: g.cin * g.hp * g.wp) }
        y.reshape(channels: outputChannels, height: g.ho, width: g.wo)
        let (pool, workspace) = (context.pool, context.workspace)
        x.values.withUnsafeBufferPointer { xb in
            paddedInput.withUnsafeMutableBufferPointer { xp in
                Elementwise.pad(xb.baseAddress!, c: g.cin, h: x.height, w: x.width, pads: p, mode: padMode,
                                into: xp.baseAddress!, pool: pool)
                let winogradWeights = winograd.map { packedWeights($0).forward }
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        y.values.withUnsafeMutableBufferPointer { yb in
                            if let t = winograd, let u = winogradWeights {
                                u.withUnsafeBufferPointer { ub in
                                    Winograd.forward(UnsafePointer(xp.baseAddress!), cin: g.cin, hp: g.hp, wp: g.wp, packed: ub.baseAddress!,
                                                     cout: g.cout, transform: t, into: yb.baseAddress!, workspace: workspace, pool: pool)
                                }
                            } else {
                                Convolution.forwardIm2col(UnsafePointer(xp.baseAddress!), g, weight: w.baseAddress!, into: yb.baseAddress!,
                                                          workspace: workspace, pool: pool)
                            }
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
        Self.accumulateBiasGradient(dy, into: &biasGradient)
        if winograd == nil {
            Self.zero(&paddedInputGradient, count: paddedInput.count)
        } else if paddedInputGradient.count != paddedInput.count {
            // The Winograd input gradient writes every value; only the size matters.
            paddedInputGradient = [Float](repeating: 0, count: paddedInput.count)
        }
        dy.values.withUnsafeBufferPointer { dyb in
            paddedInput.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { w in
                    weightGradient.withUnsafeMutableBufferPointer { dw in
                        paddedInputGradient.withUnsafeMutableBufferPointer { dxp in
                            Self.backwardBands(g, outputGradient: dyb.baseAddress!, weightGradient: (xp.baseAddress!, dw.baseAddress!),
                                               inputGradient: winograd == nil ? (w.baseAddress!, dxp.baseAddress!) : nil, context: context)
                        }
                    }
                }
            }
        }
        if let t = winograd { winogradInputGradient(dy, g, transform: t) }
        Self.unpad(paddedInputGradient, channels: g.cin, paddedHeight: g.hp, paddedWidth: g.wp, pads: lastPads, mode: padMode,
                   into: &dx, pool: context.pool)
    }

    /// dXp = conv3×3(pad₂(dY), W′) on the Winograd lowering, into `paddedInputGradient` (hp × wp = ho+2 × wo+2).
    private func winogradInputGradient(_ dy: FeatureMap, _ g: Convolution.Geometry, transform t: Winograd.Transform) {
        let backwardWeights = packedWeights(t).backward
        let (hp2, wp2) = (g.ho + 4, g.wo + 4)
        if paddedOutputGradient.count != g.cout * hp2 * wp2 { paddedOutputGradient = [Float](repeating: 0, count: g.cout * hp2 * wp2) }
        let (pool, workspace) = (context.pool, context.workspace)
        dy.values.withUnsafeBufferPointer { d in
            paddedOutputGradient.withUnsafeMutableBufferPointer { p in
                Elementwise.pad(d.baseAddress!, c: g.cout, h: g.ho, w: g.wo, pads: .uniform(2), mode: .zero, into: p.baseAddress!, pool: pool)
                backwardWeights.withUnsafeBufferPointer { u in
                    paddedInputGradient.withUnsafeMutableBufferPointer { dxp in
                        Winograd.forward(UnsafePointer(p.baseAddress!), cin: g.cout, hp: hp2, wp: wp2, packed: u.baseAddress!, cout: g.cin,
                                         transform: t, into: dxp.baseAddress!, workspace: workspace, pool: pool)
                    }
                }
            }
        }
    }

    /// The backward's two products for geometry g, band by band of output rows, either one skipped when nil:
    /// dW += dY·im2col(xp)ᵀ, and dXp += col2im(Wᵀ·dY) (dXp zeroed by the caller). `ConvTranspose2d` runs the
    /// same loop with its input as dY: its forward is the second product, its weight gradient the first.
    static func backwardBands(_ g: Convolution.Geometry, outputGradient dy: UnsafePointer<Float>,
                              weightGradient: (paddedInput: UnsafePointer<Float>, into: UnsafeMutablePointer<Float>)?,
                              inputGradient: (weight: UnsafePointer<Float>, into: UnsafeMutablePointer<Float>)?, context: TrainingContext) {
        let ho = g.ho, wo = g.wo, k = g.k
        let bandRows = Convolution.balancedBand(ho, budget: Convolution.bandBudget, perRow: k * wo)
        let (pool, workspace) = (context.pool, context.workspace)
        let col = workspace.scratch(0, k * bandRows * wo)
        let dcol = workspace.scratch(1, k * bandRows * wo)
        var oy0 = 0
        while oy0 < ho {
            let rows = oy0..<min(oy0 + bandRows, ho)
            let n = rows.count * wo
            let dyBand = dy + oy0 * wo
            if case let (xp, dw)? = weightGradient {
                Convolution.im2col(xp, g, rows: rows, into: col, pool: pool)
                GEMM.multiply(m: g.cout, n: k, k: n, a: dyBand, lda: ho * wo, b: col, ldb: n, transB: true,
                              c: dw, ldc: k, accumulate: true, pool: pool)
            }
            if case let (w, dxp)? = inputGradient {
                GEMM.multiply(m: k, n: n, k: g.cout, a: w, lda: k, transA: true, b: dyBand, ldb: ho * wo, c: dcol, ldc: n, pool: pool)
                Col2im.add(dcol, g, rows: rows, into: dxp, pool: pool)
            }
            oy0 = rows.upperBound
        }
    }

    /// Makes `buffer` `count` zeros, keeping its storage when the size is unchanged.
    static func zero(_ buffer: inout [Float], count: Int) {
        if buffer.count != count {
            buffer = [Float](repeating: 0, count: count)
        } else {
            for i in buffer.indices { buffer[i] = 0 }
        }
    }

    /// The padding's adjoint: dx = the interior of dxp, plus (for mirrored or repeated borders) every border
    /// position's gradient added onto the pixel it was copied from. Shared by every padded training layer.
    static func unpad(_ dxp: [Float], channels: Int, paddedHeight hp: Int, paddedWidth wp: Int, padding: Int, mode: PadMode,
                      into dx: inout FeatureMap, pool: ComputePool) {
        unpad(dxp, channels: channels, paddedHeight: hp, paddedWidth: wp, pads: .uniform(padding), mode: mode, into: &dx, pool: pool)
    }

    /// `unpad` with a padding of its own on each side (TensorFlow's "SAME" pads one more at the bottom and right).
    static func unpad(_ dxp: [Float], channels: Int, paddedHeight hp: Int, paddedWidth wp: Int, pads: Pads, mode: PadMode,
                      into dx: inout FeatureMap, pool: ComputePool) {
        let h = hp - pads.top - pads.bottom, w = wp - pads.left - pads.right
        dx.reshape(channels: channels, height: h, width: w)
        dxp.withUnsafeBufferPointer { gp in
            dx.values.withUnsafeMutableBufferPointer { d in
                Elementwise.crop(gp.baseAddress!, c: channels, h: hp, w: wp, pads: pads, into: d.baseAddress!)
                if mode != .zero && !pads.isZero {
                    foldBorder(gp.baseAddress!, channels: channels, height: h, width: w, pads: pads, mode: mode,
                               into: d.baseAddress!, pool: pool)
                }
            }
        }
    }

    /// The adjoint of mirrored or repeated padding beyond the crop: each border position of the padded gradient
    /// adds onto the input pixel it was copied from (`Elementwise.sourceIndex`, the map the forward used).
    static func foldBorder(_ dxp: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, pads: Pads, mode: PadMode,
                           into dx: UnsafeMutablePointer<Float>, pool: ComputePool) {
        let hp = h + pads.top + pads.bottom, wp = w + pads.left + pads.right
        pool.parallelFor(channels) { c in
            let src = dxp + c * hp * wp, dst = dx + c * h * w
            for py in 0..<hp {
                let sy = Elementwise.sourceIndex(py - pads.top, h, mode)
                let interiorRow = py >= pads.top && py < pads.top + h
                for px in 0..<wp {
                    if interiorRow && px >= pads.left && px < pads.left + w { continue }
                    dst[sy * w + Elementwise.sourceIndex(px - pads.left, w, mode)] += src[py * wp + px]
                }
            }
        }
    }

    /// db[c] += Σ over the plane of dy[c], summed in Double (a 512×512 plane is 262,144 terms).
    static func accumulateBiasGradient(_ dy: FeatureMap, into biasGradient: inout [Float]) {
        dy.values.withUnsafeBufferPointer { d in
            for c in 0..<dy.channels {
                var sum = 0.0
                for v in d[(c * dy.plane)..<((c + 1) * dy.plane)] { sum += Double(v) }
                biasGradient[c] += Float(sum)
            }
        }
    }
}

/// VGG's convolution: 3×3, stride 1, zero padding 1 (the defaults of `Conv2d`).
public typealias Conv3x3 = Conv2d
