@testable import Stylize
import TestSupport
import XCTest

/// Every path `Session` runs a convolution by (`ConvPath`) and every kernel (`Plan.ConvStrategy`) is reached by
/// a case built for it, and gives what the slow reference convolution gives. Without this a change to the
/// path rule could leave a fused path unreached by every test named after it (it happened: a case named after
/// one strategy had stopped reaching it).
final class ConvolutionPathTests: XCTestCase {
    typealias R = ReferenceKernelTests

    private func model(_ nodes: [Node], _ weights: [String: Tensor]) -> StyleModel {
        StyleModel(info: ModelInfo(name: "t", architecture: "test", sourceFormat: "test", input: .identity255, output: .identity255),
                   graph: Graph(input: "x", output: nodes.last!.output, nodes: nodes), weights: weights)
    }

    /// One convolution (after an optional nearest 2× upsample), run by a session: its output, the path and
    /// kernel it took, and the reference's output.
    private func run(cin: Int, cout: Int, k: Int, stride: Int = 1, h: Int, w: Int, pads: Pads, mode: PadMode = .reflect,
                     depthwise: Bool = false, upsample: Bool = false, seed: UInt64) throws -> (got: [Float], want: [Float], runs: ConvolutionCounts) {
        var rng = SplitMix64(seed: seed)
        let x = rng.floats(cin * h * w), wt = rng.floats(cout * (depthwise ? 1 : cin) * k * k), bias = rng.floats(cout)
        let spec = Conv2DSpec(weight: "w", bias: "b", strideH: stride, strideW: stride, padding: .explicit(pads), padMode: mode,
                              groups: depthwise ? cin : nil)
        var nodes = [Node(name: "conv", op: .conv2d(spec), inputs: [upsample ? "u" : "x"], output: "y")]
        if upsample { nodes.insert(Node(name: "up", op: .upsampleNearest(2), inputs: ["x"], output: "u"), at: 0) }
        let session = try Session(model: model(nodes, ["w": Tensor(shape: [cout, depthwise ? 1 : cin, k, k], data: wt),
                                                       "b": Tensor(shape: [cout], data: bias)]), threads: 2)
        let got = try session.run(Tensor(shape: [cin, h, w], data: x))
        var full = wt
        if depthwise {
            full = [Float](repeating: 0, count: cout * cin * k * k)
            for ch in 0..<cin { for t in 0..<(k * k) { full[(ch * cin + ch) * k * k + t] = wt[ch * k * k + t] } }
        }
        let input = upsample ? MemoryTests.upsample(x, c: cin, h: h, w: w, factor: 2) : x
        let (_, _, want) = R.referenceConv(input, cin: cin, h: upsample ? 2 * h : h, w: upsample ? 2 * w : w, weight: full, cout: cout,
                                           kh: k, kw: k, bias: bias, sh: stride, sw: stride, pads: pads, mode: mode)
        return (got.data, want, session.convolutionsRun)
    }

    func testEveryPathIsReachedAndMatchesTheReference() throws {
        XCTAssertTrue(Elementwise.vectorizedKernels, "the fused depthwise paths need the AVX2 kernels")
        let cases: [(ConvPath, () throws -> (got: [Float], want: [Float], runs: ConvolutionCounts))] = [
            (.upsampledDepthwise3x3, { try self.run(cin: 6, cout: 6, k: 3, h: 9, w: 13, pads: .uniform(1), depthwise: true, upsample: true, seed: 1) }),
            (.upsampledSubpixel, { try self.run(cin: 8, cout: 3, k: 3, h: 9, w: 21, pads: .uniform(1), upsample: true, seed: 2) }),
            (.strideTwoPhases, { try self.run(cin: 3, cout: 16, k: 3, stride: 2, h: 17, w: 30, pads: .uniform(1), seed: 3) }),
            (.depthwise3x3, { try self.run(cin: 7, cout: 7, k: 3, stride: 2, h: 15, w: 22, pads: .uniform(1), depthwise: true, seed: 4) }),
            (.unpadded, { try self.run(cin: 5, cout: 9, k: 3, h: 12, w: 14, pads: .uniform(0), seed: 5) }),
            (.im2colBands, { try self.run(cin: 24, cout: 20, k: 3, stride: 2, h: 19, w: 25, pads: .uniform(1), seed: 6) }),
            (.paddedBands, { try self.run(cin: 32, cout: 32, k: 3, h: 14, w: 18, pads: .uniform(1), seed: 7) }),
        ]
        for (path, make) in cases {
            let (got, want, runs) = try make()
            XCTAssertEqual(runs.paths, [path: 1], "\(path) is the path its case takes")
            R.assertClose(got, want, "\(path)")
        }
    }

