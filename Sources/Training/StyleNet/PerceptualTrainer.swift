import Pipeline
import Foundation

/// Johnson et al.'s perceptual-loss training of a `StyleNetwork`, one optimiser step per batch, with the loss
/// conventions of pytorch/examples' `fast_neural_style/train.py` so that its published weights (content 1e5,
/// style 1e10) mean the same here:
///
///     content = mse(F_c(ŷ), F_c(x))                      (mean over elements, content layer relu2_2)
///     style   = Σ_l mse(G_l(ŷ), G_l(s))                  (G = F·Fᵀ/(C·H·W), layers relu1_2, relu2_2, relu3_4, relu4_4)
///     L       = λ_c · content + λ_s · style + λ_tv · TV(ŷ),   averaged over the batch
///
/// with ŷ the network's output and x the photo, both as 0…1 pictures. pytorch/examples feeds VGG16 with
/// torchvision's normalisation ((x − mean)/std on 0…1); streamd's VGG19 takes "caffe" input (255·x − mean),
/// whose activations are about 255·0.226 ≈ 57.7 times larger. The losses are therefore computed on features
/// divided by that factor (content × 1/57.7², style × 1/57.7⁴): a first-order match of the magnitudes, not an
/// exact one (the networks' weights differ). VGG19's relu3_4 and relu4_4 stand in for VGG16's relu3_3, relu4_3
/// (the last ReLU of each block).
///
/// Distillation adds a pixel term: with a teacher's pictures t of the same photos (`TeacherPictures`),
/// `λ_p · mse(ŷ, t)` (mean over the picture's values, both 0…1). With the perceptual weights at 0 no loss
/// network is needed at all, and a step costs the student's forward and backward only.
public final class PerceptualTrainer {
    public struct Settings: Sendable, Equatable, Codable {
        public var lambdaContent: Double = 1e5
        public var lambdaStyle: Double = 1e10
        public var lambdaTV: Double = 0
        public var learningRate: Double = 1e-3
        public var contentLayers: [String] = ["relu2_2"]
        public var styleLayers: [String] = ["relu1_2", "relu2_2", "relu3_4", "relu4_4"]
        /// Features are divided by this before the losses (see the type's documentation).
        public var featureScale: Double = 255 * 0.226
        /// Weight of `TemporalConsistencyLoss` (0: off): each photo is paired with itself moved by up to
        /// `temporalShift` pixels each way plus noise of standard deviation `temporalNoise` (0…1 units).
        public var temporalWeight: Double = 0
        public var temporalShift: Int = 4
        public var temporalNoise: Double = 0.02
        /// Weight of the pixel loss against a teacher's pictures (0: no teacher).
        public var lambdaPixel: Double = 0
        /// Weight of `ColourLoss` against each style's painting (0: off).
        public var lambdaColour: Double = 0

        public init() {}

        /// Whether the losses need the VGG19 loss network (a content or style term).
        public var needsLossNetwork: Bool { lambdaContent != 0 || lambdaStyle != 0 }

        private enum CodingKeys: String, CodingKey {
            case lambdaContent, lambdaStyle, lambdaTV, learningRate, contentLayers, styleLayers, featureScale
            case temporalWeight, temporalShift, temporalNoise, lambdaPixel, lambdaColour
        }

        /// Every key optional, defaulting as `init()` does: checkpoints of older versions keep resuming.
        public init(from decoder: any Decoder) throws {
            self.init()
            let c = try decoder.container(keyedBy: CodingKeys.self)
            lambdaContent = try c.decodeIfPresent(Double.self, forKey: .lambdaContent) ?? lambdaContent
            lambdaStyle = try c.decodeIfPresent(Double.self, forKey: .lambdaStyle) ?? lambdaStyle
            lambdaTV = try c.decodeIfPresent(Double.self, forKey: .lambdaTV) ?? lambdaTV
            learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? learningRate
            contentLayers = try c.decodeIfPresent([String].self, forKey: .contentLayers) ?? contentLayers
            styleLayers = try c.decodeIfPresent([String].self, forKey: .styleLayers) ?? styleLayers
            featureScale = try c.decodeIfPresent(Double.self, forKey: .featureScale) ?? featureScale
            temporalWeight = try c.decodeIfPresent(Double.self, forKey: .temporalWeight) ?? temporalWeight
            temporalShift = try c.decodeIfPresent(Int.self, forKey: .temporalShift) ?? temporalShift
            temporalNoise = try c.decodeIfPresent(Double.self, forKey: .temporalNoise) ?? temporalNoise
            lambdaPixel = try c.decodeIfPresent(Double.self, forKey: .lambdaPixel) ?? lambdaPixel
            lambdaColour = try c.decodeIfPresent(Double.self, forKey: .lambdaColour) ?? lambdaColour
        }

