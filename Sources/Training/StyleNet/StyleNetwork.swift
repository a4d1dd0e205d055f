import Pipeline
public import Stylize

/// The shape of a feed-forward style network (Johnson et al.'s TransformerNet and lighter variants of it):
/// a 9×9 convolution, two stride-2 3×3 convolutions, residual blocks, two nearest-2× upsample + 3×3 convolution
/// stages and a 9×9 output convolution; every convolution reflection-padded, every inner one followed by
/// instance norm (conditional with several styles) and ReLU, as pytorch/examples' `transformer_net.py`.
public struct StyleNetworkArchitecture: Codable, Sendable, Equatable {
    /// "johnson" or "light".
    public var name: String
    /// Channels of the three encoder stages (the decoder mirrors them).
    public var widths: [Int]
    public var residualBlocks: Int
    /// Residual convolutions as depthwise 3×3 + pointwise 1×1 (MobileNet's separable form) instead of full 3×3.
    public var depthwiseResidual: Bool
    /// The two stride-2 and the two upsampling 3×3 convolutions depthwise-separable too. They run at half and
    /// full resolution: in the light preset the upsampling pair costs 9,216 of the 15,672 multiply-adds per
    /// pixel, and 1,456 when separable.
    public var depthwiseSampling: Bool
    /// Styles of conditional instance norm (1: plain instance norm).
    public var styles: Int
    /// Kernel of the first and the last convolution (9 in TransformerNet). They run at full resolution on few
    /// channels, so in a light network they cost as much as everything between them: 5 or 3 buys speed.
    public var edgeKernel: Int
    /// Engstrom's bounded output, 150·tanh(x) + 127.5, instead of TransformerNet's raw one. A raw output starts
    /// near 0 (a black picture) and a narrow network climbs to the 0…255 range only after hundreds of Adam
    /// steps at lr 1e-3; through tanh it starts at mid-grey with its contrast a few steps away.
    public var outputTanh: Bool
    /// The first convolution has stride 2 (the second then has stride 1) and the last one works on a nearest-2×
    /// upsampled picture (the second upsampling stage then has none), so that no feature map is at full
    /// resolution: the first and last stages trade places in resolution with their neighbours, and every stage
    /// keeps at least as many values per pixel as the residual blocks (4). At full resolution the other light
    /// networks move 16- and 32-channel planes through memory and that, not arithmetic, bounds their speed; here
    /// only the input and output are that large. Two other placements were trained and looked at: residual
    /// blocks at 1/8 (64 channels for 64 pixels) drew a lattice of brush marks over a lost photo, and a decoder
    /// and encoder at 1/4 with 32 channels (2 values per pixel) washed the photo out.
    public var stridedEdges: Bool
    /// Conditioned on a style embedding of this many values (0: not), as Ghiasi et al.'s transformer is: every
    /// norm's γ = Wᵧ·e + bᵧ and β = W_β·e + b_β, so the network paints whatever style the embedding of a painting
    /// describes (`StylePredictor`). The norms then have `styleEmbedding + 1` rows, the last one the bias (its
    /// weight always 1), and `styles` is 1.
    public var styleEmbedding: Int

    public init(name: String, widths: [Int], residualBlocks: Int, depthwiseResidual: Bool = false, depthwiseSampling: Bool = false,
                styles: Int = 1, edgeKernel: Int = 9, outputTanh: Bool = false, stridedEdges: Bool = false, styleEmbedding: Int = 0) {
        precondition(widths.count == 3 && widths.allSatisfy { $0 > 0 } && residualBlocks >= 0 && styles >= 1)
        precondition(styleEmbedding >= 0 && (styleEmbedding == 0 || styles == 1), "an embedding-conditioned network has no fixed styles")
        precondition(edgeKernel >= 1 && edgeKernel % 2 == 1, "the edge kernel must be odd")
        self.name = name
        self.widths = widths
        self.residualBlocks = residualBlocks
        self.depthwiseResidual = depthwiseResidual
        self.depthwiseSampling = depthwiseSampling
        self.styles = styles
        self.edgeKernel = edgeKernel
        self.outputTanh = outputTanh
        self.stridedEdges = stridedEdges
        self.styleEmbedding = styleEmbedding
    }

