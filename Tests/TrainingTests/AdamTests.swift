import Foundation
import Training
import XCTest

/// `Adam` against PyTorch's published update rule (the algorithm box of `torch.optim.Adam`'s documentation),
/// evaluated here in Double step by step, on f(p) = Σ aᵢ (pᵢ − cᵢ)², whose gradient is 2aᵢ(pᵢ − cᵢ).
final class AdamTests: XCTestCase {
    let a: [Double] = [1, 10, 0.1, 3]
    let c: [Double] = [0.5, -2, 4, 0]
    let start: [Double] = [0, 1, -1, 1e-3]

    func gradient(_ p: [Double]) -> [Double] { (0..<p.count).map { 2 * a[$0] * (p[$0] - c[$0]) } }

    /// mₜ = β₁mₜ₋₁ + (1−β₁)g, vₜ = β₂vₜ₋₁ + (1−β₂)g², m̂ = mₜ/(1−β₁ᵗ), v̂ = vₜ/(1−β₂ᵗ), p −= lr·m̂/(√v̂ + ε).
    func reference(steps: Int, lr: Double, beta1: Double, beta2: Double, eps: Double) -> [[Double]] {
        var p = start, m = [Double](repeating: 0, count: p.count), v = m
        var trajectory: [[Double]] = []
        for t in 1...steps {
            let g = gradient(p)
            for i in p.indices {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(beta1, Double(t))), vHat = v[i] / (1 - pow(beta2, Double(t)))
                p[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
            trajectory.append(p)
        }
        return trajectory
    }

    func run(_ adam: inout Adam, steps: Int) -> [[Float]] {
        var p = start.map(Float.init)
        var trajectory: [[Float]] = []
        for _ in 0..<steps {
            adam.update(&p, gradient: gradient(p.map(Double.init)).map(Float.init))
            trajectory.append(p)
        }
        return trajectory
    }

    func testDefaultsMatchPyTorch() {
        let adam = Adam()
        XCTAssertEqual([adam.learningRate, adam.beta1, adam.beta2, adam.epsilon], [1e-3, 0.9, 0.999, 1e-8])
    }

    /// The first step moves every parameter by lr against its gradient's sign (m̂/√v̂ = ±1), whatever its scale.
    func testFirstStepIsLearningRateTimesSign() {
        var adam = Adam(learningRate: 0.01)
        let p = run(&adam, steps: 1)[0]
        let expected = zip(start, gradient(start)).map { $0 - 0.01 * ($1 > 0 ? 1 : -1) }
        XCTAssertLessThan(zip(p, expected).map { abs(Double($0) - $1) }.max()!, 1e-6)
        XCTAssertEqual(adam.step, 1)
    }

    func testStepsMatchPublishedRule() {
        for (lr, beta1, beta2, eps) in [(1e-3, 0.9, 0.999, 1e-8), (0.1, 0.8, 0.99, 1e-3)] {
            var adam = Adam(learningRate: lr, beta1: beta1, beta2: beta2, epsilon: eps)
            let got = run(&adam, steps: 5)
            let expected = reference(steps: 5, lr: lr, beta1: beta1, beta2: beta2, eps: eps)
            var worst = 0.0
            for (g, e) in zip(got, expected) { worst = max(worst, zip(g, e).map { abs(Double($0) - $1) }.max()!) }
            print("adam lr \(lr) betas (\(beta1), \(beta2)) eps \(eps): max |fp32 − Double rule| over 5 steps = \(worst)")
            XCTAssertLessThan(worst, 1e-6)
            // The parameters really moved: the comparison is not of two unchanged starts.
            XCTAssertGreaterThan(zip(got[4], start).map { abs(Double($0) - $1) }.max()!, 2 * lr)
        }
    }
}
