import Stylize

/// The loss of Gatys et al. (2016) for one picture, with its gradient: content features of one photo, Gram
/// matrices of one or more style pictures, and total variation, through the VGG19 loss network.
///
///     L = content_weight · Σ_l a_l · mse(F_l(x), F_l(content))
///       + style_weight   · Σ_s β_s Σ_l w_l · mse(G_l(x), G_l(style_s))
///       + tv_weight      · TV(x)
///
/// with x the RGB 0…1 picture, F the VGG19 ReLU outputs, G = F·Fᵀ/(C·H·W) (see `StyleLoss`), mse the mean over
/// elements (`ContentLoss`), TV the sum of squared neighbour differences (`TotalVariationLoss`) and β the
/// style pictures' blend weights (summing to 1). The defaults follow the Gatys notebook this project learns
/// from, moved from VGG16 to VGG19: style relu1_1…relu5_1 weighted 1.0, 0.8, 0.5, 0.3, 0.1, content relu4_2.
public final class GatysObjective {
    public struct Weights: Sendable, Equatable {
        public var content: Double
        public var style: Double
        public var totalVariation: Double
        /// Layer name and weight, for the style and content losses.
        public var styleLayers: [(String, Double)]
        public var contentLayers: [(String, Double)]

        public init(content: Double = 1, style: Double = 1e3, totalVariation: Double = 0,
                    styleLayers: [(String, Double)] = Self.notebookStyleLayers,
                    contentLayers: [(String, Double)] = [("relu4_2", 1)]) {
            self.content = content
            self.style = style
            self.totalVariation = totalVariation
            self.styleLayers = styleLayers
            self.contentLayers = contentLayers
        }

        public static let notebookStyleLayers: [(String, Double)] =
            [("relu1_1", 1.0), ("relu2_1", 0.8), ("relu3_1", 0.5), ("relu4_1", 0.3), ("relu5_1", 0.1)]

        /// The deepest layer any loss reads: where the network's forward can stop.
        public var deepestLayer: String {
            let all = styleLayers.map(\.0) + contentLayers.map(\.0)
            return VGG19LossNetwork.layerNames.last { all.contains($0) } ?? "relu1_1"
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.content == b.content && a.style == b.style && a.totalVariation == b.totalVariation
                && a.styleLayers.map(\.0) == b.styleLayers.map(\.0) && a.styleLayers.map(\.1) == b.styleLayers.map(\.1)
                && a.contentLayers.map(\.0) == b.contentLayers.map(\.0) && a.contentLayers.map(\.1) == b.contentLayers.map(\.1)
        }
    }

    /// The parts of one evaluation, each already multiplied by its weight.
    public struct Losses: Sendable, Equatable {
        public var content = 0.0
        public var style = 0.0
        public var totalVariation = 0.0
        public var total: Double { content + style + totalVariation }

        public init(content: Double = 0, style: Double = 0, totalVariation: Double = 0) {
            self.content = content
            self.style = style
            self.totalVariation = totalVariation
        }
    }

    public let weights: Weights
    private let network: VGG19LossNetwork
    private let context: TrainingContext
    /// Per content layer, its target.
    private var contentLosses: [String: ContentLoss] = [:]
    /// Per style layer, one loss per style picture with its blend weight.
    private var styleLosses: [String: [(StyleLoss, Double)]] = [:]

    /// `styles` are RGB 0…1 pictures (any size) with blend weights; the weights are normalised to sum to 1.
    public init(network: VGG19LossNetwork, content: FeatureMap, styles: [(FeatureMap, Double)], weights: Weights,
                context: TrainingContext) {
        precondition(!styles.isEmpty, "Gatys' loss needs a style picture")
        for (name, _) in weights.styleLayers + weights.contentLayers {
            precondition(network.index(of: name) != nil, "the loss network stops above \(name)")
        }
        self.network = network
        self.weights = weights
        self.context = context
        let blendSum = styles.reduce(0) { $0 + $1.1 }
        precondition(blendSum > 0, "style blend weights must add up to more than 0")
        for (style, blend) in styles {
            network.forward(picture: style)
            for (name, _) in weights.styleLayers {
                styleLosses[name, default: []].append((StyleLoss(target: network.output(name), context: context), blend / blendSum))
            }
        }
        network.forward(picture: content)
        for (name, _) in weights.contentLayers { contentLosses[name] = ContentLoss(target: network.output(name)) }
    }

    /// The loss at `picture` (RGB 0…1, the content's size); writes dL/d(picture) into `gradient`.
    @discardableResult
    public func evaluate(_ picture: FeatureMap, gradient: inout FeatureMap) -> Losses {
        var losses = Losses()
        network.forward(picture: picture)
        let styleLayerWeights = Dictionary(uniqueKeysWithValues: weights.styleLayers)
        let contentLayerWeights = Dictionary(uniqueKeysWithValues: weights.contentLayers)
        let dPicture = network.backward { name, features, g in
            if let a = contentLayerWeights[name], let loss = contentLosses[name] {
                losses.content += loss.evaluate(features, weight: weights.content * a, addingGradientTo: &g)
            }
            if let w = styleLayerWeights[name], let perStyle = styleLosses[name] {
                for (loss, blend) in perStyle {
                    losses.style += loss.evaluate(features, weight: weights.style * w * blend, addingGradientTo: &g)
                }
            }
        }
        gradient = dPicture
        if weights.totalVariation != 0 {
            losses.totalVariation = TotalVariationLoss.evaluate(picture, weight: weights.totalVariation, addingGradientTo: &gradient)
        }
        return losses
    }
}
