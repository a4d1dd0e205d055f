import ArgumentParser
import Decode
import Foundation
import Pipeline
import Stylize
import Training

/// `streamd eval quality`: how good a model's pictures are, side by side with other models' on the same photos
/// and the same painting, by measures a person would agree with (`PictureQuality`): how much of each photo's
/// structure survives, how close the colours come to the painting's, and the style loss `train` minimises. The
/// first row is the photos themselves, for scale.
struct EvalQualityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Picture quality of one or more models on the same photos: structure kept, colour distance to the painting, style loss.",
        discussion: """
        structure: correlation of the blurred edge maps of photo and result (1 = every edge kept, 0 = none). \
        colour: sliced Wasserstein distance of the result's colours to the painting's in CIELAB units (the photos' \
        own distance is the first row's). style: the style loss of `streamd train` (Gram matrices of VGG19 \
        relu1_2, relu2_2, relu3_4, relu4_4 against the painting, weight 1e10). Means over the photos. \
        Give each model as --model M, or M#STYLE for one style of a multi-style model (a name or an index); a network that takes any painting (arbitrary) paints with --style-image.
        """
    )

    @Option(name: .customLong("model"), help: "A model to measure (repeat for several): a path or name, M#STYLE for one of its styles.")
    var models: [String] = []

    @Option(name: .customLong("style-image"), help: "The painting the models' pictures are measured against.")
    var styleImage: String

    @Option(name: .customLong("style-size"), help: "Longer side of the painting for the style loss (default: 512).")
    var styleSize: Int = 512

    @Option(name: .customLong("max-size"), help: "Resize each photo so its longer side is at most N pixels first.")
    var maxSize: Int = 512

    @Flag(help: "Print one JSON object (per-model means and per-photo values) instead of a table.")
    var json = false

    /// --threads, --loss-network and --models-dir (searched first for the models and the loss network).
    @OptionGroup var loss: LossNetworkOptions

    @Argument(help: "Photos, or folders searched for them (held out: not those the models were trained on).")
    var photos: [String]

    func validate() throws {
        if models.isEmpty { throw ValidationError("give at least one --model") }
        if photos.isEmpty { throw ValidationError("give at least one photo") }
        if maxSize < 32 { throw ValidationError("--max-size must be at least 32") }
        if !(16...8192).contains(styleSize) { throw ValidationError("--style-size must be between 16 and 8192") }
    }

    func run() async throws {
        try await runReportingErrors {
            let command = self
            try await onThread("eval-quality") { try command.measure() }
        }
    }

    struct Scores: Encodable {
        var structure: Double, colour: Double, style: Double
    }

    struct Row: Encodable {
        var model: String
        var mean: Scores
        var photos: [String: Scores]
    }

    private func measure() throws {
        FFmpegLog.setQuiet()
        let files = try heldOutPhotoFiles(photos)
        let library = ModelLibrary.standard(modelsDir: loss.modelsDir)
        let subjects: [(label: String, stylizer: Stylizer, options: StyleOptions)] = try models.map { spec in
            let (name, style) = Self.split(spec)
            do {
                let model = try ModelLoader.load(path: try library.resolve(name))
                if model.info.styleEmbeddingSize != nil {
                    // A network that takes any painting paints with the one measured against.
                    guard style == nil else { throw ValidationError("model \(model.info.name) takes any painting: its style is --style-image, not #\(style!)") }
                    let embedding = try StylePredictor.builtin(threads: loss.threads).embedding(ofPaintingAt: styleImage)
                    return (spec, try Stylizer(model: model, threads: loss.threads), StyleOptions(styleWeights: embedding))
                }
                let weights = try StyleChoice(name: style.flatMap { Int($0) == nil ? $0 : nil }, index: style.flatMap { Int($0) }, mix: nil)
                    .weights(styleNames: model.info.styleNames)
                return (spec, try Stylizer(model: model, threads: loss.threads), StyleOptions(styleWeights: weights, strength: 1, preserveColor: false))
            } catch {
                // The error names the file when the file is the problem; a style's does not name the model.
                let text = oneLine(error)
                throw ValidationError(text.contains(name) ? text : "--model \(spec): \(text)")
            }
        }
        let painting = try ImageDecoder.decode(path: styleImage)
        let settings = try PerceptualLossOptions.parse([]).settings()
        let context = TrainingContext(threads: loss.threads)
        let vgg = try VGG19LossNetwork(path: try loss.resolve(), deepest: settings.deepestLayer, context: context)
        let meter = PerceptualLossMeter(vgg: vgg, style: try stylePicture(styleImage, longerSide: styleSize), settings: settings, context: context)

        var rows = [Row(model: "(the photos themselves)", mean: Scores(structure: 0, colour: 0, style: 0), photos: [:])]
            + subjects.map { Row(model: $0.label, mean: Scores(structure: 0, colour: 0, style: 0), photos: [:]) }
        for file in files {
            let photo = try heldOutPhoto(file, maxSize: maxSize)
            let pictures = [photo] + (try subjects.map { try $0.stylizer.stylize(photo, options: $0.options) })
            let features = FeatureMap(picture: photo)
            for (i, picture) in pictures.enumerated() {
                let losses = meter.measure(photo: features, stylized: FeatureMap(picture: picture))
                // Keyed by the path as found: two folders may both hold an `image01.jpg`.
                rows[i].photos[file] = Scores(structure: PictureQuality.structure(photo: photo, result: picture),
                                              colour: PictureQuality.colourDistance(picture, painting), style: losses.style)
            }
            if !json { FileHandle.standardError.write(Data("streamd: measured \(file)\n".utf8)) }
        }
        for i in rows.indices {
            let n = Double(rows[i].photos.count)
            let values = rows[i].photos.values
            rows[i].mean = Scores(structure: values.map(\.structure).reduce(0, +) / n, colour: values.map(\.colour).reduce(0, +) / n,
                                  style: values.map(\.style).reduce(0, +) / n)
        }
        if json {
            struct Report: Encodable { var painting: String; var photos: Int; var rows: [Row] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(Report(painting: styleImage, photos: files.count, rows: rows)), as: UTF8.self))
            return
        }
        let width = max(24, rows.map(\.model.count).max() ?? 0)
        print("\(files.count) photo(s) at most \(maxSize) px, against \((styleImage as NSString).lastPathComponent)")
        print("model".padding(toLength: width, withPad: " ", startingAt: 0) + "  structure  colour ΔE  style loss")
        for row in rows {
            print(row.model.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: "  %9.3f  %9.1f  %10.3g", row.mean.structure, row.mean.colour, row.mean.style))
        }
    }

    /// `M#STYLE` → (M, STYLE); a model with no `#` → (M, nil).
    static func split(_ spec: String) -> (model: String, style: String?) {
        guard let hash = spec.lastIndex(of: "#") else { return (spec, nil) }
        return (String(spec[..<hash]), String(spec[spec.index(after: hash)...]))
    }
}
