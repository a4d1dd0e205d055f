import Foundation

/// Imports fast-style-transfer `TransformerNet` checkpoints saved with `torch.save(model.state_dict())`.
///
/// A state dict holds weights, not the network, so the graph comes from the architecture of the project that
/// trained it, recognised by its key names:
/// - the seed layout (eriklindernoren/Fast-Neural-Style-Transfer): `model.N.block.1.*`, `model.N.norm.*`,
///   ImageNet-normalised input on the 0..1 scale;
/// - the pytorch/examples layout (`fast_neural_style/transformer_net.py`): `conv1.conv2d.*`, `in1.*`,
///   `res1.conv1.conv2d.*`, …, `deconv3.conv2d.*`, input and output on the 0..255 scale.
/// Both are Johnson et al.'s network: reflection-padded convolutions, affine instance norm (ε = 1e-5), five
/// residual blocks, two nearest ×2 upsamplings, no activation after the last convolution.
///
/// Weight tensors are named by their state-dict keys and kept in PyTorch's OIHW layout. Strides are not in a
/// state dict; the two stride-2 convolutions are those of the architecture (confirmed by the reference
/// outputs: 50×70 → 52×72, both rounding up).
public enum PyTorchImporter {
    /// Loads a zip (torch ≥ 1.6) or legacy `.pth` file. Nothing in the file is executed.
    ///
    /// Throws `StylizeError` with a one-line message starting with `path`: `.fileNotFound`/`.unreadable`;
    /// `.corruptFile` when the file is truncated or damaged; `.unknownFormat` when it is not a checkpoint,
    /// names a global outside the allow-list, holds non-float weights or keys of another network;
    /// `.shapeMismatch` when a weight's shape contradicts the architecture.
    public static func load(path: String) throws -> StyleModel {
        do {
            let checkpoint = try TorchCheckpoint.read(path: path)
            var entries = try checkpoint.stateDict()
            // nn.DataParallel saves every key under "module."; the weights are the same.
            if entries.allSatisfy({ $0.key.hasPrefix("module.") }) {
                entries = entries.map { (String($0.key.dropFirst("module.".count)), $0.tensor) }
            }
            let keys = Set(entries.map(\.key))
            let layout: TransformerNetLayout
            if keys.contains("model.0.block.1.weight") {
                layout = .seed
            } else if keys.contains("conv1.conv2d.weight") {
                layout = .examples
            } else {
                let sample = entries.prefix(6).map { "'\($0.key)'" }.joined(separator: ", ")
                throw StylizeError(.unknownFormat, "\(path): the state dict keys (\(sample)…) match no supported "
                    + "TransformerNet layout (expected model.N.block.1.* or conv1.conv2d.*)")
            }
            var builder = TransformerNetBuilder(path: path, layout: layout, checkpoint: checkpoint,
                                                tensors: Dictionary(entries, uniquingKeysWith: { first, _ in first }))
            try builder.checkKeys()
            let graph = try builder.build()
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let info = ModelInfo(
                name: name, architecture: layout.architecture, sourceFormat: "pth",
                input: layout.inputTransform, output: layout.outputTransform, sizeMultiple: 4,
                notes: "PyTorch checkpoint (\(checkpoint.container.rawValue) container), \(layout.origin)")
            return StyleModel(info: info, graph: graph, weights: builder.weights)
        } catch let error as CheckpointError {
            throw StylizeError(error.code, "\(path): \(error.cause)")
        }
    }
}

/// The two key layouts of TransformerNet state dicts, and what differs between them besides names.
enum TransformerNetLayout {
    case seed
    case examples

    static let imagenetMean: [Float] = [0.485, 0.456, 0.406]
    static let imagenetStd: [Float] = [0.229, 0.224, 0.225]

    var architecture: String {
        switch self {
        case .seed: "transformernet-seed"
        case .examples: "transformernet-examples"
        }
    }

    var origin: String {
        switch self {
        case .seed: "TransformerNet of eriklindernoren/Fast-Neural-Style-Transfer (models.py)"
        case .examples: "TransformerNet of pytorch/examples fast_neural_style (transformer_net.py)"
        }
    }