        public var deepestLayer: String {
            VGG19LossNetwork.layerNames.last { (contentLayers + styleLayers).contains($0) } ?? "relu1_1"
        }
    }

    public struct Losses: Sendable, Equatable {
        public var content = 0.0, style = 0.0, totalVariation = 0.0, temporal = 0.0, pixel = 0.0, colour = 0.0
        public var total: Double { content + style + totalVariation + temporal + pixel + colour }
        public init() {}
    }

    public let network: StyleNetwork
    /// Fixed for the run, but for `lambdaStyle`, which `balanceStyle` may set before the first step.
    public private(set) var settings: Settings
    /// Optimiser steps taken (PyTorch's Adam `step`).
    public private(set) var steps = 0

    /// nil when no loss needs it (`Settings.needsLossNetwork`).
    private let vgg: VGG19LossNetwork?
    /// Per style picture, per style layer, the loss against its Gram matrix.
    private let styleLosses: [[String: StyleLoss]]
    /// Per style picture, the colour loss against it (empty without `lambdaColour`).
    private let colourLosses: [ColourLoss]
    private var optimizers: [String: Adam] = [:]
    private var networkInput = FeatureMap(), outputPicture = FeatureMap(), outputGradient = FeatureMap()
    /// The deepest content layer: the photo's forward stops there (nil: no content loss, no forward).
    private let contentDepth: String?
    /// The network's norm-row weights for each style index (nil: one-hot, style i is row i).
    private let styleMixes: [[Float]]?

    /// `styles` are RGB 0…1 pictures (any size), one per style of the network; they and `vgg` are needed only
    /// for a style loss (and `vgg` for a content loss). `styleMixes`, when given, are what a style index means
    /// to the network: its norm rows' weights (for a network conditioned on an embedding, `StyleNetwork.mix`
    /// of each training embedding), one per style index the steps use.
    public init(network: StyleNetwork, vgg: VGG19LossNetwork?, styles: [FeatureMap], settings: Settings, context: TrainingContext,
                styleMixes: [[Float]]? = nil) {
        precondition(vgg != nil || !settings.needsLossNetwork, "content and style losses need the loss network")
        let styleCount = styleMixes?.count ?? network.architecture.styles
        precondition((settings.lambdaStyle == 0 && settings.lambdaColour == 0) || styles.count == styleCount,
                     "\(styles.count) style pictures for \(styleCount) styles")
        precondition(styleMixes?.allSatisfy { $0.count == network.architecture.normRows } ?? true,
                     "every style mix has one weight per norm row (\(network.architecture.normRows))")
        self.styleMixes = styleMixes
        self.network = network
        self.vgg = vgg
        self.settings = settings
        contentDepth = settings.lambdaContent == 0 ? nil : VGG19LossNetwork.layerNames.last { settings.contentLayers.contains($0) }
        styleLosses = settings.lambdaStyle == 0 ? [] : styles.map { style in
            vgg!.forward(picture: style)
            return Dictionary(uniqueKeysWithValues: settings.styleLayers.map { ($0, StyleLoss(target: vgg!.output($0), context: context)) })
        }
        colourLosses = settings.lambdaColour == 0 ? [] : styles.map { ColourLoss(painting: $0) }
        network.visitParameters { name, _, _ in optimizers[name] = Adam(learningRate: settings.learningRate) }
    }

