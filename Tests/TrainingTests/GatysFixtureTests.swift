import Foundation
import Stylize
import TestSupport
import Training
import XCTest

/// The whole chain against PyTorch: `scripts/fixtures/gatys_fixture.py` wrote the Gatys losses and the gradient
/// with respect to the picture (dequantised VGG19, two blended style pictures, TV), three Adam steps, and an
/// L-BFGS run with strong-Wolfe line search, all from PyTorch itself.
final class GatysFixtureTests: XCTestCase {
    override class func tearDown() { SharedVGG.release() }

    struct Index: Decodable {
        struct Losses: Decodable { var content: Double, style: Double, tv: Double }
        struct LBFGSRun: Decodable { var history_size: Int, iterations: Int, evaluations: [Double], regularisation: Double }
        var content_shape: [Int]
        var style_shapes: [[Int]]
        var weights: [String: Double]
        var blend: [Double]
        var losses: Losses
        var lbfgs: LBFGSRun
    }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gatys")

    func fixture(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func map(_ name: String, _ shape: [Int]) throws -> FeatureMap {
        FeatureMap(channels: shape[0], height: shape[1], width: shape[2], values: try fixture(name))
    }

    func index() throws -> Index {
        try JSONDecoder().decode(Index.self, from: Data(contentsOf: Self.folder.appendingPathComponent("index.json")))
    }

    func objective(_ ix: Index) throws -> GatysObjective {
        let weights = GatysObjective.Weights(content: ix.weights["content"]!, style: ix.weights["style"]!, totalVariation: ix.weights["tv"]!)
        let network = try SharedVGG.network()
        let context = SharedVGG.context
        let styles = [(try map("style0.f32", ix.style_shapes[0]), ix.blend[0]), (try map("style1.f32", ix.style_shapes[1]), ix.blend[1])]
        return GatysObjective(network: network, content: try map("content.f32", ix.content_shape), styles: styles, weights: weights, context: context)
    }

    func testLossesAndPictureGradientMatchPyTorch() throws {
        let ix = try index()
        let objective = try self.objective(ix)
        var gradient = FeatureMap()
        let losses = objective.evaluate(try map("picture.f32", ix.content_shape), gradient: &gradient)
        let reference = try fixture("gradient.f32")
        for (name, got, want) in [("content", losses.content, ix.losses.content), ("style", losses.style, ix.losses.style),
                                  ("tv", losses.totalVariation, ix.losses.tv)] {
            print("Gatys \(name) loss: streamd \(got), PyTorch \(want), rel. diff \(abs(got - want) / want)")
            XCTAssertLessThan(abs(got - want) / want, 2e-5, name)
        }
        let error = GradientCheck.relativeError(gradient.values, reference.map(Double.init))
        print("Gatys picture gradient: max |streamd − PyTorch| / max |PyTorch| = \(error)")
        XCTAssertLessThan(error, 2e-5)
    }

    func testThreeAdamStepsMatchPyTorch() throws {
        let ix = try index()
        let objective = try self.objective(ix)
        var picture = try map("picture.f32", ix.content_shape)
        var adam = Adam(learningRate: 0.01)
        var gradient = FeatureMap()
        for _ in 0..<3 {
            objective.evaluate(picture, gradient: &gradient)
            adam.update(&picture.values, gradient: gradient.values)
        }
        let reference = try fixture("adam3.f32")
        let diffs = zip(picture.values, reference).map { abs($0 - $1) }
        let worst = diffs.max()!
        print("3 Adam steps: max |streamd − PyTorch| = \(worst) (the picture moved \(zip(picture.values, try fixture("picture.f32")).map { abs($0 - $1) }.max()!))")
        XCTAssertLessThan(worst, 1e-4)
    }

    func testLBFGSFollowsPyTorchEvaluationByEvaluation() throws {
        let ix = try index()
        let a = try fixture("logistic_a.f32").map(Double.init), labels = try fixture("logistic_labels.f32").map(Double.init)
        let n = 12, lambda = ix.lbfgs.regularisation
        var evaluations: [Double] = []
        // Σ log(1 + exp(−lᵢ·aᵢ·x)) + λ|x|², as the fixture script defines it.
        let objective: LBFGS.Objective = { x in
            var loss = 0.0
            var g = (0..<n).map { 2 * lambda * Double(x[$0]) }
            for i in 0..<labels.count {
                var z = 0.0
                for j in 0..<n { z += a[i * n + j] * Double(x[j]) }
                let m = -labels[i] * z
                loss += log1p(exp(m))
                let s = 1 / (1 + exp(-m))
                for j in 0..<n { g[j] += -labels[i] * a[i * n + j] * s }
            }
            for j in 0..<n { loss += lambda * Double(x[j]) * Double(x[j]) }
            evaluations.append(loss)
            return (loss, g.map(Float.init))
        }
        let lbfgs = LBFGS(historySize: ix.lbfgs.history_size)
        var x = [Float](repeating: 0, count: n)
        // PyTorch ran `iterations` iterations and stopped there (few enough that the fp32 loss is still far
        // from its rounding floor, where the two would stop on noise).
        for i in 0..<ix.lbfgs.iterations {
            XCTAssertEqual(lbfgs.step(&x, objective: objective), .moved, "iteration \(i + 1)")
        }
        print("L-BFGS: \(evaluations.count) evaluations (PyTorch \(ix.lbfgs.evaluations.count)), final loss \(evaluations.last!) (PyTorch \(ix.lbfgs.evaluations.last!))")
        XCTAssertEqual(evaluations.count, ix.lbfgs.evaluations.count)
        for (i, (got, want)) in zip(evaluations, ix.lbfgs.evaluations).enumerated() {
            XCTAssertEqual(got, want, accuracy: 1e-5 * abs(want), "evaluation \(i)")
        }
        let reference = try fixture("lbfgs_x.f32")
        XCTAssertLessThan(zip(x, reference).map { abs($0 - $1) }.max()!, 1e-4)
    }
}
