/// How an RGB picture with values 0..255 becomes the network input: reorder channels, multiply by `scale`,
/// subtract `mean`, divide by `std` (mean and std in the network's channel order).
public struct InputTransform: Codable, Sendable, Equatable {
    public enum ChannelOrder: String, Codable, Sendable { case rgb, bgr }
    public var channelOrder: ChannelOrder
    public var scale: Float
    public var mean: [Float]
    public var std: [Float]

    public init(channelOrder: ChannelOrder = .rgb, scale: Float = 1, mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]) {
        self.channelOrder = channelOrder; self.scale = scale; self.mean = mean; self.std = std
    }

    /// Values 0..255, RGB, as they are (ml5/Engstrom, pytorch/examples).
    public static let identity255 = InputTransform()
}

/// How the network output becomes RGB 0..255: `(y·std + mean)·scale`, then reorder channels to RGB.
/// Values outside 0..255 are clipped only when a picture is made.
public struct OutputTransform: Codable, Sendable, Equatable {
    public var channelOrder: InputTransform.ChannelOrder
    public var scale: Float
    public var mean: [Float]
    public var std: [Float]

    public init(channelOrder: InputTransform.ChannelOrder = .rgb, scale: Float = 1, mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]) {
        self.channelOrder = channelOrder; self.scale = scale; self.mean = mean; self.std = std
    }

    public static let identity255 = OutputTransform()
}

/// What a model is, beyond its graph: where it came from, its transforms, and its styles.
public struct ModelInfo: Codable, Sendable, Equatable {
    /// A short name ("udnie", "multistyle26").
    public var name: String
    /// Architecture family for people ("engstrom-tf", "johnson-torch", "transformernet-pytorch", …).
    public var architecture: String
    /// The format it was imported from ("ml5", "onnx", "pth", "native").
    public var sourceFormat: String
    public var input: InputTransform
    public var output: OutputTransform
    /// Names of the styles of a multi-style model (conditional instance norm); empty for one style.
    public var styleNames: [String]
    /// Frame sizes are padded to a multiple of this before the network runs (its total stride).
    public var sizeMultiple: Int
    /// Free-form provenance and licence notes carried into the native file.
    public var notes: String
    /// For a network conditioned on a style *embedding* (Ghiasi et al.'s arbitrary-style transformer): the
    /// embedding's length. Such a model has no named styles; every run is given an embedding, computed from a
    /// painting by its predictor network (`ArbitraryStyle`). nil for every other model.
    public var styleEmbeddingSize: Int?

    public init(name: String, architecture: String, sourceFormat: String,
                input: InputTransform, output: OutputTransform,
                styleNames: [String] = [], sizeMultiple: Int = 4, notes: String = "", styleEmbeddingSize: Int? = nil) {
        self.name = name; self.architecture = architecture; self.sourceFormat = sourceFormat
        self.input = input; self.output = output
        self.styleNames = styleNames; self.sizeMultiple = sizeMultiple; self.notes = notes
        self.styleEmbeddingSize = styleEmbeddingSize
    }

    public var styleCount: Int { styleNames.count }
}

/// A loaded style network: immutable, shared by every worker that runs it.
public struct StyleModel: Sendable {
    public var info: ModelInfo
    public var graph: Graph
    public var weights: [String: Tensor]

    public init(info: ModelInfo, graph: Graph, weights: [String: Tensor]) {
        self.info = info
        self.graph = graph
        self.weights = weights
    }
}
