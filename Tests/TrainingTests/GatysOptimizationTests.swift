import Decode
import Foundation
import Pipeline
import TestSupport
import Training
import XCTest

/// A short real optimisation: a Kodak photo toward Hokusai's Great Wave with L-BFGS, small enough for a test.
final class GatysOptimizationTests: XCTestCase {
    override class func tearDown() { SharedVGG.release() }

    func picture(_ relative: String, width: Int, height: Int) throws -> FeatureMap {
        FeatureMap(picture: try ImageDecoder.resize(try ImageDecoder.decode(path: try SharedData.path(relative)), width: width, height: height))
    }

    /// Mean colour of a picture (R, G, B in 0…1).
    func meanColour(_ p: FeatureMap) -> [Double] {
        (0..<3).map { c in p.values[(c * p.plane)..<((c + 1) * p.plane)].reduce(0.0) { $0 + Double($1) } / Double(p.plane) }
    }

    func testLBFGSLossFallsEveryStepAndThePictureMovesTowardTheStyle() throws {
        let content = try picture("media/images/kodak/kodim23.png", width: 48, height: 32)
        let style = try picture("media/images/style/wave.jpg", width: 48, height: 32)
        let context = SharedVGG.context
        let objective = GatysObjective(network: try SharedVGG.network(), content: content, styles: [(style, 1)],
                                       weights: GatysObjective.Weights(content: 1, style: 1e3, totalVariation: 1e-3), context: context)
        let run = GatysOptimization(objective: objective, initial: content, method: .lbfgs, learningRate: 1)
        var totals: [Double] = []
        var first = GatysObjective.Losses(), last = first
        for i in 0..<25 {
            let step = run.step()
            if i == 0 { first = step.losses }
            last = step.losses
            totals.append(step.losses.total)
            if step.converged != nil { break }
        }
        print("L-BFGS 48×32: \(totals.count) steps, \(run.evaluations) evaluations, loss \(totals.first!) → \(totals.last!); style \(first.style) → \(last.style), content \(first.content) → \(last.content)")
        XCTAssertGreaterThanOrEqual(totals.count, 20, "L-BFGS should not stop this early")
        for i in 1..<totals.count { XCTAssertLessThan(totals[i], totals[i - 1], "step \(i + 1) did not lower the loss") }
        XCTAssertLessThan(last.style, first.style / 10, "the style loss should fall by more than 10×")
        // The picture moves toward the painting: its mean colour gets closer to the Great Wave's.
        func distance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
        let before = distance(meanColour(content), meanColour(style)), after = distance(meanColour(run.picture), meanColour(style))
        print("mean colour distance to the style: \(before) → \(after)")
        XCTAssertLessThan(after, before * 0.9)
    }
}
