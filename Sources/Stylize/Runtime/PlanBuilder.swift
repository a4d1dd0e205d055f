/// Builds a `Plan` from a model's graph in one pass over its nodes: each node is lowered to a step (its
/// weights checked, its convolution strategy chosen), and the fusion rules below fold a step into the one
/// after it when that is its only reader, so the folded step computes nothing of its own:
///
/// - `foldReLU`: a ReLU into the normalisation before it.
/// - `foldAffineIntoTanh`: a scalar affine (tanh's rescaling to pixels) into the tanh before it.
/// - `absorbPad`, `absorbUpsample`, `absorbInputNorm`: a pad, then a nearest upsample, then a normalisation
///   into the convolution that reads them (it builds the padded, upsampled, normalised rows band by band).
/// - `absorbDepthwise`: a depthwise convolution into the 1×1 convolution after it (they run in bands together).
/// - `absorbResidualNorm`: a normalised branch into the addition of a residual block.
///
/// and two rearrangements of a convolution's weight let `Session` run fused kernels (`subpixelKernels` after an
/// upsample, `phasedKernels` for a stride-2 layer of few channels). Slots are numbered as values are produced;
/// a slot's buffer is released after its last reader.
struct PlanBuilder {
    typealias Step = Plan.Step

    /// A lowered node: the step, its input slots and its output slot.
    private struct Lowered {
        var node: Node
        var step: Step
        var inputs: [Int]
        var output: Int
    }

    let store: WeightStore
    private let graph: Graph
    /// Readers of each value (the graph's output counts as one).
    private var uses: [String: Int] = [:]
    /// The lowered step that produces each value.
    private var producer: [String: Int] = [:]
    private var slotOf: [String: Int]
    private var nextSlot = 1
    private var steps: [Lowered] = []
    /// Steps folded into a later step (they compute nothing of their own).
    private var folded = Set<Int>()
    /// The style count of the conditional normalisations (0: none).
    private(set) var styleCount = 0

    init(model: StyleModel) {
        store = WeightStore(model.weights)
        graph = model.graph
        slotOf = [graph.input: 0]
        for n in graph.nodes { for i in n.inputs { uses[i, default: 0] += 1 } }
        uses[graph.output, default: 0] += 1
    }

    // MARK: - The pass

