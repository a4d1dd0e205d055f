import ArgumentParser
import Decode
import Encode
import Foundation
import Pipeline
import Stylize
import Training

/// `streamd train`: learns a feed-forward style network from a style picture and a folder of photos (Johnson et
/// al.'s perceptual losses), with the options of pytorch/examples' `fast_neural_style/train.py`.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a style network on a folder of photos and one or more style pictures.",
        discussion: """
        The result (--out) is a native model file that `image`, `transcode` and `serve` use at once. Checkpoints \
        (a folder each: model, optimiser state, data position) go to --checkpoint-dir every --checkpoint-interval \
        steps, on Ctrl-C or SIGTERM (then it stops) and on SIGUSR1 (then it goes on); --checkpoint-model resumes \
        from one, --resume from the latest in --checkpoint-dir, with the same weights an uninterrupted run \
        would have. Losses follow pytorch/examples' conventions (see README "Training").
        """
    )

    @Option(name: .customLong("dataset-path"), help: "Folder of training photos (searched recursively: JPEG, PNG, WebP, BMP).")
    var datasetPath: String

    @Option(name: .customLong("style-image"), help: "Style picture; repeat for a multi-style network (conditional instance norm). With a --teacher that takes paintings, the paintings it paints with.")
    var styleImages: [String] = []

    @Option(help: "Distil this model (a name or path): the network learns the teacher's pictures of the photos (a pixel loss; perceptual terms only if their lambdas are given). A teacher that takes paintings paints with each --style-image; another teaches its own styles. Default: the built-in arbitrary-style network, unless --lambda-content or --lambda-style is given; 'none' trains with the perceptual losses alone.")
    var teacher: String?

    @Flag(name: .customLong("any-painting"),
          help: "Train a network that takes any painting, as the teacher does (its norms follow the painting's style embedding): it learns the teacher's pictures in the styles of every --style-image and --style-folder picture, of random crops of them and of blends between them. Run it with --style-image like the built-in 'arbitrary', at the cost of a light network.")
    var anyPainting = false

    @Option(name: .customLong("style-folder"), help: "With --any-painting: more pictures to draw styles from (every JPEG, PNG, WebP and BMP below the folder).")
    var styleFolder: String?

    @Option(name: .customLong("style-crops"), help: "With --any-painting: random crops of each picture whose styles are learnt too.")
    var styleCrops: Int = 2

    @Option(name: .customLong("style-blends"), help: "With --any-painting: blends between two of the pictures' and crops' styles learnt too (default: as many as those).")
    var styleBlends: Int?

    @Option(name: .customLong("lambda-pixel"), help: "Weight of the pixel loss against the teacher's pictures (default 1 with a --teacher).")
    var lambdaPixel: Double?

    @Option(name: .customLong("lambda-colour"), help: "Weight of the colour loss: how far the picture's colours are from the --style-image's as distributions (a sliced Wasserstein distance, the measure `eval quality` reports as colour; default 0).")
    var lambdaColour: Double = 0

    @Option(name: .customLong("style-names"), help: "Names of the styles, comma-separated (default: the style pictures' file names).")
    var styleNames: String?

    @Option(help: "Output model file (.safetensors).")
    var out: String

    @Option(help: "Architecture: light (half width, 3 depthwise-separable residual blocks; real time on two cores) or johnson (TransformerNet, ten times the cost).")
    var arch: TrainArchitecture = .light

    @Option(name: .customLong("width-multiplier"), help: "Scale the architecture's channel widths (johnson: 32/64/128).")
    var widthMultiplier: Double?

    @Option(name: .customLong("residual-blocks"), help: "Residual blocks (default: johnson 5, light 3).")
    var residualBlocks: Int?

    @Flag(name: .customLong("depthwise-residual"), inversion: .prefixedNo,
          help: "Depthwise-separable residual convolutions (default: on for light, off for johnson).")
    var depthwiseResidual: Bool?

    @Flag(name: .customLong("depthwise-sampling"), inversion: .prefixedNo,
          help: "Depthwise-separable stride-2 and upsampling convolutions too (default: off): a much cheaper decoder.")
    var depthwiseSampling: Bool?

    @Option(name: .customLong("edge-kernel"), help: "Kernel of the first and last convolution (default 9; 5 or 3 make a light network much cheaper).")
    var edgeKernel: Int?

    @Flag(name: .customLong("strided-edges"), inversion: .prefixedNo,
          help: "Stride-2 first convolution and an upsampling last one (default: off): no full-resolution feature maps, the residual blocks still at 1/4.")
    var stridedEdges: Bool?

    @Flag(name: .customLong("output-tanh"), inversion: .prefixedNo,
          help: "Bound the output with 150·tanh + 127.5 (Engstrom's form; default: on for light, off for johnson).")
    var outputTanh: Bool?

    @Option(help: "Passes over the dataset (default: as many as --max-steps needs).")
    var epochs: Int?

    @Option(name: .customLong("max-steps"),
            help: "Train this many optimiser steps, going over the photos as often as that takes (with --epochs: whichever ends first; with neither, \(TrainCommand.defaultSteps)).")
    var maxSteps: Int?

    @Option(name: .customLong("batch-size"), help: "Photos per optimiser step.")
    var batchSize: Int = 4

    @Option(name: .customLong("image-size"), help: "Training crops are N×N (a multiple of 4).")
    var imageSize: Int = 256

    @Option(name: .customLong("style-size"), help: "Longer side of the style pictures (default: as they are).")
    var styleSize: Int?

    @OptionGroup var perceptual: PerceptualLossOptions

    @Option(name: .customLong("style-balance"),
            help: "Without --lambda-style (and without a teacher): the style weight is set at the first step so that the style loss pulls this many times as hard as the content loss (their gradients' norms on the first photo).")
    var styleBalance: Double = 5

    @Option(name: .customLong("lambda-tv"), help: "Weight of the total-variation loss.")
    var lambdaTV: Double = 0

    @Option(name: .customLong("temporal-weight"),
            help: "Weight of the temporal loss (0: off): each photo's output must follow it when moved a few pixels with noise added, for steady video.")
    var temporalWeight: Double = 0

    @Option(name: .customLong("temporal-shift"), help: "Largest move in pixels of the temporal loss's second frame.")
    var temporalShift: Int = 4

    @Option(name: .customLong("temporal-noise"), help: "Noise of the temporal loss's second frame (standard deviation, pixels in 0…1).")
    var temporalNoise: Double = 0.02

    @Option(help: "Adam learning rate.")
    var lr: Double = 1e-3

    @Option(name: .customLong("checkpoint-model"), help: "Resume from this checkpoint folder.")
    var checkpointModel: String?

    @Flag(help: "Resume from the latest checkpoint in the checkpoint folder if there is one (else start): the same command line goes on where a killed, preempted or requeued run stopped, on any machine that sees the folder.")
    var resume = false

    @Option(name: .customLong("checkpoint-dir"), help: "Where checkpoints and the loss log go (default: OUT without extension + -checkpoints).")
    var checkpointDir: String?

    @Option(name: .customLong("checkpoint-interval"), help: "Write a checkpoint every N steps.")
    var checkpointInterval: Int = 2000

    @Option(name: .customLong("sample-interval"), help: "Stylize the sample photos every N steps (0: never).")
    var sampleInterval: Int = 1000

    @Option(help: "Seed of the initial weights, the data order and the crops.")
    var seed: UInt64 = 42

    @OptionGroup var loss: LossNetworkOptions

    @Flag(help: "Replace --out if it exists.")
    var overwrite = false

    func validate() throws {
        if styleImages.isEmpty && teacherName == nil { throw ValidationError("give at least one --style-image (or a --teacher to distil)") }
        if let lambdaPixel, !(lambdaPixel >= 0 && lambdaPixel.isFinite) { throw ValidationError("--lambda-pixel must be a number ≥ 0") }
        if !(styleBalance > 0 && styleBalance.isFinite) { throw ValidationError("--style-balance must be a positive number") }
        if lambdaPixel != nil && teacherName == nil { throw ValidationError("--lambda-pixel needs a --teacher") }
        if !(lambdaColour >= 0 && lambdaColour.isFinite) { throw ValidationError("--lambda-colour must be a number ≥ 0") }
        if lambdaColour > 0 && styleImages.isEmpty { throw ValidationError("--lambda-colour needs the --style-image paintings") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let widthMultiplier, !(widthMultiplier > 0 && widthMultiplier <= 4) { throw ValidationError("--width-multiplier must be in (0, 4]") }
        if let residualBlocks, !(0...16).contains(residualBlocks) { throw ValidationError("--residual-blocks must be between 0 and 16") }
        if let edgeKernel, !(edgeKernel >= 1 && edgeKernel <= 11 && edgeKernel % 2 == 1) { throw ValidationError("--edge-kernel must be odd, between 1 and 11") }
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if imageSize < 16 || imageSize % 4 != 0 || imageSize > 4096 { throw ValidationError("--image-size must be a multiple of 4 between 16 and 4096") }
        if let styleSize, !(16...8192).contains(styleSize) { throw ValidationError("--style-size must be between 16 and 8192") }
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number") }
        if checkpointInterval < 1 { throw ValidationError("--checkpoint-interval must be at least 1") }
        if sampleInterval < 0 { throw ValidationError("--sample-interval must be 0 or more") }
        if !(0...64).contains(temporalShift) { throw ValidationError("--temporal-shift must be between 0 and 64 pixels") }
        if !(temporalNoise >= 0 && temporalNoise <= 1) { throw ValidationError("--temporal-noise must be between 0 and 1") }
        for (name, v) in [("--lambda-tv", lambdaTV), ("--temporal-weight", temporalWeight)] where !(v >= 0 && v.isFinite) {
            throw ValidationError("\(name) must be a number ≥ 0")
        }
        if teacherName == nil { _ = try names(defaults: nil) }
        if anyPainting {
            if (perceptual.lambdaStyle ?? 0) > 0 { throw ValidationError("--any-painting learns from the teacher alone: it takes no --lambda-style") }
            guard teacherName != nil else { throw ValidationError("--any-painting distils a teacher that takes paintings (the built-in arbitrary by default): not with --teacher none or perceptual lambdas alone") }
            if styleImages.isEmpty && styleFolder == nil { throw ValidationError("--any-painting needs pictures to draw styles from: --style-image or --style-folder") }
            if !(0...64).contains(styleCrops) { throw ValidationError("--style-crops must be between 0 and 64") }
            if let styleBlends, !(0...100_000).contains(styleBlends) { throw ValidationError("--style-blends must be between 0 and 100000") }
            if styleNames != nil { throw ValidationError("--style-names names fixed styles; a network that takes any painting has none") }
        } else if styleFolder != nil || styleBlends != nil {
            throw ValidationError("--style-folder and --style-blends are for --any-painting")
        }
    }

    /// The teacher actually used: --teacher, except `none`; without it, the built-in arbitrary-style network
    /// unless perceptual weights were given (a newcomer's `train --dataset-path P --style-image S` distils, which
    /// reaches a recognisable network in minutes; the perceptual losses need hours and tuning).
    var teacherName: String? {
        if let teacher { return teacher == "none" ? nil : teacher }
        return perceptual.lambdaContent == nil && perceptual.lambdaStyle == nil ? BuiltinModels.arbitraryName : nil
    }

    /// Steps of a run that gives neither --epochs nor --max-steps.
    static let defaultSteps = 1000

    /// The styles' names: --style-names, else `defaults` (a fixed-style teacher's), else the style pictures' file names.
    func names(defaults: [String]?) throws -> [String] {
        let fallback = defaults ?? styleImages.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
        guard let styleNames else { return fallback }
        let names = styleNames.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard names.count == fallback.count, names.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("--style-names '\(styleNames)': give \(fallback.count) names separated by commas")
        }
        return names
    }

    /// A distillation: the teacher painting a photo in each style index of the student, the styles' names, and
    /// for an `--any-painting` student the embedding of each style index.
    struct Distillation {
        var teacher: TeacherPictures
        var names: [String]
        var description: String
        var embeddings: [[Float]]?
    }

    /// The distillation teacher: how it paints a photo in each student style, and the styles' default names.
    func makeTeacher(threads: Int) throws -> Distillation? {
        guard let teacher = teacherName else { return nil }
        let model = try ModelLoader.load(path: try ModelLibrary.standard(modelsDir: loss.modelsDir).resolve(teacher))
        let stylizer = try Stylizer(model: model, threads: threads)
        var options: [StyleOptions]
        var names: [String]
        var embeddings: [[Float]]?
        if model.info.styleEmbeddingSize != nil {
            let predictor = try StylePredictor.builtin(threads: threads)
            if anyPainting {
                let folderPictures: [String]
                do { folderPictures = try styleFolder.map(TrainingEmbeddings.pictures(inFolder:)) ?? [] } catch {
                    throw ValidationError("--style-folder \(error)")
                }
                let pictures = styleImages + folderPictures
                let drawn = pictures.count * (1 + styleCrops)
                let styles = try TrainingEmbeddings.sample(pictures: pictures, crops: styleCrops, blends: styleBlends ?? drawn, seed: seed,
                                                           predictor: predictor)
                guard styles.count >= 2 else { throw ValidationError("--any-painting needs at least two styles to learn from: give more pictures or --style-crops") }
                embeddings = styles.map(\.embedding)
                names = styles.map(\.name)
                note("streamd: \(styles.count) styles: \(pictures.count) pictures, \(pictures.count * styleCrops) crops of them, \(styles.count - drawn) blends")
            } else {
                guard !styleImages.isEmpty else { throw ValidationError("teacher \(model.info.name) takes any painting: give the paintings with --style-image") }
                embeddings = try styleImages.map(predictor.embedding(ofPaintingAt:))
                names = styleImages.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
            }
            options = embeddings!.map { StyleOptions(styleWeights: $0) }
        } else {
            if anyPainting { throw ValidationError("--any-painting needs a teacher that takes any painting; \(model.info.name) has fixed styles") }
            guard styleImages.isEmpty || (perceptual.lambdaStyle ?? 0) > 0 else {
                throw ValidationError("teacher \(model.info.name) teaches its own styles: --style-image is only for a teacher that takes paintings (or a --lambda-style)")
            }
            let count = max(1, model.info.styleCount)
            options = (0..<count).map { i in StyleOptions(styleWeights: count > 1 ? (0..<count).map { $0 == i ? 1 : 0 } : nil) }
            names = model.info.styleNames.isEmpty ? [model.info.name] : model.info.styleNames
        }
        let paint: TeacherPictures.Paint = { photo, style in try stylizer.stylize(photo, options: options[style]) }
        return Distillation(teacher: TeacherPictures(paint: paint), names: names, description: "distilled from \(model.info.name)",
                            embeddings: anyPainting ? embeddings : nil)
    }

    /// Fewer photos than this get a warning. Johnson et al. trained on 80,000 photos; the built-in model's recipe
    /// uses the Kodak suite's 24, which passes.
    static let fewPhotos = 20

    /// Passes over the dataset the loader makes, optimiser steps, and the passes to show in the progress line
    /// (nil: as many as the steps take). `--max-steps` alone repeats the photos as often as it takes (as many
    /// passes as steps at most: a pass makes at least one step while any photo decodes, and undecodable ones are
    /// only found while loading); `--epochs` alone trains whole passes; both: whichever ends first; neither:
    /// `defaultSteps`, as if given as --max-steps (one pass over a few dozen photos teaches nothing).
    static func plan(epochs: Int?, maxSteps: Int?, stepsPerEpoch: Int) -> (passes: Int, steps: Int, shownPasses: Int?) {
        if epochs == nil { let steps = maxSteps ?? defaultSteps; return (steps, steps, nil) }
        let passes = epochs ?? 1
        return (passes, min(maxSteps ?? Int.max, passes * stepsPerEpoch), passes)
    }

    func run() async throws {
        try await runReportingErrors {
            let command = self
            try await onThread("train") { try command.train() }
        }
    }

    private func train() throws {
        FFmpegLog.setQuiet()
        try OutputPath.check(out, overwrite: overwrite, extensions: ["safetensors"])
        let dataset: PhotoDataset
        do { dataset = try PhotoDataset(root: datasetPath) } catch { throw ValidationError("--dataset-path \(error)") }
        let distillation = try makeTeacher(threads: loss.threads)
        // An --any-painting student's "styles" are its training embeddings; it exports none.
        let trainingEmbeddings = distillation?.embeddings
        let styleNames = trainingEmbeddings != nil ? distillation!.names : try names(defaults: distillation?.names)
        var settings = try perceptual.settings(distilling: distillation != nil)
        settings.lambdaPixel = distillation == nil ? 0 : (lambdaPixel ?? 1)
        settings.lambdaColour = lambdaColour
        let styles = settings.lambdaStyle == 0 && lambdaColour == 0 ? [] : try styleImages.map { try stylePicture($0, longerSide: styleSize) }
        settings.lambdaTV = lambdaTV
        settings.temporalWeight = temporalWeight
        settings.temporalShift = temporalShift
        settings.temporalNoise = temporalNoise
        settings.learningRate = lr
        let context = TrainingContext(threads: loss.threads)
        // A pure distillation needs no loss network (a step is the student's forward and backward only).
        let vgg = settings.needsLossNetwork ? try VGG19LossNetwork(path: try loss.resolve(), deepest: settings.deepestLayer, context: context) : nil
        var architecture = arch.architecture(styles: trainingEmbeddings == nil ? styleNames.count : 1)
        if let trainingEmbeddings { architecture.styleEmbedding = trainingEmbeddings[0].count }
        if let widthMultiplier {
            architecture.widths = StyleNetworkArchitecture.johnson().widths.map { max(1, Int((Double($0) * widthMultiplier).rounded())) }
        }
        if let residualBlocks { architecture.residualBlocks = residualBlocks }
        if let depthwiseResidual { architecture.depthwiseResidual = depthwiseResidual }
        if let depthwiseSampling { architecture.depthwiseSampling = depthwiseSampling }
        if let edgeKernel { architecture.edgeKernel = edgeKernel }
        if let outputTanh { architecture.outputTanh = outputTanh }
        if let stridedEdges { architecture.stridedEdges = stridedEdges }
        let network = StyleNetwork(architecture: architecture, seed: seed, context: context)
        let trainer = PerceptualTrainer(network: network, vgg: vgg, styles: styles, settings: settings, context: context,
                                        styleMixes: trainingEmbeddings?.map(StyleNetwork.mix(embedding:)))
        func styleIndex(_ sample: TrainingSample) -> Int {
            trainingEmbeddings == nil ? (sample.epoch * dataset.files.count + sample.position) % styleNames.count
                : TrainingEmbeddings.styleIndex(epoch: sample.epoch, position: sample.position, seed: seed, count: styleNames.count)
        }

        let checkpoints = checkpointDir ?? ((out as NSString).deletingPathExtension + "-checkpoints")
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        var startEpoch = 0, startPosition = 0
        // The perceptual losses without a given style weight: balanced against the content loss at the first step.
        let balancing = distillation == nil && perceptual.lambdaStyle == nil && settings.lambdaContent > 0
        let checkpointModel = self.checkpointModel ?? (resume ? TrainingCheckpoint.latest(in: checkpoints) : nil)
        if let checkpointModel {
            let checkpoint = try TrainingCheckpoint.read(checkpointModel)
            if balancing { trainer.restoreStyleWeight(checkpoint.settings.lambdaStyle) }
            guard checkpoint.imageSize == imageSize, checkpoint.seed == seed else {
                throw ValidationError("\(checkpointModel): trained with --image-size \(checkpoint.imageSize) --seed \(checkpoint.seed); resume with the same values")
            }
            try checkpoint.restore(into: trainer, from: checkpointModel)
            startEpoch = checkpoint.epoch
            startPosition = checkpoint.position + 1
            if startPosition >= dataset.files.count { startEpoch += 1; startPosition = 0 }
            note("streamd: resuming \(checkpointModel) at step \(checkpoint.steps), epoch \(startEpoch + 1), photo \(startPosition + 1)")
        }
        let stepsPerEpoch = (dataset.files.count + batchSize - 1) / batchSize
        let (passes, plannedSteps, shownPasses) = Self.plan(epochs: epochs, maxSteps: maxSteps, stepsPerEpoch: stepsPerEpoch)
        if let epochs, let maxSteps, plannedSteps < maxSteps {
            note("streamd: --epochs \(epochs) ends after \(plannedSteps) steps, before --max-steps \(maxSteps)")
        }
        if dataset.files.count < Self.fewPhotos {
            note("streamd: warning: only \(dataset.files.count) photos: the network sees the same few pictures over and over and may learn them rather than the style (a few hundred varied photos work best)")
        }
        note("streamd: training \(architecture.name) (\(network.parameterCount) parameters, \(architecture.multiplyAddsPerPixel) multiply-adds per pixel) on \(dataset.files.count) photos, \(plannedSteps) steps of \(batchSize)"
             + (distillation.map { ", \($0.description)" + (teacher == nil ? " (the default; --teacher none trains with the perceptual losses alone)" : "") } ?? ""))

        let log = TrainingLog(path: (checkpoints as NSString).appendingPathComponent("loss.csv"), resume: checkpointModel != nil,
                              temporal: settings.temporalWeight > 0, pixel: distillation != nil, colour: settings.lambdaColour > 0)
        let samples = try sampleInterval > 0 ? SamplePhotos(dataset: dataset, size: imageSize, folder: (checkpoints as NSString).appendingPathComponent("samples")) : nil
        let interrupted = InterruptSignals()
        defer { interrupted.cancel() }
        // SIGUSR1 (a scheduler's warning before it stops or preempts the job): a checkpoint now, then go on.
        let checkpointRequests = SignalRequests(SIGUSR1)
        defer { checkpointRequests.cancel() }
        let loader = PhotoLoader(dataset: dataset, size: imageSize, seed: seed, epochs: passes, epoch: startEpoch, position: startPosition,
                                 capacity: 2 * batchSize)
        defer { loader.stop() }
        // The styles the sample pictures show: each fixed style, or an --any-painting student's first pictures.
        let sampleMixes = trainingEmbeddings.map { e in e.prefix(3).map(StyleNetwork.mix(embedding:)) }
            ?? (0..<styleNames.count).map { StyleNetwork.mix(style: $0, of: styleNames.count) }
        let progress = StepProgress(total: plannedSteps)
        let startStep = trainer.steps
        var last: (epoch: Int, position: Int) = (startEpoch, startPosition - 1)
        var pending: TrainingSample?
        var stepSeconds = 0.0
        func checkpoint(_ name: String) throws {
            try TrainingCheckpoint.write(trainer, epoch: last.epoch, position: last.position, seed: seed, imageSize: imageSize,
                                         styleNames: styleNames, to: (checkpoints as NSString).appendingPathComponent(name))
        }
        if balancing && checkpointModel == nil, let first = loader.queue.receive() {
            pending = first
            let weight = trainer.balanceStyle(on: first.picture, styleIndex: styleIndex(first), balance: styleBalance)
            note(String(format: "streamd: style weight %.4g: the style loss pulls %g times as hard as the content loss at the start (--style-balance; --lambda-style sets it)", weight, styleBalance))
        }
        while trainer.steps < plannedSteps && !interrupted.isSet {
            // One batch: consecutive photos of one epoch.
            var batch: [TrainingSample] = []
            if let p = pending { batch.append(p); pending = nil }
            while batch.count < batchSize, let sample = loader.queue.receive() {
                if let first = batch.first, sample.epoch != first.epoch { pending = sample; break }
                batch.append(sample)
            }
            if batch.isEmpty { break }
            let styleIndices = batch.map(styleIndex)
            let stepStarted = Date()
            let targets = try distillation.map { d in try zip(batch, styleIndices).map { try d.teacher.target(for: $0, style: $1) } }
            let losses = trainer.step(batch.map(\.picture), styleIndices: styleIndices, targets: targets)
            stepSeconds += Date().timeIntervalSince(stepStarted)
            last = (batch.last!.epoch, batch.last!.position)
            guard losses.total.isFinite else {
                throw ValidationError("the loss became \(losses.total) at step \(trainer.steps): lower --lr or the lambdas")
            }
            log.append(step: trainer.steps, epoch: last.epoch + 1, losses: losses)
            progress.update(step: trainer.steps, stepsDone: trainer.steps - startStep) { rate, eta in
                String(format: "epoch %@  loss %.4g (%@content %.3g, style %.3g, tv %.3g%@%@)  %.2f images/s  ETA %@",
                       shownPasses.map { "\(last.epoch + 1)/\($0)" } ?? "\(last.epoch + 1)", losses.total,
                       distillation != nil ? String(format: "pixel %.3g, ", losses.pixel) : "", losses.content, losses.style, losses.totalVariation,
                       settings.temporalWeight > 0 ? String(format: ", temporal %.3g", losses.temporal) : "",
                       settings.lambdaColour > 0 ? String(format: ", colour %.3g", losses.colour) : "", rate * Double(batchSize), eta)
            }
            if trainer.steps % checkpointInterval == 0 {
                try checkpoint("step-\(trainer.steps)")
            } else if checkpointRequests.take() {
                try checkpoint("step-\(trainer.steps)")
                note("streamd: checkpoint at step \(trainer.steps) on SIGUSR1: \((checkpoints as NSString).appendingPathComponent("step-\(trainer.steps)"))")
            }
            if let samples, trainer.steps % sampleInterval == 0 { try samples.write(network, step: trainer.steps, mixes: sampleMixes) }
        }
        progress.finish()
        if !loader.skipped.isEmpty {
            note("streamd: skipped \(loader.skipped.count) undecodable photo(s), first \(loader.skipped[0])")
        }
        let model = network.export(name: ((out as NSString).lastPathComponent as NSString).deletingPathExtension,
                                   styleNames: trainingEmbeddings == nil ? styleNames : [],
                                   notes: "trained by streamd train (\(architecture.name), \(trainer.steps) steps of \(batchSize) at \(imageSize)px, "
                                       + (distillation.map { $0.description + (styleImages.isEmpty ? "" : ", ") } ?? "")
                                       + (styleImages.isEmpty ? "" : "style: \(styleImages.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))") + ")")
        // The last step always has a checkpoint, so a finished run can be resumed for more steps too.
        if trainer.steps > startStep && trainer.steps % checkpointInterval != 0 { try checkpoint("step-\(trainer.steps)") }
        if interrupted.isSet {
            note("streamd: interrupted at step \(trainer.steps); checkpoint \((checkpoints as NSString).appendingPathComponent("step-\(trainer.steps)")) (resume with --checkpoint-model)")
            throw ExitCode(130)
        }
        try NativeModelFile.write(model, to: out)
        let done = trainer.steps - startStep
        note(String(format: "streamd: wrote %@ after %d steps in %@ (%.3f s/step, %.2f images/s)", out, trainer.steps, formatDuration(progress.elapsed),
                    stepSeconds / Double(max(done, 1)), Double(done * batchSize) / max(stepSeconds, 1e-6)))
    }
}