    /// Rows of every norm's scale and shift: one per style, or the embedding's values and the bias.
    public var normRows: Int { styleEmbedding > 0 ? styleEmbedding + 1 : styles }

    private enum CodingKeys: String, CodingKey {
        case name, widths, residualBlocks, depthwiseResidual, depthwiseSampling, styles, edgeKernel, outputTanh, stridedEdges, styleEmbedding
    }

    /// Checkpoints written before `edgeKernel` and `outputTanh` existed have TransformerNet's 9 and raw output;
    /// before `depthwiseSampling`, full sampling convolutions; before `stridedEdges`, full-resolution edges; before
    /// `styleEmbedding`, fixed styles.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), widths: try c.decode([Int].self, forKey: .widths),
                  residualBlocks: try c.decode(Int.self, forKey: .residualBlocks),
                  depthwiseResidual: try c.decodeIfPresent(Bool.self, forKey: .depthwiseResidual) ?? false,
                  depthwiseSampling: try c.decodeIfPresent(Bool.self, forKey: .depthwiseSampling) ?? false,
                  styles: try c.decode(Int.self, forKey: .styles), edgeKernel: try c.decodeIfPresent(Int.self, forKey: .edgeKernel) ?? 9,
                  outputTanh: try c.decodeIfPresent(Bool.self, forKey: .outputTanh) ?? false,
                  stridedEdges: try c.decodeIfPresent(Bool.self, forKey: .stridedEdges) ?? false,
                  styleEmbedding: try c.decodeIfPresent(Int.self, forKey: .styleEmbedding) ?? 0)
    }

    /// TransformerNet as published: 32/64/128 channels, 5 residual blocks.
    public static func johnson(styles: Int = 1) -> Self {
        Self(name: "johnson", widths: [32, 64, 128], residualBlocks: 5, styles: styles)
    }

    /// Half the width, 3 residual blocks of depthwise-separable convolutions, 5×5 edge convolutions, Engstrom's
    /// tanh output: the architecture of streamd's own models.
    public static func light(styles: Int = 1) -> Self {
        Self(name: "light", widths: [16, 32, 64], residualBlocks: 3, depthwiseResidual: true, styles: styles, edgeKernel: 5, outputTanh: true)
    }

    /// One reflection-padded convolution and what follows it.
    struct Unit {
        var name: String
        var inChannels: Int, outChannels: Int
        var kernel: Int, stride: Int
        var upsample: Bool
        /// A depthwise kernel×kernel convolution (reflection-padded) before a pointwise 1×1 one.
        var depthwise: Bool = false
        var norm: Bool
        var relu: Bool
    }

    enum Step {
        case unit(Unit)
        case residual(name: String, first: Unit, second: Unit)
    }

    var steps: [Step] {
        let (a, b, c) = (widths[0], widths[1], widths[2])
        func unit(_ name: String, _ cin: Int, _ cout: Int, _ k: Int, stride: Int = 1, upsample: Bool = false,
                  depthwise: Bool = false, norm: Bool = true, relu: Bool = true) -> Unit {
            Unit(name: name, inChannels: cin, outChannels: cout, kernel: k, stride: stride, upsample: upsample, depthwise: depthwise,
                 norm: norm, relu: relu)
        }
        let dw = depthwiseResidual, ds = depthwiseSampling
        let e = edgeKernel
        let s = stridedEdges
        return [.unit(unit("conv1", 3, a, e, stride: s ? 2 : 1)), .unit(unit("conv2", a, b, 3, stride: s ? 1 : 2, depthwise: ds)),
                .unit(unit("conv3", b, c, 3, stride: 2, depthwise: ds))]
            + (0..<residualBlocks).map { i in
                .residual(name: "res\(i + 1)", first: unit("res\(i + 1).conv1", c, c, 3, depthwise: dw),
                          second: unit("res\(i + 1).conv2", c, c, 3, depthwise: dw, relu: false))
            }
            + [.unit(unit("up1", c, b, 3, upsample: true, depthwise: ds)), .unit(unit("up2", b, a, 3, upsample: !s, depthwise: ds)),
               .unit(unit("out", a, 3, e, upsample: s, norm: false, relu: false))]
    }

    var units: [Unit] {
        steps.flatMap { step -> [Unit] in
            switch step {
            case .unit(let u): [u]
            case .residual(_, let f, let s): [f, s]
            }
        }
    }

    /// Multiply-adds per input pixel (convolutions only; norms and ReLUs are a few operations per value).
    public var multiplyAddsPerPixel: Int {
        var scale = 1.0, total = 0.0
        for u in units {
            if u.upsample { scale *= 4 }
            if u.stride == 2 { scale /= 4 }
            total += scale * Double(u.depthwise ? u.inChannels * u.kernel * u.kernel + u.inChannels * u.outChannels
                                                : u.inChannels * u.outChannels * u.kernel * u.kernel)
        }
        return Int(total.rounded())
    }
}

