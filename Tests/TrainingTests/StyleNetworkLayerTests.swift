import Foundation
import Stylize
import TestSupport
import Training
import XCTest

/// The style networks' operators (strided and reflection-padded convolution, instance norm plain and conditional,
/// nearest 2× upsampling, the tanh and sigmoid output transforms): every gradient against central finite differences of a
/// naive double-precision definition.
final class StyleNetworkLayerTests: XCTestCase {
    /// Mirror (without repeating the edge) or clamp an index that falls outside 0..<n, for pads smaller than n.
    static func source(_ i: Int, _ n: Int, _ mode: PadMode) -> Int? {
        if i >= 0 && i < n { return i }
        switch mode {
        case .zero: return nil
        case .edge: return i < 0 ? 0 : n - 1
        case .reflect: return i < 0 ? -i : 2 * (n - 1) - i
        }
    }

    struct ConvShape { var cin: Int, cout: Int, h: Int, w: Int, k: Int, s: Int, p: Int, mode: PadMode
        var ho: Int { (h + 2 * p - k) / s + 1 }
        var wo: Int { (w + 2 * p - k) / s + 1 }
    }

    static func naiveConv(_ x: [Double], _ wt: [Double], _ b: [Double], _ c: ConvShape) -> [Double] {
        var y = [Double](repeating: 0, count: c.cout * c.ho * c.wo)
        for co in 0..<c.cout { for oy in 0..<c.ho { for ox in 0..<c.wo {
            var sum = b[co]
            for ci in 0..<c.cin { for ky in 0..<c.k { for kx in 0..<c.k {
                guard let iy = source(oy * c.s + ky - c.p, c.h, c.mode), let ix = source(ox * c.s + kx - c.p, c.w, c.mode) else { continue }
                sum += wt[((co * c.cin + ci) * c.k + ky) * c.k + kx] * x[(ci * c.h + iy) * c.w + ix]
            } } }
            y[(co * c.ho + oy) * c.wo + ox] = sum
        } } }
        return y
    }

    func check(_ name: String, _ analytic: [Float], _ numeric: [Double], tolerance: Double = 1e-4) {
        let err = GradientCheck.relativeError(analytic, numeric)
        print("\(name): relative error against finite differences \(err)")
        XCTAssertLessThan(err, tolerance, name)
    }

    func testConvolutionWithStrideAndPaddingModes() {
        let shapes = [ConvShape(cin: 3, cout: 4, h: 7, w: 8, k: 3, s: 2, p: 1, mode: .zero),
                      ConvShape(cin: 2, cout: 3, h: 10, w: 11, k: 9, s: 1, p: 4, mode: .reflect),
                      ConvShape(cin: 3, cout: 2, h: 6, w: 5, k: 3, s: 1, p: 1, mode: .reflect),
                      ConvShape(cin: 2, cout: 2, h: 5, w: 6, k: 3, s: 2, p: 1, mode: .edge)]
        for (i, c) in shapes.enumerated() {
            var rng = SplitMix64(seed: 70 + UInt64(i))
            let x = GradientCheck.randomMap(&rng, channels: c.cin, height: c.h, width: c.w)
            let wt = rng.floats(c.cout * c.cin * c.k * c.k), b = rng.floats(c.cout)
            let r = (0..<(c.cout * c.ho * c.wo)).map { _ in Double(rng.float()) }
            let conv = Conv2d(inputChannels: c.cin, outputChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p, padMode: c.mode,
                              weight: wt, bias: b, context: TrainingContext(threads: 2))
            var y = FeatureMap(), dx = FeatureMap()
            conv.forward(x, into: &y)
            XCTAssertEqual([y.channels, y.height, y.width], [c.cout, c.ho, c.wo])
            let xd = x.doubles, wd = wt.map(Double.init), bd = b.map(Double.init)
            XCTAssertLessThan(GradientCheck.maxAbsDifference(y.values, Self.naiveConv(xd, wd, bd, c)), 1e-5, "forward \(c)")
            conv.backward(FeatureMap(channels: c.cout, height: c.ho, width: c.wo, values: r.map(Float.init)), into: &dx)
            let loss = { (x: [Double], w: [Double], b: [Double]) in GradientCheck.dot(Self.naiveConv(x, w, b, c), r) }
            let label = "conv k\(c.k) s\(c.s) p\(c.p) \(c.mode)"
            check("\(label) input", dx.values, GradientCheck.numericalGradient(at: xd) { loss($0, wd, bd) })
            check("\(label) weight", conv.weightGradient, GradientCheck.numericalGradient(at: wd) { loss(xd, $0, bd) })
            check("\(label) bias", conv.biasGradient, GradientCheck.numericalGradient(at: bd) { loss(xd, wd, $0) })
        }
    }

