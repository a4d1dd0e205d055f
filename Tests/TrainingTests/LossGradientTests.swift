import Pipeline
import TestSupport
import Training
import XCTest

/// Content, style and total-variation losses: values against their definitions written as loops in Double
/// (the PyTorch expressions in the types' documentation), gradients against central finite differences.
final class LossGradientTests: XCTestCase {
    /// PyTorch `F.mse_loss(x, t)`: mean of squared differences.
    static func naiveContent(_ x: [Double], _ t: [Double]) -> Double {
        zip(x, t).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(x.count)
    }

    /// `f = x.view(c, h*w); f @ f.t() / (c*h*w)`.
    static func naiveGram(_ x: [Double], c: Int, hw: Int) -> [Double] {
        var g = [Double](repeating: 0, count: c * c)
        for i in 0..<c { for j in 0..<c {
            var s = 0.0
            for p in 0..<hw { s += x[i * hw + p] * x[j * hw + p] }
            g[i * c + j] = s / Double(c * hw)
        } }
        return g
    }

    /// `F.mse_loss(gram(x), gram(t))`.
    static func naiveStyle(_ x: [Double], c: Int, hw: Int, targetGram: [Double]) -> Double {
        naiveContent(naiveGram(x, c: c, hw: hw), targetGram)
    }

    /// `((x[..., 1:, :] - x[..., :-1, :])**2).sum() + ((x[..., :, 1:] - x[..., :, :-1])**2).sum()`.
    static func naiveTV(_ x: [Double], c: Int, h: Int, w: Int) -> Double {
        var s = 0.0
        for ch in 0..<c { for y in 0..<h { for xx in 0..<w {
            let v = x[(ch * h + y) * w + xx]
            if y + 1 < h { let d = x[(ch * h + y + 1) * w + xx] - v; s += d * d }
            if xx + 1 < w { let d = x[(ch * h + y) * w + xx + 1] - v; s += d * d }
        } } }
        return s
    }

    /// Checks the loss value (relative) and the gradient, with a nonzero starting gradient so "adds into" is
    /// tested too, and a weight other than 1.
    func check(_ name: String, x: FeatureMap, weight: Double,
               evaluate: (FeatureMap, Double, inout FeatureMap) -> Double, naive: ([Double]) -> Double) {
        var rng = SplitMix64(seed: 99)
        let start = rng.floats(x.count)
        var gradient = FeatureMap(channels: x.channels, height: x.height, width: x.width, values: start)
        let loss = evaluate(x, weight, &gradient)
        let expected = weight * naive(x.doubles)
        let lossErr = abs(loss - expected) / abs(expected)
        let numeric = GradientCheck.numericalGradient(at: x.doubles) { weight * naive($0) }
        let added = zip(gradient.values, start).map { $0 - $1 }
        let gradErr = GradientCheck.relativeError(added, numeric)
        print("\(name): loss \(loss), relative error \(lossErr); gradient relative error \(gradErr)")
        XCTAssertLessThan(lossErr, 1e-5, name)
        XCTAssertLessThan(gradErr, 1e-4, name)
    }

    func testContentLoss() {
        var rng = SplitMix64(seed: 1)
        let x = GradientCheck.randomMap(&rng, channels: 3, height: 4, width: 5)
        let target = GradientCheck.randomMap(&rng, channels: 3, height: 4, width: 5)
        let content = ContentLoss(target: target)
        check("content loss", x: x, weight: 2.5, evaluate: { content.evaluate($0, weight: $1, addingGradientTo: &$2) }) {
            Self.naiveContent($0, target.doubles)
        }
    }

    func testGramMatchesNaive() {
        var rng = SplitMix64(seed: 2)
        let x = GradientCheck.randomMap(&rng, channels: 4, height: 3, width: 5)
        let style = StyleLoss(target: x, context: TrainingContext(threads: 2))
        let err = GradientCheck.maxAbsDifference(style.targetGram, Self.naiveGram(x.doubles, c: 4, hw: 15))
        print("gram: max |sgemm − naive| = \(err)")
        XCTAssertLessThan(err, 1e-6)
        XCTAssertEqual(style.gram(x), style.targetGram)
    }

    /// The style picture's features have another size than the optimised picture's, as in practice.
    func testStyleLoss() {
        var rng = SplitMix64(seed: 3)
        let x = GradientCheck.randomMap(&rng, channels: 4, height: 3, width: 5)
        let target = GradientCheck.randomMap(&rng, channels: 4, height: 6, width: 2)
        let style = StyleLoss(target: target, context: TrainingContext(threads: 2))
        let targetGram = Self.naiveGram(target.doubles, c: 4, hw: 12)
        check("style loss", x: x, weight: 1e3, evaluate: { style.evaluate($0, weight: $1, addingGradientTo: &$2) }) {
            Self.naiveStyle($0, c: 4, hw: 15, targetGram: targetGram)
        }
    }

    func testTotalVariationLoss() {
        var rng = SplitMix64(seed: 4)
        let x = GradientCheck.randomMap(&rng, channels: 3, height: 5, width: 6)
        check("total variation loss", x: x, weight: 0.5, evaluate: { TotalVariationLoss.evaluate($0, weight: $1, addingGradientTo: &$2) }) {
            Self.naiveTV($0, c: 3, h: 5, w: 6)
        }
    }