    /// One optimiser step on a batch of photos (RGB 0…1, sides divisible by 4), photo i learning style
    /// `styleIndices[i]` (all 0 for a single-style network) and, when distilling, the teacher's picture
    /// `targets[i]` of it. Returns the batch's mean losses.
    @discardableResult
    public func step(_ batch: [FeatureMap], styleIndices: [Int]? = nil, targets: [FeatureMap]? = nil) -> Losses {
        precondition(!batch.isEmpty, "an empty batch")
        precondition(targets == nil || targets!.count == batch.count, "one teacher picture per photo")
        precondition(settings.lambdaPixel == 0 || targets != nil, "a pixel loss needs the teacher's pictures")
        let indices = styleIndices ?? Array(repeating: 0, count: batch.count)
        network.zeroGradients()
        var total = Losses()
        let share = 1 / Double(batch.count)
        let s2 = 1 / (settings.featureScale * settings.featureScale)
        for (slot, (photo, styleIndex)) in zip(batch, indices).enumerated() {
            selectStyle(styleIndex)
            // The moved frame's output first (a target: its forward is not kept for a backward).
            let pair = settings.temporalWeight > 0 ? movedOutput(photo, step: steps, index: slot) : nil
            let contentTargets = self.contentTargets(photo)
            outputPicture = networkPicture(photo)
            var losses = Losses()
            if let vgg, settings.needsLossNetwork {
                vgg.forward(picture: outputPicture)
                let perStyle = styleLosses.isEmpty ? [:] : styleLosses[styleIndex]
                outputGradient = vgg.backward { name, features, gradient in
                    if let content = contentTargets[name] {
                        losses.content += content.evaluate(features, weight: settings.lambdaContent * s2 * share, addingGradientTo: &gradient)
                    }
                    if let style = perStyle[name] {
                        losses.style += style.evaluate(features, weight: settings.lambdaStyle * s2 * s2 * share, addingGradientTo: &gradient)
                    }
                }
            } else {
                // The pixel and temporal terms add into it: kept from step to step, cleared.
                outputGradient.reshape(channels: outputPicture.channels, height: outputPicture.height, width: outputPicture.width)
                for i in outputGradient.values.indices { outputGradient.values[i] = 0 }
            }
            if let targets, settings.lambdaPixel != 0 {
                losses.pixel = PixelLoss.evaluate(outputPicture, target: targets[slot], weight: settings.lambdaPixel * share,
                                                  addingGradientTo: &outputGradient)
            }
            if settings.lambdaColour != 0 {
                losses.colour = colourLosses[styleIndex].evaluate(outputPicture, weight: settings.lambdaColour * share,
                                                                  addingGradientTo: &outputGradient)
            }
            if settings.lambdaTV != 0 {
                losses.totalVariation = TotalVariationLoss.evaluate(outputPicture, weight: settings.lambdaTV * share, addingGradientTo: &outputGradient)
            }
            if let pair {
                losses.temporal = TemporalConsistencyLoss.evaluate(outputPicture, moved: pair.output, dx: pair.dx, dy: pair.dy,
                                                                   weight: settings.temporalWeight * share, addingGradientTo: &outputGradient)
            }
            for i in outputGradient.values.indices { outputGradient.values[i] /= 255 }
            network.backward(outputGradient)
            total.content += losses.content
            total.style += losses.style
            total.totalVariation += losses.totalVariation
            total.temporal += losses.temporal
            total.pixel += losses.pixel
            total.colour += losses.colour
        }
        network.visitParameters { name, values, gradient in optimizers[name]!.update(&values, gradient: gradient) }
        steps += 1
        return total
    }

    /// Sets `settings.lambdaStyle` so that, on `photo` in style `styleIndex` and with the network as it is (before
    /// the first step), the style term's gradient with respect to the network's picture is `balance` times the
    /// content term's (Euclidean norms): content and style pull with comparable force at the start whatever the
    /// painting, the photos and the loss network's scale. Returns the weight. Only for a run with both terms.
    @discardableResult
    public func balanceStyle(on photo: FeatureMap, styleIndex: Int = 0, balance: Double) -> Double {
        guard let norms = gradientNorms(on: photo, styleIndex: styleIndex) else { return settings.lambdaStyle }
        // The style gradient is linear in its weight.
        let unit = norms.style / settings.lambdaStyle
        if norms.content > 0 && unit > 0 && norms.content.isFinite && unit.isFinite {
            settings.lambdaStyle = balance * norms.content / unit
        }
        return settings.lambdaStyle
    }

