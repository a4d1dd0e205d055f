/// Translates a decoded ONNX graph into the model IR, one ONNX node at a time in file order (ONNX requires
/// topological order).
///
/// Each ONNX value becomes one of a few abstract kinds (`Value`): an activation in the IR, a constant that is
/// folded at import time, a quantity derived from the style-weight input, or a step of the decomposed
/// instance-normalisation pattern that PyTorch emits. Tracking the kind of every value, instead of
/// pattern-matching fixed node sequences, lets the same code accept the small variations exporters produce
/// (operand order, `Div` instead of `Mul` by a reciprocal, shared subexpressions).
struct ONNXTranslator {
    /// What an ONNX value is, as far as the importer is concerned.
    enum Value {
        /// An activation computed by the IR graph (N=1, C×H×W), by its IR value name.
        case tensor(String)
        /// The same activation seen by the ONNX graph as N×H×W×C: the image input of a TensorFlow export
        /// (tf2onnx), until the Transpose to N×C×H×W, and the result after the Transpose back. The IR keeps
        /// C×H×W throughout; only the axes of the ops in between are permuted.
        case nhwc(String)
        /// Known at import time.
        case constant(ConstTensor)
        /// The style-weight input w[S].
        case styleWeights
        /// w as a column [S, 1] (Unsqueeze axis 1).
        case styleColumn
        /// w[s]·M[s, c], shape [S, C], before the sum over styles.
        case styleProduct(ConstTensor)
        /// Σ_s w[s]·M[s, c] (+ bias_c): a per-channel vector known only at run time; `shape` is its ONNX shape.
        case styleMix(StyleRows, shape: [Int])
        /// A step of mean/variance normalisation of the activation `source`.
        case norm(source: String, stage: NormStage)
    }

    /// Rows [S, C] mixed by the style weights, plus an optional constant per channel (an affine map of a
    /// style embedding, such as the 1×1 convolutions with bias that compute Ghiasi et al.'s norm parameters).
    struct StyleRows {
        var rows: ConstTensor
        var bias: [Float]?
    }

    enum NormScale {
        case constant([Float])
        /// Rows [S, C] mixed by the style weights.
        case style(StyleRows)
    }

    /// The stages of `scale·(x-mean(x))/sqrt(var(x)+eps) + shift` as exporters decompose it.
    enum NormStage {
        case mean, centered, squared, variance
        case varianceEps(Float), std(Float), invStd(Float), normalized(Float)
        case scaled(Float, NormScale)
        // TensorFlow's `batch_normalization(x, mean, var, beta, gamma)` as tf2onnx writes it:
        // x·(γ/σ) + (β − μ·γ/σ), the factor γ/σ computed first.
        /// γ/σ, with γ from the style weights.
        case invStdScaled(Float, StyleRows)
        /// μ·γ/σ.
        case meanScaled(Float, StyleRows)
        /// β − μ·γ/σ.
        case shiftTerm(Float, gamma: StyleRows, beta: StyleRows)
        /// x·γ/σ.
        case inputScaled(Float, StyleRows)

        var name: String {
            switch self {
            case .mean: "mean"
            case .centered: "x - mean"
            case .squared: "(x - mean)²"
            case .variance: "variance"
            case .varianceEps: "variance + eps"
            case .std: "standard deviation"
            case .invStd: "1 / standard deviation"
            case .normalized: "normalised"
            case .scaled: "normalised and scaled"
            case .invStdScaled: "scale / standard deviation"
            case .meanScaled: "mean × scale / standard deviation"
            case .shiftTerm: "shift − mean × scale / standard deviation"
            case .inputScaled: "x × scale / standard deviation"
            }
        }
    }

    /// What is known of an activation's size; spatial sizes only when the model declares a fixed input size.
    struct ActivationShape {
        var c: Int?
        var h: Int?
        var w: Int?
    }

    let path: String
    let model: ONNXModelProto
    let graph: ONNXGraphProto

    private(set) var values: [String: Value] = [:]
    private(set) var nodes: [Node] = []
    private(set) var shapes: [String: ActivationShape] = [:]
    /// IR value name → index of the IR node that produces it.
    private var producer: [String: Int] = [:]
    private(set) var weights: [String: Tensor] = [:]
    private var irNames: Set<String> = []

    private(set) var imageInput = ""
    private(set) var imageInfo = ONNXValueInfo()
    private(set) var styleInput: String?
    private(set) var styleCount: Int?
    private(set) var usesConditionalNorm = false
    /// The style input is an N×1×1×S (or N×S×1×1) embedding, not a vector of style weights.
    private(set) var styleIsEmbedding = false
    /// The image input is laid out N×H×W×C.
    private(set) var imageIsNHWC = false

    /// The ONNX node being translated, for messages.
    private var node = ONNXNodeProto()
    private var nodeIndex = 0

    init(path: String, model: ONNXModelProto) throws {
        self.path = path
        self.model = model
        guard let graph = model.graph else {
            throw StylizeError(.corruptFile, "\(path): not an ONNX model (no graph)")
        }
        self.graph = graph
    }

    // MARK: - Errors

    private var displayName: String { node.name.isEmpty ? "\(node.opType)_\(nodeIndex)" : node.name }

    private func unsupported(_ detail: String? = nil) -> StylizeError {
        StylizeError(.unsupportedOperator,
                     "\(path): unsupported ONNX operator '\(node.opType)' in node '\(displayName)'" + (detail.map { ": \($0)" } ?? ""))
    }

    private func invalid(_ detail: String) -> StylizeError {
        StylizeError(.invalidGraph, "\(path): node '\(displayName)' (\(node.opType)): \(detail)")
    }

    // MARK: - Driver

    /// Translates the whole graph; returns the IR graph with the name of its output.
    mutating func translate() throws -> Graph {
        try loadInitializers()
        try classifyInputs()
        for (index, onnxNode) in graph.nodes.enumerated() {
            node = onnxNode
            nodeIndex = index
            do {
                try translateNode()
            } catch let e as FoldError {
                throw e.unsupported ? unsupported(e.detail) : invalid(e.detail)
            } catch let e as ProtobufError {
                throw StylizeError(.corruptFile, "\(path): node '\(displayName)': \(e.cause)")
            }
        }
        guard graph.outputs.count == 1, let outputInfo = graph.outputs.first else {
            throw StylizeError(.invalidGraph, "\(path): the graph has \(graph.outputs.count) outputs; a style network has exactly one")
        }
        node = ONNXNodeProto(inputs: [outputInfo.name], outputs: [], name: "graph output", opType: "")
        guard let outValue = values[outputInfo.name] else {
            throw StylizeError(.invalidGraph, "\(path): graph output '\(outputInfo.name)' is never computed")
        }
        let output: String
        switch outValue {
        case .tensor(let name), .nhwc(let name): output = name
        case .norm(_, let stage):
            do {
                output = try materialize(outputInfo.name)
            } catch {
                throw StylizeError(.invalidGraph, "\(path): graph output '\(outputInfo.name)' is an incomplete instance-normalisation pattern (\(stage.name))")
            }
        default:
            throw StylizeError(.invalidGraph, "\(path): graph output '\(outputInfo.name)' does not depend on the image input")
        }
        guard output != imageInput else {
            throw StylizeError(.invalidGraph, "\(path): graph output '\(outputInfo.name)' is the unchanged image input")
        }
        return Graph(input: imageInput, output: output, nodes: nodes)
    }

    private mutating func loadInitializers() throws {
        for t in graph.initializers {
            guard !t.name.isEmpty else {
                throw StylizeError(.invalidGraph, "\(path): an initializer has no name")
            }
            guard values[t.name] == nil else {
                throw StylizeError(.invalidGraph, "\(path): initializer '\(t.name)' is defined twice")
            }
            do {
                values[t.name] = .constant(try TensorDecoding.decode(t))
            } catch let e as ProtobufError {
                throw StylizeError(.corruptFile, "\(path): \(e.cause)")
            } catch let e as FoldError {
                throw StylizeError(e.unsupported ? .unsupportedOperator : .invalidGraph, "\(path): \(e.detail)")
            }
        }
    }

