import ArgumentParser
import Decode
import Foundation
import Stylize

/// `streamd bench`: steady-state speed of one model at one frame size.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure steady-state milliseconds per frame, frames/s and GFLOP/s of a model."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Frame size WIDTHxHEIGHT, e.g. 640x480.")
    var size: String = "640x480"

    @Option(help: "Compute threads for the network (matrix products and the passes between them).")
    var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    @Option(help: "Timed runs (after warm-up).")
    var iterations: Int = 10

    @Option(help: "Untimed warm-up runs.")
    var warmup: Int = 2

    @Option(name: .customLong("style"), help: "Style of a multi-style model, by name.")
    var styleName: String?

    @Option(name: .customLong("style-index"), help: "Style of a multi-style model (0-based).")
    var styleIndex: Int?

    @Option(name: .customLong("style-image"), help: "A painting as the style: measures the path a live pipeline runs for it (the real-time 'arbitrary-fast' network unless --model names another that takes a painting, such as 'arbitrary'); the predictor's time for it is reported too.")
    var styleImage: String?

    @Flag(help: "Print one JSON object on one line instead of a table.")
    var json = false

    @Flag(help: "Also print each layer's median time, multiply-adds and GFLOP/s (where the frame's time goes).")
    var layers = false

    func validate() throws {
        guard parseSize(size) != nil else { throw ValidationError("--size must look like 640x480") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        if iterations < 1 || iterations > 100_000 { throw ValidationError("--iterations must be between 1 and 100000") }
        if warmup < 0 { throw ValidationError("--warmup must not be negative") }
    }

    func run() async throws {
        try await runReportingErrors {
            let (w, h) = parseSize(size)!
            let library = ModelLibrary.standard(modelsDir: modelOptions.modelsDir)
            let modelName = styleImage != nil && modelOptions.model == BuiltinModels.defaultName ? BuiltinModels.arbitraryFastName : modelOptions.model
            let model = try ModelLoader.load(path: try library.resolve(modelName))
            let session = try Session(model: model, threads: threads)
            session.recordTimings = layers
            var style: [Float]?
            var predictorMs: Double?
            if model.info.styleEmbeddingSize != nil {
                guard let styleImage else { throw ValidationError("model \(model.info.name) takes any painting as its style: give one with --style-image") }
                if styleName != nil || styleIndex != nil { throw ValidationError("--style and --style-index choose among a model's trained styles, not with --style-image") }
                // The predictor's cost for one painting: the square picture made, then the network (median of 5).
                let predictor = try StylePredictor.builtin(threads: threads)
                let square = try StylePicture.load(path: styleImage, size: StylePredictor.inputSize)
                var runs: [Double] = []
                for _ in 0..<6 {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    style = try predictor.embedding(of: square)
                    runs.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                }
                predictorMs = medianOf(Array(runs.dropFirst()))
            } else {
                if styleImage != nil { throw ValidationError("model \(model.info.name) cannot take a style picture: --style-image needs a network that takes any painting (such as the built-in 'arbitrary')") }
                style = try StyleChoice(name: styleName, index: styleIndex, mix: nil).weights(styleNames: model.info.styleNames)
            }
            let m = max(1, model.info.sizeMultiple)
            let hp = (h + m - 1) / m * m, wp = (w + m - 1) / m * m
            let input = Tensor(shape: [3, hp, wp], data: syntheticFrame(height: hp, width: wp, transform: model.info.input))
            // Shapes and multiply-adds per layer come from a dry run; times from every timed run.
            let shapes = layers ? try session.profile(height: hp, width: wp).layers : []
            var layerTimes: [[Double]] = []
            var times: [Double] = []
            let interactive = !json && standardErrorIsTerminal
            for i in 0..<(warmup + iterations) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try session.run(input, styleWeights: style)
                let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                if i >= warmup {
                    times.append(ms)
                    if layers {
                        if layerTimes.isEmpty { layerTimes = Array(repeating: [], count: session.layerTimings.count) }
                        for (j, t) in session.layerTimings.enumerated() where j < layerTimes.count { layerTimes[j].append(t.milliseconds) }
                    }
                }
                if interactive {
                    FileHandle.standardError.write(Data(String(format: "\rrun %d/%d: %.1f ms   ", i + 1, warmup + iterations, ms).utf8))
                }
            }
            if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            let macs = session.lastRunMACs
            let sorted = times.sorted()
            let median = medianOf(times)
            let layerRows = layers ? session.layerTimings.indices.map { j -> [String: Any] in
                let shape = j < shapes.count ? shapes[j] : nil
                let ms = medianOf(layerTimes[j])
                return ["name": session.layerTimings[j].name, "kind": session.layerTimings[j].kind, "ms": round3(ms),
                        "shape": shape.map { "\($0.channels)x\($0.height)x\($0.width)" } ?? "",
                        "macs": shape?.macs ?? 0, "gflops": round3(2 * Double(shape?.macs ?? 0) / (ms / 1000) / 1e9)]
            } : []
            let fps = 1000 / median
            let gflops = 2 * Double(macs) / (median / 1000) / 1e9
            if json {
                let obj: [String: Any] = [
                    "model": model.info.name, "size": "\(w)x\(h)", "threads": threads, "iterations": iterations,
                    "ms_per_frame": round3(median), "ms_min": round3(sorted.first!), "ms_max": round3(sorted.last!),
                    "fps": round3(fps), "gflops": round3(gflops), "macs_per_frame": macs,
                ].merging(layers ? ["layers": layerRows] : [:]) { a, _ in a }
                    .merging(predictorMs.map { ["predictor_ms": round3($0)] } ?? [:]) { a, _ in a }
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("model        \(model.info.name) (\(model.info.architecture))")
                print("size         \(w)x\(h)" + (hp != h || wp != w ? " (run at \(wp)x\(hp))" : ""))
                print("threads      \(threads)")
                print(String(format: "ms/frame     %.1f median, %.1f min, %.1f max over %d runs", median, sorted.first!, sorted.last!, iterations))
                print(String(format: "frames/s     %.2f", fps))
                print(String(format: "GFLOP/s      %.1f (%.2f GMAC per frame)", gflops, Double(macs) / 1e9))
                if let predictorMs { print(String(format: "predictor    %.1f ms per painting (once per painting, not per frame)", predictorMs)) }
                if layers {
                    print("")
                    func pad(_ s: String, _ n: Int) -> String { s.count >= n ? String(s.prefix(n)) : s + String(repeating: " ", count: n - s.count) }
                    print(pad("layer", 26) + " " + pad("kind", 22) + " " + pad("output", 14) + "       ms  share     MMAC  GFLOP/s")
                    let total = layerRows.reduce(0) { $0 + ($1["ms"] as! Double) }
                    for row in layerRows {
                        let ms = row["ms"] as! Double, macs = row["macs"] as! Int
                        let rate = macs > 0 ? String(format: "%8.1f", row["gflops"] as! Double) : "       -"
                        print(pad(row["name"] as! String, 26) + " " + pad(row["kind"] as! String, 22) + " " + pad(row["shape"] as! String, 14)
                              + String(format: " %8.2f %5.1f%% %8.1f ", ms, 100 * ms / max(total, 1e-9), Double(macs) / 1e6) + rate)
                    }
                }
            }
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
func medianOf(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

func parseSize(_ s: String) -> (Int, Int)? {
    let parts = s.lowercased().split(separator: "x")
    guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w >= 8, h >= 8, w <= 16384, h <= 16384 else { return nil }
    return (w, h)
}

/// A deterministic picture with edges and gradients (the network's cost does not depend on content, but
/// denormals or constant planes would make a benchmark unrepresentative).
func syntheticFrame(height: Int, width: Int, transform t: InputTransform) -> [Float] {
    var out = [Float](repeating: 0, count: 3 * height * width)
    for c in 0..<3 {
        for y in 0..<height {
            for x in 0..<width {
                let v = Float((x * (c + 1) + y * 3 + (x / 16 + y / 16) % 2 * 80) % 256)
                out[(c * height + y) * width + x] = (v * t.scale - t.mean[c]) / t.std[c]
            }
        }
    }
    return out
}
