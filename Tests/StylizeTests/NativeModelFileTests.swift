import Foundation
import Stylize
import TestSupport
import XCTest

final class NativeModelFileTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("native-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testImportedModelRoundTripsBitExactly() throws {
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/wave"))
        let file = tmp.appendingPathComponent("wave.safetensors").path
        try NativeModelFile.write(model, to: file)
        XCTAssertEqual(try ModelLoader.detect(file), .native)
        let back = try ModelLoader.load(path: file)
        XCTAssertEqual(back.info, model.info)
        XCTAssertEqual(back.graph, model.graph)
        XCTAssertEqual(back.weights, model.weights)
        // Same numbers out of both.
        let rgb = try SharedData.bytes("models/ml5-testvectors/stata_50x70.input.u8.rgb").map(Float.init)
        let a = try Session(model: model).runRaw(rgb: rgb, height: 50, width: 70)
        let b = try Session(model: back).runRaw(rgb: rgb, height: 50, width: 70)
        XCTAssertEqual(a.rgb, b.rgb)
        // No temporary files left beside it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path), ["wave.safetensors"])
    }

    func testTruncatedAndForeignFilesAreRefusedWithTheirName() throws {
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/wave"))
        let file = tmp.appendingPathComponent("m.safetensors").path
        try NativeModelFile.write(model, to: file)
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let cut = tmp.appendingPathComponent("cut.safetensors").path
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try ModelLoader.load(path: cut)) { e in
            XCTAssertTrue("\(e)".hasPrefix(cut + ":") && "\(e)".contains("outside the file"), "\(e)")
        }
        // A header that lies about its length.
        var lie = data
        lie.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(data.count).littleEndian) { Data($0) })
        let liar = tmp.appendingPathComponent("liar.safetensors").path
        try lie.write(to: URL(fileURLWithPath: liar))
        XCTAssertThrowsError(try ModelLoader.load(path: liar)) { e in XCTAssertTrue("\(e)".contains(liar), "\(e)") }
        // Random bytes.
        let junk = tmp.appendingPathComponent("junk.bin").path
        try Data((0..<4096).map { _ in UInt8.random(in: 1...255) }).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try ModelLoader.load(path: junk)) { e in
            XCTAssertTrue("\(e)".hasPrefix(junk + ":"), "\(e)")
        }
        // Missing.
        XCTAssertThrowsError(try ModelLoader.load(path: tmp.appendingPathComponent("nope.onnx").path)) { e in
            XCTAssertTrue("\(e)".contains("no such file"), "\(e)")
        }
    }

    func testWeightsThatContradictTheGraphAreRefused() throws {
        var model = try ML5Importer.load(path: try SharedData.path("models/ml5/wave"))
        model.weights["v3.weight"] = Tensor(shape: [64, 16, 3, 3], repeating: 0)
        let file = tmp.appendingPathComponent("bad.safetensors").path
        try NativeModelFile.write(model, to: file)
        // The mismatch shows when the first frame runs: a one-line error naming the layer.
        let loaded = try ModelLoader.load(path: file)
        XCTAssertThrowsError(try Session(model: loaded).runRaw(rgb: [Float](repeating: 0, count: 48 * 48 * 3), height: 48, width: 48)) { e in
            XCTAssertTrue("\(e)".contains("conv2") && "\(e)".contains("32 channels"), "\(e)")
        }
    }

    func testLibraryResolvesNamesInSearchOrder() throws {
        let a = tmp.appendingPathComponent("a"), b = tmp.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
        let model = try ML5Importer.load(path: try SharedData.path("models/ml5/wave"))
        try NativeModelFile.write(model, to: b.appendingPathComponent("wave.safetensors").path)
        try FileManager.default.createSymbolicLink(atPath: a.appendingPathComponent("udnie").path,
                                                   withDestinationPath: try SharedData.path("models/ml5/udnie"))
        let lib = ModelLibrary.standard(modelsDir: a.path, environment: ["STREAMD_MODELS": b.path, "HOME": tmp.path])
        XCTAssertEqual(lib.directories.prefix(2), [a.path, b.path])
        XCTAssertEqual(try lib.resolve("wave"), b.appendingPathComponent("wave.safetensors").path)
        XCTAssertEqual(try lib.resolve("udnie"), a.appendingPathComponent("udnie").path)
        XCTAssertThrowsError(try lib.resolve("nothing")) { e in XCTAssertTrue("\(e)".contains("'nothing' not found"), "\(e)") }
        let names = lib.list().map(\.name)
        XCTAssertEqual(names, ["default", "arbitrary", "arbitrary-fast", "udnie", "wave"], "the built-in models first")
    }
}
