import Foundation
import Stylize
import TestSupport
import Training
import XCTest

/// The trainable style network against PyTorch (`scripts/fixtures/stylenet_fixture.py`): output and every
/// parameter gradient of a small random network with conditional instance norm; and its export against the
/// inference engine.
final class StyleNetworkTests: XCTestCase {
    override class func tearDown() { SharedVGG.release() }

    struct Step: Decodable {
        var photo_shape: [Int]
        var style_shapes: [[Int]]
        var content: Double
        var style: Double
        var lambda_content: Double
        var lambda_style: Double
        var feature_scale: Double
        var lr: Double
        var content_layers: [String]
        var style_layers: [String]
    }

    struct Index: Decodable {
        var step: Step
        var widths: [Int]
        var residual_blocks: Int
        var styles: Int
        var mix: [Float]
        var input_shape: [Int]
        var parameters: [String]
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/stylenet")
    /// `scripts/fixtures/stylenet_light_fixture.py`: the light architecture (depthwise-separable residual blocks,
    /// 5×5 edges, tanh output).
    static let lightFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/stylenet-light")

    func floats(_ name: String, in folder: URL = StyleNetworkTests.folder) throws -> [Float] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The fixture's network with PyTorch's weights, and its input.
    func fixtureNetwork() throws -> (StyleNetwork, Index, FeatureMap) {
        let ix = try JSONDecoder().decode(Index.self, from: Data(contentsOf: Self.folder.appendingPathComponent("index.json")))
        let arch = StyleNetworkArchitecture(name: "fixture", widths: ix.widths, residualBlocks: ix.residual_blocks, styles: ix.styles)
        let (network, input) = try load(arch, parameters: ix.parameters, mix: ix.mix, inputShape: ix.input_shape, from: Self.folder)
        return (network, ix, input)
    }

    /// A network of `architecture` holding the weights of the fixture in `folder`, and the fixture's input.
    func load(_ architecture: StyleNetworkArchitecture, parameters: [String], mix: [Float], inputShape s: [Int],
              from folder: URL) throws -> (StyleNetwork, FeatureMap) {
        let network = StyleNetwork(architecture: architecture, seed: 1, context: TrainingContext(threads: 2))
        var names: [String] = []
        var failure: Error?
        network.visitParameters { name, values, _ in
            names.append(name)
            do {
                let loaded = try floats("param.\(name).f32", in: folder)
                XCTAssertEqual(loaded.count, values.count, name)
                values = loaded
            } catch { failure = error }
        }
        if let failure { throw failure }
        XCTAssertEqual(Set(names), Set(parameters), "streamd's parameter names are the fixture's")
        network.setStyleWeights(mix)
        return (network, FeatureMap(channels: s[0], height: s[1], width: s[2], values: try floats("input.f32", in: folder)))
    }

    func testOutputAndEveryParameterGradientMatchPyTorch() throws {
        let (network, _, input) = try fixtureNetwork()
        let checked = try compareWithPyTorch(network, input: input, folder: Self.folder, label: "style network")
        XCTAssertEqual(checked, 38)
    }

    func testLightNetworkOutputAndEveryParameterGradientMatchPyTorch() throws {
        struct LightIndex: Decodable {
            var widths: [Int], residual_blocks: Int, styles: Int, mix: [Float], edge_kernel: Int, input_shape: [Int], parameters: [String]
        }
        let ix = try JSONDecoder().decode(LightIndex.self, from: Data(contentsOf: Self.lightFolder.appendingPathComponent("index.json")))
        let arch = StyleNetworkArchitecture(name: "light", widths: ix.widths, residualBlocks: ix.residual_blocks, depthwiseResidual: true,
                                            styles: ix.styles, edgeKernel: ix.edge_kernel, outputTanh: true)
        let (network, input) = try load(arch, parameters: ix.parameters, mix: ix.mix, inputShape: ix.input_shape, from: Self.lightFolder)
        let checked = try compareWithPyTorch(network, input: input, folder: Self.lightFolder, label: "light network")
        XCTAssertEqual(checked, 46)
    }

