import Foundation
import Pipeline
@testable import Stylize
import TestSupport
import XCTest

/// Bounded working memory: pads and upsampling folded into the convolution after them (built band by
/// band), free buffers trimmed to the peak, and the peak-memory estimate.
final class MemoryTests: XCTestCase {
    func model(_ nodes: [Node], output: String, weights: [String: Tensor]) -> StyleModel {
        StyleModel(info: ModelInfo(name: "t", architecture: "test", sourceFormat: "test", input: .identity255, output: .identity255),
                   graph: Graph(input: "x", output: output, nodes: nodes), weights: weights)
    }

    static func upsample(_ x: [Float], c: Int, h: Int, w: Int, factor f: Int) -> [Float] {
        var y = [Float](repeating: 0, count: c * h * f * w * f)
        for ch in 0..<c { for i in 0..<(h * f) { for j in 0..<(w * f) {
            y[(ch * h * f + i) * w * f + j] = x[(ch * h + i / f) * w + j / f]
        } } }
        return y
    }

    func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        ReferenceKernelTests.assertClose(a, b, what, file: file, line: line)
    }

    /// [Upsample →] [Pad →] Conv is one instruction, and it computes what the three separate steps do, for
    /// every convolution lowering, with one band and with many.
    func testFoldedPadAndUpsampleMatchTheReference() throws {
        struct Case { var name: String; var cin, cout, k, stride, up: Int; var pads: Pads; var mode: PadMode; var padNode: Bool }
        let cases = [
            Case(name: "winograd2", cin: 16, cout: 16, k: 3, stride: 1, up: 2, pads: .uniform(1), mode: .reflect, padNode: true),
            Case(name: "winograd4", cin: 64, cout: 64, k: 3, stride: 1, up: 1, pads: .uniform(1), mode: .zero, padNode: false),
            Case(name: "col2im", cin: 8, cout: 3, k: 9, stride: 1, up: 1, pads: .uniform(4), mode: .reflect, padNode: true),
            Case(name: "rowShift", cin: 3, cout: 16, k: 9, stride: 1, up: 1, pads: Pads(top: 3, left: 5, bottom: 4, right: 2), mode: .edge, padNode: true),
            Case(name: "im2col stride 2", cin: 4, cout: 8, k: 3, stride: 2, up: 2, pads: .uniform(1), mode: .zero, padNode: false),
            Case(name: "upsample 3, no pad", cin: 4, cout: 8, k: 3, stride: 1, up: 3, pads: .zero, mode: .zero, padNode: false),
        ]
        var rng = SplitMix64(seed: 17)
        for t in cases {
            let h = 21, w = 26
            let x = rng.floats(t.cin * h * w), wt = rng.floats(t.cout * t.cin * t.k * t.k), bias = rng.floats(t.cout)
            var nodes: [Node] = []
            var last = "x"
            if t.up > 1 { nodes.append(Node(name: "up", op: .upsampleNearest(t.up), inputs: [last], output: "u")); last = "u" }
            if t.padNode { nodes.append(Node(name: "pad", op: .pad(t.pads, t.mode), inputs: [last], output: "p")); last = "p" }
            let spec = Conv2DSpec(weight: "w", bias: "b", strideH: t.stride, strideW: t.stride,
                                  padding: .explicit(t.padNode ? .zero : t.pads), padMode: t.padNode ? .zero : t.mode)
            nodes.append(Node(name: "conv", op: .conv2d(spec), inputs: [last], output: "y"))
            let m = model(nodes, output: "y", weights: ["w": Tensor(shape: [t.cout, t.cin, t.k, t.k], data: wt),
                                                          "b": Tensor(shape: [t.cout], data: bias)])
            let ux = Self.upsample(x, c: t.cin, h: h, w: w, factor: t.up)
            let ref = ReferenceKernelTests.referenceConv(ux, cin: t.cin, h: h * t.up, w: w * t.up, weight: wt, cout: t.cout,
                                                         kh: t.k, kw: t.k, bias: bias, sh: t.stride, sw: t.stride,
                                                         pads: t.pads, mode: t.mode)
            for budget in [1 << 24, 1] {
                let session = try Session(model: m, threads: 2)
                XCTAssertEqual(session.plan.instructions.count, 1, "\(t.name): pad and upsample fold into the convolution")
                session.convBandBudget = budget
                let got = try session.run(Tensor(shape: [t.cin, h, w], data: x))
                XCTAssertEqual(got.shape, [t.cout, ref.0, ref.1], t.name)
                assertClose(got.data, ref.2, "\(t.name), band budget \(budget)")
            }
        }
    }

    /// A pad whose result is read twice stays a step of its own (folding it would compute it twice).
    func testPadWithTwoReadersIsNotFolded() throws {
        let spec = Conv2DSpec(weight: "w", padding: .explicit(.zero))
        let m = model([Node(name: "pad", op: .pad(.uniform(1), .reflect), inputs: ["x"], output: "p"),
                       Node(name: "conv", op: .conv2d(spec), inputs: ["p"], output: "c"),
                       Node(name: "add", op: .add, inputs: ["c", "p"], output: "y")],
                      output: "y", weights: ["w": Tensor(shape: [2, 2, 1, 1], data: [1, 0, 0, 1])])
        let session = try Session(model: m)
        XCTAssertEqual(session.plan.instructions.map(\.kind), ["Pad", "Conv2D", "Add"])
        let x: [Float] = (0..<8).map(Float.init)
        let y = try session.run(Tensor(shape: [2, 2, 2], data: x))
        XCTAssertEqual(y.shape, [2, 4, 4])
        // Identity 1×1 convolution plus the padded input itself: twice the padded input.
        for c in 0..<2 { for i in 0..<4 { for j in 0..<4 {
            let v = ReferenceKernelTests.sample(x, c: c, h: 2, w: 2, y: i - 1, x: j - 1, mode: .reflect)
            XCTAssertEqual(y.data[(c * 4 + i) * 4 + j], 2 * v)
        } } }
    }

    func udnie() throws -> StyleModel { try ML5Importer.load(path: try SharedData.path("models/ml5/udnie")) }

    /// The estimate grows with the frame, and it is what a real run of a fresh session then holds at peak.
    func testEstimateIsMonotonicAndMatchesARealRun() throws {
        let model = try udnie()
        let session = try Session(model: model)
        var last = 0
        for (h, w) in [(16, 16), (64, 48), (96, 128), (240, 320), (480, 640), (1080, 1920)] {
            let e = try session.estimatedPeakBytes(height: h, width: w)
            XCTAssertGreaterThan(e, last, "\(h)x\(w)")
            // At least the input, one 32-channel activation and the output are alive at some point.
            XCTAssertGreaterThan(e, (3 + 32) * h * w * 4, "\(h)x\(w)")
            last = e
        }
        let stylizer = try Stylizer(model: model)
        let e = try stylizer.session.estimatedPeakBytes(height: 200, width: 300)
        var rng = SplitMix64(seed: 5)
        let image = RGBImage(width: 300, height: 200, pixels: (0..<(200 * 300 * 3)).map { _ in UInt8(rng.int(0...255)) })
        _ = try stylizer.stylize(image)
        let ws = stylizer.session.workspace
        XCTAssertEqual(ws.liveFloats, 0, "every buffer comes back")
        // A real run may reuse buffers larger than asked for (up to twice), which a counting run does not see.
        let real = (ws.peakLiveFloats + ws.scratchCapacity.reduce(0, +)) * 4
        XCTAssertEqual(Double(real), Double(e), accuracy: Double(e) * 0.15, "estimate \(e), real run \(real)")
    }

    /// Free buffers are trimmed: after frames of several sizes a workspace holds no more than the largest
    /// live total plus its slack, and a repeated size reuses its buffers instead of allocating.
    func testWorkspaceHoldsAtMostThePeakPlusSlack() throws {
        let stylizer = try Stylizer(model: try udnie())
        let ws = stylizer.session.workspace
        ws.slack = 0
        func run(_ h: Int, _ w: Int) throws {
            let image = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 128, count: w * h * 3))
            XCTAssertEqual(try stylizer.stylize(image).width, w)
            XCTAssertEqual(ws.liveFloats, 0)
        }
        for (h, w) in [(160, 240), (96, 64), (240, 160), (200, 200), (240, 160)] {
            try run(h, w)
            XCTAssertLessThanOrEqual(ws.freeFloats, ws.peakLiveFloats, "after \(h)x\(w)")
        }
        ws.slack = 1 << 24
        try run(240, 160)
        let before = ws.allocations
        try run(240, 160)
        XCTAssertEqual(ws.allocations, before, "a repeated frame size allocates nothing")
    }

    /// The 4K portrait clip's frames (2160×3840) fit one worker in well under 2 GB with the Johnson model:
    /// at most one full-size 16-channel activation plus a few smaller ones are alive at once (without
    /// trimming and folding, one worker held about 3.4 GB).
    func testJohnson4KFrameEstimateFitsOneWorker() throws {
        let model = try ModelLoader.load(path: try SharedData.path("models/johnson-fns-onnx/candy.onnx"))
        let stylizer = try Stylizer(model: model)
        let e = try stylizer.estimatedPeakBytes(height: 3840, width: 2160)
        let plane = (3840 + 80) * (2160 + 80) * 4
        XCTAssertGreaterThan(e, 16 * plane, "estimate \(e >> 20) MB")
        XCTAssertLessThan(e, 1200 << 20, "estimate \(e >> 20) MB")
    }

    /// Loosely against the operating system: the resident-memory high-water mark of one large frame grows by
    /// about the estimate (between half and twice it).
    func testEstimateIsCloseToMeasuredResidentGrowth() throws {
        #if os(Linux)
        let stylizer = try Stylizer(model: try udnie())
        let h = 1024, w = 1536
        let e = try stylizer.estimatedPeakBytes(height: h, width: w)
        let image = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 77, count: w * h * 3))
        func status(_ key: String) -> Int {
            let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
                return (Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0) * 1024
            }
            return 0
        }
        guard (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil else {
            throw XCTSkip("cannot reset the resident high-water mark")
        }
        let base = status("VmRSS")
        let result = try stylizer.stylize(image)
        XCTAssertEqual(result.width, w)
        let growth = status("VmHWM") - base
        XCTAssertGreaterThan(growth, e / 2, "estimate \(e >> 20) MB, measured growth \(growth >> 20) MB")
        XCTAssertLessThan(growth, e * 2, "estimate \(e >> 20) MB, measured growth \(growth >> 20) MB")
        #else
        throw XCTSkip("needs /proc")
        #endif
    }
}