    func testTheSeparablePairRunsFusedAndMatchesTheReference() throws {
        var rng = SplitMix64(seed: 11)
        let (c, cout, h, w) = (12, 10, 13, 27)
        let x = rng.floats(c * h * w), dw = rng.floats(c * 9), dwBias = rng.floats(c), pw = rng.floats(cout * c), pwBias = rng.floats(cout)
        let nodes = [
            Node(name: "dw", op: .conv2d(Conv2DSpec(weight: "dw", bias: "dwb", padding: .explicit(.uniform(1)), padMode: .reflect, groups: c)),
                 inputs: ["x"], output: "d"),
            Node(name: "pw", op: .conv2d(Conv2DSpec(weight: "pw", bias: "pwb", padding: .explicit(.uniform(0)))), inputs: ["d"], output: "y"),
        ]
        let session = try Session(model: model(nodes, ["dw": Tensor(shape: [c, 1, 3, 3], data: dw), "dwb": Tensor(shape: [c], data: dwBias),
                                                       "pw": Tensor(shape: [cout, c, 1, 1], data: pw), "pwb": Tensor(shape: [cout], data: pwBias)]),
                                  threads: 2)
        let got = try session.run(Tensor(shape: [c, h, w], data: x))
        XCTAssertEqual(session.convolutionsRun.paths, [ConvPath.separable: 1], "the pair runs as one fused step")
        var full = [Float](repeating: 0, count: c * c * 9)
        for ch in 0..<c { for t in 0..<9 { full[(ch * c + ch) * 9 + t] = dw[ch * 9 + t] } }
        let (_, _, middle) = R.referenceConv(x, cin: c, h: h, w: w, weight: full, cout: c, kh: 3, kw: 3, bias: dwBias, sh: 1, sw: 1,
                                             pads: .uniform(1), mode: .reflect)
        let (_, _, want) = R.referenceConv(middle, cin: c, h: h, w: w, weight: pw, cout: cout, kh: 1, kw: 1, bias: pwBias, sh: 1, sw: 1,
                                           pads: .uniform(0), mode: .zero)
        R.assertClose(got.data, want, "separable")
    }

    func testEveryKernelIsReachedAndMatchesTheReference() throws {
        let cases: [(Plan.ConvStrategy, () throws -> (got: [Float], want: [Float], runs: ConvolutionCounts))] = [
            (.im2col, { try self.run(cin: 24, cout: 20, k: 3, stride: 2, h: 19, w: 25, pads: .uniform(1), seed: 21) }),
            (.col2im, { try self.run(cin: 20, cout: 3, k: 3, stride: 2, h: 16, w: 21, pads: .uniform(1), seed: 22) }),
            (.rowShift, { try self.run(cin: 5, cout: 20, k: 9, h: 20, w: 24, pads: .uniform(4), seed: 23) }),
            (.winograd2, { try self.run(cin: 16, cout: 24, k: 3, h: 14, w: 18, pads: .uniform(1), seed: 24) }),
            (.winograd4, { try self.run(cin: 32, cout: 32, k: 3, h: 14, w: 18, pads: .uniform(1), seed: 25) }),
            (.depthwise, { try self.run(cin: 5, cout: 5, k: 5, h: 11, w: 17, pads: .uniform(2), depthwise: true, seed: 26) }),
            (.direct, { try self.run(cin: 8, cout: 4, k: 3, h: 21, w: 37, pads: .uniform(1), seed: 27) }),
        ]
        for (kernel, make) in cases {
            let (got, want, runs) = try make()
            XCTAssertEqual(runs.kernels, [kernel: 1], "\(kernel) is the kernel its case runs")
            R.assertClose(got, want, "\(kernel)")
        }
    }
}