    /// The network's output for the fixture's input, and every parameter's gradient of sum(output · r), against
    /// PyTorch's. Returns how many parameter arrays were checked.
    func compareWithPyTorch(_ network: StyleNetwork, input: FeatureMap, folder: URL, label: String) throws -> Int {
        let y = network.forward(input)
        let reference = try floats("output.f32", in: folder)
        let outputError = GradientCheck.relativeError(y.values, reference.map(Double.init))
        print("\(label) output: relative error against PyTorch \(outputError)")
        XCTAssertLessThan(outputError, 1e-5)
        network.zeroGradients()
        network.backward(FeatureMap(channels: y.channels, height: y.height, width: y.width, values: try floats("r.f32", in: folder)))
        var pairs: [(String, [Float], [Double])] = []
        var failure: Error?
        network.visitParameters { name, _, gradient in
            do { pairs.append((name, gradient, try floats("grad.\(name).f32", in: folder).map(Double.init))) } catch { failure = error }
        }
        if let failure { throw failure }
        // A convolution's bias before instance norm (and a shift whose constant the next norm removes) has a
        // gradient of exactly zero in theory; PyTorch's is rounding noise. Those are checked against the
        // network's largest gradient instead of their own.
        let largest = pairs.map { $0.2.map(abs).max() ?? 0 }.max() ?? 0
        var worst = (name: "", error: 0.0)
        var structurallyZero = 0
        for (name, got, want) in pairs {
            let own = want.map(abs).max() ?? 0
            let e: Double
            if own < 1e-5 * largest {
                structurallyZero += 1
                e = GradientCheck.maxAbsDifference(got, want) / largest
            } else {
                e = GradientCheck.relativeError(got, want)
            }
            if e > worst.error { worst = (name, e) }
            XCTAssertLessThan(e, 1e-4, name)
        }
        print("\(label): \(pairs.count) parameter gradients (\(structurallyZero) zero in theory), worst relative error \(worst.error) (\(worst.name))")
        return pairs.count
    }

    func testExportedModelRunsLikeTheTrainingNetwork() throws {
        let (network, ix, input) = try fixtureNetwork()
        let y = network.forward(input)
        let model = network.export(name: "fixture", styleNames: ["a", "b"])
        XCTAssertEqual(model.info.styleNames, ["a", "b"])
        let session = try Session(model: model, threads: 2)
        let out = try session.run(Tensor(shape: ix.input_shape, data: input.values), styleWeights: ix.mix)
        XCTAssertEqual(out.shape, [3, ix.input_shape[1], ix.input_shape[2]])
        let error = GradientCheck.relativeError(out.data, y.values.map(Double.init))
        print("exported style network on the inference engine: relative error \(error)")
        XCTAssertLessThan(error, 1e-4)
    }

