import Foundation
import Stylize
import TestSupport
import XCTest

/// Steps the engine fuses, each against the same graph run in two sessions (the first step alone, then its reader
/// on the result), whose kernels the other reference tests check:
/// - an instance normalisation whose only reader is a convolution or an addition is folded into that step: the
///   step normalises each channel while it copies (pads, upsamples) or adds it, and the normalised tensor is
///   never written. Every padding mode, the ReLU fused or not, a conditional normalisation mixing two styles.
/// - a depthwise convolution and the 1×1 convolution that alone reads it run together in bands of rows.
/// One and two threads throughout.
final class FusedStepTests: XCTestCase {
    func model(_ nodes: [Node], input: String = "x", output: String, weights: [String: Tensor]) -> StyleModel {
        StyleModel(info: ModelInfo(name: "t", architecture: "test", sourceFormat: "test", input: .identity255, output: .identity255),
                   graph: Graph(input: input, output: output, nodes: nodes), weights: weights)
    }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        ReferenceKernelTests.assertClose(a, b, what, tolerance: 1e-4, file: file, line: line)
    }

    /// The normalisation nodes (and their weights) in front of a reader of "n": plain with scale and shift, or
    /// conditional over two styles; ReLU after it or not.
    func normalisation(channels c: Int, conditional: Bool, relu: Bool, rng: inout SplitMix64) -> (nodes: [Node], weights: [String: Tensor]) {
        var nodes: [Node] = []
        var weights: [String: Tensor] = [:]
        let out = relu ? "m" : "n"
        if conditional {
            weights["g"] = Tensor(shape: [2, c], data: rng.floats(2 * c).map { 1 + $0 })
            weights["be"] = Tensor(shape: [2, c], data: rng.floats(2 * c))
            nodes.append(Node(name: "norm", op: .conditionalInstanceNorm(ConditionalInstanceNormSpec(gamma: "g", beta: "be", epsilon: 1e-5)),
                              inputs: ["x"], output: out))
        } else {
            weights["s"] = Tensor(shape: [c], data: rng.floats(c).map { 1 + $0 })
            weights["t"] = Tensor(shape: [c], data: rng.floats(c))
            nodes.append(Node(name: "norm", op: .instanceNorm(InstanceNormSpec(scale: "s", shift: "t", epsilon: 1e-5)), inputs: ["x"], output: out))
        }
        if relu { nodes.append(Node(name: "relu", op: .relu, inputs: ["m"], output: "n")) }
        return (nodes, weights)
    }

    struct Reader {
        var name: String
        var cin: Int, cout: Int, k: Int, stride: Int = 1, upsample: Bool = false, depthwise: Bool = false
        var padding: ConvPadding = .explicit(.uniform(1))
    }

    func testConvolutionReadersMatchTheUnfusedGraph() throws {
        var rng = SplitMix64(seed: 91)
        let readers = [
            Reader(name: "depthwise 3x3", cin: 8, cout: 8, k: 3, depthwise: true),
            Reader(name: "depthwise 3x3 stride 2", cin: 8, cout: 8, k: 3, stride: 2, depthwise: true),
            Reader(name: "upsample + depthwise 3x3", cin: 6, cout: 6, k: 3, upsample: true, depthwise: true),
            Reader(name: "upsample + direct 3x3 (subpixel)", cin: 16, cout: 3, k: 3, upsample: true),
            Reader(name: "stride-2 3x3 of few channels (phased)", cin: 3, cout: 16, k: 3, stride: 2),
            Reader(name: "1x1, no padding", cin: 16, cout: 32, k: 1, padding: .explicit(.uniform(0))),
            Reader(name: "Winograd 3x3 in bands", cin: 16, cout: 16, k: 3),
            Reader(name: "upsample + 3x3 in bands", cin: 20, cout: 12, k: 3, upsample: true),
            Reader(name: "9x9, TF SAME", cin: 4, cout: 5, k: 9, padding: .tfSame),
        ]
        for (r, reader) in readers.enumerated() {
            for (m, mode) in [PadMode.reflect, .zero, .edge].enumerated() {
                let conditional = (r + m) % 2 == 1, relu = m != 2
                let (h, w) = [(13, 17), (24, 40), (7, 9)][m]
                var (nodes, weights) = normalisation(channels: reader.cin, conditional: conditional, relu: relu, rng: &rng)
                weights["w"] = Tensor(shape: [reader.cout, reader.depthwise ? 1 : reader.cin, reader.k, reader.k],
                                      data: rng.floats(reader.cout * (reader.depthwise ? 1 : reader.cin) * reader.k * reader.k))
                weights["b"] = Tensor(shape: [reader.cout], data: rng.floats(reader.cout))
                var readerNodes: [Node] = []
                var source = "n"
                if reader.upsample {
                    readerNodes.append(Node(name: "up", op: .upsampleNearest(2), inputs: ["n"], output: "u"))
                    source = "u"
                }
                let spec = Conv2DSpec(weight: "w", bias: "b", strideH: reader.stride, strideW: reader.stride, padding: reader.padding,
                                      padMode: mode, groups: reader.depthwise ? reader.cin : nil)
                readerNodes.append(Node(name: "conv", op: .conv2d(spec), inputs: [source], output: "y"))

                let x = Tensor(shape: [reader.cin, h, w], data: rng.floats(reader.cin * h * w).map { 300 * $0 + 50 })
                let style: [Float]? = conditional ? [0.3, 0.7] : nil
                for threads in [1, 2] {
                    let what = "\(reader.name), \(mode), \(conditional ? "conditional" : "plain")\(relu ? " + ReLU" : ""), \(threads) threads"
                    let fused = try Session(model: model(nodes + readerNodes, output: "y", weights: weights), threads: threads)
                    fused.recordTimings = true
                    let got = try fused.run(x, styleWeights: style)
                    XCTAssertEqual(fused.layerTimings.map(\.name), ["conv"], "\(what): the normalisation (and upsample) fold into the convolution")
                    let normalised = try Session(model: model(nodes, output: "n", weights: weights), threads: threads).run(x, styleWeights: style)
                    let want = try Session(model: model(readerNodes, input: "n", output: "y", weights: weights), threads: threads).run(normalised)
                    XCTAssertEqual(got.shape, want.shape, what)
                    assertClose(got.data, want.data, what)
                }
            }
        }
    }

    /// A residual block's normalised branch added to its shortcut, the branch on either side of the addition.
    func testAdditionOfANormalisedBranchMatchesTheUnfusedGraph() throws {
        var rng = SplitMix64(seed: 92)
        for (trial, (c, h, w)) in [(4, 9, 11), (16, 20, 24), (1, 1, 3)].enumerated() {
            for side in [0, 1] {
                let conditional = trial == 1, relu = side == 1
                let (nodes, weights) = normalisation(channels: c, conditional: conditional, relu: relu, rng: &rng)
                let add = Node(name: "add", op: .add, inputs: side == 0 ? ["n", "x"] : ["x", "n"], output: "y")
                let x = Tensor(shape: [c, h, w], data: rng.floats(c * h * w).map { 40 * $0 - 7 })
                let style: [Float]? = conditional ? [1, 0.5] : nil
                for threads in [1, 2] {
                    let what = "\(c)x\(h)x\(w), normalised input \(side), \(conditional ? "conditional" : "plain"), \(threads) threads"
                    let fused = try Session(model: model(nodes + [add], output: "y", weights: weights), threads: threads)
                    fused.recordTimings = true
                    let got = try fused.run(x, styleWeights: style)
                    XCTAssertEqual(fused.layerTimings.map(\.name), ["add"], what)
                    let normalised = try Session(model: model(nodes, output: "n", weights: weights), threads: threads).run(x, styleWeights: style)
                    assertClose(got.data, zip(normalised.data, x.data).map { $0 + $1 }, what)
                }
            }
        }
    }

    /// A normalised tensor with two readers is written once, as before: folding it into either would leave the
    /// other without it.
    func testANormalisationWithTwoReadersIsNotFolded() throws {
        var rng = SplitMix64(seed: 93)
        let (nodes, weights) = normalisation(channels: 3, conditional: false, relu: true, rng: &rng)
        var all = weights
        all["w"] = Tensor(shape: [3, 1, 3, 3], data: rng.floats(27))
        let conv = Node(name: "conv", op: .conv2d(Conv2DSpec(weight: "w", padding: .explicit(.uniform(1)), padMode: .reflect, groups: 3)),
                        inputs: ["n"], output: "c")
        let add = Node(name: "add", op: .add, inputs: ["c", "n"], output: "y")
        let session = try Session(model: model(nodes + [conv, add], output: "y", weights: all))
        XCTAssertEqual(try session.profile(height: 5, width: 6).layers.map(\.name), ["norm", "conv", "add"])
        let x = Tensor(shape: [3, 5, 6], data: rng.floats(90))
        let n = try Session(model: model(nodes, output: "n", weights: weights)).run(x)
        let c = try Session(model: model([conv], input: "n", output: "c", weights: all)).run(n)
        assertClose(try session.run(x).data, zip(c.data, n.data).map { $0 + $1 }, "two readers")
    }

    /// A scale and shift after tanh (the light networks' 150·tanh + 127.5 output) run inside the tanh pass.
    func testScaleAfterTanhFoldsIntoIt() throws {
        var rng = SplitMix64(seed: 94)
        let nodes = [Node(name: "tanh", op: .tanh, inputs: ["x"], output: "t"),
                     Node(name: "scale", op: .scalarAffine(alpha: 150, beta: 127.5), inputs: ["t"], output: "y")]
        let session = try Session(model: model(nodes, output: "y", weights: [:]), threads: 2)
        XCTAssertEqual(try session.profile(height: 9, width: 31).layers.map(\.name), ["tanh"])
        let x = Tensor(shape: [3, 9, 31], data: rng.floats(3 * 9 * 31).map { 4 * $0 })
        let got = try session.run(x)
        for (g, v) in zip(got.data, x.data) { XCTAssertEqual(g, 150 * Foundation.tanh(v) + 127.5, accuracy: 1e-4) }
    }

    /// A depthwise convolution and the 1×1 convolution after it (a depthwise-separable pair) run band by band:
    /// 3×3 at stride 1 and 2 and after a nearest 2× upsample, with and without a normalisation folded in front,
    /// 1×1 products on the direct kernel (≤ 16 inputs) and on GEMM, sizes that make several bands and a short last
    /// one; a 5×5 depthwise runs as two convolutions and must give the same.
    func testDepthwiseSeparablePairsMatchTheUnfusedGraph() throws {
        var rng = SplitMix64(seed: 95)
        struct Pair { var name: String; var c: Int; var cout: Int; var k = 3; var stride = 1; var upsample = false; var h: Int; var w: Int }
        let pairs = [
            Pair(name: "3x3 s1 -> 1x1 direct", c: 16, cout: 32, h: 13, w: 21),
            Pair(name: "3x3 s1 -> 1x1 GEMM, several bands", c: 64, cout: 64, h: 40, w: 64),
            Pair(name: "3x3 s2 -> 1x1, odd size", c: 32, cout: 64, stride: 2, h: 41, w: 67),
            Pair(name: "upsample + 3x3 -> 1x1, several bands", c: 32, cout: 16, upsample: true, h: 30, w: 40),
            Pair(name: "upsample + 3x3 -> 1x1, tiny", c: 4, cout: 3, upsample: true, h: 1, w: 2),
            Pair(name: "5x5 (two convolutions)", c: 8, cout: 8, k: 5, h: 9, w: 11),
        ]
        for (i, pair) in pairs.enumerated() {
            for (m, mode) in [PadMode.reflect, .zero, .edge].enumerated() {
                let normalised = (i + m) % 2 == 0
                var (nodes, weights) = normalised ? normalisation(channels: pair.c, conditional: m == 1, relu: true, rng: &rng) : ([], [:])
                weights["dw"] = Tensor(shape: [pair.c, 1, pair.k, pair.k], data: rng.floats(pair.c * pair.k * pair.k))
                weights["db"] = Tensor(shape: [pair.c], data: rng.floats(pair.c))
                weights["pw"] = Tensor(shape: [pair.cout, pair.c, 1, 1], data: rng.floats(pair.cout * pair.c))
                weights["pb"] = Tensor(shape: [pair.cout], data: rng.floats(pair.cout))
                var source = normalised ? "n" : "x"
                var first: [Node] = []
                if pair.upsample {
                    first.append(Node(name: "up", op: .upsampleNearest(2), inputs: [source], output: "u"))
                    source = "u"
                }
                first.append(Node(name: "dw", op: .conv2d(Conv2DSpec(weight: "dw", bias: "db", strideH: pair.stride, strideW: pair.stride,
                                                                  padding: .explicit(.uniform(pair.k / 2)), padMode: mode, groups: pair.c)),
                                  inputs: [source], output: "d"))
                let pointwise = Node(name: "pw", op: .conv2d(Conv2DSpec(weight: "pw", bias: "pb", padding: .explicit(.uniform(0)))),
                                     inputs: ["d"], output: "y")
                let x = Tensor(shape: [pair.c, pair.h, pair.w], data: rng.floats(pair.c * pair.h * pair.w).map { 20 * $0 + 3 })
                let style: [Float]? = normalised && m == 1 ? [0.5, 0.5] : nil
                for threads in [1, 2] {
                    let what = "\(pair.name), \(mode)\(normalised ? ", normalised" : ""), \(threads) threads"
                    let fused = try Session(model: model(nodes + first + [pointwise], output: "y", weights: weights), threads: threads)
                    fused.recordTimings = true
                    let got = try fused.run(x, styleWeights: style)
                    XCTAssertEqual(fused.layerTimings.map(\.name), ["pw"], "\(what): one step")
                    let depthwise = try Session(model: model(nodes + first, output: "d", weights: weights), threads: threads).run(x, styleWeights: style)
                    let want = try Session(model: model([pointwise], input: "d", output: "y", weights: weights), threads: threads).run(depthwise)
                    XCTAssertEqual(got.shape, want.shape, what)
                    assertClose(got.data, want.data, what)
                }
            }
        }
    }
}