    /// TensorFlow's "SAME" padding (the ml5/Engstrom networks'): ⌈h/s⌉ outputs, the odd padding row at the bottom
    /// and column at the right, with zero and mirrored borders; against a naive convolution whose pads are written
    /// out here for each shape.
    func testTensorFlowSamePadding() {
        // (cin, cout, h, w, k, s, mode, top, left, bottom, right)
        let cases: [(Int, Int, Int, Int, Int, Int, PadMode, Int, Int, Int, Int)] = [
            (2, 3, 8, 7, 3, 2, .zero, 0, 1, 1, 1),      // h 8 → 4 rows: 1 pad row, at the bottom; w 7 → 4: 2 columns
            (2, 2, 6, 9, 4, 2, .zero, 1, 1, 1, 2),      // even kernel: w 9 → 5 columns needs 3, the odd one right
            (3, 2, 8, 8, 3, 2, .reflect, 0, 0, 1, 1),
            (2, 2, 10, 10, 9, 1, .zero, 4, 4, 4, 4),    // stride 1: as symmetric padding
        ]
        for (i, (cin, cout, h, w, k, s, mode, top, left, bottom, right)) in cases.enumerated() {
            var rng = SplitMix64(seed: 90 + UInt64(i))
            let x = GradientCheck.randomMap(&rng, channels: cin, height: h, width: w)
            let wt = rng.floats(cout * cin * k * k), b = rng.floats(cout)
            let ho = (h + s - 1) / s, wo = (w + s - 1) / s
            XCTAssertEqual((h + top + bottom - k) / s + 1, ho, "the pads written here give TensorFlow's size")
            let r = (0..<(cout * ho * wo)).map { _ in Double(rng.float()) }
            func naive(_ x: [Double], _ wt: [Double], _ b: [Double]) -> [Double] {
                var y = [Double](repeating: 0, count: cout * ho * wo)
                for co in 0..<cout { for oy in 0..<ho { for ox in 0..<wo {
                    var sum = b[co]
                    for ci in 0..<cin { for ky in 0..<k { for kx in 0..<k {
                        guard let iy = Self.source(oy * s + ky - top, h, mode), let ix = Self.source(ox * s + kx - left, w, mode) else { continue }
                        sum += wt[((co * cin + ci) * k + ky) * k + kx] * x[(ci * h + iy) * w + ix]
                    } } }
                    y[(co * ho + oy) * wo + ox] = sum
                } } }
                return y
            }
            let conv = Conv2d(inputChannels: cin, outputChannels: cout, kernel: k, stride: s, tensorFlowSame: true, padMode: mode,
                              weight: wt, bias: b, context: TrainingContext(threads: 2))
            XCTAssertEqual(conv.pads(height: h, width: w), Pads(top: top, left: left, bottom: bottom, right: right))
            var y = FeatureMap(), dx = FeatureMap()
            conv.forward(x, into: &y)
            XCTAssertEqual([y.channels, y.height, y.width], [cout, ho, wo])
            let xd = x.doubles, wd = wt.map(Double.init), bd = b.map(Double.init)
            XCTAssertLessThan(GradientCheck.maxAbsDifference(y.values, naive(xd, wd, bd)), 1e-5, "forward case \(i)")
            conv.backward(FeatureMap(channels: cout, height: ho, width: wo, values: r.map(Float.init)), into: &dx)
            XCTAssertEqual([dx.channels, dx.height, dx.width], [cin, h, w])
            let loss = { (x: [Double], w: [Double], b: [Double]) in GradientCheck.dot(naive(x, w, b), r) }
            let label = "conv SAME k\(k) s\(s) \(h)x\(w) \(mode)"
            check("\(label) input", dx.values, GradientCheck.numericalGradient(at: xd) { loss($0, wd, bd) })
            check("\(label) weight", conv.weightGradient, GradientCheck.numericalGradient(at: wd) { loss(xd, $0, bd) })
            check("\(label) bias", conv.biasGradient, GradientCheck.numericalGradient(at: bd) { loss(xd, wd, $0) })
        }
    }

