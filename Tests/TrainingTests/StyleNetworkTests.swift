import Foundation
import Stylize
import TestSupport
import Training
import XCTest

/// The trainable style network against PyTorch (`scripts/fixtures/stylenet_fixture.py`): output and every
/// parameter gradient of a small random network with conditional instance norm; and its export against the
/// inference engine.
final class StyleNetworkTests: XCTestCase {
    struct Index: Decodable {
        var widths: [Int]
        var residual_blocks: Int
        var styles: Int
        var mix: [Float]
        var input_shape: [Int]
        var parameters: [String]
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/stylenet")

    func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The fixture's network with PyTorch's weights, and its input.
    func fixtureNetwork() throws -> (StyleNetwork, Index, FeatureMap) {
        let ix = try JSONDecoder().decode(Index.self, from: Data(contentsOf: Self.folder.appendingPathComponent("index.json")))
        let arch = StyleNetworkArchitecture(name: "fixture", widths: ix.widths, residualBlocks: ix.residual_blocks, styles: ix.styles)
        let network = StyleNetwork(architecture: arch, seed: 1, context: TrainingContext(threads: 2))
        var names: [String] = []
        var failure: Error?
        network.visitParameters { name, values, _ in
            names.append(name)
            do {
                let loaded = try floats("param.\(name).f32")
                XCTAssertEqual(loaded.count, values.count, name)
                values = loaded
            } catch { failure = error }
        }
        if let failure { throw failure }
        XCTAssertEqual(Set(names), Set(ix.parameters), "streamd's parameter names are the fixture's")
        network.setStyleWeights(ix.mix)
        let s = ix.input_shape
        return (network, ix, FeatureMap(channels: s[0], height: s[1], width: s[2], values: try floats("input.f32")))
    }

    func testOutputAndEveryParameterGradientMatchPyTorch() throws {
        let (network, _, input) = try fixtureNetwork()
        let y = network.forward(input)
        let reference = try floats("output.f32")
        let outputError = GradientCheck.relativeError(y.values, reference.map(Double.init))
        print("style network output: relative error against PyTorch \(outputError)")
        XCTAssertLessThan(outputError, 1e-5)
        network.zeroGradients()
        network.backward(FeatureMap(channels: y.channels, height: y.height, width: y.width, values: try floats("r.f32")))
        var pairs: [(String, [Float], [Double])] = []
        var failure: Error?
        network.visitParameters { name, _, gradient in
            do { pairs.append((name, gradient, try floats("grad.\(name).f32").map(Double.init))) } catch { failure = error }
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
        let checked = pairs.count
        print("style network: \(checked) parameter gradients (\(structurallyZero) zero in theory), worst relative error \(worst.error) (\(worst.name))")
        XCTAssertEqual(checked, 38)
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

    func testMultiplyAddsPerPixel() {
        // conv1 3·32·81, conv2 32·64·9/4, conv3 64·128·9/16, 10 residual convs 128·128·9/16, up1 128·64·9/4, up2 64·32·9, out 32·3·81.
        let expected = 3 * 32 * 81 + 32 * 64 * 9 / 4 + 64 * 128 * 9 / 16 + 10 * 128 * 128 * 9 / 16 + 128 * 64 * 9 / 4 + 64 * 32 * 9 + 32 * 3 * 81
        XCTAssertEqual(StyleNetworkArchitecture.johnson().multiplyAddsPerPixel, expected)
        XCTAssertLessThan(StyleNetworkArchitecture.light().multiplyAddsPerPixel * 3, expected)
    }
}