    /// The distillation loss against its definition, PyTorch's `F.mse_loss(y, t)`: the mean of (y − t)².
    func testPixelLoss() {
        var rng = SplitMix64(seed: 6)
        let target = GradientCheck.randomMap(&rng, channels: 3, height: 4, width: 5)
        let y = GradientCheck.randomMap(&rng, channels: 3, height: 4, width: 5)
        check("pixel loss", x: y, weight: 2, evaluate: { PixelLoss.evaluate($0, target: target, weight: $1, addingGradientTo: &$2) }) { x in
            zip(x, target.values).reduce(0.0) { $0 + ($1.0 - Double($1.1)) * ($1.0 - Double($1.1)) } / Double(x.count)
        }
    }

    /// The colour loss against its definition: along each of the 16 directions, the picture's sorted projections
    /// against the painting's quantiles at the same ranks (the painting far larger than the picture, as in training).
    func testColourLoss() {
        var rng = SplitMix64(seed: 8)
        let painting = GradientCheck.randomMap(&rng, channels: 3, height: 9, width: 11)
        let y = GradientCheck.randomMap(&rng, channels: 3, height: 4, width: 5)
        let loss = ColourLoss(painting: painting)
        check("colour loss", x: y, weight: 3, evaluate: { loss.evaluate($0, weight: $1, addingGradientTo: &$2) }) { x in
            let n = x.count / 3
            var total = 0.0
            for (di, d) in PictureQuality.directions.enumerated() {
                let projected = (0..<n).map { d.x * x[$0] + d.y * x[n + $0] + d.z * x[2 * n + $0] }.sorted()
                for (rank, p) in projected.enumerated() {
                    let difference = p - loss.quantile(di, rank: rank, of: n)
                    total += difference * difference
                }
            }
            return total / Double(PictureQuality.directions.count * n)
        }
        // The painting itself is at distance ~0 (its own quantiles), a flat grey picture far from it.
        var sink = FeatureMap(channels: 3, height: 9, width: 11)
        let itself = loss.evaluate(painting, addingGradientTo: &sink)
        var grey = FeatureMap(channels: 3, height: 4, width: 5)
        for i in grey.values.indices { grey.values[i] = 0.5 }
        sink = FeatureMap(channels: 3, height: 4, width: 5)
        let flat = loss.evaluate(grey, addingGradientTo: &sink)
        XCTAssertLessThan(itself, 1e-3)
        XCTAssertGreaterThan(flat, 10 * max(itself, 1e-6))
    }

    /// The temporal consistency loss for moves in every direction (and one that leaves no overlap), against its
    /// definition: the mean over the overlap of (ŷ₁ moved − ŷ₂)².
    func testTemporalConsistencyLoss() {
        var rng = SplitMix64(seed: 5)
        let (c, h, w) = (3, 5, 7)
        let first = GradientCheck.randomMap(&rng, channels: c, height: h, width: w)
        let second = GradientCheck.randomMap(&rng, channels: c, height: h, width: w)
        func naive(_ x: [Double], dx: Int, dy: Int) -> Double {
            var sum = 0.0, n = 0
            for ch in 0..<c { for y in 0..<h { for xx in 0..<w {
                let sy = y - dy, sx = xx - dx
                guard sy >= 0, sy < h, sx >= 0, sx < w else { continue }
                let d = x[(ch * h + sy) * w + sx] - Double(second.values[(ch * h + y) * w + xx])
                sum += d * d
                n += 1
            } } }
            return sum / Double(n)
        }
        for (dx, dy) in [(2, -1), (-3, 2), (0, 0), (0, 4)] {
            check("temporal loss (\(dx), \(dy))", x: first, weight: 3,
                  evaluate: { TemporalConsistencyLoss.evaluate($0, moved: second, dx: dx, dy: dy, weight: $1, addingGradientTo: &$2) }) {
                naive($0, dx: dx, dy: dy)
            }
        }
        var gradient = FeatureMap(channels: c, height: h, width: w)
        XCTAssertEqual(TemporalConsistencyLoss.evaluate(first, moved: second, dx: w, dy: 0, addingGradientTo: &gradient), 0, "no overlap")
    }

    /// A noiseless moved frame is the picture moved: its loss against the picture itself is exactly zero, and the
    /// revealed border repeats the edge.
    func testTemporalPairMovesThePicture() {
        var rng = SplitMix64(seed: 6)
        let picture = FeatureMap(channels: 3, height: 6, width: 8, values: (0..<144).map { _ in (rng.float() + 1) / 2 })
        var random = SeededRandom(seed: 1)
        let moved = TemporalPair.moved(picture, dx: 2, dy: -1, noise: 0, random: &random)
        var gradient = FeatureMap(channels: 3, height: 6, width: 8)
        XCTAssertEqual(TemporalConsistencyLoss.evaluate(picture, moved: moved, dx: 2, dy: -1, addingGradientTo: &gradient), 0)
        XCTAssertEqual(moved.values[0], picture.values[1 * 8 + 0], "column 0 repeats the edge, row 0 comes from row 1")
        let noisy = TemporalPair.moved(picture, dx: 0, dy: 0, noise: 0.05, random: &random)
        let rms = (zip(noisy.values, picture.values).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / 144).squareRoot()
        XCTAssertEqual(rms, 0.05, accuracy: 0.02, "noise of the asked standard deviation")
        XCTAssertTrue(noisy.values.allSatisfy { (0...1).contains($0) })
    }
}