    func testDepthwiseConvolution() {
        for (i, c) in [ConvShape(cin: 3, cout: 3, h: 7, w: 6, k: 3, s: 1, p: 1, mode: .reflect),
                       ConvShape(cin: 2, cout: 2, h: 8, w: 9, k: 3, s: 2, p: 1, mode: .zero)].enumerated() {
            var rng = SplitMix64(seed: 80 + UInt64(i))
            let x = GradientCheck.randomMap(&rng, channels: c.cin, height: c.h, width: c.w)
            let wt = rng.floats(c.cin * c.k * c.k), b = rng.floats(c.cin)
            let r = (0..<(c.cout * c.ho * c.wo)).map { _ in Double(rng.float()) }
            let conv = DepthwiseConv2d(channels: c.cin, kernel: c.k, stride: c.s, padding: c.p, padMode: c.mode, weight: wt, bias: b,
                                       context: TrainingContext(threads: 2))
            var y = FeatureMap(), dx = FeatureMap()
            conv.forward(x, into: &y)
            conv.backward(FeatureMap(channels: c.cout, height: c.ho, width: c.wo, values: r.map(Float.init)), into: &dx)
            // The naive definition on the equivalent full weight (each kernel on the diagonal).
            func full(_ w: [Double]) -> [Double] {
                var f = [Double](repeating: 0, count: c.cin * c.cin * c.k * c.k)
                for ch in 0..<c.cin { for t in 0..<(c.k * c.k) { f[(ch * c.cin + ch) * c.k * c.k + t] = w[ch * c.k * c.k + t] } }
                return f
            }
            let xd = x.doubles, wd = wt.map(Double.init), bd = b.map(Double.init)
            XCTAssertLessThan(GradientCheck.maxAbsDifference(y.values, Self.naiveConv(xd, full(wd), bd, c)), 1e-5)
            let loss = { (x: [Double], w: [Double], b: [Double]) in GradientCheck.dot(Self.naiveConv(x, full(w), b, c), r) }
            let label = "depthwise k\(c.k) s\(c.s) \(c.mode)"
            check("\(label) input", dx.values, GradientCheck.numericalGradient(at: xd) { loss($0, wd, bd) })
            check("\(label) weight", conv.weightGradient, GradientCheck.numericalGradient(at: wd) { loss(xd, $0, bd) })
            check("\(label) bias", conv.biasGradient, GradientCheck.numericalGradient(at: bd) { loss(xd, wd, $0) })
        }
    }

    static func naiveInstanceNorm(_ x: [Double], channels: Int, plane: Int, gamma: [Double], beta: [Double]) -> [Double] {
        var y = x
        for c in 0..<channels {
            let v = x[(c * plane)..<((c + 1) * plane)]
            let mean = v.reduce(0, +) / Double(plane)
            let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(plane)
            for i in 0..<plane { y[c * plane + i] = gamma[c] * (x[c * plane + i] - mean) / (variance + 1e-5).squareRoot() + beta[c] }
        }
        return y
    }

