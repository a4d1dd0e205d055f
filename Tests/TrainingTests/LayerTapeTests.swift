import TestSupport
import Training
import XCTest

/// A small VGG-like chain on a `LayerTape`, with Gatys' three losses at different depths, differentiated end to
/// end: the gradient with respect to the picture (what Gatys' optimisation follows) and a first-layer weight
/// gradient against central finite differences of the same chain written with the naive Double references.
final class LayerTapeTests: XCTestCase {
    // conv 3→4, ReLU (style), conv 4→4, ReLU (content), max pool (style); TV on the picture.
    let (h, w) = (5, 6)
    let shapes = [ConvolutionGradientTests.Shape(cin: 3, cout: 4, h: 5, w: 6), ConvolutionGradientTests.Shape(cin: 4, cout: 4, h: 5, w: 6)]
    let (styleWeight, contentWeight, tvWeight) = (1e2, 1.0, 0.1)

    /// The chain's random parameters and targets, the layers built from them, and one objective evaluation.
    struct Chain {
        let picture: FeatureMap
        let weights: [[Float]], biases: [[Float]]
        let styleTargets: [FeatureMap], contentTarget: FeatureMap
        let convs: [Conv3x3], tape: LayerTape
        let styles: [StyleLoss], content: ContentLoss
        let weightsOfLosses: (style: Double, content: Double, tv: Double)

        init(_ test: LayerTapeTests) {
            var rng = SplitMix64(seed: 7)
            picture = GradientCheck.randomMap(&rng, channels: 3, height: test.h, width: test.w)
            weights = test.shapes.map { rng.floats($0.cout * $0.cin * 9) }
            biases = test.shapes.map { rng.floats($0.cout) }
            styleTargets = [GradientCheck.randomMap(&rng, channels: 4, height: 4, width: 4),
                            GradientCheck.randomMap(&rng, channels: 4, height: 3, width: 2)]
            contentTarget = GradientCheck.randomMap(&rng, channels: 4, height: test.h, width: test.w)
            let context = TrainingContext(threads: 2)
            let (shapes, weights, biases) = (test.shapes, weights, biases)
            convs = (0..<2).map { Conv3x3(inputChannels: shapes[$0].cin, outputChannels: shapes[$0].cout,
                                          weight: weights[$0], bias: biases[$0], context: context) }
            tape = LayerTape([convs[0], ReLU(), convs[1], ReLU(), MaxPool2x2()])
            styles = styleTargets.map { StyleLoss(target: $0, context: context) }
            content = ContentLoss(target: contentTarget)
            weightsOfLosses = (test.styleWeight, test.contentWeight, test.tvWeight)
        }

        /// The objective at `x` and its gradient with respect to x (conv parameter gradients accumulate).
        func evaluate(_ x: FeatureMap) -> (loss: Double, gradient: FeatureMap) {
            let (tape, styles, content, weights) = (tape, styles, content, weightsOfLosses)
            tape.forward(x)
            var loss = 0.0
            var gradient = tape.backward { i, gradient in
                switch i {
                case 1: loss += styles[0].evaluate(tape.outputs[1], weight: weights.style, addingGradientTo: &gradient)
                case 3: loss += content.evaluate(tape.outputs[3], weight: weights.content, addingGradientTo: &gradient)
                case 4: loss += styles[1].evaluate(tape.outputs[4], weight: weights.style, addingGradientTo: &gradient)
                default: break
                }
            }
            loss += TotalVariationLoss.evaluate(x, weight: weights.tv, addingGradientTo: &gradient)
            return (loss, gradient)
        }
    }

    func testChainGradientsMatchFiniteDifferences() {
        let chain = Chain(self)
        let (picture, weights, biases, styleTargets, contentTarget) = (chain.picture, chain.weights, chain.biases, chain.styleTargets, chain.contentTarget)
        let (loss, pictureGradient) = chain.evaluate(picture)
        let convs = chain.convs

        let targetGrams = styleTargets.map { LossGradientTests.naiveGram($0.doubles, c: 4, hw: $0.plane) }
        let w0 = weights[0].map(Double.init), w1 = weights[1].map(Double.init)
        let b0 = biases[0].map(Double.init), b1 = biases[1].map(Double.init)
        /// The whole objective in Double, from the picture and the first convolution's weights.
        func objective(_ x: [Double], _ w0: [Double]) -> Double {
            let a1 = PoolingGradientTests.naiveReLU(ConvolutionGradientTests.naiveForward(x, weight: w0, bias: b0, shapes[0]))
            let a3 = PoolingGradientTests.naiveReLU(ConvolutionGradientTests.naiveForward(a1, weight: w1, bias: b1, shapes[1]))
            let a4 = PoolingGradientTests.naivePool(a3, channels: 4, height: h, width: w) { $0.max()! }
            return styleWeight * LossGradientTests.naiveStyle(a1, c: 4, hw: h * w, targetGram: targetGrams[0])
                + contentWeight * LossGradientTests.naiveContent(a3, contentTarget.doubles)
                + styleWeight * LossGradientTests.naiveStyle(a4, c: 4, hw: (h / 2) * (w / 2), targetGram: targetGrams[1])
                + tvWeight * LossGradientTests.naiveTV(x, c: 3, h: h, w: w)
        }
        let expectedLoss = objective(picture.doubles, w0)
        let lossErr = abs(loss - expectedLoss) / abs(expectedLoss)
        let pictureErr = GradientCheck.relativeError(pictureGradient.values,
                                                     GradientCheck.numericalGradient(at: picture.doubles) { objective($0, w0) })
        let weightErr = GradientCheck.relativeError(convs[0].weightGradient,
                                                    GradientCheck.numericalGradient(at: w0) { objective(picture.doubles, $0) })
        print("tape: loss \(loss) relative error \(lossErr); picture gradient \(pictureErr), conv1 weight gradient \(weightErr)")
        XCTAssertLessThan(lossErr, 1e-5)
        XCTAssertLessThan(pictureErr, 1e-4)
        XCTAssertLessThan(weightErr, 1e-4)
    }
}

extension LayerTapeTests {
    /// Gatys' loop in miniature: the tape's maps are reused from step to step (the same picture gives the same
    /// gradient again), and Adam on the picture along that gradient lowers the objective.
    func testRepeatedStepsReuseBuffersAndLowerTheLoss() {
        let chain = Chain(self)
        let first = chain.evaluate(chain.picture)
        let again = chain.evaluate(chain.picture)
        XCTAssertEqual(again.loss, first.loss)
        XCTAssertEqual(again.gradient, first.gradient)
        var picture = chain.picture.values
        var adam = Adam(learningRate: 0.02)
        var losses: [Double] = []
        for _ in 0..<30 {
            let step = chain.evaluate(FeatureMap(channels: 3, height: h, width: w, values: picture))
            losses.append(step.loss)
            adam.update(&picture, gradient: step.gradient.values)
        }
        print("tape + Adam: loss \(losses.first!) → \(losses.last!) in 30 steps")
        XCTAssertLessThan(losses.last!, 0.8 * losses.first!)
    }
}
