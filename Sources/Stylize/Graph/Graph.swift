/// The model graph: a list of nodes in execution order over named values.
///
/// Importers translate external formats into this representation; the runtime compiles it into a plan. The
/// representation is `Codable` because the native model file stores it as JSON beside the weights.
public struct Graph: Codable, Sendable, Equatable {
    /// Name of the value that holds the network input (N=1, C×H×W, after the model's input transform).
    public var input: String
    /// Name of the value that holds the network output (C×H×W, before the model's output transform).
    public var output: String
    public var nodes: [Node]

    public init(input: String, output: String, nodes: [Node]) {
        self.input = input
        self.output = output
        self.nodes = nodes
    }
}

public struct Node: Codable, Sendable, Equatable {
    /// A name for messages ("node conv1 (Conv2D): …").
    public var name: String
    public var op: Op
    /// Value names consumed, in the operator's order (`add` takes two, everything else one).
    public var inputs: [String]
    public var output: String

    public init(name: String, op: Op, inputs: [String], output: String) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.output = output
    }
}

/// Spatial padding amounts (rows before/after, columns before/after).
public struct Pads: Codable, Sendable, Equatable {
    public var top: Int, left: Int, bottom: Int, right: Int

    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }

    public static func uniform(_ p: Int) -> Pads { Pads(top: p, left: p, bottom: p, right: p) }
    public static let zero = Pads.uniform(0)
    public var isZero: Bool { top == 0 && left == 0 && bottom == 0 && right == 0 }
}

/// How a convolution pads its input.
public enum ConvPadding: Codable, Sendable, Equatable {
    /// Fixed amounts on each side.
    case explicit(Pads)
    /// TensorFlow "SAME": output = ceil(n/stride), total padding max((out-1)·s + k - n, 0), the smaller half
    /// before. Depends on the input size, so it is resolved when a plan is compiled for a frame size.
    case tfSame
}

public enum PadMode: String, Codable, Sendable, Equatable {
    case zero
    /// Mirror without repeating the edge (PyTorch ReflectionPad2d, ONNX Pad mode=reflect).
    case reflect
    /// Repeat the edge pixel (ONNX Pad mode=edge).
    case edge
}

public struct Conv2DSpec: Codable, Sendable, Equatable {
    /// Weight name; shape [out, in, kh, kw] (OIHW).
    public var weight: String
    /// Optional bias name; shape [out].
    public var bias: String?
    public var strideH: Int, strideW: Int
    public var padding: ConvPadding
    public var padMode: PadMode
    /// Channel groups; nil or 1 for an ordinary convolution. Only depthwise grouping is supported (groups = input
    /// channels = output channels, weight [C, 1, kh, kw]), the light style networks' separable convolutions.
    public var groups: Int?

    public init(weight: String, bias: String? = nil, strideH: Int = 1, strideW: Int = 1,
                padding: ConvPadding, padMode: PadMode = .zero, groups: Int? = nil) {
        self.weight = weight; self.bias = bias
        self.strideH = strideH; self.strideW = strideW
        self.padding = padding; self.padMode = padMode
        self.groups = groups
    }
}

/// A transposed convolution in scatter form: `full[i·s + k] += x[i] · W[ci, co, k]`, full length
/// (n-1)·s + k + outputPadding, then the output is `full[padBefore ..< full - padAfter]`.
public struct ConvTranspose2DSpec: Codable, Sendable, Equatable {
    /// Weight name; shape [in, out, kh, kw] (the ONNX/PyTorch layout; TensorFlow's [kh, kw, out, in] is
    /// permuted by the importer).
    public var weight: String
    public var bias: String?
    public var strideH: Int, strideW: Int
    public var padding: ConvPadding
    /// Extra rows/columns added after the full output (PyTorch `output_padding`); ignored for `.tfSame`.
    public var outputPaddingH: Int, outputPaddingW: Int

    public init(weight: String, bias: String? = nil, strideH: Int, strideW: Int,
                padding: ConvPadding, outputPaddingH: Int = 0, outputPaddingW: Int = 0) {
        self.weight = weight; self.bias = bias
        self.strideH = strideH; self.strideW = strideW
        self.padding = padding
        self.outputPaddingH = outputPaddingH; self.outputPaddingW = outputPaddingW
    }
}