    func testInstanceNormPlainAndConditional() {
        for (styles, weights) in [(1, [Float(1)]), (3, [Float(0.5), 0, 0.5])] {
            var rng = SplitMix64(seed: 90 + UInt64(styles))
            let (c, h, w) = (3, 4, 5)
            let x = GradientCheck.randomMap(&rng, channels: c, height: h, width: w)
            let scale = rng.floats(styles * c), shift = rng.floats(styles * c)
            let r = (0..<x.count).map { _ in Double(rng.float()) }
            let norm = InstanceNorm(channels: c, styles: styles, scale: scale, shift: shift, context: TrainingContext(threads: 2))
            norm.styleWeights = weights
            var y = FeatureMap(), dx = FeatureMap()
            norm.forward(x, into: &y)
            norm.backward(FeatureMap(channels: c, height: h, width: w, values: r.map(Float.init)), into: &dx)
            func mix(_ p: [Double]) -> [Double] { (0..<c).map { ch in (0..<styles).reduce(0) { $0 + Double(weights[$1]) * p[$1 * c + ch] } } }
            let loss = { (x: [Double], g: [Double], b: [Double]) in
                GradientCheck.dot(Self.naiveInstanceNorm(x, channels: c, plane: h * w, gamma: mix(g), beta: mix(b)), r)
            }
            let xd = x.doubles, gd = scale.map(Double.init), bd = shift.map(Double.init)
            XCTAssertLessThan(GradientCheck.maxAbsDifference(y.values, Self.naiveInstanceNorm(xd, channels: c, plane: h * w, gamma: mix(gd), beta: mix(bd))), 1e-5)
            check("instance norm (\(styles) styles) input", dx.values, GradientCheck.numericalGradient(at: xd) { loss($0, gd, bd) })
            check("instance norm (\(styles) styles) scale", norm.scaleGradient, GradientCheck.numericalGradient(at: gd) { loss(xd, $0, bd) })
            check("instance norm (\(styles) styles) shift", norm.shiftGradient, GradientCheck.numericalGradient(at: bd) { loss(xd, gd, $0) })
        }
    }

    func testUpsampleAndTanhOutput() {
        var rng = SplitMix64(seed: 99)
        let x = GradientCheck.randomMap(&rng, channels: 2, height: 3, width: 4)
        let up = UpsampleNearest2x(), tanh = ScaledTanh(scale: 150, offset: 127.5)
        var u = FeatureMap(), y = FeatureMap(), du = FeatureMap(), dx = FeatureMap()
        up.forward(x, into: &u)
        tanh.forward(u, into: &y)
        XCTAssertEqual([y.channels, y.height, y.width], [2, 6, 8])
        let r = (0..<y.count).map { _ in Double(rng.float()) }
        tanh.backward(FeatureMap(channels: 2, height: 6, width: 8, values: r.map(Float.init)), into: &du)
        up.backward(du, into: &dx)
        let naive = { (x: [Double]) -> Double in
            var out: [Double] = []
            for c in 0..<2 { for yy in 0..<6 { for xx in 0..<8 { out.append(150 * Foundation.tanh(x[(c * 3 + yy / 2) * 4 + xx / 2]) + 127.5) } } }
            return GradientCheck.dot(out, r)
        }
        check("upsample + tanh input", dx.values, GradientCheck.numericalGradient(at: x.doubles, naive))
    }

    /// The plain logistic and the 255 · sigmoid output transform, on inputs out to ±8, where σ is nearly saturated.
    func testSigmoid() {
        for scale: Float in [1, 255] {
            var rng = SplitMix64(seed: 100 + UInt64(scale))
            let x = FeatureMap(channels: 2, height: 3, width: 4, values: rng.floats(24).map { 8 * $0 })
            let r = (0..<x.count).map { _ in Double(rng.float()) }
            let sigmoid = Sigmoid(scale: scale)
            var y = FeatureMap(), dx = FeatureMap()
            sigmoid.forward(x, into: &y)
            sigmoid.backward(FeatureMap(channels: 2, height: 3, width: 4, values: r.map(Float.init)), into: &dx)
            let naive = { (x: [Double]) in x.map { Double(scale) / (1 + Foundation.exp(-$0)) } }
            let forwardErr = GradientCheck.maxAbsDifference(y.values, naive(x.doubles)) / Double(scale)
            print("sigmoid ×\(scale) forward: max |fp32 − naive| / scale = \(forwardErr)")
            XCTAssertLessThan(forwardErr, 1e-6)
            check("sigmoid ×\(scale) input", dx.values, GradientCheck.numericalGradient(at: x.doubles) { GradientCheck.dot(naive($0), r) })
        }
    }
}
