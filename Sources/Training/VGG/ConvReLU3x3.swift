import Stylize

/// One frozen VGG layer: 3×3 convolution (stride 1, zero padding 1) with bias, then ReLU, with the backward
/// pass a loss network needs, the input gradient and nothing else (its weights are never trained, so no weight
/// gradient and no kept input).
///
/// Forward: the inference engine's Winograd F(4×4) or F(2×2) lowering where the channel counts allow (as the
/// inference plan picks it), im2col + GEMM otherwise (the 3-channel first layer); bias and ReLU in one pass over
/// the output, which is kept: it is the next layer's input, the losses read it, and `y > 0` is the ReLU mask.
///
/// Backward: dX = conv3×3(pad₁(dY ⊙ [y > 0]), W′) with W′[ci, co, ky, kx] = W[co, ci, 2 − ky, 2 − kx], the
/// gradient of a "same" convolution being the full correlation with the flipped kernel, channels swapped. So
/// the backward runs on the same Winograd path as the forward (with cin and cout swapped): half the
/// multiplications of the col2im(Wᵀ·dY) lowering `Conv3x3` uses, which stays as the reference in the tests.
public final class ConvReLU3x3 {
    public let inputChannels: Int
    public let outputChannels: Int
    private let bias: [Float]
    private let forwardKernel: Kernel
    private let backwardKernel: Kernel
    private let context: TrainingContext

    /// A lowering and its packed weights.
    enum Kernel {
        case winograd(Winograd.Transform, packed: [Float])
        case im2col(weight: [Float])

        /// The inference plan's choice for a 3×3 stride-1 convolution cin → cout.
        init(oihw w: [Float], cout: Int, cin: Int) {
            if cin >= 64 && cout >= 64 {
                self = .winograd(Winograd.f4, packed: Winograd.pack(w, cout: cout, cin: cin, transform: Winograd.f4))
            } else if cin >= 16 && cout >= 16 {
                self = .winograd(Winograd.f2, packed: Winograd.pack(w, cout: cout, cin: cin, transform: Winograd.f2))
            } else {
                self = .im2col(weight: w)
            }
        }

        /// y[cout, h, w] = conv3×3 of the padded xp[cin, h+2, w+2].
        func run(_ xp: UnsafePointer<Float>, cin: Int, height: Int, width: Int, cout: Int,
                 into y: UnsafeMutablePointer<Float>, context: TrainingContext) {
            switch self {
            case .winograd(let t, let packed):
                packed.withUnsafeBufferPointer { u in
                    Winograd.forward(xp, cin: cin, hp: height + 2, wp: width + 2, packed: u.baseAddress!, cout: cout,
                                     transform: t, into: y, workspace: context.workspace, pool: context.pool)
                }
            case .im2col(let w):
                let g = Convolution.Geometry(cin: cin, hp: height + 2, wp: width + 2, cout: cout, kh: 3, kw: 3, sh: 1, sw: 1)
                w.withUnsafeBufferPointer { wb in
                    Convolution.forwardIm2col(xp, g, weight: wb.baseAddress!, into: y, workspace: context.workspace, pool: context.pool)
                }
            }
        }
    }

    /// `weight` is OIHW [cout][cin][3][3] (PyTorch's `Conv2d.weight`).
    public init(inputChannels: Int, outputChannels: Int, weight: [Float], bias: [Float], context: TrainingContext) {
        precondition(weight.count == outputChannels * inputChannels * 9, "weight is not \(outputChannels)×\(inputChannels)×3×3")
        precondition(bias.count == outputChannels, "bias is not \(outputChannels) values")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.bias = bias
        self.context = context
        forwardKernel = Kernel(oihw: weight, cout: outputChannels, cin: inputChannels)
        var flipped = [Float](repeating: 0, count: weight.count)
        for co in 0..<outputChannels {
            for ci in 0..<inputChannels {
                for t in 0..<9 { flipped[(ci * outputChannels + co) * 9 + (8 - t)] = weight[(co * inputChannels + ci) * 9 + t] }
            }
        }
        backwardKernel = Kernel(oihw: flipped, cout: inputChannels, cin: outputChannels)
    }