/// Instance normalisation: per channel over H×W, biased variance, `scale·(x-μ)/√(σ²+ε) + shift`.
public struct InstanceNormSpec: Codable, Sendable, Equatable {
    /// Optional per-channel scale [C] (ones when absent).
    public var scale: String?
    /// Optional per-channel shift [C] (zeros when absent).
    public var shift: String?
    public var epsilon: Float

    public init(scale: String?, shift: String?, epsilon: Float) {
        self.scale = scale; self.shift = shift; self.epsilon = epsilon
    }
}

/// Conditional instance normalisation (Dumoulin et al.): scale and shift are rows [S, C] mixed by the
/// run's style-weight vector w[S]: `(w·gamma + gammaBias)_c·(x-μ)/√(σ²+ε) + (w·beta + betaBias)_c`.
///
/// The biases are for networks whose w is a style *embedding* rather than a convex mix of trained styles:
/// Ghiasi et al.'s arbitrary-style transformer computes each layer's scale and shift from the painting's
/// 100-value embedding by an affine map (a 1×1 convolution with bias), which is exactly these rows and biases.
public struct ConditionalInstanceNormSpec: Codable, Sendable, Equatable {
    public var gamma: String
    public var beta: String
    /// Optional per-channel constants [C] added to the mixed scale and shift (absent: zero).
    public var gammaBias: String?
    public var betaBias: String?
    public var epsilon: Float

    public init(gamma: String, beta: String, gammaBias: String? = nil, betaBias: String? = nil, epsilon: Float) {
        self.gamma = gamma; self.beta = beta; self.gammaBias = gammaBias; self.betaBias = betaBias; self.epsilon = epsilon
    }
}

/// Per-channel `x·scale_c + shift_c` (ONNX ImageScaler, Mul/Add by constants, input normalisation).
public struct ChannelAffineSpec: Codable, Sendable, Equatable {
    public var scale: [Float]?
    public var shift: [Float]?

    public init(scale: [Float]?, shift: [Float]?) {
        self.scale = scale; self.shift = shift
    }
}

public enum Op: Codable, Sendable, Equatable {
    case conv2d(Conv2DSpec)
    case convTranspose2d(ConvTranspose2DSpec)
    case instanceNorm(InstanceNormSpec)
    case conditionalInstanceNorm(ConditionalInstanceNormSpec)
    case relu
    /// Element-wise sum of the two inputs (same shape).
    case add
    /// Remove rows/columns at the borders.
    case crop(Pads)
    /// Pad the borders (zero, reflect or edge).
    case pad(Pads, PadMode)
    /// Nearest-neighbour upsampling by an integer factor (pixel repetition).
    case upsampleNearest(Int)
    /// `alpha·x + beta` on every element (ONNX Affine, scalar Mul/Add).
    case scalarAffine(alpha: Float, beta: Float)
    case channelAffine(ChannelAffineSpec)
    case tanh
    case sigmoid
    /// Max over k×k windows moved by `stride`, no padding (VGG's 2×2/2 pooling).
    case maxPool(kernel: Int, stride: Int)
    /// Every element limited to `min...max` (MobileNet's ReLU6 is `clip(0, 6)`).
    case clip(min: Float, max: Float)
    /// The mean of each channel over H×W: a C×1×1 result (the end of an image-to-vector network such as
    /// the arbitrary-style predictor).
    case globalAveragePool

    /// A short name for messages and `models info`.
    public var kind: String {
        switch self {
        case .conv2d: "Conv2D"
        case .convTranspose2d: "ConvTranspose2D"
        case .instanceNorm: "InstanceNorm"
        case .conditionalInstanceNorm: "ConditionalInstanceNorm"
        case .relu: "ReLU"
        case .add: "Add"
        case .crop: "Crop"
        case .pad: "Pad"
        case .upsampleNearest: "UpsampleNearest"
        case .scalarAffine: "ScalarAffine"
        case .channelAffine: "ChannelAffine"
        case .tanh: "Tanh"
        case .sigmoid: "Sigmoid"
        case .maxPool: "MaxPool"
        case .clip: "Clip"
        case .globalAveragePool: "GlobalAveragePool"
        }
    }
}