/// A trainable style network: explicit layers run forward for one picture and backward from the gradient of
/// its output, parameter gradients accumulating over the pictures of a batch (Caffe's per-sample layers), and
/// exported as a `StyleModel` graph that the inference engine runs as it runs any imported network.
///
/// Input and output are pytorch/examples' convention: RGB 0…255 in, 0…255 out (unclamped; inference clamps).
public final class StyleNetwork {
    public let architecture: StyleNetworkArchitecture

    final class UnitLayers {
        let unit: StyleNetworkArchitecture.Unit
        let upsample: UpsampleNearest2x?
        let depthwise: DepthwiseConv2d?
        let conv: Conv2d
        let norm: InstanceNorm?
        let relu: ReLU?
        /// Outputs of each layer in the last forward: [upsample], conv, [norm], [relu].
        var maps: [FeatureMap]
        var gradient = FeatureMap(), spare = FeatureMap()

        init(_ u: StyleNetworkArchitecture.Unit, architecture: StyleNetworkArchitecture, random: inout SeededRandom, context: TrainingContext) {
            unit = u
            upsample = u.upsample ? UpsampleNearest2x() : nil
            // PyTorch's default Conv2d initialisation: uniform in ±1/√fan_in for weights and biases.
            func uniform(_ count: Int, fanIn: Int) -> [Float] {
                let bound = Float(1 / Double(fanIn).squareRoot())
                return (0..<count).map { _ in (random.unit() * 2 - 1) * bound }
            }
            if u.depthwise {
                let taps = u.kernel * u.kernel
                depthwise = DepthwiseConv2d(channels: u.inChannels, kernel: u.kernel, stride: u.stride, padding: u.kernel / 2, padMode: .reflect,
                                            weight: uniform(u.inChannels * taps, fanIn: taps), bias: uniform(u.inChannels, fanIn: taps), context: context)
                conv = Conv2d(inputChannels: u.inChannels, outputChannels: u.outChannels, kernel: 1, stride: 1, padding: 0,
                              weight: uniform(u.outChannels * u.inChannels, fanIn: u.inChannels), bias: uniform(u.outChannels, fanIn: u.inChannels),
                              context: context)
            } else {
                depthwise = nil
                let fanIn = u.inChannels * u.kernel * u.kernel
                conv = Conv2d(inputChannels: u.inChannels, outputChannels: u.outChannels, kernel: u.kernel, stride: u.stride,
                              padding: u.kernel / 2, padMode: .reflect, weight: uniform(u.outChannels * fanIn, fanIn: fanIn),
                              bias: uniform(u.outChannels, fanIn: fanIn), context: context)
            }
            if u.norm {
                let rows = architecture.normRows, c = u.outChannels
                // Conditioned on an embedding, the network starts as plain instance norm (γ = 1, β = 0 in the bias
                // row, the embedding's rows 0) and learns how each value of the embedding moves γ and β.
                let scale = architecture.styleEmbedding > 0 ? [Float](repeating: 0, count: (rows - 1) * c) + [Float](repeating: 1, count: c) : nil
                norm = InstanceNorm(channels: c, styles: rows, scale: scale, context: context)
            } else {
                norm = nil
            }
            relu = u.relu ? ReLU() : nil
            maps = Array(repeating: FeatureMap(), count: 1 + [upsample != nil, depthwise != nil, norm != nil, relu != nil].filter { $0 }.count)
        }

