import TestSupport
import Training
import XCTest

/// `ConvTranspose2d` (every pass one of `Conv2d`'s products on the adjoint convolution) against PyTorch's
/// definition written as a direct scatter loop in Double, and its gradients against central finite differences
/// of that loop.
final class TransposedConvolutionTests: XCTestCase {
    struct Shape: CustomStringConvertible {
        var cin: Int, cout: Int, h: Int, w: Int, k: Int, s: Int, p: Int, op: Int
        var ho: Int { (h - 1) * s - 2 * p + k + op }
        var wo: Int { (w - 1) * s - 2 * p + k + op }
        var description: String { "\(cin)→\(cout) \(h)×\(w) k\(k) s\(s) p\(p) op\(op)" }
    }

    /// Every kernel 3 and 4, stride 1 and 2, padding 0 and 1, and output padding below the stride.
    static let shapes: [Shape] = [3, 4].flatMap { k in [1, 2].flatMap { s in [0, 1].flatMap { p in (0..<s).map { op in
        Shape(cin: 3, cout: 2, h: 4, w: 5, k: k, s: s, p: p, op: op)
    } } } }

    /// y[co, i·s + ky − p, j·s + kx − p] += x[ci, i, j] · W[ci, co, ky, kx], dropped outside Ho×Wo, plus b[co].
    static func naiveForward(_ x: [Double], weight: [Double], bias: [Double], _ s: Shape) -> [Double] {
        var y = (0..<s.cout).flatMap { co in [Double](repeating: bias[co], count: s.ho * s.wo) }
        scatter(s) { xi, wi, yi in y[yi] += x[xi] * weight[wi] }
        return y
    }

    /// The gradients of Σ y·dy by the chain rule on the same scatter, for shapes too large for finite differences.
    static func naiveBackward(_ x: [Double], weight: [Double], dy: [Double], _ s: Shape) -> (dx: [Double], dw: [Double], db: [Double]) {
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: weight.count)
        scatter(s) { xi, wi, yi in
            dx[xi] += dy[yi] * weight[wi]
            dw[wi] += dy[yi] * x[xi]
        }
        let db = (0..<s.cout).map { co in dy[(co * s.ho * s.wo)..<((co + 1) * s.ho * s.wo)].reduce(0, +) }
        return (dx, dw, db)
    }

    /// Calls `term(x index, weight index, y index)` for every product of the transposed convolution.
    static func scatter(_ s: Shape, _ term: (Int, Int, Int) -> Void) {
        for ci in 0..<s.cin { for i in 0..<s.h { for j in 0..<s.w { for co in 0..<s.cout { for ky in 0..<s.k { for kx in 0..<s.k {
            let oy = i * s.s + ky - s.p, ox = j * s.s + kx - s.p
            guard oy >= 0, oy < s.ho, ox >= 0, ox < s.wo else { continue }
            term((ci * s.h + i) * s.w + j, ((ci * s.cout + co) * s.k + ky) * s.k + kx, (co * s.ho + oy) * s.wo + ox)
        } } } } } }
    }

    struct Case {
        var shape: Shape
        var x: FeatureMap, weight: [Float], bias: [Float], dy: FeatureMap
        init(_ s: Shape, seed: UInt64) {
            var rng = SplitMix64(seed: seed)
            shape = s
            x = GradientCheck.randomMap(&rng, channels: s.cin, height: s.h, width: s.w)
            weight = rng.floats(s.cin * s.cout * s.k * s.k)
            bias = rng.floats(s.cout)
            dy = GradientCheck.randomMap(&rng, channels: s.cout, height: s.ho, width: s.wo)
        }
        /// A fresh layer after one forward of x and one backward of dy, its output and the input gradient.
        func forwardBackward(threads: Int) -> (conv: ConvTranspose2d, y: FeatureMap, dx: FeatureMap) {
            let conv = ConvTranspose2d(inputChannels: shape.cin, outputChannels: shape.cout, kernel: shape.k, stride: shape.s,
                                       padding: shape.p, outputPadding: shape.op, weight: weight, bias: bias,
                                       context: TrainingContext(threads: threads))
            var y = FeatureMap(), dx = FeatureMap()
            conv.forward(x, into: &y)
            conv.backward(dy, into: &dx)
            return (conv, y, dx)
        }
    }

    func testForwardMatchesNaiveScatter() {
        for (i, s) in Self.shapes.enumerated() {
            let c = Case(s, seed: 200 + UInt64(i))
            let (_, y, _) = c.forwardBackward(threads: 2)
            XCTAssertEqual([y.channels, y.height, y.width], [s.cout, s.ho, s.wo], "\(s)")
            let expected = Self.naiveForward(c.x.doubles, weight: c.weight.map(Double.init), bias: c.bias.map(Double.init), s)
            let err = GradientCheck.maxAbsDifference(y.values, expected)
            print("conv transpose forward \(s): max |fp32 − naive| = \(err)")
            XCTAssertLessThan(err, 1e-5, "\(s)")
        }
    }

    func testGradientsMatchFiniteDifferences() {
        for (i, s) in Self.shapes.enumerated() {
            let c = Case(s, seed: 300 + UInt64(i))
            let (conv, _, dx) = c.forwardBackward(threads: 2)
            let x = c.x.doubles, w = c.weight.map(Double.init), b = c.bias.map(Double.init), r = c.dy.doubles
            let loss = { (x: [Double], w: [Double], b: [Double]) in GradientCheck.dot(Self.naiveForward(x, weight: w, bias: b, s), r) }
            for (name, err) in GradientCheck.layerGradientErrors(input: dx.values, weight: conv.weightGradient, bias: conv.biasGradient,
                                                                 at: x, w, b, loss: loss) {
                print("conv transpose \(s) \(name) gradient: relative error against finite differences \(err)")
                XCTAssertLessThan(err, 1e-4, "\(s) \(name)")
            }
        }
    }

    /// Enough output channels and input pixels that the forward's col2im and the weight gradient run in several
    /// bands of input rows, on two threads.
    func testMultiBandMatchesNaive() {
        let s = Shape(cin: 2, cout: 64, h: 40, w: 36, k: 4, s: 2, p: 1, op: 1)
        XCTAssertGreaterThan(s.cout * s.k * s.k * s.h * s.w, 1 << 20, "shape must not fit one band")
        let c = Case(s, seed: 5)
        let (conv, y, dx) = c.forwardBackward(threads: 2)
        let x = c.x.doubles, w = c.weight.map(Double.init)
        let forwardErr = GradientCheck.maxAbsDifference(y.values, Self.naiveForward(x, weight: w, bias: c.bias.map(Double.init), s))
        let naive = Self.naiveBackward(x, weight: w, dy: c.dy.doubles, s)
        let errors = [GradientCheck.relativeError(dx.values, naive.dx), GradientCheck.relativeError(conv.weightGradient, naive.dw),
                      GradientCheck.relativeError(conv.biasGradient, naive.db)]
        print("conv transpose multi-band forward max |fp32 − naive| = \(forwardErr); input/weight/bias gradient: relative error against naive \(errors)")
        XCTAssertLessThan(forwardErr, 1e-5)
        for e in errors { XCTAssertLessThan(e, 1e-5) }
    }

    func testParameterGradientsAccumulateUntilZeroed() {
        let c = Case(Self.shapes[5], seed: 6)
        let (conv, _, dx) = c.forwardBackward(threads: 1)
        GradientCheck.assertParameterGradientsAccumulate(conv, dy: c.dy, dx: dx)
    }
}