    mutating func add(_ node: Node) throws {
        let expectedInputs = node.op == .add ? 2 : 1
        guard node.inputs.count == expectedInputs else {
            throw fail(node, "takes \(expectedInputs) input(s), got \(node.inputs.count)")
        }
        var ins: [Int] = []
        for name in node.inputs {
            guard let s = slotOf[name] else { throw fail(node, "input '\(name)' is not produced by any earlier node") }
            ins.append(s)
        }
        if foldReLU(node) || foldAffineIntoTanh(node) { return }
        let step: Step
        switch node.op {
        case .conv2d(let c): step = .conv(try convolution(node, c, inputs: &ins))
        case .convTranspose2d(let c):
            let (w, s) = try weight(node, c.weight, rank: 4)
            guard c.strideH >= 1, c.strideW >= 1 else { throw fail(node, "stride must be at least 1") }
            let bias = try vector(node, c.bias, length: s[1])
            step = .convT(Plan.ConvTStep(weight: w, bias: bias, cin: s[0], cout: s[1], kh: s[2], kw: s[3],
                                         sh: c.strideH, sw: c.strideW, padding: c.padding,
                                         outputPaddingH: c.outputPaddingH, outputPaddingW: c.outputPaddingW))
        case .instanceNorm(let n):
            let scale = try vector(node, n.scale, length: nil)
            let shift = try vector(node, n.shift, length: nil)
            let cs = [n.scale, n.shift].compactMap { $0 }.compactMap { store.shape($0)?.reduce(1, *) }
            if cs.count == 2 && cs[0] != cs[1] {
                throw StylizeError(.shapeMismatch, "node \(node.name) (InstanceNorm): scale has \(cs[0]) values but shift has \(cs[1])")
            }
            step = .norm(Plan.NormStep(scale: scale, shift: shift, channels: cs.first, epsilon: n.epsilon, relu: false))
        case .conditionalInstanceNorm(let n):
            let (g, gs) = try weight(node, n.gamma, rank: 2)
            let (b, bs) = try weight(node, n.beta, rank: 2)
            guard gs == bs else {
                throw StylizeError(.shapeMismatch, "node \(node.name) (ConditionalInstanceNorm): gamma \(gs) and beta \(bs) differ")
            }
            if styleCount != 0 && styleCount != gs[0] {
                throw fail(node, "has \(gs[0]) styles where an earlier layer has \(styleCount)")
            }
            styleCount = gs[0]
            step = .condNorm(Plan.CondNormStep(gamma: g, beta: b, gammaBias: try vector(node, n.gammaBias, length: gs[1]),
                                               betaBias: try vector(node, n.betaBias, length: gs[1]),
                                               styles: gs[0], channels: gs[1], epsilon: n.epsilon, relu: false))
        case .relu: step = .relu
        case .add: step = .add(absorbResidualNorm(node, inputs: &ins))
        case .crop(let p): step = .crop(p)
        case .pad(let p, let m): step = .pad(p, m)
        case .upsampleNearest(let f):
            guard f >= 1 else { throw fail(node, "factor must be at least 1") }
            step = .upsample(f)
        case .scalarAffine(let a, let b): step = .scalarAffine(a, b)
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
        let out = nextSlot
        nextSlot += 1
        slotOf[node.output] = out
        producer[node.output] = steps.count
        steps.append(Lowered(node: node, step: step, inputs: ins, output: out))
    }

    /// The instructions without the folded steps, each releasing the slots it reads last.
    func finish() throws -> (instructions: [Plan.Instruction], outputSlot: Int, slotCount: Int) {
        guard let outSlot = slotOf[graph.output] else {
            throw StylizeError(.invalidGraph, "graph output '\(graph.output)' is not produced by any node")
        }
        let kept = steps.enumerated().filter { !folded.contains($0.offset) }.map(\.element)
        var lastUse: [Int: Int] = [:]
        for (i, s) in kept.enumerated() { for slot in s.inputs { lastUse[slot] = i } }
        let instructions = kept.enumerated().map { i, s in
            Plan.Instruction(name: s.node.name, kind: s.node.op.kind, step: s.step, inputs: s.inputs, output: s.output,
                             releases: Array(Set(s.inputs).filter { lastUse[$0] == i && $0 != outSlot }))
        }
        return (instructions, outSlot, nextSlot)
    }

    // MARK: - Fusion rules

    /// The step producing `value` when this node is its only reader and it has not been folded already.
    private func soleProducer(of value: String) -> Int? {
        guard uses[value] == 1, let p = producer[value], !folded.contains(p) else { return nil }
        return p
    }

    /// A ReLU that directly follows a normalisation whose result nobody else reads is applied by the
    /// normalisation; its output names the normalisation's slot.
    private mutating func foldReLU(_ node: Node) -> Bool {
        guard node.op == .relu, let p = producer[node.inputs[0]], uses[node.inputs[0]] == 1 else { return false }
        switch steps[p].step {
        case .norm(var n) where !n.relu:
            n.relu = true
            steps[p].step = .norm(n)
        case .condNorm(var n) where !n.relu:
            n.relu = true
            steps[p].step = .condNorm(n)
        default:
            return false
        }
        alias(node.output, to: p)
        return true
    }

    /// `a·tanh(s·x + t) + b` is `tanh` with its rescaling folded: the output layer of most style networks.
    private mutating func foldAffineIntoTanh(_ node: Node) -> Bool {
        guard case .scalarAffine(let a, let b) = node.op, let p = soleProducer(of: node.inputs[0]),
              case .tanh(let s0, let t0) = steps[p].step else { return false }
        steps[p].step = .tanh(scale: a * s0, shift: a * t0 + b)
        alias(node.output, to: p)
        return true
    }

    /// `node.output` is the value step `p` already produces.
    private mutating func alias(_ value: String, to p: Int) {
        slotOf[value] = steps[p].output
        producer[value] = p
    }

    /// A `Pad` before a convolution that pads nothing itself: the convolution pads.
    private mutating func absorbPad(into padding: inout ConvPadding, mode: inout PadMode, source: inout String, inputs: inout [Int]) {
        guard case .explicit(let own) = padding, own.isZero, let p = soleProducer(of: source),
              case .pad(let pads, let padMode) = steps[p].step else { return }
        padding = .explicit(pads); mode = padMode
        fold(p, source: &source, inputs: &inputs)
    }

    /// A nearest upsample before a convolution: the convolution builds the upsampled rows it reads.
    private mutating func absorbUpsample(source: inout String, inputs: inout [Int]) -> Int {
        guard let p = soleProducer(of: source), case .upsample(let f) = steps[p].step else { return 1 }
        fold(p, source: &source, inputs: &inputs)
        return f
    }

    /// A normalisation before those: pads and nearest upsampling commute with a per-channel map, so the
    /// convolution applies it as it copies its input.
    private mutating func absorbInputNorm(source: String, inputs: inout [Int]) -> Plan.FoldedNorm? {
        guard let p = soleProducer(of: source), let n = Plan.FoldedNorm(steps[p].step) else { return nil }
        folded.insert(p)
        inputs = steps[p].inputs
        return n
    }

    /// A depthwise convolution before a plain 1×1 one that alone reads it: they run together in bands.
    private mutating func absorbDepthwise(before c: Conv2DSpec, shape s: [Int], groups: Int, upsample: Int, inputNorm: Plan.FoldedNorm?,
                                          padding: ConvPadding, source: String, inputs: inout [Int]) -> Plan.FoldedDepthwise? {
        guard groups == 1 && s[2] == 1 && s[3] == 1 && c.strideH == 1 && c.strideW == 1 && padding == .explicit(.uniform(0))
                && upsample == 1 && inputNorm == nil, let p = soleProducer(of: source),
              case .conv(let dw) = steps[p].step, dw.strategy == .depthwise, dw.depthwise == nil, dw.cout == s[1] else { return nil }
        folded.insert(p)
        inputs = steps[p].inputs
        return Plan.FoldedDepthwise(dw)
    }

    /// A residual block's normalised branch is added as it is normalised (either side: + commutes).
    private mutating func absorbResidualNorm(_ node: Node, inputs: inout [Int]) -> Plan.FoldedNorm? {
        guard node.inputs[0] != node.inputs[1] else { return nil }
        for side in [0, 1] {
            if let p = soleProducer(of: node.inputs[side]), let n = Plan.FoldedNorm(steps[p].step) {
                folded.insert(p)
                inputs = side == 0 ? [steps[p].inputs[0], inputs[1]] : [steps[p].inputs[0], inputs[0]]
                return n
            }
        }
        return nil
    }

    /// Marks step `p` folded: the reader now reads what `p` read.
    private mutating func fold(_ p: Int, source: inout String, inputs: inout [Int]) {
        folded.insert(p)
        source = steps[p].node.inputs[0]
        inputs = steps[p].inputs
    }

    // MARK: - Convolutions

    private mutating func convolution(_ node: Node, _ c: Conv2DSpec, inputs ins: inout [Int]) throws -> Plan.ConvStep {
        let (w, s) = try weight(node, c.weight, rank: 4)
        guard c.strideH >= 1, c.strideW >= 1 else { throw fail(node, "stride must be at least 1") }
        let bias = try vector(node, c.bias, length: s[0])
        let groups = c.groups ?? 1
        guard groups == 1 || (groups == s[0] && s[1] == 1) else {
            throw fail(node, "\(groups) groups of a [\(s.map(String.init).joined(separator: ", "))] weight: only depthwise grouping (groups = channels, weight [C, 1, kh, kw]) is supported")
        }
        let strategy = groups > 1 ? .depthwise : Plan.strategy(cout: s[0], cin: s[1], kh: s[2], kw: s[3], sh: c.strideH, sw: c.strideW)
        var packed: UnsafeMutablePointer<Float>? = nil
        if strategy != .im2col && strategy != .depthwise && strategy != .direct {
            packed = derived(c.weight, "\(strategy)") { w in
                switch strategy {
                case .winograd2: Winograd.pack(w, cout: s[0], cin: s[1], transform: Winograd.f2)
                case .winograd4: Winograd.pack(w, cout: s[0], cin: s[1], transform: Winograd.f4)
                case .rowShift: Convolution.packRowShift(w, cout: s[0], cin: s[1], kh: s[2], kw: s[3])
                default: Convolution.packCol2im(w, cout: s[0], cin: s[1], kh: s[2], kw: s[3])
                }
            }
        }
        // The steps before it that it reads alone, in the order they apply: pad, upsample, normalisation.
        var padding = c.padding, padMode = c.padMode, source = node.inputs[0]
        absorbPad(into: &padding, mode: &padMode, source: &source, inputs: &ins)
        let upsample = absorbUpsample(source: &source, inputs: &ins)
        let inputNorm = absorbInputNorm(source: source, inputs: &ins)
        var subpixel: UnsafeMutablePointer<Float>? = nil
        if strategy == .direct && upsample == 2 && s[2] == 3 && s[3] == 3 && padding == .explicit(.uniform(1)) {
            subpixel = derived(c.weight, "subpixel") { Plan.subpixelKernels($0, cout: s[0], cin: s[1]) }
        }
        var phased: UnsafeMutablePointer<Float>? = nil
        if groups == 1 && upsample == 1 && s[2] == 3 && s[3] == 3 && c.strideH == 2 && c.strideW == 2
            && Plan.strategy(cout: s[0], cin: 4 * s[1], kh: 2, kw: 2, sh: 1, sw: 1) == .direct {
            phased = derived(c.weight, "phased") { Plan.phasedKernels($0, cout: s[0], cin: s[1]) }
        }
        let depthwise = absorbDepthwise(before: c, shape: s, groups: groups, upsample: upsample, inputNorm: inputNorm,
                                        padding: padding, source: source, inputs: &ins)
        return Plan.ConvStep(weight: w, packed: packed, bias: bias, cout: s[0], cin: groups > 1 ? groups : s[1], kh: s[2], kw: s[3],
                             sh: c.strideH, sw: c.strideW, padding: padding, padMode: padMode, strategy: strategy,
                             upsample: upsample, subpixel: subpixel, phased: phased, inputNorm: inputNorm, depthwise: depthwise)
    }

    /// A rearrangement of a weight that a kernel reads, made once per weight (layers may share one).
    private func derived(_ name: String, _ tag: String, _ make: ([Float]) -> [Float]) -> UnsafeMutablePointer<Float> {
        let key = name + "#" + tag
        if store.pointer(key) == nil {
            let p = make(store.values(name)!)
            store.add(key, p, shape: [p.count])
        }
        return store.pointer(key)!
    }

    // MARK: - Weights

    private func fail(_ node: Node, _ why: String) -> StylizeError {
        StylizeError(.invalidGraph, "node \(node.name) (\(node.op.kind)): \(why)")
    }

    private func weight(_ node: Node, _ name: String, rank: Int? = nil) throws -> (UnsafeMutablePointer<Float>, [Int]) {
        guard let p = store.pointer(name), let s = store.shape(name) else {
            throw fail(node, "weight '\(name)' is missing")
        }
        if let rank, s.count != rank {
            throw StylizeError(.shapeMismatch, "node \(node.name) (\(node.op.kind)): weight '\(name)' has shape \(s), expected rank \(rank)")
        }
        return (p, s)
    }

    private func vector(_ node: Node, _ name: String?, length: Int?) throws -> UnsafeMutablePointer<Float>? {
        guard let name else { return nil }
        let (p, s) = try weight(node, name)
        let n = s.reduce(1, *)
        if let length, n != length {
            throw StylizeError(.shapeMismatch, "node \(node.name) (\(node.op.kind)): '\(name)' has \(n) values, expected \(length)")
        }
        return p
    }
}