    /// y = max(W ⊛ x + b, 0). `padded` is scratch for the zero-padded input, owned by the caller so that one
    /// buffer serves every layer of a network.
    public func forward(_ x: FeatureMap, into y: inout FeatureMap, padded: inout [Float]) {
        precondition(x.channels == inputChannels, "input has \(x.channels) channels, not \(inputChannels)")
        let h = x.height, w = x.width, plane = h * w
        y.reshape(channels: outputChannels, height: h, width: w)
        Self.pad(x.values, channels: inputChannels, height: h, width: w, into: &padded, pool: context.pool)
        padded.withUnsafeBufferPointer { xp in
            y.values.withUnsafeMutableBufferPointer { yb in
                forwardKernel.run(xp.baseAddress!, cin: inputChannels, height: h, width: w, cout: outputChannels,
                                  into: yb.baseAddress!, context: context)
                let out = yb.baseAddress!
                bias.withUnsafeBufferPointer { b in
                    context.pool.parallelFor(outputChannels) { c in
                        let p = out + c * plane, bc = b[c]
                        for i in 0..<plane { p[i] = max(p[i] + bc, 0) }
                    }
                }
            }
        }
    }

    /// dx = dL/dx for the forward whose output was `y`, given dy = dL/dy.
    public func backward(_ dy: FeatureMap, output y: FeatureMap, into dx: inout FeatureMap, padded: inout [Float]) {
        precondition(dy.channels == outputChannels && dy.height == y.height && dy.width == y.width && y.channels == outputChannels,
                     "dy does not match the output")
        let h = y.height, w = y.width, hp = h + 2, wp = w + 2
        let count = outputChannels * hp * wp
        if padded.count < count { padded = [Float](repeating: 0, count: count) }
        dx.reshape(channels: inputChannels, height: h, width: w)
        padded.withUnsafeMutableBufferPointer { pb in
            let p = pb.baseAddress!
            dy.values.withUnsafeBufferPointer { db in
                y.values.withUnsafeBufferPointer { yb in
                    let d = db.baseAddress!, yy = yb.baseAddress!
                    // pad₁(dY ⊙ [y > 0]), border rows and columns zero.
                    context.pool.parallelFor(outputChannels) { c in
                        let dst = p + c * hp * wp
                        dst.update(repeating: 0, count: wp)
                        (dst + (hp - 1) * wp).update(repeating: 0, count: wp)
                        for r in 0..<h {
                            let row = dst + (r + 1) * wp, src = d + (c * h + r) * w, out = yy + (c * h + r) * w
                            row[0] = 0
                            row[wp - 1] = 0
                            for i in 0..<w { row[i + 1] = out[i] > 0 ? src[i] : 0 }
                        }
                    }
                }
            }
            dx.values.withUnsafeMutableBufferPointer { xb in
                backwardKernel.run(UnsafePointer(p), cin: outputChannels, height: h, width: w, cout: inputChannels,
                                   into: xb.baseAddress!, context: context)
            }
        }
    }

    /// Copies x into `padded` with a zero border of one.
    static func pad(_ x: [Float], channels: Int, height h: Int, width w: Int, into padded: inout [Float], pool: ComputePool) {
        let count = channels * (h + 2) * (w + 2)
        if padded.count < count { padded = [Float](repeating: 0, count: count) }
        x.withUnsafeBufferPointer { xb in
            padded.withUnsafeMutableBufferPointer { pb in
                Elementwise.pad(xb.baseAddress!, c: channels, h: h, w: w, pads: .uniform(1), mode: .zero,
                                into: pb.baseAddress!, pool: pool)
            }
        }
    }
}
