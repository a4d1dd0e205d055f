/// A graph compiled for execution: value names replaced by slots, weights resolved and checked, ReLUs fused
/// into the normalisation before them, pads, nearest upsampling and normalisations fused into the convolution
/// after them, a normalised residual branch into its addition, a scale after tanh into the tanh, and the last
/// use of every slot known so its buffer can be recycled.
package final class Plan: @unchecked Sendable {
    package enum ConvStrategy: Equatable { case im2col, col2im, rowShift, winograd2, winograd4, depthwise, direct }

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

    init(model: StyleModel) throws {
        let store = WeightStore(model.weights)
        weights = store
        let graph = model.graph
        func fail(_ node: Node, _ why: String) -> StylizeError {
            StylizeError(.invalidGraph, "node \(node.name) (\(node.op.kind)): \(why)")
        }
        func weight(_ node: Node, _ name: String, rank: Int? = nil) throws -> (UnsafeMutablePointer<Float>, [Int]) {
            guard let p = store.pointer(name), let s = store.shape(name) else {
                throw fail(node, "weight '\(name)' is missing")
            }
            if let rank, s.count != rank {
                throw StylizeError(.shapeMismatch, "node \(node.name) (\(node.op.kind)): weight '\(name)' has shape \(s), expected rank \(rank)")
            }
            return (p, s)
        }
        func vector(_ node: Node, _ name: String?, length: Int?) throws -> UnsafeMutablePointer<Float>? {
            guard let name else { return nil }
            let (p, s) = try weight(node, name)
            let n = s.reduce(1, *)
            if let length, n != length {
                throw StylizeError(.shapeMismatch, "node \(node.name) (\(node.op.kind)): '\(name)' has \(n) values, expected \(length)")
            }
            return p
        }

        // Slots for value names; a ReLU that directly follows a normalisation whose result nobody else
        // reads is folded into it and its output name aliases the normalisation's slot.
        var uses: [String: Int] = [:]
        for n in graph.nodes { for i in n.inputs { uses[i, default: 0] += 1 } }
        uses[graph.output, default: 0] += 1
        var producer: [String: Int] = [:]
        var slotOf: [String: Int] = [graph.input: 0]
        var next = 1
        var steps: [(Node, Step, [Int], Int)] = []
        /// Steps folded into a later convolution or addition (they compute nothing of their own).
        var folded = Set<Int>()
        var multiStyle = 0

        for node in graph.nodes {
            let expectedInputs = node.op == .add ? 2 : 1
            guard node.inputs.count == expectedInputs else {
                throw fail(node, "takes \(expectedInputs) input(s), got \(node.inputs.count)")
            }
            var ins: [Int] = []
            for name in node.inputs {
                guard let s = slotOf[name] else { throw fail(node, "input '\(name)' is not produced by any earlier node") }
                ins.append(s)
            }
            if node.op == .relu, let p = producer[node.inputs[0]], uses[node.inputs[0]] == 1 {
                switch steps[p].1 {
                case .norm(var n) where !n.relu:
                    n.relu = true
                    steps[p].1 = .norm(n)
                    slotOf[node.output] = ins[0]
                    producer[node.output] = p
                    continue
                case .condNorm(var n) where !n.relu:
                    n.relu = true
                    steps[p].1 = .condNorm(n)
                    slotOf[node.output] = ins[0]
                    producer[node.output] = p
                    continue
                default: break
                }
            }
            let step: Step
            switch node.op {
            case .conv2d(let c):
                let (w, s) = try weight(node, c.weight, rank: 4)
                guard c.strideH >= 1, c.strideW >= 1 else { throw fail(node, "stride must be at least 1") }
                let bias = try vector(node, c.bias, length: s[0])
                let groups = c.groups ?? 1
                guard groups == 1 || (groups == s[0] && s[1] == 1) else {
                    throw fail(node, "\(groups) groups of a [\(s.map(String.init).joined(separator: ", "))] weight: only depthwise grouping (groups = channels, weight [C, 1, kh, kw]) is supported")
                }
                let strategy = groups > 1 ? .depthwise : Plan.strategy(cout: s[0], cin: s[1], kh: s[2], kw: s[3], sh: c.strideH, sw: c.strideW)
                // A rearrangement of the weight that a kernel reads, made once per weight (layers may share one).
                func derived(_ tag: String, _ make: ([Float]) -> [Float]) -> UnsafeMutablePointer<Float> {
                    let key = c.weight + "#" + tag
                    if store.pointer(key) == nil {
                        let p = make(store.values(c.weight)!)
                        store.add(key, p, shape: [p.count])
                    }
                    return store.pointer(key)!
                }
                var packed: UnsafeMutablePointer<Float>? = nil
                if strategy != .im2col && strategy != .depthwise && strategy != .direct {
                    packed = derived("\(strategy)") { w in
                        switch strategy {
                        case .winograd2: Winograd.pack(w, cout: s[0], cin: s[1], transform: Winograd.f2)
                        case .winograd4: Winograd.pack(w, cout: s[0], cin: s[1], transform: Winograd.f4)
                        case .rowShift: Convolution.packRowShift(w, cout: s[0], cin: s[1], kh: s[2], kw: s[3])
                        default: Convolution.packCol2im(w, cout: s[0], cin: s[1], kh: s[2], kw: s[3])
                        }
                    }
                }
                var padding = c.padding, padMode = c.padMode, upsample = 1
                // Fold a Pad (when the convolution pads nothing itself) and then a nearest upsample before it,
                // each only if this convolution is its sole reader.
                var source = node.inputs[0]
                if case .explicit(let own) = c.padding, own.isZero, uses[source] == 1, let p = producer[source],
                   !folded.contains(p), case .pad(let pads, let mode) = steps[p].1 {
                    padding = .explicit(pads); padMode = mode
                    folded.insert(p)
                    source = steps[p].0.inputs[0]
                    ins = steps[p].2
                }
                if uses[source] == 1, let p = producer[source], !folded.contains(p), case .upsample(let f) = steps[p].1 {
                    upsample = f
                    folded.insert(p)
                    source = steps[p].0.inputs[0]
                    ins = steps[p].2
                }
                // And a normalisation before those (pads and nearest upsampling commute with a per-channel map).
                var inputNorm: FoldedNorm? = nil
                if uses[source] == 1, let p = producer[source], !folded.contains(p), let n = FoldedNorm(steps[p].1) {
                    inputNorm = n
                    folded.insert(p)
                    ins = steps[p].2
                }
                var subpixel: UnsafeMutablePointer<Float>? = nil
                if strategy == .direct && upsample == 2 && s[2] == 3 && s[3] == 3 && padding == .explicit(.uniform(1)) {
                    subpixel = derived("subpixel") { Plan.subpixelKernels($0, cout: s[0], cin: s[1]) }
                }
                var phased: UnsafeMutablePointer<Float>? = nil
                if groups == 1 && upsample == 1 && s[2] == 3 && s[3] == 3 && c.strideH == 2 && c.strideW == 2
                    && Plan.strategy(cout: s[0], cin: 4 * s[1], kh: 2, kw: 2, sh: 1, sw: 1) == .direct {
                    phased = derived("phased") { Plan.phasedKernels($0, cout: s[0], cin: s[1]) }
                }
                // A depthwise-separable pair: the depthwise convolution before a 1×1 one that alone reads it.
                var depthwise: FoldedDepthwise? = nil
                if groups == 1 && s[2] == 1 && s[3] == 1 && c.strideH == 1 && c.strideW == 1 && padding == .explicit(.uniform(0))
                    && upsample == 1 && inputNorm == nil && uses[source] == 1, let p = producer[source], !folded.contains(p),
                   case .conv(let dw) = steps[p].1, dw.strategy == .depthwise, dw.depthwise == nil, dw.cout == s[1] {
                    depthwise = FoldedDepthwise(dw)
                    folded.insert(p)
                    ins = steps[p].2
                }
                step = .conv(ConvStep(weight: w, packed: packed, bias: bias, cout: s[0], cin: groups > 1 ? groups : s[1], kh: s[2], kw: s[3],
                                      sh: c.strideH, sw: c.strideW, padding: padding, padMode: padMode, strategy: strategy,
                                      upsample: upsample, subpixel: subpixel, phased: phased, inputNorm: inputNorm, depthwise: depthwise))
            case .convTranspose2d(let c):
                let (w, s) = try weight(node, c.weight, rank: 4)
                guard c.strideH >= 1, c.strideW >= 1 else { throw fail(node, "stride must be at least 1") }
                let bias = try vector(node, c.bias, length: s[1])
                step = .convT(ConvTStep(weight: w, bias: bias, cin: s[0], cout: s[1], kh: s[2], kw: s[3],
                                        sh: c.strideH, sw: c.strideW, padding: c.padding,
                                        outputPaddingH: c.outputPaddingH, outputPaddingW: c.outputPaddingW))
            case .instanceNorm(let n):
                let scale = try vector(node, n.scale, length: nil)
                let shift = try vector(node, n.shift, length: nil)
                let cs = [n.scale, n.shift].compactMap { $0 }.compactMap { store.shape($0)?.reduce(1, *) }
                if cs.count == 2 && cs[0] != cs[1] {
                    throw StylizeError(.shapeMismatch, "node \(node.name) (InstanceNorm): scale has \(cs[0]) values but shift has \(cs[1])")
                }
                step = .norm(NormStep(scale: scale, shift: shift, channels: cs.first, epsilon: n.epsilon, relu: false))
            case .conditionalInstanceNorm(let n):
                let (g, gs) = try weight(node, n.gamma, rank: 2)
                let (b, bs) = try weight(node, n.beta, rank: 2)
                guard gs == bs else {
                    throw StylizeError(.shapeMismatch, "node \(node.name) (ConditionalInstanceNorm): gamma \(gs) and beta \(bs) differ")
                }
                if multiStyle != 0 && multiStyle != gs[0] {
                    throw fail(node, "has \(gs[0]) styles where an earlier layer has \(multiStyle)")
                }
                multiStyle = gs[0]
                step = .condNorm(CondNormStep(gamma: g, beta: b, gammaBias: try vector(node, n.gammaBias, length: gs[1]),
                                              betaBias: try vector(node, n.betaBias, length: gs[1]),
                                              styles: gs[0], channels: gs[1], epsilon: n.epsilon, relu: false))
            case .relu: step = .relu
            case .add:
                // A residual block's normalised branch is added as it is normalised (either side: + commutes).
                var norm: FoldedNorm? = nil
                for side in [0, 1] where node.inputs[0] != node.inputs[1] && norm == nil {
                    let name = node.inputs[side]
                    if uses[name] == 1, let p = producer[name], !folded.contains(p), let n = FoldedNorm(steps[p].1) {
                        norm = n
                        folded.insert(p)
                        ins = side == 0 ? [steps[p].2[0], ins[1]] : [steps[p].2[0], ins[0]]
                    }
                }
                step = .add(norm)
            case .crop(let p): step = .crop(p)
            case .pad(let p, let m): step = .pad(p, m)
            case .upsampleNearest(let f):
                guard f >= 1 else { throw fail(node, "factor must be at least 1") }
                step = .upsample(f)
            case .scalarAffine(let a, let b):
                if uses[node.inputs[0]] == 1, let p = producer[node.inputs[0]], !folded.contains(p),
                   case .tanh(let s0, let t0) = steps[p].1 {
                    steps[p].1 = .tanh(scale: a * s0, shift: a * t0 + b)
                    slotOf[node.output] = ins[0]
                    producer[node.output] = p
                    continue
                }
                step = .scalarAffine(a, b)
            case .channelAffine(let c): step = .channelAffine(c.scale, c.shift)
            case .tanh: step = .tanh(scale: 1, shift: 0)
            case .sigmoid: step = .sigmoid
            case .maxPool(let k, let s):
                guard k >= 1, s >= 1 else { throw fail(node, "kernel and stride must be at least 1") }
                step = .maxPool(k, s)
            case .clip(let lo, let hi):
                guard lo <= hi else { throw fail(node, "minimum \(lo) is above maximum \(hi)") }
                step = .clip(lo, hi)
            case .globalAveragePool: step = .globalAveragePool
            }
            let out = next
            next += 1
            slotOf[node.output] = out
            producer[node.output] = steps.count
            steps.append((node, step, ins, out))
        }
        guard let outSlot = slotOf[graph.output] else {
            throw StylizeError(.invalidGraph, "graph output '\(graph.output)' is not produced by any node")
        }
        steps = steps.enumerated().filter { !folded.contains($0.offset) }.map(\.element)
        var lastUse: [Int: Int] = [:]
        for (i, s) in steps.enumerated() { for slot in s.2 { lastUse[slot] = i } }
        var built: [Instruction] = []
        for (i, s) in steps.enumerated() {
            let releases = Set(s.2).filter { lastUse[$0] == i && $0 != outSlot }
            built.append(Instruction(name: s.0.name, kind: s.0.op.kind, step: s.1, inputs: s.2, output: s.3,
                                     releases: Array(releases)))
        }
        instructions = built
        inputSlot = 0
        outputSlot = outSlot
        slotCount = next
        styleCount = multiStyle
    }
}
