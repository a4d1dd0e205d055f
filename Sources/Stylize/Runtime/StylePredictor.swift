public import Pipeline

/// Turns a painting into a style: the predictor half of Ghiasi et al.'s arbitrary-style network (a
/// MobileNet-v2 that maps a 256×256 picture to a 100-value embedding). The transformer half (`builtin:arbitrary`,
/// any model whose `ModelInfo.styleEmbeddingSize` is set) takes that embedding where a multi-style model takes
/// its style weights (`StyleOptions.styleWeights`), so once a painting's embedding is known, stylizing with it
/// costs what any other style does. One instance runs on one thread of control at a time.
public final class StylePredictor {
    /// The side of the square picture the predictor takes (`Decode.StylePicture` makes it).
    public static let inputSize = 256

    public let model: StyleModel
    private let session: Session

    public init(model: StyleModel, threads: Int = 1) throws {
        self.model = model
        session = try Session(model: model, threads: threads)
        let shape = try session.profile(height: Self.inputSize, width: Self.inputSize).layers.last
        guard let shape, shape.height == 1, shape.width == 1 else {
            throw StylizeError(.invalidGraph, "model \(model.info.name) is not a style predictor: it does not end in a vector")
        }
    }

    /// The predictor that ships with streamd (`builtin:arbitrary-predictor`).
    public static func builtin(threads: Int = 1) throws -> StylePredictor {
        try StylePredictor(model: try ModelLoader.load(path: BuiltinModels.prefix + BuiltinModels.stylePredictorName), threads: threads)
    }

    /// The embedding of a painting already made square at `inputSize` (RGB 0..255 in, the graph's 0..1 inside).
    public func embedding(of square: RGBImage) throws -> [Float] {
        let n = Self.inputSize
        guard square.width == n, square.height == n else {
            throw StylizeError(.invalidArgument, "the style predictor takes a \(n)x\(n) picture, got \(square.width)x\(square.height)")
        }
        var chw = [Float](repeating: 0, count: 3 * n * n)
        square.pixels.withUnsafeBufferPointer { src in
            for i in 0..<(n * n) { for c in 0..<3 { chw[c * n * n + i] = Float(src[i * 3 + c]) / 255 } }
        }
        return try session.run(Tensor(shape: [3, n, n], data: chw)).data
    }

    /// Embeddings mixed by weights (normalised to sum 1): several paintings blended into one style, or a
    /// painting's embedding interpolated with the content's own to weaken it (Magenta's way of setting the
    /// strength: the result stays one coherent painting rather than a double exposure of photo and painting).
    public static func blend(_ embeddings: [[Float]], weights: [Float]) throws -> [Float] {
        guard !embeddings.isEmpty, embeddings.count == weights.count else {
            throw StylizeError(.invalidArgument, "\(weights.count) blend weights for \(embeddings.count) style pictures")
        }
        guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }), weights.reduce(0, +) > 0 else {
            throw StylizeError(.invalidArgument, "blend weights must be non-negative and not all 0, got \(weights)")
        }
        let n = embeddings[0].count
        guard embeddings.allSatisfy({ $0.count == n }) else {
            throw StylizeError(.invalidArgument, "style embeddings of different lengths")
        }
        let total = weights.reduce(0, +)
        var out = [Float](repeating: 0, count: n)
        for (e, w) in zip(embeddings, weights) { for i in 0..<n { out[i] += e[i] * (w / total) } }
        return out
    }

    /// A painting's embedding at `strength` (0…1) for a still picture whose own embedding is `own`: moved towards
    /// it, as Magenta sets the strength (`streamd image`, `POST /v1/stylize`).
    public static func weakened(_ painting: [Float], towards own: [Float], strength: Float) throws -> [Float] {
        try blend([painting, own], weights: [strength, 1 - strength])
    }
}