    /// The image is the rank-4 input; a rank-1 input is the style-weight vector of a conditional-norm model.
    /// Inputs that are also initializers (all weights in IR 3 files) are constants, not inputs.
    private mutating func classifyInputs() throws {
        let real = graph.inputs.filter { values[$0.name] == nil }
        var image: ONNXValueInfo?
        /// N×1×1×S or N×S×1×1 with S ≠ 3: a style embedding (a second rank-4 input).
        func embeddingSize(_ info: ONNXValueInfo) -> Int? {
            guard let dims = info.dims, dims.count == 4 else { return nil }
            let v = dims.map { d -> Int? in if case .value(let x) = d, x > 0, x <= 100_000 { Int(x) } else { nil } }
            guard v[0] == 1 || v[0] == nil else { return nil }
            if v[1] == 1, v[2] == 1, let s = v[3], s != 3 { return s }
            if v[2] == 1, v[3] == 1, let s = v[1], s != 3 { return s }
            return nil
        }
        for info in real {
            let rank = info.dims?.count
            if real.count > 1, let s = embeddingSize(info) {
                guard styleInput == nil else {
                    throw StylizeError(.invalidGraph, "\(path): more than one style input ('\(styleInput!)', '\(info.name)')")
                }
                styleInput = info.name
                styleCount = s
                styleIsEmbedding = true
                values[info.name] = .styleWeights
            } else if rank == 1 && real.count > 1 {
                guard styleInput == nil else {
                    throw StylizeError(.invalidGraph, "\(path): more than one rank-1 input ('\(styleInput!)', '\(info.name)')")
                }
                styleInput = info.name
                if case .value(let s)? = info.dims?.first, s > 0, s <= 100_000 { styleCount = Int(s) }
                values[info.name] = .styleWeights
            } else if rank == 4 || rank == nil || real.count == 1 {
                guard image == nil else {
                    throw StylizeError(.invalidGraph, "\(path): more than one image-like input ('\(image!.name)', '\(info.name)')")
                }
                image = info
            } else {
                throw StylizeError(.invalidGraph, "\(path): input '\(info.name)' has rank \(rank ?? 0); expected an N×C×H×W image and optionally a style-weight vector")
            }
        }
        guard let image else {
            throw StylizeError(.invalidGraph, "\(path): the graph has no image input")
        }
        imageInput = image.name
        imageInfo = image
        var shape = ActivationShape()
        if let dims = image.dims {
            guard dims.count == 4 else {
                throw StylizeError(.invalidGraph, "\(path): image input '\(image.name)' has rank \(dims.count); expected N×C×H×W")
            }
            func known(_ d: ONNXValueInfo.Dim) -> Int? {
                if case .value(let v) = d, v > 0, v <= 1 << 20 { return Int(v) }
                return nil
            }
            if let n = known(dims[0]), n != 1 {
                throw StylizeError(.invalidGraph, "\(path): image input '\(image.name)' has batch size \(n); streamd runs one frame at a time")
            }
            shape = ActivationShape(c: known(dims[1]), h: known(dims[2]), w: known(dims[3]))
            if let c = shape.c, c != 3 {
                guard known(dims[3]) == 3 else {
                    throw StylizeError(.invalidGraph, "\(path): image input '\(image.name)' has \(c) channels; expected 3")
                }
                // N×H×W×C (TensorFlow's layout): the graph transposes it to N×C×H×W itself.
                imageIsNHWC = true
                shape = ActivationShape(c: 3, h: known(dims[1]), w: known(dims[2]))
            }
        }
        if shape.c == nil { shape.c = 3 }
        values[image.name] = imageIsNHWC ? .nhwc(image.name) : .tensor(image.name)
        shapes[image.name] = shape
        irNames.insert(image.name)
    }

    // MARK: - Inputs of the current node

    private func value(_ i: Int) throws -> Value? {
        guard i < node.inputs.count, !node.inputs[i].isEmpty else { return nil }
        guard let v = values[node.inputs[i]] else {
            throw invalid("input '\(node.inputs[i])' is used before it is produced (nodes must be in topological order)")
        }
        return v
    }

    private func requiredValue(_ i: Int) throws -> Value {
        guard let v = try value(i) else { throw invalid("missing input \(i)") }
        return v
    }

    private func constant(_ i: Int, _ role: String) throws -> ConstTensor {
        guard let v = try value(i) else { throw invalid("missing \(role) (input \(i))") }
        guard case .constant(let c) = v else { throw unsupported("\(role) must be a constant") }
        return c
    }

    private func optionalConstant(_ i: Int, _ role: String) throws -> ConstTensor? {
        guard let v = try value(i) else { return nil }
        guard case .constant(let c) = v else { throw unsupported("\(role) must be a constant") }
        return c
    }

    /// The IR activation for input `i`, emitting a pending instance norm if the input is one.
    private mutating func activation(_ i: Int) throws -> String {
        let v = try requiredValue(i)
        switch v {
        case .tensor(let name): return name
        case .norm: return try materialize(node.inputs[i])
        case .nhwc: throw unsupported("input '\(node.inputs[i])' is laid out N×H×W×C here; only Pad and a Transpose to N×C×H×W are supported on it")
        case .constant: throw unsupported("input '\(node.inputs[i])' is a constant where an activation is expected")
        default: throw unsupported("input '\(node.inputs[i])' is derived from the style weights where an activation is expected")
        }
    }

    // MARK: - Attributes

    private func intAttr(_ name: String, _ fallback: Int) throws -> Int {
        guard let a = node.attribute(name) else { return fallback }
        guard let i = a.i else { throw invalid("attribute '\(name)' is not an integer") }
        return Int(clamping: i)
    }

    private func floatAttr(_ name: String, _ fallback: Float) throws -> Float {
        guard let a = node.attribute(name) else { return fallback }
        if let f = a.f { return f }
        if let i = a.i { return Float(i) }
        throw invalid("attribute '\(name)' is not a number")
    }

    private func intsAttr(_ name: String) -> [Int]? {
        node.attribute(name).map { $0.ints.map { Int(clamping: $0) } }
    }

    private func stringAttr(_ name: String, _ fallback: String) -> String {
        node.attribute(name)?.string ?? fallback
    }

    /// Spatial attribute pairs (strides, dilations, output_padding): absent means `fallback` for both.
    private func pairAttr(_ name: String, _ fallback: Int) throws -> (Int, Int) {
        guard let v = intsAttr(name), !v.isEmpty else { return (fallback, fallback) }
        guard v.count == 2 else { throw unsupported("attribute '\(name)' has \(v.count) values; only 2-D (H, W) is supported") }
        return (v[0], v[1])
    }

    // MARK: - Emitting IR nodes

    /// An IR value name not used yet (`emit` reserves it when the node is appended).
    private func freshName(_ base: String) -> String {
        var name = base
        var k = 2
        while irNames.contains(name) || (name != base && values[name] != nil) {
            name = "\(base)#\(k)"
            k += 1
        }
        return name
    }

    /// Appends an IR node and records its output as an activation. `output` defaults to the ONNX node's
    /// first output, so IR values keep their ONNX names.
    @discardableResult
    private mutating func emit(_ op: Op, inputs: [String], output: String? = nil, suffix: String = "",
                               shape: ActivationShape) throws -> String {
        let onnxOutput = output ?? node.outputs.first ?? ""
        guard !onnxOutput.isEmpty else { throw invalid("node has no output") }
        let name = irNames.contains(onnxOutput) ? freshName(onnxOutput) : onnxOutput
        irNames.insert(name)
        // Sizes stay far below Int overflow: every later shape computation multiplies by at most 64 and
        // adds amounts below 2^32.
        let largest = 1 << 24
        if let c = shape.c, c <= 0 || c > largest { throw invalid("produces \(c) channels") }
        if let h = shape.h, h > largest { throw invalid("produces height \(h)") }
        if let w = shape.w, w > largest { throw invalid("produces width \(w)") }
        if let h = shape.h, h <= 0 { throw invalid("produces height \(h); the input is too small for this network") }
        if let w = shape.w, w <= 0 { throw invalid("produces width \(w); the input is too small for this network") }
        producer[name] = nodes.count
        nodes.append(Node(name: displayName + suffix, op: op, inputs: inputs, output: name))
        shapes[name] = shape
        return name
    }

    private mutating func define(_ value: Value, output index: Int = 0) {
        guard index < node.outputs.count, !node.outputs[index].isEmpty else { return }
        values[node.outputs[index]] = value
    }

    /// Adds a weight. An unchanged initializer keeps its ONNX name; a derived value gets `<node>.<role>`.
    private mutating func addWeight(_ c: ConstTensor, role: String, shape: [Int]? = nil) throws -> String {
        let data = try c.floatValues()
        let finalShape = shape ?? c.shape
        guard try CheckedMath.elementCount(finalShape) == data.count else {
            throw invalid("\(role) has \(data.count) values, expected shape \(finalShape)")
        }
        let tensor = Tensor(shape: finalShape, data: data)
        if let origin = c.origin, finalShape == c.shape {
            if let existing = weights[origin] {
                if existing == tensor { return origin }
            } else {
                weights[origin] = tensor
                return origin
            }
        }
        var name = "\(displayName).\(role)"
        var k = 2
        while let existing = weights[name] {
            if existing == tensor { return name }
            name = "\(displayName).\(role)\(k)"
            k += 1
        }
        weights[name] = tensor
        return name
    }

    // MARK: - Dispatch

    private mutating func translateNode() throws {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw unsupported("operator domain '\(node.domain)'")
        }
        guard !node.outputs.isEmpty else { throw invalid("node has no outputs") }
        for o in node.outputs where !o.isEmpty && values[o] != nil {
            throw invalid("output '\(o)' is already defined (ONNX values are assigned once)")
        }
        for a in node.attributes where a.hasUndecodedValue {
            throw unsupported("attribute '\(a.name)' holds a subgraph or sparse tensor")
        }
        let inputs = try (0..<node.inputs.count).map { try value($0) }

        // Everything computed only from constants is evaluated now.
        let present = inputs.compactMap { $0 }
        let allConstant = present.allSatisfy { if case .constant = $0 { true } else { false } }
        if allConstant, ConstantFolder.foldable.contains(node.opType) {
            let consts = inputs.map { v -> ConstTensor? in if case .constant(let c)? = v { c } else { nil } }
            let results = try ConstantFolder.evaluate(node, consts)
            for (k, r) in results.enumerated() where k < node.outputs.count {
                var r = r
                // An Identity of an initializer is still that initializer.
                if node.opType != "Identity" { r.origin = nil }
                define(.constant(r), output: k)
            }
            return
        }

