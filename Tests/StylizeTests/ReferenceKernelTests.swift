import Foundation
@testable import Stylize
import TestSupport
import XCTest

/// The fast convolution paths (im2col + GEMM, GEMM + col2im, transposed scatter) against slow, obviously
/// correct loops on many random shapes: strides, odd sizes, channel counts and every padding mode.
final class ReferenceKernelTests: XCTestCase {
    /// Padded value of x[c, y, x] under `mode`, for the reference.
    static func sample(_ x: [Float], c: Int, h: Int, w: Int, y: Int, x xx: Int, mode: PadMode) -> Float {
        func fold(_ i: Int, _ n: Int) -> Int? {
            if i >= 0 && i < n { return i }
            switch mode {
            case .zero: return nil
            case .edge: return i < 0 ? 0 : n - 1
            case .reflect:
                var j = i
                while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
                return j
            }
        }
        guard let yy = fold(y, h), let xs = fold(xx, w) else { return 0 }
        return x[(c * h + yy) * w + xs]
    }

    static func referenceConv(_ x: [Float], cin: Int, h: Int, w: Int, weight: [Float], cout: Int, kh: Int, kw: Int,
                              bias: [Float]?, sh: Int, sw: Int, pads: Pads, mode: PadMode) -> (Int, Int, [Float]) {
        let ho = (h + pads.top + pads.bottom - kh) / sh + 1
        let wo = (w + pads.left + pads.right - kw) / sw + 1
        var y = [Float](repeating: 0, count: cout * ho * wo)
        for co in 0..<cout { for oy in 0..<ho { for ox in 0..<wo {
            var s = Double(bias?[co] ?? 0)
            for ci in 0..<cin { for ky in 0..<kh { for kx in 0..<kw {
                let v = sample(x, c: ci, h: h, w: w, y: oy * sh + ky - pads.top, x: ox * sw + kx - pads.left, mode: mode)
                s += Double(v) * Double(weight[((co * cin + ci) * kh + ky) * kw + kx])
            } } }
            y[(co * ho + oy) * wo + ox] = Float(s)
        } } }
        return (ho, wo, y)
    }

    /// Scatter form: full[i·s + k] += x[i]·W[ci, co, k]; output = full[pad ..< pad + out].
    static func referenceConvT(_ x: [Float], cin: Int, h: Int, w: Int, weight: [Float], cout: Int, kh: Int, kw: Int,
                               bias: [Float]?, sh: Int, sw: Int, padTop: Int, padLeft: Int, ho: Int, wo: Int) -> [Float] {
        var y = [Double](repeating: 0, count: cout * ho * wo)
        for ci in 0..<cin { for iy in 0..<h { for ix in 0..<w {
            let v = Double(x[(ci * h + iy) * w + ix])
            for co in 0..<cout { for ky in 0..<kh { for kx in 0..<kw {
                let oy = iy * sh + ky - padTop, ox = ix * sw + kx - padLeft
                guard oy >= 0, oy < ho, ox >= 0, ox < wo else { continue }
                y[(co * ho + oy) * wo + ox] += v * Double(weight[((ci * cout + co) * kh + ky) * kw + kx])
            } } }
        } } }
        if let bias { for co in 0..<cout { for i in 0..<(ho * wo) { y[co * ho * wo + i] += Double(bias[co]) } } }
        return y.map { Float($0) }
    }

    static func tfSame(_ n: Int, _ k: Int, _ s: Int) -> (Int, Int) {
        let out = (n + s - 1) / s
        let p = max((out - 1) * s + k - n, 0)
        return (p / 2, p - p / 2)
    }

    func single(_ op: Op, weights: [String: Tensor]) -> StyleModel {
        StyleModel(info: ModelInfo(name: "t", architecture: "test", sourceFormat: "test", input: .identity255, output: .identity255),
                   graph: Graph(input: "x", output: "y", nodes: [Node(name: "op", op: op, inputs: ["x"], output: "y")]),
                   weights: weights)
    }

    /// A nearest 2× upsample followed by `op`: the pair the engine fuses.
    func upsampledThen(_ op: Op, weights: [String: Tensor]) -> StyleModel {
        StyleModel(info: ModelInfo(name: "t", architecture: "test", sourceFormat: "test", input: .identity255, output: .identity255),
                   graph: Graph(input: "x", output: "y", nodes: [Node(name: "up", op: .upsampleNearest(2), inputs: ["x"], output: "u"),
                                                                Node(name: "op", op: op, inputs: ["u"], output: "y")]),
                   weights: weights)
    }

