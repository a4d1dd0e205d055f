/// The training losses of a finished picture: how far a stylized photo is from its photo (content) and from a
/// style picture (style), weighted exactly as `PerceptualTrainer` weights them for one photo. Networks trained
/// with the same settings are compared by it on photos none of them saw: lower is closer to what training
/// asked for, and the numbers are on the scale of the training log's.
public final class PerceptualLossMeter {
    public let settings: PerceptualTrainer.Settings
    private let vgg: VGG19LossNetwork
    private let styleLosses: [String: StyleLoss]
    private let contentDepth: String?
    /// Scratch for the losses' gradients, which the meter does not use.
    private var scratch = FeatureMap()

    /// `style` is an RGB 0…1 picture; `vgg` must reach the deepest layer of `settings`.
    public init(vgg: VGG19LossNetwork, style: FeatureMap, settings: PerceptualTrainer.Settings, context: TrainingContext) {
        self.vgg = vgg
        self.settings = settings
        contentDepth = VGG19LossNetwork.layerNames.last { settings.contentLayers.contains($0) }
        vgg.forward(picture: style)
        styleLosses = Dictionary(uniqueKeysWithValues: settings.styleLayers.map { ($0, StyleLoss(target: vgg.output($0), context: context)) })
    }

    /// The losses of `stylized` as the stylization of `photo` (both RGB 0…1, the same size).
    public func measure(photo: FeatureMap, stylized: FeatureMap) -> PerceptualTrainer.Losses {
        precondition(photo.channels == 3 && stylized.channels == 3 && photo.height == stylized.height && photo.width == stylized.width,
                     "the photo and its stylization must be 3-channel pictures of one size")
        let s2 = 1 / (settings.featureScale * settings.featureScale)
        var targets: [String: ContentLoss] = [:]
        if let contentDepth {
            vgg.forward(picture: photo, through: contentDepth)
            targets = Dictionary(uniqueKeysWithValues: settings.contentLayers.map { ($0, ContentLoss(target: vgg.output($0))) })
        }
        vgg.forward(picture: stylized)
        var losses = PerceptualTrainer.Losses()
        for name in Set(settings.contentLayers).union(settings.styleLayers) {
            let features = vgg.output(name)
            scratch.reshape(channels: features.channels, height: features.height, width: features.width)
            if let content = targets[name] {
                losses.content += content.evaluate(features, weight: settings.lambdaContent * s2, addingGradientTo: &scratch)
            }
            if let style = styleLosses[name] {
                losses.style += style.evaluate(features, weight: settings.lambdaStyle * s2 * s2, addingGradientTo: &scratch)
            }
        }
        return losses
    }
}
