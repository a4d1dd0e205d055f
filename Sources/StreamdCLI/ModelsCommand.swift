import ArgumentParser
import Foundation
import ModelHub
import Stylize

/// `streamd models …`: import, inspect, list and download models.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Import, inspect, list and download style models.",
        subcommands: [Import.self, Info.self, List.self, Pull.self, Average.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a model (ml5 folder, .onnx, .pth) into streamd's native .safetensors file.")

        @Argument(help: "Source model: an ml5 folder, an .onnx or a .pth file, or a native file.")
        var source: String

        @OptionGroup var destination: ModelOutputOptions

        @Option(help: "Name stored in the file (default: the source's name).")
        var name: String?

        func run() async throws {
            try await runReportingErrors {
                try destination.check()
                var model = try ModelLoader.load(path: source)
                if let name { model.info.name = name }
                // Refuse a model that cannot run before writing it anywhere.
                _ = try Session(model: model).profile(height: 64, width: 64)
                try NativeModelFile.write(model, to: destination.output)
                note("streamd: imported \(source) as \(destination.output) (\(model.info.architecture), \(ModelSummary.parameters(model)) parameters)")
            }
        }
    }

    struct Average: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Average the weights of checkpoints of one network (stochastic weight averaging).",
            discussion: "Each MODEL is a native file or a checkpoint folder of `streamd train` (its model.safetensors). They must be the same network; the result has the first one's name, styles and description.")

        @Argument(help: "Models to average: native .safetensors files or checkpoint folders.")
        var models: [String]

        @OptionGroup var destination: ModelOutputOptions

        @Option(help: "Name stored in the file (default: the first model's).")
        var name: String?

        func run() async throws {
            try await runReportingErrors {
                guard models.count >= 2 else { throw ValidationError("give at least two models to average") }
                try destination.check()
                let files = models.map { path -> String in
                    var folder: ObjCBool = false
                    let isFolder = FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
                    return isFolder ? (path as NSString).appendingPathComponent("model.safetensors") : path
                }
                var averaged = try StyleModel.average(try files.map { try NativeModelFile.load(path: $0) }, names: files)
                if let name { averaged.info.name = name }
                let notes = averaged.info.notes
                averaged.info.notes = (notes.isEmpty ? "" : notes + "; ") + "weights: the mean of \(files.count) checkpoints'"
                try NativeModelFile.write(averaged, to: destination.output)
                note("streamd: wrote \(destination.output), the mean of \(files.count) models' weights")
            }
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Describe a model: architecture, parameters, cost, styles.")

        @Argument(help: "Model path or name.")
        var model: String

        @Option(name: .customLong("models-dir"), help: "Directory searched first for model names.")
        var modelsDir: String?

        @Option(help: "Frame size for the cost figures.")
        var size: String = "640x480"

        func run() async throws {
            try await runReportingErrors {
                guard let (w, h) = parseSize(size) else { throw ValidationError("--size must look like 640x480") }
                let path = try ModelLibrary.standard(modelsDir: modelsDir).resolve(model)
                let m = try ModelLoader.load(path: path)
                print(try ModelSummary.describe(m, path: path, format: try ModelLoader.detect(path), width: w, height: h))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the built-in models and the models on the search path, with their styles.")

        @Option(name: .customLong("models-dir"), help: "Directory searched first.")
        var modelsDir: String?

        func run() async throws {
            let library = ModelLibrary.standard(modelsDir: modelsDir)
            // Never empty: the built-in model is there when no directory replaces it.
            let entries = library.list()
            func column(_ text: String, _ width: Int) -> String { text.padding(toLength: width + 2, withPad: " ", startingAt: 0) }
            let width = max(4, entries.map(\.name.count).max()!), pathWidth = max(4, entries.map(\.path.count).max()!)
            print(column("NAME", width) + "FORMAT   " + column("PATH", pathWidth) + "STYLES")
            for e in entries {
                // Style names are in the model, so each is loaded; the list stays one line per model either way.
                let styles = (try? ModelLoader.load(path: e.path)).map { ModelSummary.styles($0) } ?? "? (does not load)"
                print(column(e.name, width) + e.format.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                      + column(e.path, pathWidth) + styles)
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a named model of the ml5 collection into the model directory, checking every file's SHA-256.")

        @Argument(help: "Model name: \(ML5Catalog.models.keys.sorted().joined(separator: ", ")).")
        var name: String

        @Option(help: "Base URL of the collection (files are BASE/NAME/FILE).")
        var from: String = ML5Catalog.defaultBaseURL

        @Option(name: .customLong("models-dir"), help: "Directory to install into (default: the first of the search path).")
        var modelsDir: String?

        @Option(help: "Seconds to wait for each request.")
        var timeout: Double = 30

        @Flag(help: "Replace an installed model of that name.")
        var overwrite = false

        func run() async throws {
            try await runReportingErrors {
                let dir = ModelLibrary.standard(modelsDir: modelsDir).writableDirectory
                let terminal = standardErrorIsTerminal
                var lastLog = Date.distantPast
                let puller = ModelPuller(baseURL: from, directory: dir, overwrite: overwrite, timeout: timeout) { done, total, bytes, totalBytes in
                    let line = String(format: "pulling %@: %d/%d files, %.1f/%.1f MB", name, done, total,
                                      Double(bytes) / 1e6, Double(totalBytes) / 1e6)
                    if terminal {
                        FileHandle.standardError.write(Data(("\r" + line + (done == total ? "\n" : "")).utf8))
                    } else if done == total || Date().timeIntervalSince(lastLog) > 2 {
                        lastLog = Date()
                        note(line)
                    }
                }
                let path = try await puller.pull(name)
                // Prove it loads before calling it installed.
                _ = try ModelLoader.load(path: path)
                note("streamd: installed \(name) in \(path) (weights: research/non-commercial licence, see README)")
            }
        }
    }
}

enum ModelSummary {
    static func parameters(_ m: StyleModel) -> Int { m.weights.values.reduce(0) { $0 + $1.count } }

    /// `1` for a single-style model, else the count and the names (`4: wave, scream, wreck, udnie`).
    static func styles(_ m: StyleModel) -> String {
        if m.info.styleEmbeddingSize != nil { return "any painting (--style-image)" }
        return m.info.styleNames.isEmpty ? "1" : "\(m.info.styleNames.count): \(m.info.styleNames.joined(separator: ", "))"
    }

    static func describe(_ m: StyleModel, path: String, format: ModelLoader.Format, width: Int, height: Int) throws -> String {
        let session = try Session(model: m)
        let mult = max(1, m.info.sizeMultiple)
        let hp = (height + mult - 1) / mult * mult, wp = (width + mult - 1) / mult * mult
        let (layers, macs) = try session.profile(height: hp, width: wp)
        var kinds: [String: Int] = [:]
        for n in m.graph.nodes { kinds[n.op.kind, default: 0] += 1 }
        func transform(_ order: InputTransform.ChannelOrder, _ scale: Float, _ mean: [Float], _ std: [Float]) -> String {
            "\(order.rawValue.uppercased()), scale \(scale), mean \(mean), std \(std)"
        }
        var lines = [
            "name          \(m.info.name)",
            "file          \(path) (\(format.rawValue))",
            "architecture  \(m.info.architecture) (imported from \(m.info.sourceFormat))",
            "parameters    \(parameters(m))",
            "layers        \(m.graph.nodes.count): " + kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "),
            String(format: "cost          %.0f multiply-adds per pixel at %dx%d (%.2f GMAC per frame)",
                   Double(macs) / Double(width * height), width, height, Double(macs) / 1e9),
            "styles        " + styles(m),
            "input         " + transform(m.info.input.channelOrder, m.info.input.scale, m.info.input.mean, m.info.input.std),
            "output        " + transform(m.info.output.channelOrder, m.info.output.scale, m.info.output.mean, m.info.output.std),
            "frame sizes   padded to a multiple of \(mult)",
        ]
        if let last = layers.last { lines.append("output shape  \(last.channels)x\(last.height)x\(last.width) for \(wp)x\(hp)") }
        if !m.info.notes.isEmpty { lines.append("notes         \(m.info.notes)") }
        return lines.joined(separator: "\n")
    }
}

/// Where a `models` command that writes a native model file puts it.
struct ModelOutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output file (.safetensors).")
    var output: String

    @Flag(help: "Replace OUTPUT if it exists.")
    var overwrite = false

    /// Refuses an existing OUTPUT (without --overwrite) or another extension before any work is done.
    func check() throws {
        try OutputPath.check(output, overwrite: overwrite, extensions: [NativeModelFile.fileExtension])
    }
}
