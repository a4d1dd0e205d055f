import Decode
import Foundation
import Stylize
import TestSupport
import XCTest

/// The model built into the binary: a fresh install (an empty HOME, no STREAMD_MODELS, no models directory, a
/// working directory with nothing but the picture) stylizes with it, in each of its named styles.
final class DefaultModelTests: XCTestCase {
    static let styles = ["wave", "scream", "wreck", "udnie"]

    /// `streamd ARGS` in `dir` with an empty home and no model search path of the environment's.
    func fresh(_ args: [String], in dir: TempDir) throws -> CLI.Result {
        let home = dir.file("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        return try CLI.run(args, environment: ["HOME": home, "STREAMD_SHARED_DIR": "/nonexistent"], currentDirectory: dir.path)
    }

    /// A copy of kodim23 in `dir`, so the command reads nothing outside it.
    func picture(in dir: TempDir) throws -> String {
        try FileManager.default.copyItem(atPath: try SharedData.path("media/images/kodak/kodim23.png"), toPath: dir.file("in.png"))
        return "in.png"
    }

    func testEachNamedStyleOfTheBuiltInModelWithNoModelFiles() throws {
        let dir = try TempDir()
        let input = try picture(in: dir)
        var results: [String: [UInt8]] = [:]
        for style in Self.styles {
            let r = try fresh(["image", "--style", style, "--max-size", "128", "--threads", "2", input, "\(style).png"], in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            results[style] = try ImageDecoder.decode(path: dir.file("\(style).png")).pixels
        }
        let original = try ImageDecoder.decode(path: dir.file("wave.png"))
        XCTAssertEqual(max(original.width, original.height), 128)
        for (i, a) in Self.styles.enumerated() {
            for b in Self.styles[(i + 1)...] {
                let db = psnr(samples: results[a]!, results[b]!)
                XCTAssertLessThan(db, 30, "\(a) and \(b) look alike (\(db) dB)")
            }
        }
        // No --model, no --style: the built-in model's first style, the same as --style wave, bit for bit; and
        // --style-index 0 too.
        for (args, name) in [([String](), "plain.png"), (["--style-index", "0"], "index0.png")] {
            let r = try fresh(["image", "--max-size", "128", "--threads", "2"] + args + [input, name], in: dir)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try ImageDecoder.decode(path: dir.file(name)).pixels, results["wave"], name)
        }
        XCTAssertEqual(try fresh(["image", "--model", "default", "--style", "udnie", "--max-size", "128", "--threads", "2", input, "u.png"], in: dir).status, 0)
        XCTAssertEqual(try ImageDecoder.decode(path: dir.file("u.png")).pixels, results["udnie"])
    }

    func testStyleNameErrorsAreOneLine() throws {
        let dir = try TempDir()
        let input = try picture(in: dir)
        CLI.assertFails(try fresh(["image", "--style", "nosuch", input, "o.png"], in: dir),
                        mentioning: ["'nosuch'", "wave, scream, wreck, udnie"])
        CLI.assertFails(try fresh(["image", "--style", "wave", "--style-index", "1", input, "o.png"], in: dir),
                        mentioning: ["--style", "--style-index"])
        CLI.assertFails(try fresh(["image", "--style", "wave", "--style-mix", "0:1,1:1", input, "o.png"], in: dir),
                        mentioning: ["--style-mix"])
        CLI.assertFails(try fresh(["bench", "--style", "nosuch", "--size", "64x64", "--iterations", "1"], in: dir),
                        mentioning: ["'nosuch'"])
        // A single-style model has no style names.
        CLI.assertFails(try CLI.run(["image", "--model", try SharedData.path("models/ml5/wave"), "--style", "wave", input, "o.png"],
                                    currentDirectory: dir.path), mentioning: ["single style"])
        XCTAssertEqual(dir.contents().filter { $0.hasSuffix(".png") }, ["in.png"], "nothing written")
    }

    func testTranscodeAndBenchWithoutModel() throws {
        let dir = try TempDir()
        try FileManager.default.copyItem(atPath: try SharedData.path("media/video/carphone_h264_176x144.mp4"), toPath: dir.file("in.mp4"))
        let t = try fresh(["transcode", "--style", "scream", "--duration", "0.4", "--no-audio", "--preset", "ultrafast", "in.mp4", "out.mp4"], in: dir)
        XCTAssertEqual(t.status, 0, t.stderr)
        let streams = try XCTUnwrap(try ffprobeJSON(["-count_frames", "-show_streams", dir.file("out.mp4")])["streams"] as? [[String: Any]])
        XCTAssertGreaterThan(Int(streams.first?["nb_read_frames"] as? String ?? "") ?? 0, 0, "\(streams)")
        let b = try fresh(["bench", "--style", "udnie", "--size", "64x64", "--iterations", "1", "--warmup", "0", "--json"], in: dir)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stdout.contains(#""model":"default""#), b.stdout)
    }

    func testModelsListAndInfoShowTheBuiltInModel() throws {
        let dir = try TempDir()
        let list = try fresh(["models", "list"], in: dir)
        XCTAssertEqual(list.status, 0, list.stderr)
        let rows = list.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 4, list.stdout)
        XCTAssertTrue(rows[1].hasPrefix("default ") && rows[1].contains("builtin:default"), list.stdout)
        XCTAssertTrue(rows[1].contains("wave, scream, wreck, udnie"), list.stdout)
        XCTAssertTrue(rows[2].hasPrefix("arbitrary ") && rows[2].contains("builtin:arbitrary") && rows[2].contains("any painting (--style-image)"), list.stdout)
        XCTAssertTrue(rows[3].hasPrefix("arbitrary-fast ") && rows[3].contains("builtin:arbitrary-fast") && rows[3].contains("any painting (--style-image)"), list.stdout)
        let info = try fresh(["models", "info", "default"], in: dir)
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("styles        4: wave, scream, wreck, udnie"), info.stdout)
        XCTAssertTrue(info.stdout.contains("file          builtin:default (native)"), info.stdout)
        CLI.assertFails(try fresh(["models", "info", "builtin:nosuch"], in: dir), mentioning: ["builtin:nosuch"])
        CLI.assertFails(try fresh(["models", "info", "nosuch"], in: dir), mentioning: ["'nosuch' not found"])
    }

    /// A model called `default` in a models directory takes the built-in one's place; `builtin:default` still
    /// reaches the built-in one.
    func testAModelsDirectorysDefaultWins() throws {
        let dir = try TempDir()
        let models = dir.file("models")
        let own = models + "/default.safetensors"
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        let imported = try CLI.run(["models", "import", try SharedData.path("models/ml5/wave"), "-o", own])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        let info = try fresh(["models", "info", "default", "--models-dir", models], in: dir)
        XCTAssertTrue(info.stdout.contains(own) && info.stdout.contains("engstrom-tf"), info.stdout)
        let list = try fresh(["models", "list", "--models-dir", models], in: dir)
        XCTAssertEqual(list.stdout.split(separator: "\n").count, 4, list.stdout)
        XCTAssertTrue(list.stdout.contains(own) && !list.stdout.contains("builtin:default"), list.stdout)
        let builtin = try fresh(["models", "info", "builtin:default", "--models-dir", models], in: dir)
        XCTAssertTrue(builtin.stdout.contains("wave, scream, wreck, udnie"), builtin.stdout)
    }
}