        var layers: [any Layer] { [upsample as (any Layer)?, depthwise, conv, norm, relu].compactMap { $0 } }

        func forward(_ x: FeatureMap) -> FeatureMap {
            var input = x
            for (i, layer) in layers.enumerated() {
                layer.forward(input, into: &maps[i])
                input = maps[i]
            }
            return input
        }

        /// dL/d(unit input) from dL/d(unit output).
        func backward(_ dy: FeatureMap) -> FeatureMap {
            gradient = dy
            for layer in layers.reversed() {
                layer.backward(gradient, into: &spare)
                swap(&gradient, &spare)
            }
            return gradient
        }
    }

    enum Block {
        case unit(UnitLayers)
        case residual(name: String, UnitLayers, UnitLayers)
    }

    let blocks: [Block]
    private let context: TrainingContext
    private var output = FeatureMap()
    /// 150·tanh + 127.5 after the last convolution when the architecture asks for it.
    private let outputTransform: ScaledTanh?
    private var raw = FeatureMap(), rawGradient = FeatureMap()

    /// A freshly initialised network (PyTorch's default initialisation, from `seed`).
    public init(architecture: StyleNetworkArchitecture, seed: UInt64, context: TrainingContext) {
        self.architecture = architecture
        self.context = context
        outputTransform = architecture.outputTanh ? ScaledTanh(scale: 150, offset: 127.5) : nil
        var random = SeededRandom(seed: seed)
        blocks = architecture.steps.map { step in
            switch step {
            case .unit(let u): .unit(UnitLayers(u, architecture: architecture, random: &random, context: context))
            case .residual(let name, let f, let s):
                .residual(name: name, UnitLayers(f, architecture: architecture, random: &random, context: context),
                          UnitLayers(s, architecture: architecture, random: &random, context: context))
            }
        }
    }

    var unitLayers: [UnitLayers] {
        blocks.flatMap { block -> [UnitLayers] in
            switch block {
            case .unit(let u): [u]
            case .residual(_, let a, let b): [a, b]
            }
        }
    }

    /// The style mix of conditional instance norm for the next forward: one weight per style, or for a network
    /// conditioned on an embedding, the embedding (`mix(embedding:)`).
    public func setStyleWeights(_ weights: [Float]) {
        precondition(weights.count == architecture.normRows, "\(weights.count) weights for \(architecture.normRows) norm rows")
        for u in unitLayers { u.norm?.styleWeights = weights }
    }

    /// The norms' row weights that make an embedding-conditioned network paint `embedding`: its values, then 1
    /// for the bias row.
    public static func mix(embedding: [Float]) -> [Float] { embedding + [1] }

    /// The norms' row weights that make a network of `count` fixed styles paint style `index` alone.
    public static func mix(style index: Int, of count: Int) -> [Float] { (0..<count).map { $0 == index ? 1 : 0 } }

