import TestSupport
import Training
import XCTest

/// ReLU, 2×2 max pooling and 2×2 average pooling against loops in Double, and their backward passes against
/// central finite differences of those loops. Inputs keep clear of ReLU's kink and of max-pool ties, where the
/// function is not differentiable and a finite difference straddles two branches.
final class PoolingGradientTests: XCTestCase {
    /// Odd height and width: the last row and column are outside every pooling window.
    let (channels, height, width) = (3, 5, 7)

    /// Values in ±[0.05, 1], shuffled distinct multiples of 1/count away from each other (so no two in a window
    /// are within a finite-difference step, and none near 0).
    func input(seed: UInt64) -> FeatureMap {
        var rng = SplitMix64(seed: seed)
        let n = channels * height * width
        var values = (0..<n).map { (i: Int) -> Float in
            let magnitude = 0.05 + 0.95 * Double(i) / Double(n)
            return Float(i % 2 == 0 ? magnitude : -magnitude)
        }
        for i in stride(from: n - 1, to: 0, by: -1) { values.swapAt(i, rng.int(0...i)) }
        return FeatureMap(channels: channels, height: height, width: width, values: values)
    }

    static func naiveReLU(_ x: [Double]) -> [Double] { x.map { max($0, 0) } }

    /// y[c, oy, ox] = reduce over x[c, 2oy + {0,1}, 2ox + {0,1}], for oy < ⌊h/2⌋, ox < ⌊w/2⌋.
    static func naivePool(_ x: [Double], channels: Int, height: Int, width: Int, _ reduce: ([Double]) -> Double) -> [Double] {
        let ho = height / 2, wo = width / 2
        var y = [Double]()
        for c in 0..<channels { for oy in 0..<ho { for ox in 0..<wo {
            y.append(reduce([(0, 0), (0, 1), (1, 0), (1, 1)].map { x[(c * height + 2 * oy + $0.0) * width + 2 * ox + $0.1] }))
        } } }
        return y
    }

    /// Runs forward then backward (dy random), compares the output with `naive` and dx with finite differences
    /// of Σ naive(x)·dy; returns (forward error, gradient relative error).
    func check(_ name: String, seed: UInt64, forward: (FeatureMap, inout FeatureMap) -> Void,
               backward: (FeatureMap, inout FeatureMap) -> Void, naive: ([Double]) -> [Double]) {
        let x = input(seed: seed)
        var y = FeatureMap(), dx = FeatureMap()
        forward(x, &y)
        let expected = naive(x.doubles)
        var rng = SplitMix64(seed: seed + 100)
        let dy = FeatureMap(channels: y.channels, height: y.height, width: y.width, values: rng.floats(y.count))
        backward(dy, &dx)
        let forwardErr = GradientCheck.maxAbsDifference(y.values, expected)
        let numeric = GradientCheck.numericalGradient(at: x.doubles) { GradientCheck.dot(naive($0), dy.doubles) }
        let gradErr = GradientCheck.relativeError(dx.values, numeric)
        print("\(name): max |forward − naive| = \(forwardErr), input gradient relative error \(gradErr)")
        XCTAssertEqual(dx.count, x.count, name)
        XCTAssertLessThan(forwardErr, 1e-6, name)
        XCTAssertLessThan(gradErr, 1e-5, name)
    }

    func testReLU() {
        let relu = ReLU()
        check("relu", seed: 1, forward: relu.forward, backward: relu.backward, naive: Self.naiveReLU)
    }

    func testMaxPool() {
        let pool = MaxPool2x2()
        check("max pool 2×2", seed: 2, forward: pool.forward, backward: pool.backward) { Self.naivePool($0, channels: self.channels, height: self.height, width: self.width) { $0.max()! } }
    }

    func testAveragePool() {
        let pool = AvgPool2x2()
        check("average pool 2×2", seed: 3, forward: pool.forward, backward: pool.backward) {
            Self.naivePool($0, channels: self.channels, height: self.height, width: self.width) { $0.reduce(0, +) / 4 }
        }
    }

    /// Ties go to the first maximum in the window (row-major), as in PyTorch, so exactly one input gets dy.
    func testMaxPoolTieRoutesToFirst() {
        let pool = MaxPool2x2()
        var y = FeatureMap(), dx = FeatureMap()
        pool.forward(FeatureMap(channels: 1, height: 2, width: 2, values: [0.5, 1, 1, 1]), into: &y)
        pool.backward(FeatureMap(channels: 1, height: 1, width: 1, values: [3]), into: &dx)
        XCTAssertEqual(y.values, [1])
        XCTAssertEqual(dx.values, [0, 3, 0, 0])
    }
}