enum TrainArchitecture: String, ExpressibleByArgument, CaseIterable {
    case johnson, light
    func architecture(styles: Int) -> StyleNetworkArchitecture {
        self == .johnson ? .johnson(styles: styles) : .light(styles: styles)
    }
}

/// The loss log beside the checkpoints: one CSV line per step.
final class TrainingLog {
    private let handle: FileHandle?
    /// Columns after the base ones, each only in runs that have the term (so older logs resume unchanged): a
    /// `temporal` column with a temporal loss, `pixel` in distillations, `colour` with a colour loss.
    private let temporal: Bool
    private let pixel: Bool
    private let colour: Bool

    init(path: String, resume: Bool, temporal: Bool, pixel: Bool = false, colour: Bool = false) {
        self.temporal = temporal
        self.pixel = pixel
        self.colour = colour
        let base = "step,epoch,content,style,tv,total,unix_time"
        let header = base + (temporal ? ",temporal" : "") + (pixel ? ",pixel" : "") + (colour ? ",colour" : "")
        if !resume || !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: Data((header + "\n").utf8))
        } else if let text = try? String(contentsOfFile: path, encoding: .utf8), let end = text.firstIndex(of: "\n") {
            // A run resumed with a term switched on (the built-in model's later phases): the header gains the
            // column; the earlier lines simply end before it.
            let old = String(text[..<end])
            let widened = temporal && old == base ? base + ",temporal" : old
            let grown = colour && !widened.hasSuffix(",colour") && header.hasPrefix(widened + ",") ? header : widened
            if grown != old { try? (grown + text[end...]).write(toFile: path, atomically: true, encoding: .utf8) }
        }
        handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
    }

    func append(step: Int, epoch: Int, losses: PerceptualTrainer.Losses) {
        var line = String(format: "%d,%d,%.6g,%.6g,%.6g,%.6g,%.3f", step, epoch, losses.content, losses.style, losses.totalVariation,
                          losses.total, Date().timeIntervalSince1970)
        if temporal { line += String(format: ",%.6g", losses.temporal) }
        if pixel { line += String(format: ",%.6g", losses.pixel) }
        if colour { line += String(format: ",%.6g", losses.colour) }
        try? handle?.write(contentsOf: Data((line + "\n").utf8))
    }

    deinit { try? handle?.close() }
}