    /// One whole training step (two photos, one per style, VGG19 perceptual losses, Adam) against PyTorch.
    func testOneTrainingStepMatchesPyTorch() throws {
        let (network, ix, _) = try fixtureNetwork()
        let st = ix.step
        var settings = PerceptualTrainer.Settings()
        settings.lambdaContent = st.lambda_content
        settings.lambdaStyle = st.lambda_style
        settings.featureScale = st.feature_scale
        settings.learningRate = st.lr
        settings.contentLayers = st.content_layers
        settings.styleLayers = st.style_layers
        func map(_ name: String, _ shape: [Int]) throws -> FeatureMap {
            FeatureMap(channels: shape[0], height: shape[1], width: shape[2], values: try floats(name))
        }
        let styles = [try map("step.style0.f32", st.style_shapes[0]), try map("step.style1.f32", st.style_shapes[1])]
        let trainer = PerceptualTrainer(network: network, vgg: try SharedVGG.network(), styles: styles, settings: settings, context: SharedVGG.context)
        let losses = trainer.step([try map("step.photo0.f32", st.photo_shape), try map("step.photo1.f32", st.photo_shape)], styleIndices: [0, 1])
        print("training step: content \(losses.content) (PyTorch \(st.content)), style \(losses.style) (PyTorch \(st.style))")
        XCTAssertEqual(losses.content, st.content, accuracy: 1e-4 * st.content)
        XCTAssertEqual(losses.style, st.style, accuracy: 1e-4 * st.style)
        var pairs: [(String, [Float], [Double], [Float], [Double])] = []
        var failure: Error?
        network.visitParameters { name, values, gradient in
            do {
                pairs.append((name, gradient, try floats("step.grad.\(name).f32").map(Double.init),
                              values, try floats("step.param.\(name).f32").map(Double.init)))
            } catch { failure = error }
        }
        if let failure { throw failure }
        let largest = pairs.map { $0.2.map(abs).max() ?? 0 }.max() ?? 0
        var worstGradient = 0.0, worstWeight = 0.0
        for (name, gradient, wantGradient, values, wantValues) in pairs {
            let own = wantGradient.map(abs).max() ?? 0
            let e = own < 1e-5 * largest ? GradientCheck.maxAbsDifference(gradient, wantGradient) / largest
                                         : GradientCheck.relativeError(gradient, wantGradient)
            worstGradient = max(worstGradient, e)
            XCTAssertLessThan(e, 1e-3, "gradient of \(name)")
            // Adam moves each weight by about lr; compare the weights after the step to a fraction of that. Where
            // the gradient is zero in theory, Adam's first step is ±lr by the sign of rounding noise: skip those.
            let moved = GradientCheck.maxAbsDifference(values, wantValues)
            if own < 1e-5 * largest { continue }
            worstWeight = max(worstWeight, moved)
            XCTAssertLessThan(moved, st.lr * 0.05, "\(name) after the Adam step")
        }
        print("training step: worst gradient error \(worstGradient), worst weight difference after Adam \(worstWeight)")
    }

    /// The light architecture (depthwise-separable residual blocks, 5×5 edges, tanh output), as preset and with
    /// TransformerNet's 9×9 edges and raw output, exported and run by the inference engine.
    func testLightNetworkExportRunsLikeTheTrainingNetwork() throws {
        var variant = StyleNetworkArchitecture.light(styles: 2)
        variant.edgeKernel = 9
        variant.outputTanh = false
        var separable = StyleNetworkArchitecture.light(styles: 2)
        separable.depthwiseSampling = true
        var strided = separable
        strided.stridedEdges = true
        strided.edgeKernel = 3
        for architecture in [StyleNetworkArchitecture.light(styles: 2), variant, separable, strided] {
            let network = StyleNetwork(architecture: architecture, seed: 3, context: TrainingContext(threads: 2))
            network.setStyleWeights([0.25, 0.75])
            var rng = SplitMix64(seed: 5)
            let (h, w) = (20, 28)
            let input = FeatureMap(channels: 3, height: h, width: w, values: (0..<(3 * h * w)).map { _ in (rng.float() + 1) * 127.5 })
            let y = network.forward(input)
            let model = network.export(name: "light", styleNames: ["a", "b"])
            XCTAssertTrue(model.graph.nodes.contains { if case .conv2d(let c) = $0.op { return c.groups == 64 } else { return false } })
            // With separable sampling, the stride-2 (16 channels; with strided edges the 32-channel one) and
            // upsampling (32 channels at full size) ones too.
            let stridedDepthwise = architecture.stridedEdges ? 32 : 16
            XCTAssertEqual(model.graph.nodes.contains { if case .conv2d(let c) = $0.op { return c.groups == stridedDepthwise && c.strideH == 2 } else { return false } },
                           architecture.depthwiseSampling)
            XCTAssertEqual(model.graph.nodes.contains { $0.name == "up2.depthwise" }, architecture.depthwiseSampling)
            XCTAssertEqual(model.graph.nodes.contains { $0.op == .tanh }, architecture.outputTanh)
            // Strided edges: the first convolution halves the picture, the last works on an upsampled one, and
            // the second upsampling stage works at half size.
            XCTAssertEqual(model.graph.nodes.contains { $0.name == "out.upsample" }, architecture.stridedEdges)
            XCTAssertEqual(model.graph.nodes.contains { $0.name == "up2.upsample" }, !architecture.stridedEdges)
            XCTAssertEqual(y.height, h)
            XCTAssertEqual(y.width, w)
            if architecture.outputTanh {
                // Starts at mid-grey, not black.
                let mean = y.values.reduce(0, +) / Float(y.count)
                XCTAssertEqual(mean, 127.5, accuracy: 40)
            }
            let out = try Session(model: model, threads: 2).run(Tensor(shape: [3, h, w], data: input.values), styleWeights: [0.25, 0.75])
            let error = GradientCheck.relativeError(out.data, y.values.map(Double.init))
            print("exported light network (edge \(architecture.edgeKernel), tanh \(architecture.outputTanh), separable sampling \(architecture.depthwiseSampling), strided edges \(architecture.stridedEdges)) on the inference engine: relative error \(error)")
            XCTAssertLessThan(error, 1e-4)
        }
    }