    /// The seed project feeds `(x/255 - mean) / std`; pytorch/examples feeds 0..255 unchanged.
    var inputTransform: InputTransform {
        switch self {
        case .seed: InputTransform(scale: 1 / 255, mean: Self.imagenetMean, std: Self.imagenetStd)
        case .examples: .identity255
        }
    }

    /// The seed project denormalises with `(y·std + mean)·255`; pytorch/examples outputs 0..255.
    var outputTransform: OutputTransform {
        switch self {
        case .seed: OutputTransform(scale: 255, mean: Self.imagenetMean, std: Self.imagenetStd)
        case .examples: .identity255
        }
    }

    /// One reflection-padded convolution with what follows it in the network.
    struct ConvUnit {
        /// The module that owns the unit, for node names ("model.1", "conv2", "res1.conv1").
        var node: String
        /// Prefix of `.weight` / `.bias` of the Conv2d ("model.1.block.1", "conv2.conv2d").
        var conv: String
        var kernel: Int
        var stride: Int = 1
        /// Nearest ×2 upsampling before the padding (UpsampleConvLayer, ConvBlock(upsample=True)).
        var upsample = false
        /// Prefix of the affine InstanceNorm2d, if the unit has one.
        var norm: String?
        var relu: Bool
        /// Output channels: both projects fix the widths at 32, 64, 128 (and 3 at the end).
        var outChannels: Int
    }

    enum Step {
        case unit(ConvUnit)
        /// `x + second(first(x))`, with the output width equal to the input's.
        case residual(name: String, first: ConvUnit, second: ConvUnit)
    }

    /// The network in execution order.
    var steps: [Step] {
        switch self {
        case .seed:
            func block(_ n: Int, _ out: Int, kernel: Int, stride: Int = 1, upsample: Bool = false) -> ConvUnit {
                ConvUnit(node: "model.\(n)", conv: "model.\(n).block.1", kernel: kernel, stride: stride,
                         upsample: upsample, norm: "model.\(n).norm", relu: true, outChannels: out)
            }
            func residualHalf(_ n: Int, _ half: Int) -> ConvUnit {
                let p = "model.\(n).block.\(half)"
                return ConvUnit(node: p, conv: "\(p).block.1", kernel: 3, norm: "\(p).norm", relu: half == 0,
                                outChannels: 128)
            }
            return [.unit(block(0, 32, kernel: 9)), .unit(block(1, 64, kernel: 3, stride: 2)),
                    .unit(block(2, 128, kernel: 3, stride: 2))]
                + (3 ... 7).map { .residual(name: "model.\($0)", first: residualHalf($0, 0), second: residualHalf($0, 1)) }
                + [.unit(block(8, 64, kernel: 3, upsample: true)), .unit(block(9, 32, kernel: 3, upsample: true)),
                   .unit(ConvUnit(node: "model.10", conv: "model.10.block.1", kernel: 9, norm: nil, relu: false,
                                  outChannels: 3))]
        case .examples:
            func layer(_ conv: String, _ norm: String?, _ out: Int, kernel: Int, stride: Int = 1,
                       upsample: Bool = false, relu: Bool = true) -> ConvUnit {
                ConvUnit(node: conv, conv: "\(conv).conv2d", kernel: kernel, stride: stride, upsample: upsample,
                         norm: norm, relu: relu, outChannels: out)
            }
            return [.unit(layer("conv1", "in1", 32, kernel: 9)), .unit(layer("conv2", "in2", 64, kernel: 3, stride: 2)),
                    .unit(layer("conv3", "in3", 128, kernel: 3, stride: 2))]
                + (1 ... 5).map { n in
                    .residual(name: "res\(n)", first: layer("res\(n).conv1", "res\(n).in1", 128, kernel: 3),
                              second: layer("res\(n).conv2", "res\(n).in2", 128, kernel: 3, relu: false))
                }
                + [.unit(layer("deconv1", "in4", 64, kernel: 3, upsample: true)),
                   .unit(layer("deconv2", "in5", 32, kernel: 3, upsample: true)),
                   .unit(layer("deconv3", nil, 3, kernel: 9, relu: false))]
        }
    }

    var units: [ConvUnit] {
        steps.flatMap { step -> [ConvUnit] in
            switch step {
            case .unit(let u): [u]
            case .residual(_, let a, let b): [a, b]
            }
        }
    }

