import Foundation

/// Imports feed-forward style networks stored as ONNX (`.onnx`), in pure Swift.
///
/// Supported: the operators of fast style-transfer networks as written by the Core ML → ONNX converter
/// (opset 7 with ImageScaler, Crop, Affine; Johnson's models) and by `torch.onnx.export` (opset 9–18, with
/// decomposed instance norm, conditional instance norm driven by a style-weight input, pad amounts and slice
/// bounds computed from constants and shapes), and by tf2onnx (N×H×W×C inputs and outputs, TensorFlow's
/// batch-normalisation decomposition, int8 "QDQ" weights, which are dequantised exactly at import, with the
/// simulated 8-bit rounding of activations dropped: streamd computes in float32). Everything that does not depend on the image is evaluated at
/// import time; the result is a size-independent graph.
///
/// Model description (`ModelInfo`) defaults, for files that do not say otherwise:
/// - channel order RGB; BGR when the image input's or output's doc string says "BGR" or the metadata
///   `Image.BitmapPixelFormat` is `Bgr8` (Windows ML convention);
/// - value range 0..255; when the metadata `Image.NominalPixelRange` is `Normalized_0_1`, or the network
///   ends in a Sigmoid, 0..1 (input scale 1/255, output scale 255); `Normalized_1_1` gives -1..1;
/// - architecture "arbitrary-style-transformer" for a network whose second input is a style embedding
///   (N×1×1×S: Magenta's arbitrary-style transformer as tf2onnx writes it); "conditional-in-S" for a
///   conditional-norm model with S styles (named style0…), else
///   "johnson-torch" when the author is Justin Johnson or the doc names fast-neural-style, else "onnx";
/// - name: the file name without extension; sizeMultiple: the network's total downsampling factor.
public enum ONNXImporter {
    public static func load(path: String) throws -> StyleModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StylizeError(.fileNotFound, "\(path): no such file")
        }
        guard !isDirectory.boolValue else {
            throw StylizeError(.unreadable, "\(path): is a directory, not an ONNX file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StylizeError(.unreadable, "\(path): cannot be read")
        }
        return try load(bytes: [UInt8](data), path: path)
    }

    /// Imports from bytes already in memory; `path` is used for messages and the model name.
    static func load(bytes: [UInt8], path: String) throws -> StyleModel {
        guard !bytes.isEmpty else { throw StylizeError(.corruptFile, "\(path): empty file") }
        let model: ONNXModelProto
        do {
            model = try ONNXProtoDecoder.model(bytes)
        } catch let e as ProtobufError {
            throw StylizeError(.corruptFile, "\(path): \(e.cause)")
        }
        var translator = try ONNXTranslator(path: path, model: model)
        let raw = try translator.translate()
        let graph = ONNXGraphPasses.simplify(raw)
        var used: Set<String> = []
        for n in graph.nodes {
            switch n.op {
            case .conv2d(let s): used.insert(s.weight); if let b = s.bias { used.insert(b) }
            case .convTranspose2d(let s): used.insert(s.weight); if let b = s.bias { used.insert(b) }
            case .instanceNorm(let s):
                if let a = s.scale { used.insert(a) }
                if let b = s.shift { used.insert(b) }
            case .conditionalInstanceNorm(let s):
                used.formUnion([s.gamma, s.beta] + [s.gammaBias, s.betaBias].compactMap { $0 })
            default: break
            }
        }
        let weights = translator.weights.filter { used.contains($0.key) }
        let info = modelInfo(path: path, model: model, translator: translator, graph: graph)
        return StyleModel(info: info, graph: graph, weights: weights)
    }

    static func modelInfo(path: String, model: ONNXModelProto, translator: ONNXTranslator, graph: Graph) -> ModelInfo {
        let metadata = Dictionary(model.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let onnxGraph = translator.graph
        let outputDoc = onnxGraph.outputs.first?.docString ?? ""
        let inputDoc = translator.imageInfo.docString

        func order(_ doc: String) -> InputTransform.ChannelOrder? {
            if doc.contains("BGR") { return .bgr }
            if doc.contains("RGB") { return .rgb }
            return nil
        }
        let pixelFormat = metadata["Image.BitmapPixelFormat"]?.lowercased()
        let metadataOrder: InputTransform.ChannelOrder? = pixelFormat.map { $0.hasPrefix("bgr") ? .bgr : .rgb }
        let inputOrder = order(inputDoc) ?? metadataOrder ?? .rgb
        let outputOrder = order(outputDoc) ?? metadataOrder ?? inputOrder

        enum Range { case bytes, unit, signed }
        let range: Range
        switch metadata["Image.NominalPixelRange"] {
        case "Normalized_0_1": range = .unit
        case "Normalized_1_1": range = .signed
        case "NominalRange_0_255": range = .bytes
        default:
            let last = graph.nodes.last { $0.output == graph.output }
            if case .sigmoid? = last?.op { range = .unit } else { range = .bytes }
        }
        let input: InputTransform
        let output: OutputTransform
        switch range {
        case .bytes:
            input = InputTransform(channelOrder: inputOrder)
            output = OutputTransform(channelOrder: outputOrder)
        case .unit:
            input = InputTransform(channelOrder: inputOrder, scale: 1 / 255)
            output = OutputTransform(channelOrder: outputOrder, scale: 255)
        case .signed:
            input = InputTransform(channelOrder: inputOrder, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
            output = OutputTransform(channelOrder: outputOrder, scale: 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        }

        var styleNames: [String] = []
        var embedding: Int?
        let architecture: String
        if translator.styleIsEmbedding, let s = translator.styleCount {
            architecture = "arbitrary-style-transformer"
            embedding = s
        } else if translator.usesConditionalNorm, let s = translator.styleCount {
            styleNames = (0..<s).map { "style\($0)" }
            architecture = "conditional-in-\(s)"
        } else if metadata["author"] == "Justin Johnson" || model.docString.contains("fast-neural-style") {
            architecture = "johnson-torch"
        } else {
            architecture = "onnx"
        }

        var notes = ["ONNX IR \(model.irVersion), opset \(model.defaultOpset.map(String.init) ?? "?")"]
        let producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        if !producer.isEmpty { notes.append("producer \(producer)") }
        if !model.docString.isEmpty { notes.append(model.docString) }
        for (key, value) in model.metadata { notes.append("\(key): \(value)") }

        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return ModelInfo(name: name, architecture: architecture, sourceFormat: "onnx", input: input, output: output,
                         styleNames: styleNames, sizeMultiple: downsamplingFactor(graph), notes: notes.joined(separator: "; "),
                         styleEmbeddingSize: embedding)
    }

    /// The largest total stride between the input and any activation: frames padded to a multiple of it
    /// go through every strided layer without rounding.
    static func downsamplingFactor(_ graph: Graph) -> Int {
        var factor: [String: Int] = [graph.input: 1]
        var largest = 1
        for n in graph.nodes {
            var f = n.inputs.map { factor[$0] ?? 1 }.max() ?? 1
            switch n.op {
            case .conv2d(let spec): f *= max(spec.strideH, spec.strideW)
            case .maxPool(_, let stride): f *= stride
            default: break
            }
            f = min(f, 1 << 16)
            factor[n.output] = f
            largest = max(largest, f)
        }
        return largest
    }
}