    /// The norms of the content and style terms' gradients (at the current weights) with respect to the network's
    /// picture of `photo` in style `styleIndex`, the network as it is; nil without both terms.
    public func gradientNorms(on photo: FeatureMap, styleIndex: Int = 0) -> (content: Double, style: Double)? {
        guard let vgg, contentDepth != nil, !styleLosses.isEmpty, settings.lambdaStyle > 0 else { return nil }
        selectStyle(styleIndex)
        let contentTargets = self.contentTargets(photo)
        let picture = networkPicture(photo)
        let s2 = 1 / (settings.featureScale * settings.featureScale)
        func norm(content: Bool) -> Double {
            vgg.forward(picture: picture)
            let g = vgg.backward { name, features, gradient in
                if content, let c = contentTargets[name] {
                    _ = c.evaluate(features, weight: settings.lambdaContent * s2, addingGradientTo: &gradient)
                }
                if !content, let st = styleLosses[styleIndex][name] {
                    _ = st.evaluate(features, weight: settings.lambdaStyle * s2 * s2, addingGradientTo: &gradient)
                }
            }
            return g.values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        }
        return (norm(content: true), norm(content: false))
    }

    /// A resumed run's style weight: the one its first part balanced (from the checkpoint's settings).
    public func restoreStyleWeight(_ lambdaStyle: Double) { settings.lambdaStyle = lambdaStyle }

    /// The network's output (0…1) for `photo` moved by a random whole-pixel shift plus noise, and the shift. Drawn
    /// from a generator seeded by the step and the photo's place in the batch, so a resumed run draws the same.
    private func movedOutput(_ photo: FeatureMap, step: Int, index: Int) -> (output: FeatureMap, dx: Int, dy: Int) {
        var random = SeededRandom(seed: 0x7E4D_0AA1 &+ UInt64(step) &* 0x1_0000_0001 &+ UInt64(index))
        let s = settings.temporalShift
        let span = UInt64(2 * s + 1)
        let dx = Int(random.next() % span) - s, dy = Int(random.next() % span) - s
        let moved = TemporalPair.moved(photo, dx: dx, dy: dy, noise: Float(settings.temporalNoise), random: &random)
        return (networkPicture(moved), dx, dy)
    }

    /// The network on style `index`: its mix, or that style alone (a one-hot mix).
    private func selectStyle(_ index: Int) {
        network.setStyleWeights(styleMixes?[index] ?? StyleNetwork.mix(style: index, of: network.architecture.styles))
    }

    /// Content targets: the photo's own features, computed only as deep as a content layer (none without a
    /// content loss).
    private func contentTargets(_ photo: FeatureMap) -> [String: ContentLoss] {
        guard let contentDepth, let vgg else { return [:] }
        vgg.forward(picture: photo, through: contentDepth)
        return Dictionary(uniqueKeysWithValues: settings.contentLayers.map { ($0, ContentLoss(target: vgg.output($0))) })
    }

    /// The network's picture of `photo`, both 0…1 (the network itself works on 0…255; VGG sees 0…1).
    private func networkPicture(_ photo: FeatureMap) -> FeatureMap {
        networkInput = photo
        for i in networkInput.values.indices { networkInput.values[i] *= 255 }
        var y = network.forward(networkInput)
        for i in y.values.indices { y.values[i] /= 255 }
        return y
    }

    /// The optimiser's state for a checkpoint: per parameter array (in `visitParameters` order) its Adam step
    /// and moments.
    public func optimizerState() -> [(name: String, step: Int, first: [Float], second: [Float])] {
        var out: [(String, Int, [Float], [Float])] = []
        network.visitParameters { name, _, _ in
            let a = optimizers[name]!
            out.append((name, a.step, a.firstMoment, a.secondMoment))
        }
        return out
    }

    /// Restores `optimizerState()` and the step count of a checkpoint.
    public func restore(steps: Int, optimizerState: [(name: String, step: Int, first: [Float], second: [Float])]) {
        self.steps = steps
        for entry in optimizerState { optimizers[entry.name]?.restore(step: entry.step, firstMoment: entry.first, secondMoment: entry.second) }
    }
}