    /// A network conditioned on a style embedding (`train --any-painting`): the inference engine runs its export
    /// with the embedding as the style weights exactly as the training network paints it, two embeddings paint
    /// two pictures, the norms' embedding rows learn in proportion to the embedding's values, and every parameter
    /// comes back from the export (a checkpoint's resume).
    func testEmbeddingConditionedNetworkExportsAndLearnsFromTheEmbedding() throws {
        var architecture = StyleNetworkArchitecture.light()
        architecture.depthwiseSampling = true
        architecture.stridedEdges = true
        architecture.edgeKernel = 3
        architecture.styleEmbedding = 6
        XCTAssertEqual(architecture.normRows, 7)
        let network = StyleNetwork(architecture: architecture, seed: 4, context: TrainingContext(threads: 2))
        var rng = SplitMix64(seed: 9)
        // Trained-looking rows: the embedding moves every γ and β.
        network.visitParameters { name, values, _ in
            if name.hasSuffix(".norm.scale") || name.hasSuffix(".norm.shift") {
                for i in values.indices { values[i] += 0.3 * rng.float() }
            }
        }
        let (h, w) = (24, 32)
        let input = FeatureMap(channels: 3, height: h, width: w, values: (0..<(3 * h * w)).map { _ in (rng.float() + 1) * 127.5 })
        let first: [Float] = [0.9, -0.4, 0.1, 0.0, 1.3, -0.7], second: [Float] = [-0.6, 0.8, 0.5, -1.1, 0.0, 0.4]
        network.setStyleWeights(StyleNetwork.mix(embedding: first))
        let y = network.forward(input)
        let model = network.export(name: "any", notes: "test")
        XCTAssertEqual(model.info.styleEmbeddingSize, 6)
        XCTAssertEqual(model.info.styleNames, [])
        let session = try Session(model: model, threads: 2)
        let out = try session.run(Tensor(shape: [3, h, w], data: input.values), styleWeights: first)
        let error = GradientCheck.relativeError(out.data, y.values.map(Double.init))
        print("embedding-conditioned network on the inference engine: relative error \(error)")
        XCTAssertLessThan(error, 1e-4)
        let other = try session.run(Tensor(shape: [3, h, w], data: input.values), styleWeights: second)
        let difference = zip(out.data, other.data).reduce(0) { $0 + abs($1.0 - $1.1) } / Float(out.data.count)
        XCTAssertGreaterThan(difference, 2, "two embeddings paint two pictures (mean difference \(difference) of 255)")
        XCTAssertThrowsError(try session.run(Tensor(shape: [3, h, w], data: input.values), styleWeights: nil), "an embedding is required")

        // dγ of embedding row k is e_k times the bias row's.
        network.zeroGradients()
        network.backward(FeatureMap(channels: 3, height: h, width: w, values: (0..<(3 * h * w)).map { _ in rng.float() }))
        var checked = 0
        network.visitParameters { name, _, gradient in
            guard name.hasSuffix(".norm.scale") || name.hasSuffix(".norm.shift") else { return }
            let c = gradient.count / 7
            let bias = gradient[(6 * c)...]
            for k in 0..<6 {
                for (j, b) in bias.enumerated() {
                    XCTAssertEqual(gradient[k * c + j], first[k] * b, accuracy: 1e-4 * max(1, abs(b)), "\(name) row \(k)")
                }
            }
            checked += 1
        }
        XCTAssertEqual(checked, 2 * 11, "every norm's scale and shift")
        var restored = 0
        network.visitParameters { name, values, _ in
            XCTAssertEqual(StyleNetwork.exportedParameter(name, in: model), values, name)
            restored += 1
        }
        XCTAssertGreaterThan(restored, 40)
    }