/// Fixed photos (centre crops of the dataset's first two) stylized every --sample-interval steps.
struct SamplePhotos {
    let pictures: [FeatureMap]
    let folder: String

    init(dataset: PhotoDataset, size: Int, folder: String) throws {
        var pictures: [FeatureMap] = []
        for file in dataset.files.prefix(8) where pictures.count < 2 {
            guard let image = try? ImageDecoder.decode(path: file) else { continue }
            var centre = SeededRandom(seed: 0)
            pictures.append(try PhotoDataset.crop(image, size: size, random: &centre))
        }
        self.pictures = pictures
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    /// Each picture in each style (`mixes`: the network's norm-row weights of each).
    func write(_ network: StyleNetwork, step: Int, mixes: [[Float]]) throws {
        let styles = mixes.count
        for (i, picture) in pictures.enumerated() {
            for (style, mix) in mixes.enumerated() {
                network.setStyleWeights(mix)
                var input = picture
                for j in input.values.indices { input.values[j] *= 255 }
                var y = network.forward(input)
                for j in y.values.indices { y.values[j] /= 255 }
                let suffix = styles > 1 ? "-style\(style)" : ""
                try ImageEncoder.write(y.rgbImage(), to: (folder as NSString).appendingPathComponent(String(format: "step%06d-photo%d%@.png", step, i, suffix)))
            }
        }
    }
}