    /// Every parameter the network needs.
    var requiredKeys: [String] {
        units.flatMap { u in
            ["\(u.conv).weight", "\(u.conv).bias"] + (u.norm.map { ["\($0).weight", "\($0).bias"] } ?? [])
        }
    }

    /// Buffers that checkpoints may carry beside the parameters and that instance norm does not use
    /// (2017-era pytorch/examples checkpoints have running statistics).
    var ignoredKeys: Set<String> {
        Set(units.compactMap(\.norm).flatMap { ["\($0).running_mean", "\($0).running_var", "\($0).num_batches_tracked"] })
    }
}

/// Turns a recognised state dict into graph nodes, checking every weight's shape against the architecture.
struct TransformerNetBuilder {
    let path: String
    let layout: TransformerNetLayout
    let checkpoint: TorchCheckpoint
    let tensors: [String: TensorRef]
    private(set) var weights: [String: Tensor] = [:]
    private var nodes: [Node] = []
    /// The value the next node reads, and its channel count.
    private var current = "input"
    private var channels = 3

    init(path: String, layout: TransformerNetLayout, checkpoint: TorchCheckpoint, tensors: [String: TensorRef]) {
        self.path = path
        self.layout = layout
        self.checkpoint = checkpoint
        self.tensors = tensors
    }

    /// All parameters present and nothing unexplained: an extra key means a different network, whose
    /// weights would otherwise be silently dropped.
    func checkKeys() throws {
        let required = layout.requiredKeys
        if let missing = required.first(where: { tensors[$0] == nil }) {
            throw StylizeError(.unknownFormat, "\(path): missing key '\(missing)' for the \(layout.architecture) layout")
        }
        let known = Set(required).union(layout.ignoredKeys)
        if let extra = tensors.keys.sorted().first(where: { !known.contains($0) }) {
            throw StylizeError(.unknownFormat, "\(path): unexpected key '\(extra)' for the \(layout.architecture) layout")
        }
    }

    mutating func build() throws -> Graph {
        for step in layout.steps {
            switch step {
            case .unit(let unit):
                try add(unit)
            case .residual(let name, let first, let second):
                let skip = current
                try add(first)
                try add(second)
                append(Node(name: "\(name).add", op: .add, inputs: [skip, current], output: "\(name).add"))
            }
        }
        return Graph(input: "input", output: current, nodes: nodes)
    }

    private mutating func append(_ node: Node) {
        nodes.append(node)
        current = node.output
    }

    private mutating func add(_ unit: TransformerNetLayout.ConvUnit) throws {
        if unit.upsample {
            append(Node(name: "\(unit.node).upsample", op: .upsampleNearest(2), inputs: [current],
                        output: "\(unit.node).upsample"))
        }
        let out = unit.outChannels
        let weightKey = "\(unit.conv).weight", biasKey = "\(unit.conv).bias"
        try load(weightKey, expected: [out, channels, unit.kernel, unit.kernel])
        try load(biasKey, expected: [out])
        let conv = Conv2DSpec(weight: weightKey, bias: biasKey, strideH: unit.stride, strideW: unit.stride,
                              padding: .explicit(.uniform(unit.kernel / 2)), padMode: .reflect)
        append(Node(name: unit.conv, op: .conv2d(conv), inputs: [current], output: unit.conv))
        channels = out
        if let norm = unit.norm {
            try load("\(norm).weight", expected: [out])
            try load("\(norm).bias", expected: [out])
            let spec = InstanceNormSpec(scale: "\(norm).weight", shift: "\(norm).bias", epsilon: 1e-5)
            append(Node(name: norm, op: .instanceNorm(spec), inputs: [current], output: norm))
        }
        if unit.relu {
            append(Node(name: "\(unit.node).relu", op: .relu, inputs: [current], output: "\(unit.node).relu"))
        }
    }

    /// Checks the declared shape first, so only tensors of the expected size are ever materialised.
    private mutating func load(_ key: String, expected: [Int]) throws {
        guard let ref = tensors[key] else {
            throw StylizeError(.unknownFormat, "\(path): missing key '\(key)' for the \(layout.architecture) layout")
        }
        guard ref.sizes == expected else {
            throw StylizeError(.shapeMismatch, "\(path): \(key) has shape \(ref.sizes), expected \(expected)")
        }
        weights[key] = try checkpoint.floatTensor(ref, name: key)
    }
}
