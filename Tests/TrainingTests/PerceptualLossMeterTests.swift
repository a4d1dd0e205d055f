import XCTest
import TestSupport
@testable import Training

/// `streamd eval losses` compares trained networks by the losses they were trained on: the meter must give the
/// numbers a training step reports for the same picture, and zero where a picture is its own target.
final class PerceptualLossMeterTests: XCTestCase {
    override class func tearDown() { SharedVGG.release() }

    func testMeterGivesTheTrainingStepsLossesAndZeroForItsOwnTargets() throws {
        let architecture = StyleNetworkArchitecture(name: "tiny", widths: [4, 8, 8], residualBlocks: 1, depthwiseResidual: true,
                                                    edgeKernel: 3, outputTanh: true)
        var rng = SplitMix64(seed: 21)
        func picture() -> FeatureMap {
            let values: [Float] = (0..<(3 * 32 * 32)).map { _ in (rng.float() + 1) / 2 }
            return FeatureMap(channels: 3, height: 32, width: 32, values: values)
        }
        let photo = picture(), style = picture()
        let settings = PerceptualTrainer.Settings()
        let network = StyleNetwork(architecture: architecture, seed: 4, context: SharedVGG.context)
        // The network's picture before the step changes it: the one the step's losses are of.
        var stylized = network.forward(FeatureMap(channels: 3, height: 32, width: 32, values: photo.values.map { $0 * 255 }))
        for i in stylized.values.indices { stylized.values[i] /= 255 }
        let vgg = try SharedVGG.network()
        let meter = PerceptualLossMeter(vgg: vgg, style: style, settings: settings, context: SharedVGG.context)
        let measured = meter.measure(photo: photo, stylized: stylized)
        let trainer = PerceptualTrainer(network: network, vgg: vgg, styles: [style], settings: settings, context: SharedVGG.context)
        let reported = trainer.step([photo])
        print("meter: content \(measured.content) style \(measured.style); training step: content \(reported.content) style \(reported.style)")
        XCTAssertGreaterThan(measured.content, 0)
        XCTAssertGreaterThan(measured.style, 0)
        XCTAssertEqual(measured.content, reported.content, accuracy: reported.content * 1e-5)
        XCTAssertEqual(measured.style, reported.style, accuracy: reported.style * 1e-5)
        // The photo as its own stylization has no content loss; the style picture, no style loss.
        XCTAssertEqual(meter.measure(photo: photo, stylized: photo).content, 0)
        XCTAssertLessThan(meter.measure(photo: photo, stylized: style).style, measured.style * 1e-6)
    }
}