    /// The stylized picture (0…255) of a 0…255 RGB picture; its height and width must be multiples of 4.
    @discardableResult
    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels == 3 && x.height % 4 == 0 && x.width % 4 == 0, "a 3-channel picture with sides divisible by 4")
        var current = x
        for block in blocks {
            switch block {
            case .unit(let u):
                current = u.forward(current)
            case .residual(_, let a, let b):
                let skip = current
                current = b.forward(a.forward(current))
                for i in current.values.indices { current.values[i] += skip.values[i] }
            }
        }
        if let outputTransform {
            raw = current
            outputTransform.forward(raw, into: &output)
        } else {
            output = current
        }
        return output
    }

    /// Backward from dL/d(output) of the last forward; parameter gradients accumulate. Returns dL/d(input).
    @discardableResult
    public func backward(_ dy: FeatureMap) -> FeatureMap {
        var gradient = dy
        if let outputTransform {
            outputTransform.backward(dy, into: &rawGradient)
            gradient = rawGradient
        }
        for block in blocks.reversed() {
            switch block {
            case .unit(let u):
                gradient = u.backward(gradient)
            case .residual(_, let a, let b):
                var through = a.backward(b.backward(gradient))
                for i in through.values.indices { through.values[i] += gradient.values[i] }
                gradient = through
            }
        }
        return gradient
    }

    /// Every parameter array with its gradient, named as in the exported model ("conv1.weight", "res1.in1.scale").
    public func visitParameters(_ body: (String, inout [Float], [Float]) -> Void) {
        for u in unitLayers {
            if let d = u.depthwise {
                body("\(u.unit.name).depthwise.weight", &d.weight, d.weightGradient)
                body("\(u.unit.name).depthwise.bias", &d.bias, d.biasGradient)
            }
            body("\(u.unit.name).weight", &u.conv.weight, u.conv.weightGradient)
            body("\(u.unit.name).bias", &u.conv.bias, u.conv.biasGradient)
            if let n = u.norm {
                body("\(u.unit.name).norm.scale", &n.scale, n.scaleGradient)
                body("\(u.unit.name).norm.shift", &n.shift, n.shiftGradient)
            }
        }
    }

    /// The values of parameter `name` (as `visitParameters` names it) in a model this network's architecture
    /// exported: a norm conditioned on an embedding is exported as its embedding rows and a separate bias row
    /// (`NAME.bias`), joined again here.
    public static func exportedParameter(_ name: String, in model: StyleModel) -> [Float]? {
        guard let t = model.weights[name] else { return nil }
        guard name.hasSuffix(".norm.scale") || name.hasSuffix(".norm.shift"), let bias = model.weights[name + ".bias"] else { return t.data }
        return t.data + bias.data
    }

    public func zeroGradients() {
        for u in unitLayers {
            u.depthwise?.zeroGradients()
            u.conv.zeroGradients()
            u.norm?.zeroGradients()
        }
    }

    public var parameterCount: Int {
        var n = 0
        visitParameters { _, values, _ in n += values.count }
        return n
    }

    /// The network as an inference model: the same operators as a graph, the same weights.
    public func export(name: String, styleNames: [String] = [], notes: String = "") -> StyleModel {
        var nodes: [Node] = []
        var weights: [String: Tensor] = [:]
        var current = "input"
        func append(_ node: Node) {
            nodes.append(node)
            current = node.output
        }
        func add(_ u: UnitLayers) {
            let n = u.unit.name
            if u.upsample != nil { append(Node(name: "\(n).upsample", op: .upsampleNearest(2), inputs: [current], output: "\(n).upsample")) }
            if let d = u.depthwise {
                weights["\(n).depthwise.weight"] = Tensor(shape: [d.channels, 1, d.kernel, d.kernel], data: d.weight)
                weights["\(n).depthwise.bias"] = Tensor(shape: [d.channels], data: d.bias)
                append(Node(name: "\(n).depthwise", op: .conv2d(Conv2DSpec(weight: "\(n).depthwise.weight", bias: "\(n).depthwise.bias",
                                                                          strideH: d.stride, strideW: d.stride, padding: .explicit(.uniform(d.padding)),
                                                                          padMode: .reflect, groups: d.channels)),
                            inputs: [current], output: "\(n).depthwise"))
            }
            let c = u.conv
            weights["\(n).weight"] = Tensor(shape: [c.outputChannels, c.inputChannels, c.kernel, c.kernel], data: c.weight)
            weights["\(n).bias"] = Tensor(shape: [c.outputChannels], data: c.bias)
            append(Node(name: n, op: .conv2d(Conv2DSpec(weight: "\(n).weight", bias: "\(n).bias", strideH: c.stride, strideW: c.stride,
                                                         padding: .explicit(.uniform(c.padding)), padMode: .reflect)),
                        inputs: [current], output: n))
            if let norm = u.norm {
                let epsilon = Float(norm.epsilon)
                if architecture.styleEmbedding > 0 {
                    let e = architecture.styleEmbedding, c = norm.channels
                    weights["\(n).norm.scale"] = Tensor(shape: [e, c], data: Array(norm.scale[..<(e * c)]))
                    weights["\(n).norm.shift"] = Tensor(shape: [e, c], data: Array(norm.shift[..<(e * c)]))
                    weights["\(n).norm.scale.bias"] = Tensor(shape: [c], data: Array(norm.scale[(e * c)...]))
                    weights["\(n).norm.shift.bias"] = Tensor(shape: [c], data: Array(norm.shift[(e * c)...]))
                    append(Node(name: "\(n).norm", op: .conditionalInstanceNorm(ConditionalInstanceNormSpec(
                        gamma: "\(n).norm.scale", beta: "\(n).norm.shift", gammaBias: "\(n).norm.scale.bias", betaBias: "\(n).norm.shift.bias",
                        epsilon: epsilon)), inputs: [current], output: "\(n).norm"))
                } else if architecture.styles == 1 {
                    weights["\(n).norm.scale"] = Tensor(shape: [norm.channels], data: norm.scale)
                    weights["\(n).norm.shift"] = Tensor(shape: [norm.channels], data: norm.shift)
                    append(Node(name: "\(n).norm", op: .instanceNorm(InstanceNormSpec(scale: "\(n).norm.scale", shift: "\(n).norm.shift", epsilon: epsilon)),
                                inputs: [current], output: "\(n).norm"))
                } else {
                    weights["\(n).norm.scale"] = Tensor(shape: [architecture.styles, norm.channels], data: norm.scale)
                    weights["\(n).norm.shift"] = Tensor(shape: [architecture.styles, norm.channels], data: norm.shift)
                    append(Node(name: "\(n).norm", op: .conditionalInstanceNorm(ConditionalInstanceNormSpec(gamma: "\(n).norm.scale", beta: "\(n).norm.shift", epsilon: epsilon)),
                                inputs: [current], output: "\(n).norm"))
                }
            }
            if u.relu != nil { append(Node(name: "\(n).relu", op: .relu, inputs: [current], output: "\(n).relu")) }
        }
        for block in blocks {
            switch block {
            case .unit(let u): add(u)
            case .residual(let name, let a, let b):
                let skip = current
                add(a)
                add(b)
                append(Node(name: "\(name).add", op: .add, inputs: [skip, current], output: "\(name).add"))
            }
        }
        if architecture.outputTanh {
            append(Node(name: "output.tanh", op: .tanh, inputs: [current], output: "output.tanh"))
            append(Node(name: "output.scale", op: .scalarAffine(alpha: 150, beta: 127.5), inputs: [current], output: "output"))
        }
        let info = ModelInfo(name: name, architecture: "streamd-\(architecture.name)", sourceFormat: "native",
                             input: .identity255, output: .identity255, styleNames: architecture.styles > 1 ? styleNames : [],
                             sizeMultiple: 4, notes: notes, styleEmbeddingSize: architecture.styleEmbedding > 0 ? architecture.styleEmbedding : nil)
        return StyleModel(info: info, graph: Graph(input: "input", output: current, nodes: nodes), weights: weights)
    }
}
