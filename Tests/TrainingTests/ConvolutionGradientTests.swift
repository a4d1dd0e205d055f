import Stylize
import TestSupport
import Training
import XCTest

/// `Conv3x3` (im2col + GEMM forward; GEMM + col2im input gradient; dY·colᵀ weight gradient) against the
/// definition written as loops in Double, and its gradients against central finite differences of that definition.
final class ConvolutionGradientTests: XCTestCase {
    struct Shape { var cin: Int, cout: Int, h: Int, w: Int }

    /// y[co, y, x] = b[co] + Σ W[co, ci, ky, kx] · x[ci, y + ky − 1, x + kx − 1], zero outside the picture.
    static func naiveForward(_ x: [Double], weight: [Double], bias: [Double], _ s: Shape) -> [Double] {
        var y = [Double](repeating: 0, count: s.cout * s.h * s.w)
        for co in 0..<s.cout { for oy in 0..<s.h { for ox in 0..<s.w {
            var sum = bias[co]
            for ci in 0..<s.cin { for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy + ky - 1, ix = ox + kx - 1
                guard iy >= 0, iy < s.h, ix >= 0, ix < s.w else { continue }
                sum += weight[((co * s.cin + ci) * 3 + ky) * 3 + kx] * x[(ci * s.h + iy) * s.w + ix]
            } } }
            y[(co * s.h + oy) * s.w + ox] = sum
        } } }
        return y
    }

    /// The gradients of Σ y·dy by the chain rule, one product at a time (checked against finite differences in
    /// `testNaiveBackwardMatchesFiniteDifferences`, then used where finite differences would be too slow).
    static func naiveBackward(_ x: [Double], weight: [Double], dy: [Double], _ s: Shape) -> (dx: [Double], dw: [Double], db: [Double]) {
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: weight.count)
        var db = [Double](repeating: 0, count: s.cout)
        for co in 0..<s.cout { for oy in 0..<s.h { for ox in 0..<s.w {
            let g = dy[(co * s.h + oy) * s.w + ox]
            db[co] += g
            for ci in 0..<s.cin { for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy + ky - 1, ix = ox + kx - 1
                guard iy >= 0, iy < s.h, ix >= 0, ix < s.w else { continue }
                let wi = ((co * s.cin + ci) * 3 + ky) * 3 + kx, xi = (ci * s.h + iy) * s.w + ix
                dw[wi] += g * x[xi]
                dx[xi] += g * weight[wi]
            } } }
        } } }
        return (dx, dw, db)
    }

    struct Case {
        var shape: Shape
        var x: FeatureMap, weight: [Float], bias: [Float], dy: FeatureMap
        init(_ s: Shape, seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            shape = s
            x = GradientCheck.randomMap(&rng, channels: s.cin, height: s.h, width: s.w)
            weight = rng.floats(s.cout * s.cin * 9)
            bias = rng.floats(s.cout)
            dy = GradientCheck.randomMap(&rng, channels: s.cout, height: s.h, width: s.w)
        }
        func layer(_ context: TrainingContext) -> Conv3x3 {
            Conv3x3(inputChannels: shape.cin, outputChannels: shape.cout, weight: weight, bias: bias, context: context)
        }
        /// A fresh layer after one forward of x and one backward of dy, and the input gradient.
        func forwardBackward(threads: Int) -> (conv: Conv3x3, dx: FeatureMap) {
            let conv = layer(TrainingContext(threads: threads))
            var y = FeatureMap(), dx = FeatureMap()
            conv.forward(x, into: &y)
            conv.backward(dy, into: &dx)
            return (conv, dx)
        }
    }

    let small = Shape(cin: 3, cout: 4, h: 5, w: 6)

    func testForwardMatchesNaive() {
        for (i, s) in [small, Shape(cin: 1, cout: 1, h: 1, w: 1), Shape(cin: 5, cout: 2, h: 7, w: 3)].enumerated() {
            let c = Case(s, seed: 10 + UInt64(i))
            var y = FeatureMap()
            c.layer(TrainingContext(threads: 2)).forward(c.x, into: &y)
            let expected = Self.naiveForward(c.x.doubles, weight: c.weight.map(Double.init), bias: c.bias.map(Double.init), s)
            XCTAssertEqual([y.channels, y.height, y.width], [s.cout, s.h, s.w])
            let err = GradientCheck.maxAbsDifference(y.values, expected)
            print("conv3x3 forward \(s): max |fp32 − naive| = \(err)")
            XCTAssertLessThan(err, 1e-5)
        }
    }

    func testGradientsMatchFiniteDifferences() {
        let c = Case(small, seed: 1)
        let (conv, dx) = c.forwardBackward(threads: 2)
        let x = c.x.doubles, w = c.weight.map(Double.init), b = c.bias.map(Double.init), r = c.dy.doubles
        let loss = { (x: [Double], w: [Double], b: [Double]) in GradientCheck.dot(Self.naiveForward(x, weight: w, bias: b, self.small), r) }
        for (name, err) in GradientCheck.layerGradientErrors(input: dx.values, weight: conv.weightGradient, bias: conv.biasGradient,
                                                             at: x, w, b, loss: loss) {
            print("conv3x3 \(name) gradient: relative error against finite differences \(err)")
            XCTAssertLessThan(err, 1e-4, name)
        }
    }

    func testNaiveBackwardMatchesFiniteDifferences() {
        let c = Case(small, seed: 2)
        let x = c.x.doubles, w = c.weight.map(Double.init), b = c.bias.map(Double.init), r = c.dy.doubles
        let naive = Self.naiveBackward(x, weight: w, dy: r, small)
        let loss = { (x: [Double], w: [Double]) in GradientCheck.dot(Self.naiveForward(x, weight: w, bias: b, self.small), r) }
        let dxErr = zip(naive.dx, GradientCheck.numericalGradient(at: x) { loss($0, w) }).map { abs($0 - $1) }.max()!
        let dwErr = zip(naive.dw, GradientCheck.numericalGradient(at: w) { loss(x, $0) }).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(dxErr, 1e-8)
        XCTAssertLessThan(dwErr, 1e-8)
    }

    /// Enough channels and rows that the backward runs in several bands of output rows (each band's columns
    /// rebuilt from the kept input), on two threads.
    func testMultiBandBackwardMatchesNaive() {
        let s = Shape(cin: 64, cout: 2, h: 48, w: 40)
        XCTAssertGreaterThan(s.cin * 9 * s.h * s.w, 1 << 20, "shape must not fit one band")
        let c = Case(s, seed: 3)
        let (conv, dx) = c.forwardBackward(threads: 2)
        let naive = Self.naiveBackward(c.x.doubles, weight: c.weight.map(Double.init), dy: c.dy.doubles, s)
        let errors = [GradientCheck.relativeError(dx.values, naive.dx), GradientCheck.relativeError(conv.weightGradient, naive.dw),
                      GradientCheck.relativeError(conv.biasGradient, naive.db)]
        print("conv3x3 multi-band input/weight/bias gradient: relative error against naive \(errors)")
        for e in errors { XCTAssertLessThan(e, 1e-5) }
    }

    /// A convolution with 16 or more channels each side runs its forward and input gradient on Winograd
    /// (F(2×2) below 64 channels, F(4×4) from 64); both must agree with the im2col lowering, with zero and
    /// mirrored borders, across two optimiser-style weight changes (the packed weights must follow `weight`).
    func testWinogradLoweringMatchesIm2col() {
        for (i, (cin, cout, mode)) in [(16, 24, PadMode.reflect), (64, 64, .reflect), (32, 16, .zero)].enumerated() {
            var rng = SplitMix64(seed: 40 + UInt64(i))
            let x = GradientCheck.randomMap(&rng, channels: cin, height: 19, width: 13)
            let dy = GradientCheck.randomMap(&rng, channels: cout, height: 19, width: 13)
            let context = TrainingContext(threads: 2)
            let layers = [Conv2d.Lowering.automatic, .im2col].map {
                Conv2d(inputChannels: cin, outputChannels: cout, padMode: mode, weight: rng.floats(cout * cin * 9), bias: rng.floats(cout),
                       lowering: $0, context: context)
            }
            layers[1].weight = layers[0].weight
            layers[1].bias = layers[0].bias
            for round in 0..<2 {
                var results: [(y: FeatureMap, dx: FeatureMap)] = []
                for layer in layers {
                    var y = FeatureMap(), dx = FeatureMap()
                    layer.zeroGradients()
                    layer.forward(x, into: &y)
                    layer.backward(dy, into: &dx)
                    results.append((y, dx))
                }
                let yErr = GradientCheck.relativeError(results[0].y.values, results[1].y.values.map(Double.init))
                let dxErr = GradientCheck.relativeError(results[0].dx.values, results[1].dx.values.map(Double.init))
                let dwErr = GradientCheck.relativeError(layers[0].weightGradient, layers[1].weightGradient.map(Double.init))
                print("conv3x3 \(cin)→\(cout) \(mode) round \(round): Winograd against im2col, output \(yErr), input gradient \(dxErr), weight gradient \(dwErr)")
                XCTAssertLessThan(yErr, 1e-4)
                XCTAssertLessThan(dxErr, 1e-4)
                XCTAssertLessThan(dwErr, 1e-5)
                // An optimiser step changes the weights in place.
                for layer in layers { layer.weight = layer.weight.map { $0 * 0.5 } }
            }
        }
    }

    /// Parameter gradients add up over backward calls (a batch, or several losses) until zeroed, like `.grad`;
    /// the input gradient is written, not added.
    func testParameterGradientsAccumulateUntilZeroed() {
        let c = Case(small, seed: 4)
        let (conv, dx) = c.forwardBackward(threads: 1)
        GradientCheck.assertParameterGradientsAccumulate(conv, dy: c.dy, dx: dx)
    }
}
