/// A graph compiled for execution: value names replaced by slots, weights resolved and checked, ReLUs fused
/// into the normalisation before them, pads, nearest upsampling and normalisations fused into the convolution
/// after them, a normalised residual branch into its addition, a scale after tanh into the tanh, and the last
/// use of every slot known so its buffer can be recycled.
package final class Plan: @unchecked Sendable {
    package enum ConvStrategy: Hashable, Sendable { case im2col, col2im, rowShift, winograd2, winograd4, depthwise, direct }

    struct ConvStep {
        var weight: UnsafeMutablePointer<Float>
        var packed: UnsafeMutablePointer<Float>?
        var bias: UnsafeMutablePointer<Float>?
        var cout: Int, cin: Int, kh: Int, kw: Int
        var sh: Int, sw: Int
        var padding: ConvPadding
        var padMode: PadMode
        var strategy: ConvStrategy
        /// Nearest-neighbour upsampling applied to the input before padding (1 = none): an `UpsampleNearest`
        /// (and a `Pad`) whose only reader is this convolution is folded into it, and the convolution builds
        /// the upsampled, padded rows it needs band by band instead of materialising them (see `Session`).
        var upsample: Int = 1
        /// For a direct 3×3 convolution of a nearest-2× upsampled input with one pixel of padding: its four
        /// output parities as 2×2 kernels on the small picture ([parity = 2·row + column][cout][cin][2][2]), so
        /// that the upsampled picture is never made and each output costs 4 taps instead of 9 (`Session`).
        var subpixel: UnsafeMutablePointer<Float>? = nil
        /// For a stride-2 3×3 convolution of few channels (a strided-edges network's first layer): its kernel as
        /// a stride-1 2×2 one over the input's four phases (rows and columns even or odd, 4·cin channels:
        /// [cout][phase · cin + ci][2][2], zero where 2·d + phase passes the 3×3 kernel), run by the direct kernel
        /// instead of a matrix product with a scalar stride-2 gather (`Session`).
        var phased: UnsafeMutablePointer<Float>? = nil
        /// An instance normalisation whose only reader is this convolution: applied to each channel while the
        /// convolution copies its input into padded (upsampled) rows, so the normalised tensor is never written
        /// and read back (`Session`). Zero padding stays zero, as the padding is applied after the normalisation.
        var inputNorm: FoldedNorm? = nil
        /// For a 1×1 convolution: the depthwise convolution whose output only it reads. The two run together
        /// in bands of rows, the depthwise result of a band staying in cache for the 1×1 product (`Session`).
        var depthwise: FoldedDepthwise? = nil
    }

    /// A depthwise convolution folded into the 1×1 convolution after it (a class: a step inside a step).
    final class FoldedDepthwise: @unchecked Sendable {
        let step: ConvStep
        init(_ step: ConvStep) { self.step = step }
    }

    /// A normalisation folded into the step that reads its result.
    enum FoldedNorm {
        case plain(NormStep)
        case conditional(CondNormStep)

        init?(_ step: Step) {
            switch step {
            case .norm(let n): self = .plain(n)
            case .condNorm(let n): self = .conditional(n)
            default: return nil
            }
        }
    }

    /// `phased`'s weights from OIHW 3×3 ones.
    static func phasedKernels(_ w: [Float], cout: Int, cin: Int) -> [Float] {
        var out = [Float](repeating: 0, count: cout * 4 * cin * 4)
        for co in 0..<cout {
            for phase in 0..<4 {
                let (p, q) = (phase / 2, phase % 2)
                for ci in 0..<cin {
                    for dy in 0..<2 where 2 * dy + p < 3 {
                        for dx in 0..<2 where 2 * dx + q < 3 {
                            out[(((co * 4 + phase) * cin + ci) * 2 + dy) * 2 + dx] = w[((co * cin + ci) * 3 + 2 * dy + p) * 3 + 2 * dx + q]
                        }
                    }
                }
            }
        }
        return out
    }

    /// The 2×2 kernels of each output parity of a 3×3 convolution on a nearest-2× upsampled picture: the rows
    /// (and columns) of parity 0 read small rows i−1 and i with taps k0 and k1 + k2, those of parity 1 rows i and
    /// i+1 with k0 + k1 and k2.
    static func subpixelKernels(_ w: [Float], cout: Int, cin: Int) -> [Float] {
        let groups = [[[0], [1, 2]], [[0, 1], [2]]]
        var out = [Float](repeating: 0, count: 4 * cout * cin * 4)
        for a in 0..<2 {
            for b in 0..<2 {
                for co in 0..<cout {
                    for ci in 0..<cin {
                        for dy in 0..<2 {
                            for dx in 0..<2 {
                                var sum: Float = 0
                                for ky in groups[a][dy] { for kx in groups[b][dx] { sum += w[((co * cin + ci) * 3 + ky) * 3 + kx] } }
                                out[((((a * 2 + b) * cout + co) * cin + ci) * 2 + dy) * 2 + dx] = sum
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    struct ConvTStep {
        var weight: UnsafeMutablePointer<Float>
        var bias: UnsafeMutablePointer<Float>?
        var cin: Int, cout: Int, kh: Int, kw: Int
        var sh: Int, sw: Int
        var padding: ConvPadding
        var outputPaddingH: Int, outputPaddingW: Int
    }

    struct NormStep {
        var scale: UnsafeMutablePointer<Float>?
        var shift: UnsafeMutablePointer<Float>?
        var channels: Int?
        var epsilon: Float
        var relu: Bool
    }

    struct CondNormStep {
        var gamma: UnsafeMutablePointer<Float>
        var beta: UnsafeMutablePointer<Float>
        var gammaBias: UnsafeMutablePointer<Float>? = nil
        var betaBias: UnsafeMutablePointer<Float>? = nil
        var styles: Int, channels: Int
        var epsilon: Float
        var relu: Bool
    }

    enum Step {
        case conv(ConvStep)
        case convT(ConvTStep)
        case norm(NormStep)
        case condNorm(CondNormStep)
        case relu
        /// inputs[0] + inputs[1], with inputs[0] normalised on the way when a normalisation was folded in.
        case add(FoldedNorm?)
        case crop(Pads)
        case pad(Pads, PadMode)
        case upsample(Int)
        case scalarAffine(Float, Float)
        case channelAffine([Float]?, [Float]?)
        /// scale·tanh(x) + shift (a `ScalarAffine` after the tanh folded in).
        case tanh(scale: Float, shift: Float)
        case sigmoid
        case maxPool(Int, Int)
        case clip(Float, Float)
        case globalAveragePool
    }

    struct Instruction {
        var name: String
        var kind: String
        var step: Step
        var inputs: [Int]
        var output: Int
        /// Slots whose last reader is this instruction (their buffers can be recycled after it).
        var releases: [Int]
    }

    /// Picks the lowering of a convolution from its shape (see `Convolution` and `Winograd`).
    package static func strategy(cout: Int, cin: Int, kh: Int, kw: Int, sh: Int, sw: Int) -> ConvStrategy {
        if kh == 3 && kw == 3 && sh == 1 && sw == 1 && cin >= 16 && cout >= 16 {
            // F(4×4, 3×3) from 32 channels: multistyle26's 32-channel residual convolutions 6.6 → 4.0 ms at
            // 120×160 on one thread, its output within one grey level of F(2×2, 3×3)'s.
            return cin >= 32 && cout >= 32 ? .winograd4 : .winograd2
        }
        // Few channels on both sides: a matrix product that thin runs far below its peak; the AVX2 direct kernel
        // (`CKernels`) loads each input vector once for up to four output channels. Also few inputs under a wide
        // kernel with more outputs (multistyle26's 9×9 3→32): about 125 GFLOP/s there against rowShift's 110.
        if sh == 1 && sw == 1 && cin <= 16 && (cout <= 16 || cin * kh * kw <= 256) && Elementwise.vectorizedKernels { return .direct }
        if cout <= 8 && cin >= 8 { return .col2im }
        if sh == 1 && sw == 1 && kh >= 5 && cin * kw <= 64 { return .rowShift }
        return .im2col
    }

    let instructions: [Instruction]
    let inputSlot: Int
    let outputSlot: Int
    let slotCount: Int
    let styleCount: Int
    let weights: WeightStore

    /// Lowers and fuses `model`'s graph (see `PlanBuilder` for the fusion rules).
    init(model: StyleModel) throws {
        var builder = PlanBuilder(model: model)
        for node in model.graph.nodes { try builder.add(node) }
        let built = try builder.finish()
        weights = builder.store
        instructions = built.instructions
        inputSlot = 0
        outputSlot = built.outputSlot
        slotCount = built.slotCount
        styleCount = builder.styleCount
    }
}