        switch node.opType {
        case "Identity", "Dropout":
            define(try requiredValue(0))
        case "QuantizeLinear", "DequantizeLinear":
            // Simulated 8-bit activations (a Q/DQ pair around a value) are dropped: streamd computes in float32.
            // Weights never reach here: a DequantizeLinear of a constant was folded above.
            define(try requiredValue(0))
        case "Transpose": try transpose()
        case "Clip": try clip()
        case "GlobalAveragePool": try globalAveragePool()
        case "Conv": try conv()
        case "ConvTranspose": try convTranspose()
        case "InstanceNormalization": try instanceNormalization()
        case "BatchNormalization": try batchNormalization()
        case "Relu": try unaryActivation(.relu)
        case "Tanh": try unaryActivation(.tanh)
        case "Sigmoid": try unaryActivation(.sigmoid)
        case "Add", "Sub", "Mul", "Div": try arithmetic()
        case "Pow": try power()
        case "Sqrt": try squareRoot()
        case "Reciprocal": try reciprocal()
        case "ReduceMean": try reduceMean()
        case "ReduceSum": try reduceSum()
        case "MatMul": try matMul()
        case "Unsqueeze", "Squeeze", "Reshape", "Flatten": try reshapeLike()
        case "Shape": try shapeOf()
        case "Pad": try pad()
        case "Crop": try crop()
        case "Slice": try slice()
        case "ImageScaler": try imageScaler()
        case "Affine": try affine()
        case "Upsample", "Resize": try upsample()
        case "MaxPool": try maxPool()
        default: throw unsupported()
        }
    }

    // MARK: - Convolutions

    private mutating func conv() throws {
        if case .styleWeights = try requiredValue(0) { return try styleConv() }
        let x = try activation(0)
        let w = try constant(1, "weight")
        let bias = try optionalConstant(2, "bias")
        guard w.shape.count == 4 else { throw unsupported("weight of shape \(w.shape); only 2-D convolutions are supported") }
        let group = try intAttr("group", 1)
        let depthwise = group > 1 && group == w.shape[0] && w.shape[1] == 1 && (shapes[x]?.c ?? group) == group
        guard group == 1 || depthwise else { throw unsupported("group \(group) (grouped convolution other than depthwise)") }
        let (dh, dw) = try pairAttr("dilations", 1)
        guard dh == 1, dw == 1 else { throw unsupported("dilations [\(dh), \(dw)]") }
        let (sh, sw) = try pairAttr("strides", 1)
        guard sh >= 1, sw >= 1, sh <= 64, sw <= 64 else { throw invalid("strides [\(sh), \(sw)]") }
        let (outC, inC, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        if let k = intsAttr("kernel_shape"), !k.isEmpty, k != [kh, kw] {
            throw invalid("kernel_shape \(k) does not match weight shape \(w.shape)")
        }
        let xs = shapes[x] ?? ActivationShape()
        if let c = xs.c, c != inC * group { throw invalid("weight expects \(inC * group) input channels, the input has \(c)") }
        if let b = bias, b.count != outC { throw invalid("bias has \(b.count) values for \(outC) output channels") }

        let padding: ConvPadding
        var pads = Pads.zero
        switch stringAttr("auto_pad", "NOTSET") {
        case "NOTSET", "":
            let p = intsAttr("pads") ?? [0, 0, 0, 0]
            guard p.count == 4, p.allSatisfy({ $0 >= 0 && $0 < 1 << 16 }) else { throw unsupported("pads \(p)") }
            // ONNX order: [x1_begin, x2_begin, x1_end, x2_end] = [top, left, bottom, right].
            pads = Pads(top: p[0], left: p[1], bottom: p[2], right: p[3])
            padding = .explicit(pads)
        case "VALID":
            padding = .explicit(.zero)
        case let mode where mode == "SAME_UPPER" || mode == "SAME_LOWER":
            if sh == 1, sw == 1, kh % 2 == 1, kw % 2 == 1 {
                // Stride 1 and odd kernels pad symmetrically in both variants, at any size.
                pads = Pads(top: kh / 2, left: kw / 2, bottom: kh / 2, right: kw / 2)
                padding = .explicit(pads)
            } else if mode == "SAME_UPPER" {
                padding = .tfSame
            } else {
                throw unsupported("auto_pad SAME_LOWER with stride or even kernel")
            }
        case let other:
            throw unsupported("auto_pad '\(other)'")
        }
        func outSize(_ n: Int?, _ k: Int, _ s: Int, _ before: Int, _ after: Int) -> Int? {
            guard let n else { return nil }
            if case .tfSame = padding { return (n + s - 1) / s }
            return (n + before + after - k) / s + 1
        }
        let out = ActivationShape(c: outC, h: outSize(xs.h, kh, sh, pads.top, pads.bottom),
                                  w: outSize(xs.w, kw, sw, pads.left, pads.right))
        let spec = Conv2DSpec(weight: try addWeight(w, role: "weight"),
                              bias: try bias.map { try addWeight($0, role: "bias", shape: [outC]) },
                              strideH: sh, strideW: sw, padding: padding, padMode: .zero, groups: depthwise ? group : nil)
        try emit(.conv2d(spec), inputs: [x], shape: out)
        define(.tensor(nodes.last!.output))
    }

    /// A 1×1 convolution of the style embedding (weight [C, S, 1, 1], bias [C]): the per-channel parameters
    /// Σ_s e[s]·W[c, s] + b[c] of a conditional normalisation, kept symbolic as style rows W^T.
    private mutating func styleConv() throws {
        let w = try constant(1, "weight")
        let bias = try optionalConstant(2, "bias")
        guard let s = styleCount, w.shape.count == 4, w.shape[1] == s, w.shape[2] == 1, w.shape[3] == 1, try intAttr("group", 1) == 1 else {
            throw unsupported("convolution of the style input with weight \(w.shape); only a 1×1 map of the whole embedding is supported")
        }
        let c = w.shape[0]
        let v = try w.floatValues()
        var rows = [Float](repeating: 0, count: s * c)
        for o in 0..<c { for k in 0..<s { rows[k * c + o] = v[o * s + k] } }
        let b = try bias.map { try $0.floatValues() }
        if let b, b.count != c { throw invalid("bias has \(b.count) values for \(c) output channels") }
        define(.styleMix(StyleRows(rows: ConstTensor(shape: [s, c], floats: rows), bias: b), shape: [1, c, 1, 1]))
    }

    /// ONNX ConvTranspose into the size-independent scatter form of the IR: a full output of
    /// (n-1)·s + k + outputPadding, cropped by fixed amounts at each border.
    ///
    /// An `output_shape` attribute fixes the output size for the size the model was exported at. It is
    /// converted, at that size, into the equivalent pads and output padding, which are then right at every
    /// size: Johnson's files ask for 362 from 180 (full size 361), which is one row of output padding.
    private mutating func convTranspose() throws {
        let x = try activation(0)
        let w = try constant(1, "weight")
        let bias = try optionalConstant(2, "bias")
        guard w.shape.count == 4 else { throw unsupported("weight of shape \(w.shape); only 2-D transposed convolutions are supported") }
        let group = try intAttr("group", 1)
        guard group == 1 else { throw unsupported("group \(group) (grouped transposed convolution)") }
        let (dh, dw) = try pairAttr("dilations", 1)
        guard dh == 1, dw == 1 else { throw unsupported("dilations [\(dh), \(dw)]") }
        let (sh, sw) = try pairAttr("strides", 1)
        guard sh >= 1, sw >= 1, sh <= 64, sw <= 64 else { throw invalid("strides [\(sh), \(sw)]") }
        let (oph, opw) = try pairAttr("output_padding", 0)
        guard oph >= 0, opw >= 0, oph < 1 << 16, opw < 1 << 16 else { throw invalid("output_padding [\(oph), \(opw)]") }
        let (inC, outC, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        if let k = intsAttr("kernel_shape"), !k.isEmpty, k != [kh, kw] {
            throw invalid("kernel_shape \(k) does not match weight shape \(w.shape)")
        }
        let xs = shapes[x] ?? ActivationShape()
        if let c = xs.c, c != inC { throw invalid("weight expects \(inC) input channels, the input has \(c)") }
        if let b = bias, b.count != outC { throw invalid("bias has \(b.count) values for \(outC) output channels") }

        let autoPad = stringAttr("auto_pad", "NOTSET")
        guard ["NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER"].contains(autoPad) else {
            throw unsupported("auto_pad '\(autoPad)'")
        }
        /// Splits a total padding the way the ONNX specification does; a negative total (an output larger
        /// than the full result) becomes output padding, which onnxruntime also places at the end.
        func split(total: Int, outputPadding: Int) -> (before: Int, after: Int, outputPadding: Int) {
            if total < 0 { return (0, 0, outputPadding - total) }
            if autoPad == "SAME_UPPER" { return (total / 2, total - total / 2, outputPadding) }
            return (total - total / 2, total / 2, outputPadding)
        }
        var axes: [(before: Int, after: Int, outputPadding: Int)] = []
        let geometry = [(xs.h, sh, kh, oph), (xs.w, sw, kw, opw)]
        if let requested = intsAttr("output_shape"), !requested.isEmpty {
            guard requested.count >= 2, requested.allSatisfy({ $0 >= 0 && $0 <= 1 << 24 }) else {
                throw invalid("output_shape \(requested)")
            }
            let target = Array(requested.suffix(2))
            for (axis, (n, s, k, op)) in geometry.enumerated() {
                guard let n else {
                    throw unsupported("output_shape \(requested) needs a model with a fixed input size to be converted")
                }
                let total = try CheckedMath.add(try CheckedMath.mul(s, n - 1), op + k - target[axis])
                axes.append(split(total: total, outputPadding: op))
            }
        } else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            // Output n·s: the total padding op + k - s does not depend on n.
            for (_, s, k, op) in geometry { axes.append(split(total: op + k - s, outputPadding: op)) }
        } else if autoPad == "VALID" {
            axes = [(0, 0, oph), (0, 0, opw)]
        } else {
            let p = intsAttr("pads") ?? [0, 0, 0, 0]
            guard p.count == 4, p.allSatisfy({ $0 >= 0 && $0 < 1 << 16 }) else { throw unsupported("pads \(p)") }
            axes = [(p[0], p[2], oph), (p[1], p[3], opw)]
        }
        let pads = Pads(top: axes[0].before, left: axes[1].before, bottom: axes[0].after, right: axes[1].after)
        func outSize(_ n: Int?, _ s: Int, _ k: Int, _ a: (before: Int, after: Int, outputPadding: Int)) -> Int? {
            n.map { ($0 - 1) * s + k + a.outputPadding - a.before - a.after }
        }
        let out = ActivationShape(c: outC, h: outSize(xs.h, sh, kh, axes[0]), w: outSize(xs.w, sw, kw, axes[1]))
        let spec = ConvTranspose2DSpec(weight: try addWeight(w, role: "weight"),
                                       bias: try bias.map { try addWeight($0, role: "bias", shape: [outC]) },
                                       strideH: sh, strideW: sw, padding: .explicit(pads),
                                       outputPaddingH: axes[0].outputPadding, outputPaddingW: axes[1].outputPadding)
        try emit(.convTranspose2d(spec), inputs: [x], shape: out)
        define(.tensor(nodes.last!.output))
    }

    // MARK: - Normalisation

    private mutating func instanceNormalization() throws {
        let x = try activation(0)
        let scale = try constant(1, "scale")
        let shift = try constant(2, "bias")
        let c = shapes[x]?.c ?? scale.count
        guard scale.count == c, shift.count == c else {
            throw invalid("scale has \(scale.count) and bias \(shift.count) values for \(c) channels")
        }
        let epsilon = try floatAttr("epsilon", 1e-5)
        let spec = InstanceNormSpec(scale: try addWeight(scale, role: "scale", shape: [c]),
                                    shift: try addWeight(shift, role: "shift", shape: [c]), epsilon: epsilon)
        try emit(.instanceNorm(spec), inputs: [x], shape: shapes[x] ?? ActivationShape())
        define(.tensor(nodes.last!.output))
    }

    /// Inference-mode batch norm is a fixed per-channel affine map.
    private mutating func batchNormalization() throws {
        let x = try activation(0)
        guard try intAttr("training_mode", 0) == 0 else { throw unsupported("training_mode 1") }
        let scale = try constant(1, "scale").floatValues()
        let shift = try constant(2, "bias").floatValues()
        let mean = try constant(3, "mean").floatValues()
        let variance = try constant(4, "variance").floatValues()
        let c = shapes[x]?.c ?? scale.count
        guard [scale.count, shift.count, mean.count, variance.count].allSatisfy({ $0 == c }) else {
            throw invalid("parameters do not all have \(c) values")
        }
        let epsilon = try floatAttr("epsilon", 1e-5)
        let a = (0..<c).map { scale[$0] / (variance[$0] + epsilon).squareRoot() }
        let b = (0..<c).map { shift[$0] - mean[$0] * a[$0] }
        try emit(.channelAffine(ChannelAffineSpec(scale: a, shift: b)), inputs: [x], shape: shapes[x] ?? ActivationShape())
        define(.tensor(nodes.last!.output))
    }

    /// Emits the IR node for a normalisation pattern that is consumed before it reached its shift.
    private mutating func materialize(_ onnxName: String) throws -> String {
        guard case .norm(let source, let stage)? = values[onnxName] else {
            throw invalid("'\(onnxName)' is not a normalisation")
        }
        let op: Op
        switch stage {
        case .normalized(let eps):
            op = .instanceNorm(InstanceNormSpec(scale: nil, shift: nil, epsilon: eps))
        case .scaled(let eps, .constant(let g)):
            op = .instanceNorm(InstanceNormSpec(scale: try addWeight(ConstTensor(shape: [g.count], floats: g), role: "scale"),
                                                shift: nil, epsilon: eps))
        case .scaled(let eps, .style(let g)):
            op = .conditionalInstanceNorm(try conditionalSpec(gamma: g, beta: zeroRows(like: g), epsilon: eps, source: source))
        default:
            throw unsupported("its input '\(onnxName)' is an incomplete instance-normalisation pattern (\(stage.name))")
        }
        let out = try emit(op, inputs: [source], output: onnxName, suffix: "/norm", shape: shapes[source] ?? ActivationShape())
        values[onnxName] = .tensor(out)
        return out
    }

    private func zeroRows(like g: StyleRows) -> StyleRows {
        StyleRows(rows: ConstTensor(shape: g.rows.shape, floats: Array(repeating: 0, count: g.rows.count)), bias: nil)
    }

    private mutating func conditionalSpec(gamma g: StyleRows, beta b: StyleRows, epsilon: Float,
                                          source: String) throws -> ConditionalInstanceNormSpec {
        let gamma = g.rows, beta = b.rows
        guard gamma.shape.count == 2, gamma.shape == beta.shape else {
            throw invalid("conditional norm parameters of shapes \(gamma.shape) and \(beta.shape); expected [styles, channels]")
        }
        let (s, c) = (gamma.shape[0], gamma.shape[1])
        for bias in [g.bias, b.bias].compactMap({ $0 }) where bias.count != c {
            throw invalid("conditional norm bias has \(bias.count) values for \(c) channels")
        }
        if let known = styleCount, known != s {
            throw invalid("conditional norm parameters have \(s) style rows, the style-weight input has \(known)")
        }
        if let channels = shapes[source]?.c, channels != c {
            throw invalid("conditional norm parameters have \(c) channels, the activation has \(channels)")
        }
        styleCount = s
        usesConditionalNorm = true
        return ConditionalInstanceNormSpec(gamma: try addWeight(gamma, role: "gamma"),
                                           beta: try addWeight(beta, role: "beta"),
                                           gammaBias: try g.bias.map { try addWeight(ConstTensor(shape: [c], floats: $0), role: "gammaBias") },
                                           betaBias: try b.bias.map { try addWeight(ConstTensor(shape: [c], floats: $0), role: "betaBias") },
                                           epsilon: epsilon)
    }

    // MARK: - Element-wise

    private mutating func unaryActivation(_ op: Op) throws {
        let x = try activation(0)
        try emit(op, inputs: [x], shape: shapes[x] ?? ActivationShape())
        define(.tensor(nodes.last!.output))
    }

    /// A constant operand of an element-wise op on an NCHW activation: one value, or one per channel
    /// (shape [C,1,1] or [1,C,1,1]). Shapes that broadcast over rows or columns have no IR equivalent.
    private func affineOperand(_ c: ConstTensor, channels: Int?) throws -> [Float] {
        let v = try c.floatValues()
        if v.count == 1 { return v }
        guard c.shape.count <= 4 else { throw unsupported("constant operand of shape \(c.shape)") }
        let s4 = Array(repeating: 1, count: 4 - c.shape.count) + c.shape
        guard s4[0] == 1, s4[2] == 1, s4[3] == 1 else {
            throw unsupported("constant operand of shape \(c.shape) is neither a scalar nor per-channel")
        }
        if let channels, channels != v.count {
            throw invalid("per-channel constant has \(v.count) values for \(channels) channels")
        }
        return v
    }

    private mutating func emitAffine(_ x: String, scale: [Float], shift: [Float]) throws {
        let shape = shapes[x] ?? ActivationShape()
        let op: Op
        if scale.count == 1 && shift.count == 1 {
            op = .scalarAffine(alpha: scale[0], beta: shift[0])
        } else {
            let n = max(scale.count, shift.count)
            let s = scale.count == 1 ? Array(repeating: scale[0], count: n) : scale
            let b = shift.count == 1 ? Array(repeating: shift[0], count: n) : shift
            op = .channelAffine(ChannelAffineSpec(scale: s.allSatisfy { $0 == 1 } ? nil : s,
                                                  shift: b.allSatisfy { $0 == 0 } ? nil : b))
        }
        try emit(op, inputs: [x], shape: shape)
        define(.tensor(nodes.last!.output))
    }

    private func isScalar(_ c: ConstTensor, _ value: Float) -> Bool {
        guard c.count == 1, let v = try? c.floatValues() else { return false }
        return v[0] == value
    }

    private func scalarValue(_ c: ConstTensor, _ role: String) throws -> Float {
        guard c.count == 1 else { throw unsupported("\(role) of shape \(c.shape) is not a scalar") }
        return try c.floatValues()[0]
    }

    /// Per-channel values of a norm scale or shift, expanded to `channels` when given as a scalar.
    private func channelValues(_ c: ConstTensor, channels: Int?) throws -> [Float] {
        let v = try affineOperand(c, channels: channels)
        if v.count == 1, let channels { return Array(repeating: v[0], count: channels) }
        return v
    }

    /// Whether a style mix has a per-channel shape ([C,1,1] or [1,C,1,1]).
    private func isPerChannel(_ shape: [Int], channels: Int) -> Bool {
        guard shape.count <= 4 else { return false }
        let s4 = Array(repeating: 1, count: 4 - shape.count) + shape
        return s4[0] == 1 && s4[1] == channels && s4[2] == 1 && s4[3] == 1
    }

    private mutating func arithmetic() throws {
        let op = node.opType
        let a = try requiredValue(0), b = try requiredValue(1)

        // Steps of the decomposed instance norm and of the style-weight mixing.
        switch (op, a, b) {
        case ("Sub", .tensor(let x), .norm(let src, .mean)) where x == src:
            return define(.norm(source: x, stage: .centered))
        case ("Mul", .norm(let s1, .centered), .norm(let s2, .centered)) where s1 == s2:
            return define(.norm(source: s1, stage: .squared))
        case ("Add", .norm(let src, .variance), .constant(let e)), ("Add", .constant(let e), .norm(let src, .variance)):
            return define(.norm(source: src, stage: .varianceEps(try scalarValue(e, "epsilon"))))
        case ("Div", .constant(let one), .norm(let src, .std(let eps))) where isScalar(one, 1):
            return define(.norm(source: src, stage: .invStd(eps)))
        case ("Mul", .norm(let s1, .centered), .norm(let s2, .invStd(let eps))) where s1 == s2,
             ("Mul", .norm(let s2, .invStd(let eps)), .norm(let s1, .centered)) where s1 == s2:
            return define(.norm(source: s1, stage: .normalized(eps)))
        case ("Div", .norm(let s1, .centered), .norm(let s2, .std(let eps))) where s1 == s2:
            return define(.norm(source: s1, stage: .normalized(eps)))
        case ("Mul", .norm(let src, let stage), .constant(let c)), ("Mul", .constant(let c), .norm(let src, let stage)):
            if let scaled = try scaledStage(stage, by: c, source: src) { return define(.norm(source: src, stage: scaled)) }
        case ("Div", .norm(let src, let stage), .constant(let c)):
            let inverse = ConstTensor(shape: c.shape, floats: try c.floatValues().map { 1 / $0 })
            if let scaled = try scaledStage(stage, by: inverse, source: src) { return define(.norm(source: src, stage: scaled)) }
        case ("Mul", .norm(let src, .normalized(let eps)), .styleMix(let g, let shape)),
             ("Mul", .styleMix(let g, let shape), .norm(let src, .normalized(let eps))):
            guard let c = shapes[src]?.c, isPerChannel(shape, channels: c) else {
                throw unsupported("style-dependent scale of shape \(shape) is not per-channel")
            }
            return define(.norm(source: src, stage: .scaled(eps, .style(g))))
        case ("Add", .norm(let src, let stage), .constant(let c)), ("Add", .constant(let c), .norm(let src, let stage)):
            if try shiftNorm(source: src, stage: stage, shift: c) { return }
        case ("Add", .norm(let src, .scaled(let eps, .style(let g))), .styleMix(let beta, let shape)),
             ("Add", .styleMix(let beta, let shape), .norm(let src, .scaled(let eps, .style(let g)))):
            guard let c = shapes[src]?.c, isPerChannel(shape, channels: c) else {
                throw unsupported("style-dependent shift of shape \(shape) is not per-channel")
            }
            let spec = try conditionalSpec(gamma: g, beta: beta, epsilon: eps, source: src)
            try emit(.conditionalInstanceNorm(spec), inputs: [src], shape: shapes[src] ?? ActivationShape())
            return define(.tensor(nodes.last!.output))
        case ("Mul", .norm(let src, .invStd(let eps)), .styleMix(let g, let shape)),
             ("Mul", .styleMix(let g, let shape), .norm(let src, .invStd(let eps))):
            guard let c = shapes[src]?.c, isPerChannel(shape, channels: c) else {
                throw unsupported("style-dependent scale of shape \(shape) is not per-channel")
            }
            return define(.norm(source: src, stage: .invStdScaled(eps, g)))
        case ("Mul", .norm(let s1, .mean), .norm(let s2, .invStdScaled(let eps, let g))) where s1 == s2,
             ("Mul", .norm(let s2, .invStdScaled(let eps, let g)), .norm(let s1, .mean)) where s1 == s2:
            return define(.norm(source: s1, stage: .meanScaled(eps, g)))
        case ("Sub", .styleMix(let beta, let shape), .norm(let src, .meanScaled(let eps, let g))):
            guard let c = shapes[src]?.c, isPerChannel(shape, channels: c) else {
                throw unsupported("style-dependent shift of shape \(shape) is not per-channel")
            }
            return define(.norm(source: src, stage: .shiftTerm(eps, gamma: g, beta: beta)))
        case ("Mul", .tensor(let x), .norm(let src, .invStdScaled(let eps, let g))) where x == src,
             ("Mul", .norm(let src, .invStdScaled(let eps, let g)), .tensor(let x)) where x == src:
            return define(.norm(source: src, stage: .inputScaled(eps, g)))
        case ("Add", .norm(let s1, .inputScaled(let eps, let g)), .norm(let s2, .shiftTerm(_, _, let beta))) where s1 == s2,
             ("Add", .norm(let s2, .shiftTerm(_, _, let beta)), .norm(let s1, .inputScaled(let eps, let g))) where s1 == s2:
            let spec = try conditionalSpec(gamma: g, beta: beta, epsilon: eps, source: s1)
            try emit(.conditionalInstanceNorm(spec), inputs: [s1], shape: shapes[s1] ?? ActivationShape())
            return define(.tensor(nodes.last!.output))
        case ("Mul", .styleColumn, .constant(let m)), ("Mul", .constant(let m), .styleColumn):
            return define(.styleProduct(try styleMatrix(m)))
        default:
            break
        }
        if case .constant = a, case .constant = b { throw unsupported("cannot evaluate on constants") }

        // Activation op constant, and activation + activation.
        switch (a, b) {
        case (.constant(let c), _):
            let x = try activation(1)
            let v = try affineOperand(c, channels: shapes[x]?.c)
            switch op {
            case "Add": try emitAffine(x, scale: [1], shift: v)
            case "Mul": try emitAffine(x, scale: v, shift: [0])
            case "Sub": try emitAffine(x, scale: [-1], shift: v)
            default: throw unsupported("division of a constant by an activation")
            }
        case (_, .constant(let c)):
            let x = try activation(0)
            let v = try affineOperand(c, channels: shapes[x]?.c)
            switch op {
            case "Add": try emitAffine(x, scale: [1], shift: v)
            case "Mul": try emitAffine(x, scale: v, shift: [0])
            case "Sub": try emitAffine(x, scale: [1], shift: v.map { -$0 })
            default:
                guard !v.contains(0) else { throw invalid("division by zero") }
                try emitAffine(x, scale: v.map { 1 / $0 }, shift: [0])
            }
        default:
            guard op == "Add" else { throw unsupported("\(op) of two activations") }
            let x = try activation(0), y = try activation(1)
            let sx = shapes[x] ?? ActivationShape(), sy = shapes[y] ?? ActivationShape()
            func agree(_ p: Int?, _ q: Int?, _ what: String) throws -> Int? {
                if let p, let q, p != q { throw invalid("adds activations with different \(what) (\(p) and \(q))") }
                return p ?? q
            }
            let out = ActivationShape(c: try agree(sx.c, sy.c, "channel counts"),
                                      h: try agree(sx.h, sy.h, "heights"), w: try agree(sx.w, sy.w, "widths"))
            try emit(.add, inputs: [x, y], shape: out)
            define(.tensor(nodes.last!.output))
        }
    }

    /// normalised × constant, or scaled × constant again.
    private func scaledStage(_ stage: NormStage, by c: ConstTensor, source: String) throws -> NormStage? {
        let channels = shapes[source]?.c
        switch stage {
        case .normalized(let eps):
            return .scaled(eps, .constant(try channelValues(c, channels: channels)))
        case .scaled(let eps, .constant(let g)):
            let h = try channelValues(c, channels: channels)
            guard g.count == h.count else { throw invalid("per-channel scales of \(g.count) and \(h.count) values") }
            return .scaled(eps, .constant(zip(g, h).map(*)))
        default:
            return nil
        }
    }

    /// normalised (+ scale) + constant shift: a complete instance norm. Returns false if `stage` is not one.
    private mutating func shiftNorm(source: String, stage: NormStage, shift: ConstTensor) throws -> Bool {
        let channels = shapes[source]?.c
        let shape = shapes[source] ?? ActivationShape()
        switch stage {
        case .normalized(let eps), .scaled(let eps, .constant):
            let b = try channelValues(shift, channels: channels)
            var scaleName: String?
            if case .scaled(_, .constant(let g)) = stage {
                scaleName = try addWeight(ConstTensor(shape: [g.count], floats: g), role: "scale")
            }
            let shiftName = try addWeight(ConstTensor(shape: [b.count], floats: b), role: "shift")
            try emit(.instanceNorm(InstanceNormSpec(scale: scaleName, shift: shiftName, epsilon: eps)), inputs: [source], shape: shape)
            define(.tensor(nodes.last!.output))
            return true
        case .scaled(let eps, .style(let g)):
            // A style-dependent scale with a fixed shift: conditional norm without shift, then the shift.
            let spec = try conditionalSpec(gamma: g, beta: zeroRows(like: g), epsilon: eps, source: source)
            let normed = try emit(.conditionalInstanceNorm(spec), inputs: [source],
                                  output: freshName((node.outputs.first ?? "") + "#norm"), suffix: "/norm", shape: shape)
            try emitAffine(normed, scale: [1], shift: try channelValues(shift, channels: channels))
            return true
        default:
            return false
        }
    }

    /// The [S, C] matrix multiplied by the style-weight column, broadcast to full size.
    private func styleMatrix(_ m: ConstTensor) throws -> ConstTensor {
        guard let s = styleCount ?? m.shape.first else { throw unsupported("style-weight product with a scalar") }
        let (shape, maps) = try ShapeMath.broadcast([[s, 1], m.shape])
        guard shape.count == 2, shape[0] == s else {
            throw unsupported("style-weight product of shape \(shape); expected [styles, channels]")
        }
        var full = m.gathered(maps[1], shape: shape)
        if maps[1] == Array(0..<m.count) && shape == m.shape { full.origin = m.origin }
        return full
    }

    private mutating func power() throws {
        let a = try requiredValue(0)
        let e = try constant(1, "exponent")
        if case .norm(let src, .centered) = a, isScalar(e, 2) {
            return define(.norm(source: src, stage: .squared))
        }
        if case .tensor = a, isScalar(e, 1) { return define(a) }
        throw unsupported("Pow of an activation")
    }

    private mutating func squareRoot() throws {
        if case .norm(let src, .varianceEps(let eps)) = try requiredValue(0) {
            return define(.norm(source: src, stage: .std(eps)))
        }
        throw unsupported("Sqrt of an activation")
    }

    private mutating func reciprocal() throws {
        if case .norm(let src, .std(let eps)) = try requiredValue(0) {
            return define(.norm(source: src, stage: .invStd(eps)))
        }
        throw unsupported("Reciprocal of an activation")
    }

    /// Reduction axes from the attribute (ReduceMean before opset 18, ReduceSum before 13) or the input.
    private func reductionAxes() throws -> [Int]? {
        if let t = try optionalConstant(1, "axes") { return try t.ints() }
        return intsAttr("axes")
    }

    private mutating func reduceMean() throws {
        let a = try requiredValue(0)
        let axes = try reductionAxes()
        let spatial = axes.map { Set($0.map { $0 < 0 ? $0 + 4 : $0 }) == [2, 3] } ?? false
        guard spatial, try intAttr("keepdims", 1) == 1 else {
            throw unsupported("ReduceMean over axes \(axes.map { "\($0)" } ?? "all") of an activation; only the per-channel mean over H×W is supported")
        }
        switch a {
        case .tensor(let x): define(.norm(source: x, stage: .mean))
        case .norm(let src, .squared): define(.norm(source: src, stage: .variance))
        case .norm: define(.norm(source: try activation(0), stage: .mean))
        default: throw unsupported("ReduceMean of a style-dependent value")
        }
    }

    private mutating func reduceSum() throws {
        guard case .styleProduct(let m) = try requiredValue(0) else { throw unsupported("ReduceSum of an activation") }
        let axes = try reductionAxes() ?? []
        guard axes == [0] || axes == [-2] else { throw unsupported("ReduceSum over axes \(axes) of a style product") }
        let c = m.shape[1]
        define(.styleMix(StyleRows(rows: m, bias: nil), shape: try intAttr("keepdims", 1) == 1 ? [1, c] : [c]))
    }

    /// w[S] @ M[S, C]: the style mix written as a matrix product.
    private mutating func matMul() throws {
        guard case .styleWeights = try requiredValue(0) else { throw unsupported("MatMul of an activation") }
        let m = try constant(1, "matrix")
        guard m.shape.count == 2 else { throw unsupported("MatMul of the style weights with shape \(m.shape)") }
        if let s = styleCount, s != m.shape[0] {
            throw invalid("matrix has \(m.shape[0]) rows for \(s) style weights")
        }
        define(.styleMix(StyleRows(rows: m, bias: nil), shape: [m.shape[1]]))
    }

    /// Shape-only changes of the style-weight quantities (never of activations, which stay N×C×H×W).
    private mutating func reshapeLike() throws {
        let a = try requiredValue(0)
        switch (node.opType, a) {
        case ("Unsqueeze", .styleWeights):
            let axes = try optionalConstant(1, "axes").map { try $0.ints() } ?? intsAttr("axes") ?? []
            guard axes == [1] || axes == [-1] else { throw unsupported("Unsqueeze of the style weights on axes \(axes)") }
            define(.styleColumn)
        case ("Reshape", .styleWeights) where styleIsEmbedding:
            // The embedding's layout changes ([1,1,1,S] ↔ [1,S,1,1]); its S values stay in order.
            let target = try constant(1, "shape").ints()
            guard target.filter({ $0 != 1 }) == [styleCount ?? -1] else {
                throw unsupported("Reshape of the style embedding to \(target)")
            }
            define(.styleWeights)
        case ("Reshape", .norm(let src, let stage)):
            // Per-channel statistics moved between [1,C,1,1] layouts (tf2onnx's transposes of the moments).
            let target = try constant(1, "shape").ints()
            guard let c = shapes[src]?.c, isPerChannel(target, channels: c) else {
                throw unsupported("Reshape of the normalisation step '\(stage.name)' to \(target)")
            }
            define(.norm(source: src, stage: stage))
        case ("Reshape", .tensor(let x)) where shapes[x]?.h == 1 && shapes[x]?.w == 1:
            // A C×1×1 activation (after a global pooling) as [1,C,1,1] or [1,1,1,C]: the same values in the same order.
            let target = try constant(1, "shape").ints()
            guard let c = shapes[x]?.c, target.filter({ $0 != 1 }) == [c] || (c == 1 && target.allSatisfy { $0 == 1 }) else {
                throw unsupported("Reshape of a \(shapes[x]?.c ?? 0)×1×1 activation to \(target)")
            }
            define(.tensor(x))
        case (_, .styleMix(let m, let shape)):
            let count = shape.reduce(1, *)
            let template = ConstTensor(shape: shape, floats: Array(repeating: 0, count: count))
            var inputs: [ConstTensor?] = [template]
            for i in 1..<max(node.inputs.count, 1) {
                guard let v = try value(i) else { inputs.append(nil); continue }
                guard case .constant(let c) = v else { throw unsupported("shape operand must be a constant") }
                inputs.append(c)
            }
            let reshaped = try ConstantFolder.evaluate(node, inputs)[0]
            define(.styleMix(m, shape: reshaped.shape))
        default:
            throw unsupported("\(node.opType) of an activation (activations stay N×C×H×W)")
        }
    }

    /// `Shape` of an activation: batch 1 and the channel count are known; height and width stay symbolic.
    private mutating func shapeOf() throws {
        switch try requiredValue(0) {
        case .styleWeights:
            guard let s = styleCount else { throw unsupported("Shape of a style-weight input of unknown size") }
            define(.constant(ConstTensor(shape: [1], ints: [s])))
        default:
            let x = try activation(0)
            var dims: [SymInt] = [.constant(1)]
            if let c = shapes[x]?.c { dims.append(.constant(c)) } else {
                dims.append(SymInt(coefficient: 1, dim: DimRef(value: x, axis: 1), offset: 0))
            }
            dims.append(SymInt(coefficient: 1, dim: DimRef(value: x, axis: 2), offset: 0))
            dims.append(SymInt(coefficient: 1, dim: DimRef(value: x, axis: 3), offset: 0))
            let (lo, hi) = try ConstantFolder.shapeRange(rank: 4, node: node)
            define(.constant(ConstTensor(shape: [hi - lo], storage: .int(Array(dims[lo..<hi])))))
        }
    }

    // MARK: - Borders

    /// Emits a pad (positive amounts) and/or a crop (negative amounts, which ONNX Pad allows).
    private mutating func padOrCrop(_ x: String, begin: (h: Int, w: Int), end: (h: Int, w: Int), mode: PadMode) throws {
        let limit = 1 << 16
        guard [begin.h, begin.w, end.h, end.w].allSatisfy({ $0 > -limit && $0 < limit }) else {
            throw unsupported("pad amounts \([begin.h, begin.w, end.h, end.w])")
        }
        let grow = Pads(top: max(begin.h, 0), left: max(begin.w, 0), bottom: max(end.h, 0), right: max(end.w, 0))
        let shrink = Pads(top: max(-begin.h, 0), left: max(-begin.w, 0), bottom: max(-end.h, 0), right: max(-end.w, 0))
        var current = x
        if !grow.isZero {
            let s = shapes[current] ?? ActivationShape()
            if mode == .reflect, let h = s.h, let w = s.w, max(grow.top, grow.bottom) >= h || max(grow.left, grow.right) >= w {
                throw invalid("reflect padding \(grow) needs an input larger than \(h)×\(w)")
            }
            let out = ActivationShape(c: s.c, h: s.h.map { $0 + grow.top + grow.bottom }, w: s.w.map { $0 + grow.left + grow.right })
            let target = shrink.isZero ? nil : freshName((node.outputs.first ?? "") + "#pad")
            current = try emit(.pad(grow, mode), inputs: [current], output: target, suffix: shrink.isZero ? "" : "/pad", shape: out)
        }
        if !shrink.isZero {
            try cropNode(current, shrink)
            return
        }
        define(.tensor(current))
    }

    private mutating func cropNode(_ x: String, _ p: Pads) throws {
        guard !p.isZero else { return define(.tensor(x)) }
        let s = shapes[x] ?? ActivationShape()
        let out = ActivationShape(c: s.c, h: s.h.map { $0 - p.top - p.bottom }, w: s.w.map { $0 - p.left - p.right })
        try emit(.crop(p), inputs: [x], shape: out)
        define(.tensor(nodes.last!.output))
    }

    private mutating func pad() throws {
        let nhwc: Bool
        if case .nhwc = try requiredValue(0) { nhwc = true } else { nhwc = false }
        let x: String
        if case .nhwc(let name) = try requiredValue(0) { x = name } else { x = try activation(0) }
        let modeName = stringAttr("mode", "constant")
        let mode: PadMode
        switch modeName {
        case "constant": mode = .zero
        case "reflect": mode = .reflect
        case "edge": mode = .edge
        default: throw unsupported("mode '\(modeName)'")
        }
        let amounts: [Int]
        if let t = try optionalConstant(1, "pads") {
            amounts = try t.ints()
        } else if let p = intsAttr("pads") ?? intsAttr("paddings") {
            amounts = p
        } else {
            throw invalid("no pads")
        }
        if mode == .zero {
            let fill = try optionalConstant(2, "constant_value").map { try scalarValue($0, "constant_value") } ?? (try floatAttr("value", 0))
            guard fill == 0 else { throw unsupported("constant padding with value \(fill); only 0 is supported") }
        }
        var axes = [0, 1, 2, 3]
        if let t = try optionalConstant(3, "axes") { axes = try t.ints().map { try ShapeMath.axis($0, rank: 4) } }
        guard amounts.count == 2 * axes.count else { throw invalid("\(amounts.count) pad amounts for \(axes.count) axes") }
        var begin = [0, 0, 0, 0], end = [0, 0, 0, 0]
        // N×H×W×C axes to N×C×H×W ones.
        let irAxis = nhwc ? [0, 2, 3, 1] : [0, 1, 2, 3]
        for (k, a) in axes.enumerated() {
            begin[irAxis[a]] = amounts[k]
            end[irAxis[a]] = amounts[k + axes.count]
        }
        guard begin[0] == 0, end[0] == 0, begin[1] == 0, end[1] == 0 else {
            throw unsupported("padding of the batch or channel axis (pads \(amounts))")
        }
        try padOrCrop(x, begin: (begin[2], begin[3]), end: (end[2], end[3]), mode: mode)
        if nhwc, case .tensor(let padded)? = values[node.outputs[0]] { values[node.outputs[0]] = .nhwc(padded) }
    }

    /// Only the two layout changes of a TensorFlow export: N×H×W×C → N×C×H×W after the input and back
    /// before the output. Neither moves data in the IR, which is C×H×W throughout.
    private mutating func transpose() throws {
        let perm = intsAttr("perm") ?? []
        switch (try requiredValue(0), perm) {
        case (.nhwc(let x), [0, 3, 1, 2]): define(.tensor(x))
        case (.tensor(let x), [0, 2, 3, 1]): define(.nhwc(x))
        case (.norm, [0, 2, 3, 1]): define(.nhwc(try activation(0)))
        default: throw unsupported("Transpose with perm \(perm) of an activation")
        }
    }

    private mutating func clip() throws {
        let x = try activation(0)
        // Opset 11+: bounds as optional inputs; before: attributes.
        var lo = -Float.infinity, hi = Float.infinity
        if node.inputs.count > 1 || node.attribute("min") == nil && node.attribute("max") == nil {
            if let c = try optionalConstant(1, "min") { lo = try scalarValue(c, "min") }
            if let c = try optionalConstant(2, "max") { hi = try scalarValue(c, "max") }
        } else {
            lo = try floatAttr("min", -.infinity)
            hi = try floatAttr("max", .infinity)
        }
        guard lo <= hi else { throw invalid("minimum \(lo) is above maximum \(hi)") }
        let op: Op = lo == 0 && hi == .infinity ? .relu : .clip(min: lo, max: hi)
        try emit(op, inputs: [x], shape: shapes[x] ?? ActivationShape())
        define(.tensor(nodes.last!.output))
    }

    /// The per-channel mean over H×W: the first step of a decomposed normalisation (its mean, or its variance
    /// of the squared deviations), otherwise a C×1×1 activation.
    private mutating func globalAveragePool() throws {
        switch try requiredValue(0) {
        case .norm(let src, .squared): return define(.norm(source: src, stage: .variance))
        case .tensor(let x) where meanFeedsNormalisation():
            return define(.norm(source: x, stage: .mean))
        default:
            let x = try activation(0)
            try emit(.globalAveragePool, inputs: [x], shape: ActivationShape(c: shapes[x]?.c, h: 1, w: 1))
            define(.tensor(nodes.last!.output))
        }
    }

    /// Whether the mean computed by the current node feeds a normalisation: a later node subtracts it (through
    /// reshapes and quantisation pairs) from something. A look-ahead, as a mean that nothing subtracts is the
    /// C×1×1 result of an image-to-vector network.
    private func meanFeedsNormalisation() -> Bool {
        guard let mean = node.outputs.first else { return false }
        var names: Set<String> = [mean]
        for n in graph.nodes.dropFirst(nodeIndex + 1) where n.inputs.contains(where: names.contains) {
            if n.opType == "Sub", n.inputs.count == 2, names.contains(n.inputs[1]) { return true }
            if ["Reshape", "QuantizeLinear", "DequantizeLinear", "Identity"].contains(n.opType) { names.formUnion(n.outputs) }
        }
        return false
    }

    /// The experimental opset-1 Crop: `border` is [left, top, right, bottom] (ONNX operator docs, IR 3).
    private mutating func crop() throws {
        let x = try activation(0)
        if let scale = intsAttr("scale"), !scale.isEmpty {
            throw unsupported("Crop to a fixed size (scale \(scale))")
        }
        guard let b = intsAttr("border"), b.count == 4, b.allSatisfy({ $0 >= 0 && $0 < 1 << 16 }) else {
            throw invalid("border must be 4 non-negative values [left, top, right, bottom]")
        }
        try cropNode(x, Pads(top: b[1], left: b[0], bottom: b[3], right: b[2]))
    }

    /// Slicing an activation. Only border crops are supported; their amounts must be the same at every
    /// frame size, which is how `x[:, :, :2*h]` after a transposed convolution (size 2h+1) becomes
    /// "crop one row at the bottom".
    private mutating func slice() throws {
        let x = try activation(0)
        var starts: [SymInt], ends: [SymInt], axes: [Int], steps: [Int]
        if node.inputs.count >= 3 {
            starts = try constant(1, "starts").symInts()
            ends = try constant(2, "ends").symInts()
            axes = try optionalConstant(3, "axes")?.ints() ?? Array(0..<starts.count)
            steps = try optionalConstant(4, "steps")?.ints() ?? Array(repeating: 1, count: starts.count)
        } else {
            guard let s = intsAttr("starts"), let e = intsAttr("ends") else { throw invalid("no starts/ends") }
            starts = s.map(SymInt.constant)
            ends = e.map(SymInt.constant)
            axes = intsAttr("axes") ?? Array(0..<s.count)
            steps = Array(repeating: 1, count: s.count)
        }
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw invalid("starts, ends, axes and steps have different lengths")
        }
        /// Larger than any frame: PyTorch writes INT64_MAX for "to the end".
        let toEnd = 1 << 31
        let limit = 1 << 16
        var p = Pads.zero
        for k in 0..<axes.count {
            let axis = try ShapeMath.axis(axes[k], rank: 4)
            guard steps[k] == 1 else { throw unsupported("Slice with step \(steps[k])") }
            let before: Int
            if let s = starts[k].constant, s >= 0 {
                guard s < limit else { throw unsupported("Slice start \(s) depends on the frame size") }
                before = s
            } else {
                throw unsupported("Slice start \(starts[k].description) is relative to the end of the axis")
            }
            var after: Int
            if let e = ends[k].constant {
                if e >= toEnd { after = 0 } else if e < 0 && e > -limit { after = -e } else {
                    throw unsupported("Slice to the fixed index \(e) depends on the frame size")
                }
            } else {
                let e = ends[k]
                guard let ref = e.dim, ref.axis == axis, let (a, b) = relation(of: x, axis: axis, to: ref), a == e.coefficient else {
                    throw unsupported("Slice end \(e.description) is not a fixed distance from the end of the axis")
                }
                let (distance, overflow) = b.subtractingReportingOverflow(e.offset)
                guard !overflow, distance < limit else {
                    throw unsupported("Slice end \(e.description) is not a fixed distance from the end of the axis")
                }
                after = max(distance, 0)
            }
            if axis < 2 {
                guard before == 0, after == 0 else { throw unsupported("Slice of the batch or channel axis") }
                continue
            }
            if axis == 2 { p.top += before; p.bottom += after } else { p.left += before; p.right += after }
        }
        try cropNode(x, p)
    }

    /// How `value`'s size along a spatial `axis` depends on that of `ref`: size = a·ref + b, found by walking
    /// back through the IR nodes emitted so far. nil when a node on the way (a strided convolution) makes
    /// the relation non-affine, or when `ref` is not an ancestor.
    func relation(of value: String, axis: Int, to ref: DimRef) -> (Int, Int)? {
        guard axis == 2 || axis == 3, ref.axis == axis else { return nil }
        var a = 1, b = 0
        var current = value
        for _ in 0...nodes.count {
            if current == ref.value { return (a, b) }
            guard let index = producer[current] else { return nil }
            let n = nodes[index]
            let vertical = axis == 2
            // current = p·input + q
            var p = 1, q = 0
            switch n.op {
            case .conv2d(let spec):
                guard let kernel = weights[spec.weight]?.shape, kernel.count == 4 else { return nil }
                let s = vertical ? spec.strideH : spec.strideW
                let k = vertical ? kernel[2] : kernel[3]
                guard s == 1 else { return nil }
                if case .explicit(let pads) = spec.padding {
                    q = (vertical ? pads.top + pads.bottom : pads.left + pads.right) - k + 1
                }
            case .convTranspose2d(let spec):
                guard let kernel = weights[spec.weight]?.shape, kernel.count == 4,
                      case .explicit(let pads) = spec.padding else { return nil }
                let s = vertical ? spec.strideH : spec.strideW
                let k = vertical ? kernel[2] : kernel[3]
                let op = vertical ? spec.outputPaddingH : spec.outputPaddingW
                p = s
                q = k - s + op - (vertical ? pads.top + pads.bottom : pads.left + pads.right)
            case .crop(let pads):
                q = -(vertical ? pads.top + pads.bottom : pads.left + pads.right)
            case .pad(let pads, _):
                q = vertical ? pads.top + pads.bottom : pads.left + pads.right
            case .upsampleNearest(let f):
                p = f
            case .maxPool(let k, let s):
                guard s == 1 else { return nil }
                q = 1 - k
            case .instanceNorm, .conditionalInstanceNorm, .relu, .add, .scalarAffine, .channelAffine, .tanh, .sigmoid, .clip:
                break
            case .globalAveragePool:
                return nil
            }
            // value = a·current + b = a·(p·input + q) + b
            let (aq, o1) = a.multipliedReportingOverflow(by: q)
            let (nb, o2) = aq.addingReportingOverflow(b)
            let (na, o3) = a.multipliedReportingOverflow(by: p)
            guard !o1, !o2, !o3 else { return nil }
            (a, b) = (na, nb)
            guard let input = n.inputs.first else { return nil }
            current = input
        }
        return nil
    }

    // MARK: - Old experimental operators

    /// ImageScaler: `scale·x + bias[c]`.
    private mutating func imageScaler() throws {
        let x = try activation(0)
        let scale = try floatAttr("scale", 1)
        let bias = node.attribute("bias")?.floats ?? []
        if let c = shapes[x]?.c, !bias.isEmpty, bias.count != c {
            throw invalid("bias has \(bias.count) values for \(c) channels")
        }
        try emitAffine(x, scale: [scale], shift: bias.isEmpty ? [0] : bias)
    }

    /// Affine: `alpha·x + beta`.
    private mutating func affine() throws {
        let x = try activation(0)
        try emitAffine(x, scale: [try floatAttr("alpha", 1)], shift: [try floatAttr("beta", 0)])
    }

    // MARK: - Pooling

    /// MaxPool with a square window, equal strides and no padding (the only form the IR has).
    private mutating func maxPool() throws {
        let x = try activation(0)
        guard node.outputs.count < 2 || node.outputs[1].isEmpty else { throw unsupported("the Indices output") }
        guard let k = intsAttr("kernel_shape"), k.count == 2, k[0] == k[1], k[0] >= 1, k[0] <= 64 else {
            throw unsupported("kernel_shape \(intsAttr("kernel_shape") ?? []); only square 2-D windows are supported")
        }
        let (sh, sw) = try pairAttr("strides", 1)
        guard sh == sw, sh >= 1, sh <= 64 else { throw unsupported("strides [\(sh), \(sw)]") }
        let (dh, dw) = try pairAttr("dilations", 1)
        guard dh == 1, dw == 1 else { throw unsupported("dilations [\(dh), \(dw)]") }
        let autoPad = stringAttr("auto_pad", "NOTSET")
        let pads = intsAttr("pads") ?? []
        guard autoPad == "VALID" || ((autoPad == "NOTSET" || autoPad.isEmpty) && pads.allSatisfy({ $0 == 0 })) else {
            throw unsupported("padding (auto_pad '\(autoPad)', pads \(pads)); only unpadded pooling is supported")
        }
        guard try intAttr("ceil_mode", 0) == 0 else { throw unsupported("ceil_mode 1") }
        let s = shapes[x] ?? ActivationShape()
        let out = ActivationShape(c: s.c, h: s.h.map { ($0 - k[0]) / sh + 1 }, w: s.w.map { ($0 - k[0]) / sh + 1 })
        try emit(.maxPool(kernel: k[0], stride: sh), inputs: [x], shape: out)
        define(.tensor(nodes.last!.output))
    }

    // MARK: - Upsampling

    /// Upsample and Resize in nearest mode by the same integer factor on H and W (pixel repetition).
    private mutating func upsample() throws {
        let x = try activation(0)
        let mode = stringAttr("mode", "nearest")
        guard mode == "nearest" else { throw unsupported("mode '\(mode)'; only nearest-neighbour upsampling is supported") }
        let opset = model.defaultOpset ?? 1
        var scales: [Float]?
        var sizes: [SymInt]?
        if node.opType == "Upsample" {
            if let t = try optionalConstant(1, "scales") { scales = try t.floatValues() } else { scales = node.attribute("scales")?.floats }
        } else if opset < 11 {
            scales = try optionalConstant(1, "scales")?.floatValues()
        } else {
            if let t = try optionalConstant(2, "scales"), t.count > 0 { scales = try t.floatValues() }
            if let t = try optionalConstant(3, "sizes"), t.count > 0 { sizes = try t.symInts() }
            let transform = stringAttr("coordinate_transformation_mode", "half_pixel")
            let rounding = stringAttr("nearest_mode", "round_prefer_floor")
            // Which combinations reduce to pixel repetition for an integer factor (source = f(destination)).
            let repeats: Bool
            switch transform {
            case "asymmetric": repeats = rounding == "floor" || rounding == "round_prefer_floor"
            case "half_pixel", "pytorch_half_pixel": repeats = rounding == "round_prefer_floor" || rounding == "round_prefer_ceil"
            case "tf_half_pixel_for_nn": repeats = rounding == "floor"
            default: repeats = false
            }
            guard repeats else {
                throw unsupported("coordinate_transformation_mode '\(transform)' with nearest_mode '\(rounding)' is not pixel repetition")
            }
            if let axes = intsAttr("axes"), !axes.isEmpty {
                let normalized = try axes.map { try ShapeMath.axis($0, rank: 4) }
                if let s = scales {
                    var full: [Float] = [1, 1, 1, 1]
                    for (k, a) in normalized.enumerated() where k < s.count { full[a] = s[k] }
                    scales = full
                }
                if let s = sizes {
                    var full: [SymInt?] = [nil, nil, nil, nil]
                    for (k, a) in normalized.enumerated() where k < s.count { full[a] = s[k] }
                    guard full[2] != nil, full[3] != nil, full[0] == nil || full[0] == .constant(1) else {
                        throw unsupported("Resize sizes over axes \(axes)")
                    }
                    sizes = full.map { $0 ?? .constant(1) }
                }
            }
        }
        let factor: Int
        if let s = scales {
            guard s.count == 4, s[0] == 1, s[1] == 1, s[2] == s[3], s[2] >= 1, s[2] <= 64, s[2] == s[2].rounded() else {
                throw unsupported("scales \(s); only the same integer factor on H and W is supported")
            }
            factor = Int(s[2])
        } else if let s = sizes, s.count == 4 {
            // Sizes computed from the input's own shape (k·h, k·w) give a factor that holds at every size.
            var factors: [Int] = []
            for axis in 2...3 {
                guard let ref = s[axis].dim, let (a, b) = relation(of: x, axis: axis, to: ref), a != 0,
                      s[axis].coefficient % a == 0 else {
                    throw unsupported("Resize to sizes \(s.map(\.description)) that are not a multiple of the input size")
                }
                let f = s[axis].coefficient / a
                let (fb, overflow) = f.multipliedReportingOverflow(by: b)
                guard !overflow, fb == s[axis].offset else {
                    throw unsupported("Resize to sizes \(s.map(\.description)) that are not a multiple of the input size")
                }
                factors.append(f)
            }
            guard factors[0] == factors[1], factors[0] >= 1 else { throw unsupported("different factors \(factors) on H and W") }
            factor = factors[0]
        } else {
            throw unsupported("no scales or sizes")
        }
        if factor == 1 { return define(.tensor(x)) }
        let s = shapes[x] ?? ActivationShape()
        try emit(.upsampleNearest(factor), inputs: [x], shape: ActivationShape(c: s.c, h: s.h.map { $0 * factor }, w: s.w.map { $0 * factor }))
        define(.tensor(nodes.last!.output))
    }
}