    /// The temporal loss drives a network, through the trainer's whole step, towards outputs that follow a moved,
    /// noisy copy of the photo: trained on it alone (content and style weights 0), its value falls, and a
    /// trainer without it reports none.
    func testTemporalLossTrainsTheNetworkSteadier() throws {
        let architecture = StyleNetworkArchitecture(name: "tiny", widths: [4, 8, 8], residualBlocks: 1, depthwiseResidual: true,
                                                    edgeKernel: 3, outputTanh: true)
        var rng = SplitMix64(seed: 8)
        let photos = (0..<2).map { _ in FeatureMap(channels: 3, height: 32, width: 32, values: (0..<(3 * 32 * 32)).map { _ in (rng.float() + 1) / 2 }) }
        let style = FeatureMap(channels: 3, height: 32, width: 32, values: (0..<(3 * 32 * 32)).map { _ in (rng.float() + 1) / 2 })
        var settings = PerceptualTrainer.Settings()
        settings.lambdaContent = 0
        settings.lambdaStyle = 0
        settings.temporalWeight = 1
        settings.temporalShift = 3
        settings.contentLayers = ["relu1_1"]
        settings.styleLayers = ["relu1_1"]
        settings.learningRate = 0.01
        let trainer = PerceptualTrainer(network: StyleNetwork(architecture: architecture, seed: 1, context: SharedVGG.context),
                                        vgg: try SharedVGG.network(), styles: [style], settings: settings, context: SharedVGG.context)
        let first = trainer.step(photos)
        var last = first
        for _ in 0..<24 { last = trainer.step(photos) }
        print("temporal loss alone: \(first.temporal) at step 1, \(last.temporal) at step 25")
        XCTAssertGreaterThan(first.temporal, 0)
        XCTAssertLessThan(last.temporal, first.temporal / 3, "the temporal loss must fall when it is the only one")
        settings.temporalWeight = 0
        let plain = PerceptualTrainer(network: StyleNetwork(architecture: architecture, seed: 1, context: SharedVGG.context),
                                      vgg: try SharedVGG.network(), styles: [style], settings: settings, context: SharedVGG.context)
        XCTAssertEqual(plain.step(photos).temporal, 0)
    }