    /// Same length, and every value within `tolerance` of the reference's relative to max(1, |reference|).
    /// The other kernel tests of this target use it too.
    static func assertClose(_ a: [Float], _ b: [Float], _ what: String, tolerance: Float = 2e-4,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        guard a.count == b.count else { return }
        var worst: Float = 0
        for i in a.indices { worst = max(worst, abs(a[i] - b[i]) / max(1, abs(b[i]))) }
        XCTAssertLessThan(worst, tolerance, "\(what): worst relative error \(worst)", file: file, line: line)
    }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        Self.assertClose(a, b, what, file: file, line: line)
    }

    func testConvolutionMatchesReferenceOnRandomShapes() throws {
        var rng = SplitMix64(seed: 42)
        var kernels: [Plan.ConvStrategy: Int] = [:]
        for trial in 0..<60 {
            // Every third case has few output and many input channels, which takes the col2im path; of the
            // rest, every fourth is a wide stride-1 kernel over few inputs with many outputs (rowShift's shape,
            // which plain draws hit about once in 60).
            let narrow = trial % 3 == 0, wide = !narrow && trial % 4 == 1
            var k = [1, 2, 3, 3, 5, 9][rng.int(0...5)]
            if wide { k = rng.int(0...1) == 0 ? 5 : 9 }
            let cin = narrow ? rng.int(8...20) : wide ? (k == 9 ? rng.int(4...7) : rng.int(11...12)) : rng.int(1...12)
            let cout = narrow ? rng.int(1...4) : wide ? rng.int(17...24) : rng.int(1...24)
            let s = wide ? 1 : rng.int(1...3)
            let h = rng.int(max(k, 3)...23), w = rng.int(max(k, 3)...29)
            let mode: PadMode = [.zero, .reflect, .edge][rng.int(0...2)]
            let same = rng.int(0...1) == 0
            let pads: Pads
            if same {
                let (t, b) = Self.tfSame(h, k, s), (l, r) = Self.tfSame(w, k, s)
                pads = Pads(top: t, left: l, bottom: b, right: r)
            } else {
                pads = Pads(top: rng.int(0...k / 2), left: rng.int(0...k / 2), bottom: rng.int(0...k / 2), right: rng.int(0...k / 2))
            }
            let x = rng.floats(cin * h * w), wt = rng.floats(cout * cin * k * k)
            let bias = rng.int(0...1) == 0 ? rng.floats(cout) : nil
            var weights = ["w": Tensor(shape: [cout, cin, k, k], data: wt)]
            if let bias { weights["b"] = Tensor(shape: [cout], data: bias) }
            let spec = Conv2DSpec(weight: "w", bias: bias == nil ? nil : "b", strideH: s, strideW: s,
                                  padding: same ? .tfSame : .explicit(pads), padMode: mode)
            for threads in [1, 2] {
                let session = try Session(model: single(.conv2d(spec), weights: weights), threads: threads)
                let got = try session.run(Tensor(shape: [cin, h, w], data: x))
                let (ho, wo, ref) = Self.referenceConv(x, cin: cin, h: h, w: w, weight: wt, cout: cout, kh: k, kw: k,
                                                       bias: bias, sh: s, sw: s, pads: pads, mode: mode)
                XCTAssertEqual(got.shape, [cout, ho, wo])
                assertClose(got.data, ref, "conv trial \(trial) cin \(cin) cout \(cout) k \(k) s \(s) \(h)x\(w) \(mode) same \(same) threads \(threads)")
                if threads == 1 { kernels.merge(session.convolutionsRun.kernels, uniquingKeysWith: +) }
            }
        }
        print("random shapes by kernel: \(kernels)")
        // Each generic kernel on several random shapes, not one lucky draw.
        for kernel in [Plan.ConvStrategy.im2col, .col2im, .rowShift, .direct] {
            XCTAssertGreaterThanOrEqual(kernels[kernel, default: 0], 5, "\(kernel) on random shapes: \(kernels)")
        }
    }

    /// Depthwise convolution (groups = channels) against the reference run on the equivalent full weight (each
    /// channel's kernel on the diagonal, zeros elsewhere), with every padding mode, strides 1 and 2, and the
    /// upsample and pad folding the style networks' decoders use.
    func testDepthwiseConvolutionMatchesReference() throws {
        var rng = SplitMix64(seed: 23)
        for trial in 0..<24 {
            let c = rng.int(1...12), k = [1, 3, 3, 5][rng.int(0...3)], s = rng.int(1...2)
            let h = rng.int(max(k, 3)...21), w = rng.int(max(k, 3)...45)
            let mode: PadMode = [.zero, .reflect, .edge][rng.int(0...2)]
            let pads = Pads.uniform(k / 2)
            let x = rng.floats(c * h * w), wt = rng.floats(c * k * k), bias = rng.floats(c)
            var full = [Float](repeating: 0, count: c * c * k * k)
            for ch in 0..<c { for t in 0..<(k * k) { full[(ch * c + ch) * k * k + t] = wt[ch * k * k + t] } }
            let weights = ["w": Tensor(shape: [c, 1, k, k], data: wt), "b": Tensor(shape: [c], data: bias)]
            let spec = Conv2DSpec(weight: "w", bias: "b", strideH: s, strideW: s, padding: .explicit(pads), padMode: mode, groups: c)
            for threads in [1, 2] {
                let got = try Session(model: single(.conv2d(spec), weights: weights), threads: threads).run(Tensor(shape: [c, h, w], data: x))
                let (ho, wo, ref) = Self.referenceConv(x, cin: c, h: h, w: w, weight: full, cout: c, kh: k, kw: k,
                                                       bias: bias, sh: s, sw: s, pads: pads, mode: mode)
                XCTAssertEqual(got.shape, [c, ho, wo])
                assertClose(got.data, ref, "depthwise trial \(trial) c \(c) k \(k) s \(s) \(h)x\(w) \(mode) threads \(threads)")
            }
        }
        // Only depthwise grouping is accepted, with a one-line error naming the node.
        let grouped = Conv2DSpec(weight: "w", padding: .explicit(.uniform(1)), groups: 2)
        XCTAssertThrowsError(try Session(model: single(.conv2d(grouped), weights: ["w": Tensor(shape: [4, 2, 3, 3], repeating: 1)]), threads: 1)) { e in
            XCTAssertTrue("\(e)".contains("depthwise"), "\(e)")
        }
    }

    /// The AVX2 depthwise 3×3 kernel (strides 1 and 2) against the portable loop it replaces, on whole planes
    /// of a decoder's size and on narrow ones whose width is no multiple of 8, with and without bias.
    func testVectorizedDepthwiseMatchesThePortableLoop() throws {
        XCTAssertTrue(Elementwise.vectorizedKernels, "this machine has AVX2 and FMA: the vectorized kernels must run")
        var rng = SplitMix64(seed: 31)
        for (c, hp, wp, s, withBias) in [(3, 482, 642, 1, true), (2, 482, 642, 2, false), (4, 11, 13, 1, false), (4, 12, 19, 2, true),
                                         (1, 3, 3, 1, true), (1, 3, 4, 2, false), (2, 9, 35, 2, true), (2, 7, 34, 2, false)] {
            let g = Convolution.Geometry(cin: c, hp: hp, wp: wp, cout: c, kh: 3, kw: 3, sh: s, sw: s)
            let x = rng.floats(c * hp * wp), w = rng.floats(c * 9), b = rng.floats(c)
            var fast = [Float](repeating: .nan, count: c * g.ho * g.wo), slow = fast
            let pool = ComputePool(threads: 2)
            x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                fast.withUnsafeMutableBufferPointer { Convolution.forwardDepthwise(xp.baseAddress!, g, weight: wp.baseAddress!, bias: withBias ? bp.baseAddress : nil, into: $0.baseAddress!, pool: pool) }
                slow.withUnsafeMutableBufferPointer { Convolution.forwardDepthwiseReference(xp.baseAddress!, g, weight: wp.baseAddress!, bias: withBias ? bp.baseAddress : nil, into: $0.baseAddress!, pool: pool) }
            } } }
            let worst = zip(fast, slow).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThan(worst, 1e-5, "c \(c) \(hp)x\(wp) stride \(s) bias \(withBias)")
        }
    }

    /// A decoder's nearest 2× upsample followed by a depthwise 3×3 convolution runs fused (2×2 sub-kernels on
    /// the small picture): against the reference convolution of the upsampled picture, every padding mode,
    /// widths below, at and above the kernel's 8-column blocks.
    func testUpsampledDepthwiseMatchesReference() throws {
        var rng = SplitMix64(seed: 41)
        for (trial, (c, h, w)) in [(3, 5, 7), (2, 1, 1), (4, 6, 8), (5, 9, 17), (16, 30, 40), (1, 2, 33)].enumerated() {
            for mode in [PadMode.zero, .reflect, .edge] {
                let x = rng.floats(c * h * w), wt = rng.floats(c * 9), bias = rng.floats(c)
                let spec = Conv2DSpec(weight: "w", bias: "b", padding: .explicit(.uniform(1)), padMode: mode, groups: c)
                let model = upsampledThen(.conv2d(spec), weights: ["w": Tensor(shape: [c, 1, 3, 3], data: wt), "b": Tensor(shape: [c], data: bias)])
                let session = try Session(model: model, threads: 2)
                let got = try session.run(Tensor(shape: [c, h, w], data: x))
                // One channel is an ordinary convolution (groups 1): the upsampled direct path's case, not this one's.
                XCTAssertEqual(session.convolutionsRun.paths, [c == 1 ? .upsampledSubpixel : .upsampledDepthwise3x3: 1],
                               "upsampled depthwise trial \(trial) takes the fused path")
                var full = [Float](repeating: 0, count: c * c * 9)
                for ch in 0..<c { for t in 0..<9 { full[(ch * c + ch) * 9 + t] = wt[ch * 9 + t] } }
                let (ho, wo, ref) = Self.referenceConv(MemoryTests.upsample(x, c: c, h: h, w: w, factor: 2), cin: c, h: 2 * h, w: 2 * w,
                                                       weight: full, cout: c, kh: 3, kw: 3, bias: bias, sh: 1, sw: 1, pads: .uniform(1), mode: mode)
                XCTAssertEqual(got.shape, [c, ho, wo])
                assertClose(got.data, ref, "upsampled depthwise trial \(trial) c \(c) \(h)x\(w) \(mode)")
            }
        }
    }

    /// A nearest 2× upsample followed by a full 3×3 convolution with few channels (a strided-edges network's
    /// last layer) runs fused: each output parity a 2×2 direct convolution of the small picture. Against the
    /// reference convolution of the upsampled picture, every padding mode, odd and tiny sizes, widths below, at
    /// and above the direct kernel's 8- and 16-column blocks, one and two threads.
    func testUpsampledDirectConvolutionMatchesReference() throws {
        var rng = SplitMix64(seed: 43)
        for (trial, (cin, cout, h, w)) in [(16, 3, 5, 7), (2, 1, 1, 1), (4, 4, 6, 8), (5, 7, 9, 17), (16, 8, 12, 40), (1, 3, 2, 33)].enumerated() {
            for (m, mode) in [PadMode.zero, .reflect, .edge].enumerated() {
                let x = rng.floats(cin * h * w), wt = rng.floats(cout * cin * 9), bias = rng.floats(cout)
                let spec = Conv2DSpec(weight: "w", bias: "b", padding: .explicit(.uniform(1)), padMode: mode)
                let model = upsampledThen(.conv2d(spec), weights: ["w": Tensor(shape: [cout, cin, 3, 3], data: wt), "b": Tensor(shape: [cout], data: bias)])
                XCTAssertEqual(Plan.strategy(cout: cout, cin: cin, kh: 3, kw: 3, sh: 1, sw: 1), .direct)
                let session = try Session(model: model, threads: 1 + m % 2)
                let got = try session.run(Tensor(shape: [cin, h, w], data: x))
                XCTAssertEqual(session.convolutionsRun.paths, [.upsampledSubpixel: 1], "upsampled direct trial \(trial) takes the subpixel path")
                let (ho, wo, ref) = Self.referenceConv(MemoryTests.upsample(x, c: cin, h: h, w: w, factor: 2), cin: cin, h: 2 * h, w: 2 * w,
                                                       weight: wt, cout: cout, kh: 3, kw: 3, bias: bias, sh: 1, sw: 1, pads: .uniform(1), mode: mode)
                XCTAssertEqual(got.shape, [cout, ho, wo])
                assertClose(got.data, ref, "upsampled direct trial \(trial) \(cin)->\(cout) \(h)x\(w) \(mode)")
            }
        }
    }

    /// A stride-2 3×3 convolution with few input channels (a strided-edges network's first layer) runs as a
    /// stride-1 2×2 direct convolution over the padded input's four phases: against the reference, every padding
    /// mode, uneven pads, odd and even sizes, one and two threads.
    func testStrideTwoPhasedConvolutionMatchesReference() throws {
        var rng = SplitMix64(seed: 47)
        let cases: [(cin: Int, cout: Int, h: Int, w: Int, pads: Pads)] = [
            (3, 16, 12, 16, .uniform(1)), (3, 16, 13, 37, .uniform(1)), (1, 5, 3, 3, .uniform(1)), (4, 16, 9, 40, .uniform(0)),
            (2, 7, 10, 11, Pads(top: 0, left: 1, bottom: 2, right: 1)), (3, 3, 21, 50, .uniform(2)),
        ]
        for (trial, c) in cases.enumerated() {
            for (m, mode) in [PadMode.zero, .reflect, .edge].enumerated() {
                let x = rng.floats(c.cin * c.h * c.w), wt = rng.floats(c.cout * c.cin * 9), bias = rng.floats(c.cout)
                let spec = Conv2DSpec(weight: "w", bias: "b", strideH: 2, strideW: 2, padding: .explicit(c.pads), padMode: mode)
                let weights = ["w": Tensor(shape: [c.cout, c.cin, 3, 3], data: wt), "b": Tensor(shape: [c.cout], data: bias)]
                let session = try Session(model: single(.conv2d(spec), weights: weights), threads: 1 + m % 2)
                let got = try session.run(Tensor(shape: [c.cin, c.h, c.w], data: x))
                XCTAssertEqual(session.convolutionsRun.paths, [.strideTwoPhases: 1], "phased trial \(trial) takes the phase path")
                let (ho, wo, ref) = Self.referenceConv(x, cin: c.cin, h: c.h, w: c.w, weight: wt, cout: c.cout, kh: 3, kw: 3,
                                                       bias: bias, sh: 2, sw: 2, pads: c.pads, mode: mode)
                XCTAssertEqual(got.shape, [c.cout, ho, wo])
                assertClose(got.data, ref, "phased stride-2 trial \(trial) \(c) \(mode)")
            }
        }
    }

    /// Stride-1 convolutions with at most 16 channels on both sides, or few input channels under a wide kernel
    /// (multistyle26's 9×9 3→32 first layer), run on the AVX2 direct kernel: against the reference on the shapes
    /// of the light networks' and multistyle26's small layers and random ones, widths below, between and above
    /// its 8- and 16-column blocks, one and two threads.
    func testDirectSmallChannelConvolutionMatchesReference() throws {
        XCTAssertTrue(Elementwise.vectorizedKernels)
        var rng = SplitMix64(seed: 53)
        var shapes: [(cin: Int, cout: Int, k: Int, h: Int, w: Int)] = [(8, 4, 3, 21, 37), (4, 3, 9, 17, 40), (16, 3, 5, 12, 33), (3, 16, 5, 9, 16),
                                                                      (1, 1, 1, 3, 3), (5, 7, 3, 6, 7), (16, 16, 1, 5, 24), (3, 32, 9, 14, 35),
                                                                      (3, 30, 7, 9, 19)]
        for _ in 0..<10 { shapes.append((rng.int(1...16), rng.int(1...16), [1, 3, 5, 7][rng.int(0...3)], rng.int(7...20), rng.int(7...50))) }
        for (i, c) in shapes.enumerated() {
            XCTAssertEqual(Plan.strategy(cout: c.cout, cin: c.cin, kh: c.k, kw: c.k, sh: 1, sw: 1) == .direct, !(c.k == 3 && c.cin >= 16 && c.cout >= 16),
                           "shape \(i) takes the direct kernel (unless Winograd's)")
            if c.cout > 16 { XCTAssertLessThanOrEqual(c.cin * c.k * c.k, 256, "beyond 16 outputs only few-input wide kernels") }
            let x = rng.floats(c.cin * c.h * c.w), wt = rng.floats(c.cout * c.cin * c.k * c.k), bias = rng.floats(c.cout)
            let mode: PadMode = [.zero, .reflect, .edge][i % 3]
            let pads = Pads.uniform(c.k / 2)
            let weights = ["w": Tensor(shape: [c.cout, c.cin, c.k, c.k], data: wt), "b": Tensor(shape: [c.cout], data: bias)]
            let spec = Conv2DSpec(weight: "w", bias: "b", padding: .explicit(pads), padMode: mode)
            let (ho, wo, ref) = Self.referenceConv(x, cin: c.cin, h: c.h, w: c.w, weight: wt, cout: c.cout, kh: c.k, kw: c.k,
                                                   bias: bias, sh: 1, sw: 1, pads: pads, mode: mode)
            for threads in [1, 2] {
                let session = try Session(model: single(.conv2d(spec), weights: weights), threads: threads)
                let got = try session.run(Tensor(shape: [c.cin, c.h, c.w], data: x))
                XCTAssertEqual(session.convolutionsRun.kernels, [Plan.strategy(cout: c.cout, cin: c.cin, kh: c.k, kw: c.k, sh: 1, sw: 1): 1], "direct shape \(i)")
                XCTAssertEqual(got.shape, [c.cout, ho, wo])
                assertClose(got.data, ref, "direct shape \(i) \(c) \(mode) threads \(threads)")
            }
        }
    }

    /// The network's output planes to interleaved bytes: the AVX2 kernel gives exactly the portable loop's bytes,
    /// for values in range, past both ends, at the rounding edges (x.5) and NaN, in every channel order, for widths
    /// below, at and past its 8-pixel blocks and a row stride wider than the picture.
    func testVectorizedPlanesToBytesMatchTheLoopExactly() {
        XCTAssertTrue(Elementwise.vectorizedKernels, "this machine has AVX2 and FMA: the vectorized kernels must run")
        var rng = SplitMix64(seed: 7)
        let edges: [Float] = [.nan, -.infinity, .infinity, -1e9, 1e9, -0.5, -0.49999997, 0.49999997, 0.5, 254.5, 254.49998, 255.5, 127.5]
        for (h, w, stride) in [(1, 1, 1), (3, 7, 7), (2, 8, 8), (5, 13, 16), (4, 37, 40), (480, 640, 640)] {
            let planeSize = h * stride
            var planes = rng.floats(3 * planeSize).map { $0 * 1.5 }
            for (i, e) in edges.enumerated() where i * 7 < planes.count { planes[i * 7] = e }
            for index in [[0, 1, 2], [2, 1, 0]] {
                let scale: [Float] = [127.5, 255, 100], offset: [Float] = [127.5, 0, 128]
                var fast = [UInt8](repeating: 7, count: h * w * 3), slow = fast
                planes.withUnsafeBufferPointer { p in
                    fast.withUnsafeMutableBufferPointer {
                        Stylizer.planesToBytes(p.baseAddress!, planeSize: planeSize, stride: stride, height: h, width: w,
                                               scale: scale, offset: offset, index: index, into: $0.baseAddress!)
                    }
                    slow.withUnsafeMutableBufferPointer {
                        Stylizer.planesToBytesReference(p.baseAddress!, planeSize: planeSize, stride: stride, height: h, width: w,
                                                        scale: scale, offset: offset, index: index, into: $0.baseAddress!)
                    }
                }
                XCTAssertEqual(fast, slow, "\(h)x\(w) stride \(stride) order \(index)")
            }
        }
    }

    /// The AVX2 tanh against Foundation's, over the range a network's output takes and beyond, and at the
    /// values where an approximation breaks: 0, ±tiny, the clamp at ±9, ±infinity.
    func testVectorizedTanhMatchesFoundation() {
        XCTAssertTrue(Elementwise.vectorizedKernels)
        var x: [Float] = (0..<20_001).map { Float($0 - 10_000) / 800 }   // −12.5 … 12.5
        x += [0, -0, 1e-30, -1e-30, 1e-8, 9, -9, 8.999, 20, -20, 88, .infinity, -.infinity]
        var y = [Float](repeating: .nan, count: x.count)
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { Elementwise.tanh(xp.baseAddress!, into: $0.baseAddress!, x.count) } }
        var worst: Float = 0
        for (a, b) in zip(x, y) { worst = max(worst, abs(Foundation.tanh(a) - b)) }
        print("vectorized tanh: worst absolute error \(worst)")
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(y[x.count - 2], 1)
        XCTAssertEqual(y[x.count - 1], -1)
    }

    /// The sigmoid (multistyle26's output) through the vectorized tanh against the exponential form.
    func testVectorizedSigmoidMatchesTheReference() {
        XCTAssertTrue(Elementwise.vectorizedKernels)
        let x: [Float] = (0..<20_001).map { Float($0 - 10_000) / 500 } + [0, 40, -40, .infinity, -.infinity]   // −20 … 20
        var y = [Float](repeating: .nan, count: x.count), ref = y
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { Elementwise.sigmoid(xp.baseAddress!, into: $0.baseAddress!, x.count) }
            ref.withUnsafeMutableBufferPointer { Elementwise.sigmoidReference(xp.baseAddress!, into: $0.baseAddress!, x.count) }
        }
        var worst: Float = 0
        for (a, b) in zip(y, ref) { worst = max(worst, abs(a - b)) }
        XCTAssertLessThan(worst, 2e-7)
        XCTAssertEqual(y[x.count - 2], 1)
        XCTAssertEqual(y[x.count - 1], 0)
    }

    /// 3×3 stride-1 layers with many channels take the Winograd paths: F(2×2, 3×3) from 16 channels,
    /// F(4×4, 3×3) from 32.
    func testWinogradConvolutionMatchesReference() throws {
        var rng = SplitMix64(seed: 11)
        for trial in 0..<16 {
            let wide = trial % 2 == 1
            let cin = wide ? rng.int(64...80) : rng.int(16...40), cout = wide ? rng.int(64...72) : rng.int(16...40)
            let h = rng.int(3...21), w = rng.int(3...27)
            let mode: PadMode = [.zero, .reflect, .edge][trial % 3]
            let pads = trial % 4 == 3 ? Pads.zero : .uniform(1)
            let x = rng.floats(cin * h * w), wt = rng.floats(cout * cin * 9), bias = rng.floats(cout)
            let spec = Conv2DSpec(weight: "w", bias: "b", padding: .explicit(pads), padMode: mode)
            let model = single(.conv2d(spec), weights: ["w": Tensor(shape: [cout, cin, 3, 3], data: wt), "b": Tensor(shape: [cout], data: bias)])
            let session = try Session(model: model, threads: 2)
            let got = try session.run(Tensor(shape: [cin, h, w], data: x))
            XCTAssertEqual(session.convolutionsRun.kernels, [Plan.strategy(cout: cout, cin: cin, kh: 3, kw: 3, sh: 1, sw: 1): 1], "winograd trial \(trial) takes Winograd")
            let (ho, wo, ref) = Self.referenceConv(x, cin: cin, h: h, w: w, weight: wt, cout: cout, kh: 3, kw: 3,
                                                   bias: bias, sh: 1, sw: 1, pads: pads, mode: mode)
            XCTAssertEqual(got.shape, [cout, ho, wo])
            assertClose(got.data, ref, "winograd trial \(trial) cin \(cin) cout \(cout) \(h)x\(w) \(mode)")
        }
    }

    func testTransposedConvolutionMatchesReference() throws {
        var rng = SplitMix64(seed: 7)
        for trial in 0..<40 {
            let cin = rng.int(1...16), cout = rng.int(1...16)
            let k = [2, 3, 3, 4, 5][rng.int(0...4)]
            let s = rng.int(1...3)
            let h = rng.int(1...13), w = rng.int(1...17)
            let x = rng.floats(cin * h * w), wt = rng.floats(cin * cout * k * k)
            let bias = rng.int(0...1) == 0 ? rng.floats(cout) : nil
            var weights = ["w": Tensor(shape: [cin, cout, k, k], data: wt)]
            if let bias { weights["b"] = Tensor(shape: [cout], data: bias) }
            let tf = trial % 2 == 0
            let spec: ConvTranspose2DSpec
            let ho: Int, wo: Int, pt: Int, pl: Int
            if tf {
                spec = ConvTranspose2DSpec(weight: "w", bias: bias == nil ? nil : "b", strideH: s, strideW: s, padding: .tfSame)
                ho = h * s; wo = w * s
                pt = Self.tfSame(ho, k, s).0; pl = Self.tfSame(wo, k, s).0
            } else {
                let p = Pads(top: rng.int(0...(k - 1)), left: rng.int(0...(k - 1)), bottom: rng.int(0...(k - 1)), right: rng.int(0...(k - 1)))
                let op = rng.int(0...(s - 1))
                spec = ConvTranspose2DSpec(weight: "w", bias: bias == nil ? nil : "b", strideH: s, strideW: s,
                                           padding: .explicit(p), outputPaddingH: op, outputPaddingW: op)
                ho = (h - 1) * s + k + op - p.top - p.bottom
                wo = (w - 1) * s + k + op - p.left - p.right
                pt = p.top; pl = p.left
            }
            let session = try Session(model: single(.convTranspose2d(spec), weights: weights), threads: 2)
            let got = try session.run(Tensor(shape: [cin, h, w], data: x))
            let ref = Self.referenceConvT(x, cin: cin, h: h, w: w, weight: wt, cout: cout, kh: k, kw: k, bias: bias,
                                          sh: s, sw: s, padTop: pt, padLeft: pl, ho: ho, wo: wo)
            XCTAssertEqual(got.shape, [cout, ho, wo], "trial \(trial)")
            assertClose(got.data, ref, "convT trial \(trial) cin \(cin) cout \(cout) k \(k) s \(s) \(h)x\(w) tf \(tf)")
        }
    }

    /// Frames large enough that the kernels split their work into several bands of rows.
    func testBandedPathsOnLargeFrames() throws {
        var rng = SplitMix64(seed: 99)
        // col2im (3 outputs, 9×9): 243 product rows × 208 columns exceed one band at 100 rows.
        do {
            let cin = 8, cout = 3, h = 100, w = 200
            let x = rng.floats(cin * h * w), wt = rng.floats(cout * cin * 81)
            let spec = Conv2DSpec(weight: "w", padding: .explicit(.uniform(4)), padMode: .reflect)
            let got = try Session(model: single(.conv2d(spec), weights: ["w": Tensor(shape: [cout, cin, 9, 9], data: wt)]), threads: 2)
                .run(Tensor(shape: [cin, h, w], data: x))
            let ref = Self.referenceConv(x, cin: cin, h: h, w: w, weight: wt, cout: cout, kh: 9, kw: 9, bias: nil,
                                         sh: 1, sw: 1, pads: .uniform(4), mode: .reflect)
            assertClose(got.data, ref.2, "banded col2im")
        }
        // Transposed, stride 2: 144 product rows × 200 columns exceed one band at 160 rows.
        do {
            let cin = 16, cout = 16, h = 160, w = 200
            let x = rng.floats(cin * h * w), wt = rng.floats(cin * cout * 9)
            let spec = ConvTranspose2DSpec(weight: "w", strideH: 2, strideW: 2, padding: .tfSame)
            let got = try Session(model: single(.convTranspose2d(spec), weights: ["w": Tensor(shape: [cin, cout, 3, 3], data: wt)]), threads: 2)
                .run(Tensor(shape: [cin, h, w], data: x))
            let ref = Self.referenceConvT(x, cin: cin, h: h, w: w, weight: wt, cout: cout, kh: 3, kw: 3, bias: nil,
                                          sh: 2, sw: 2, padTop: 0, padLeft: 0, ho: 2 * h, wo: 2 * w)
            assertClose(got.data, ref, "banded transposed")
        }
        // Winograd: 16 × 40 channels × 100 tiles per tile row exceed one band at 60 tile rows.
        do {
            let cin = 40, cout = 24, h = 120, w = 200
            let x = rng.floats(cin * h * w), wt = rng.floats(cout * cin * 9)
            let spec = Conv2DSpec(weight: "w", padding: .explicit(.uniform(1)), padMode: .zero)
            let got = try Session(model: single(.conv2d(spec), weights: ["w": Tensor(shape: [cout, cin, 3, 3], data: wt)]), threads: 2)
                .run(Tensor(shape: [cin, h, w], data: x))
            let ref = Self.referenceConv(x, cin: cin, h: h, w: w, weight: wt, cout: cout, kh: 3, kw: 3, bias: nil,
                                         sh: 1, sw: 1, pads: .uniform(1), mode: .zero)
            assertClose(got.data, ref.2, "banded winograd")
        }
    }

    func testInstanceNormStatisticsHoldAtLargeMagnitudes() throws {
        // Values around 6000 with a variance near 1e6, as conv1 produces on real photos.
        var rng = SplitMix64(seed: 3)
        let c = 3, h = 61, w = 67
        let x = (0..<(c * h * w)).map { _ in 6000 + 1000 * rng.float() }
        let session = try Session(model: single(.instanceNorm(InstanceNormSpec(scale: nil, shift: nil, epsilon: 1e-5)), weights: [:]))
        let y = try session.run(Tensor(shape: [c, h, w], data: x))
        for ch in 0..<c {
            let plane = Array(y.data[(ch * h * w)..<((ch + 1) * h * w)]).map(Double.init)
            let mean = plane.reduce(0, +) / Double(plane.count)
            let variance = plane.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(plane.count)
            XCTAssertEqual(mean, 0, accuracy: 1e-4)
            XCTAssertEqual(variance, 1, accuracy: 1e-3)
        }
    }

    func testPaddingModesAndUpsampling() throws {
        let x: [Float] = [1, 2, 3, 4, 5, 6] // 1 channel, 2×3
        let pad = Pads(top: 1, left: 2, bottom: 1, right: 2)
        for mode in [PadMode.zero, .reflect, .edge] {
            let got = try Session(model: single(.pad(pad, mode), weights: [:])).run(Tensor(shape: [1, 2, 3], data: x))
            var ref: [Float] = []
            for y in -1..<3 { for xx in -2..<5 { ref.append(Self.sample(x, c: 0, h: 2, w: 3, y: y, x: xx, mode: mode)) } }
            XCTAssertEqual(got.data, ref, "\(mode)")
        }
        let up = try Session(model: single(.upsampleNearest(2), weights: [:])).run(Tensor(shape: [1, 2, 3], data: x))
        XCTAssertEqual(up.shape, [1, 4, 6])
        XCTAssertEqual(up.data, [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6])
    }
}
