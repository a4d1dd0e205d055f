import Foundation
import Stylize
import TestSupport
import XCTest

/// An instance normalisation whose only reader is a convolution or an addition is folded into that step: the
/// step normalises each channel while it copies (pads, upsamples) or adds it, and the normalised tensor is never
/// written. Each fused path against the same graph run in two sessions (the normalisation alone, then its
/// reader on the normalised tensor), whose kernels the other reference tests check: every padding mode, the
/// ReLU fused or not, a conditional normalisation mixing two styles, one and two threads.
final class FoldedNormalisationTests: XCTestCase {
    func model(_ nodes: [Node], input: String = "x", output: String, weights: [String: Tensor]) -> StyleModel {
        StyleModel(info: ModelInfo(name: "t", architecture: "test", sourceFormat: "test", input: .identity255, output: .identity255),
                   graph: Graph(input: input, output: output, nodes: nodes), weights: weights)
    }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        guard a.count == b.count else { return }
        var worst: Float = 0
        for i in a.indices { worst = max(worst, abs(a[i] - b[i]) / max(1, abs(b[i]))) }
        XCTAssertLessThan(worst, 1e-4, "\(what): worst relative error \(worst)")
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
}