    /// Balancing: after `balanceStyle(balance: b)` the style term's gradient on that photo is b times the content
    /// term's, whatever the style weight before; and the weight it finds is the one a step then uses.
    func testBalancedStyleWeightMakesTheTermsPullAlike() throws {
        var rng = SplitMix64(seed: 9)
        let photo = FeatureMap(channels: 3, height: 32, width: 32, values: (0..<(3 * 32 * 32)).map { _ in (rng.float() + 1) / 2 })
        let style = FeatureMap(channels: 3, height: 32, width: 32, values: (0..<(3 * 32 * 32)).map { _ in (rng.float() + 1) / 2 })
        var settings = PerceptualTrainer.Settings()
        settings.contentLayers = ["relu2_2"]
        settings.styleLayers = ["relu1_2", "relu2_2"]
        let trainer = PerceptualTrainer(network: StyleNetwork(architecture: .light(), seed: 1, context: SharedVGG.context),
                                        vgg: try SharedVGG.network(), styles: [style], settings: settings, context: SharedVGG.context)
        let before = try XCTUnwrap(trainer.gradientNorms(on: photo))
        print("at the default weights the style gradient is \(before.style / before.content) times the content gradient")
        for balance in [1.0, 4.0] {
            let weight = trainer.balanceStyle(on: photo, balance: balance)
            XCTAssertEqual(trainer.settings.lambdaStyle, weight)
            let after = try XCTUnwrap(trainer.gradientNorms(on: photo))
            XCTAssertEqual(after.style / after.content, balance, accuracy: balance * 1e-3)
        }
        XCTAssertEqual(trainer.step([photo]).style > 0, true)
    }

    func testMultiplyAddsPerPixel() {
        // conv1 3·32·81, conv2 32·64·9/4, conv3 64·128·9/16, 10 residual convs 128·128·9/16, up1 128·64·9/4, up2 64·32·9, out 32·3·81.
        let expected = 3 * 32 * 81 + 32 * 64 * 9 / 4 + 64 * 128 * 9 / 16 + 10 * 128 * 128 * 9 / 16 + 128 * 64 * 9 / 4 + 64 * 32 * 9 + 32 * 3 * 81
        XCTAssertEqual(StyleNetworkArchitecture.johnson().multiplyAddsPerPixel, expected)
        // light: 3·16·25, 16·32·9/4, 32·64·9/16, 6 separable convs (64·9 + 64·64)/16, 64·32·9/4, 32·16·9, 16·3·25.
        XCTAssertEqual(StyleNetworkArchitecture.light().multiplyAddsPerPixel,
                       3 * 16 * 25 + 16 * 32 * 9 / 4 + 32 * 64 * 9 / 16 + 6 * (64 * 9 + 64 * 64) / 16 + 64 * 32 * 9 / 4 + 32 * 16 * 9 + 16 * 3 * 25)
        // Separable sampling: (16·9 + 16·32)/4, (32·9 + 32·64)/16, (64·9 + 64·32)/4, 32·9 + 32·16.
        var separable = StyleNetworkArchitecture.light()
        separable.depthwiseSampling = true
        XCTAssertEqual(separable.multiplyAddsPerPixel,
                       3 * 16 * 25 + (16 * 9 + 16 * 32) / 4 + (32 * 9 + 32 * 64) / 16 + 6 * (64 * 9 + 64 * 64) / 16
                       + (64 * 9 + 64 * 32) / 4 + 32 * 9 + 32 * 16 + 16 * 3 * 25)
        // Strided edges: conv1 and conv2 at 1/2, conv3 and the residual blocks at 1/4, up1 and up2 at 1/2, the
        // last convolution back at full size.
        var strided = separable
        strided.stridedEdges = true
        strided.edgeKernel = 3
        let encoder: Double = 3 * 16 * 9 / 4 + (16 * 9 + 16 * 32) / 4 + (32 * 9 + 32 * 64) / 16
        let residual: Double = 6 * (64 * 9 + 64 * 64) / 16
        let decoder: Double = (64 * 9 + 64 * 32) / 4 + (32 * 9 + 32 * 16) / 4 + 16 * 3 * 9
        XCTAssertEqual(strided.multiplyAddsPerPixel, Int((encoder + residual + decoder).rounded()))
        XCTAssertEqual(strided.multiplyAddsPerPixel, 3458)
    }
}
