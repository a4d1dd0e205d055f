import Foundation
import Stylize
import TestSupport
import XCTest

/// `scripts/train-default-model.sh`, the recipe of the built-in model, run at a tiny scale (two steps of 32×32
/// crops) so that it cannot rot: it must train the four named styles into the architecture the built-in model has,
/// resume from its own checkpoints when run again, and fail in one line when the shared data is missing.
final class DefaultModelRecipeTests: XCTestCase {
    static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/\(name)").path
    }

    func run(_ args: [String], shared: String, script: String = script("train-default-model.sh")) throws -> (status: Int32, stderr: String) {
        let r = try runToolCapturing("/bin/bash", [script] + args, timeout: 600,
                                     environment: ["STREAMD_BIN": try CLI.binary, "STREAMD_SHARED_DIR": shared])
        return (r.status, r.stderr)
    }

    func testRecipeTrainsTheFourStylesAndResumes() throws {
        let tmp = try TempDir()
        let shared = try SharedData.root().path
        let work = tmp.file("work")
        let first = try run(["--work", work, "--steps", "2", "--image-size", "32", "--style-size", "64"], shared: shared)
        XCTAssertEqual(first.status, 0, first.stderr)
        let model = try NativeModelFile.load(path: work + "/default.safetensors")
        XCTAssertEqual(model.info.styleNames, ["wave", "scream", "wreck", "udnie"])
        XCTAssertEqual(model.info.architecture, "streamd-light")
        XCTAssertTrue(model.graph.nodes.contains { $0.op == .tanh }, "the light network's tanh output")
        XCTAssertTrue(first.stderr.contains("1121 multiply-adds per pixel"), "the built-in model's 8/16/32 network: \(first.stderr)")
        XCTAssertTrue(first.stderr.contains("distilled from arbitrary"), first.stderr)
        XCTAssertTrue(model.info.notes.contains("distilled from arbitrary"), model.info.notes)

        // Run again with phases of a few steps each (the shipped recipe's, in miniature): it continues from the
        // checkpoint the first run left, with the style loss from the second phase, and stops at --steps.
        let phases = "3:0:0:0,4:0.1:0:0,5:0.1:5:1e-3"
        let second = try run(["--work", work, "--steps", "4", "--phases", phases, "--image-size", "32", "--style-size", "64"], shared: shared)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("resuming from"), second.stderr)
        XCTAssertTrue(second.stderr.contains("step 3/3"), second.stderr)
        XCTAssertTrue(second.stderr.contains("step 4/4"), second.stderr)
        XCTAssertFalse(second.stderr.contains("step 5/5"), "--steps 4 stops there: \(second.stderr)")
        let log = try String(contentsOfFile: work + "/default-checkpoints/loss.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(log.first, "step,epoch,content,style,tv,total,unix_time,pixel")
        let rows = log.dropFirst().map { $0.split(separator: ",").compactMap { Double($0) } }
        XCTAssertEqual(rows.map { Int($0[0]) }, [1, 2, 3, 4])
        XCTAssertEqual(rows[2][3], 0, "no style loss in the first phase: \(log)")
        XCTAssertGreaterThan(rows[3][3], 0, "step 4 trained with the style loss: \(log)")
        XCTAssertTrue(rows.allSatisfy { $0[7] > 0 }, "the pixel loss throughout: \(log)")

        // The last phase: the colour and content losses join (the colour weight kept in the checkpoint).
        let third = try run(["--work", work, "--phases", phases, "--image-size", "32", "--style-size", "64"], shared: shared)
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertTrue(third.stderr.contains("step 5/5"), third.stderr)
        let colourLog = try String(contentsOfFile: work + "/default-checkpoints/loss.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(colourLog.first, "step,epoch,content,style,tv,total,unix_time,pixel,colour", "the header gains the colour column")
        let last = try XCTUnwrap(colourLog.last?.split(separator: ",").compactMap { Double($0) })
        XCTAssertEqual(last.count, 9, "\(colourLog)")
        XCTAssertEqual(Int(last[0]), 5)
        XCTAssertGreaterThan(last[8], 0, "step 5 trained with the colour loss: \(colourLog)")
        XCTAssertGreaterThan(last[2], 0, "and the content loss: \(colourLog)")
        XCTAssertEqual(colourLog.dropFirst().map { $0.split(separator: ",").count }, [8, 8, 8, 8, 9], "earlier lines end before it")
        let state = try String(contentsOfFile: work + "/default-checkpoints/step-5/state.json", encoding: .utf8)
        XCTAssertTrue(state.replacingOccurrences(of: " ", with: "").contains("\"lambdaColour\":5"), "the colour weight in the last checkpoint")

        // The result is the mean of the last four checkpoints' weights (steps 2 to 5), with the run's description.
        let result = try NativeModelFile.load(path: work + "/default.safetensors")
        let steps = try [2, 3, 4, 5].map { try NativeModelFile.load(path: work + "/default-checkpoints/step-\($0)/model.safetensors") }
        XCTAssertTrue(result.info.notes.contains("distilled from arbitrary") && result.info.notes.contains("the mean of 4"), result.info.notes)
        for (key, tensor) in result.weights {
            for i in Swift.stride(from: 0, to: tensor.data.count, by: 7) {
                let mean = steps.map { Double($0.weights[key]!.data[i]) }.reduce(0, +) / 4
                XCTAssertEqual(Double(tensor.data[i]), mean, accuracy: 1e-6 * max(1, abs(mean)), "\(key)[\(i)]")
            }
        }
        // Run once more with nothing left to train: the same result, not an average of averages.
        let again = try run(["--work", work, "--phases", phases, "--image-size", "32", "--style-size", "64"], shared: shared)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try NativeModelFile.load(path: work + "/default.safetensors").weights, result.weights)

        let bad = try run(["--work", work, "--phases", "3:0:0"], shared: shared)
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("phase '3:0:0' is not UNTIL:STYLE:COLOUR:CONTENT"), bad.stderr)
    }

    /// `scripts/train-any-painting-model.sh`, the recipe of `arbitrary-fast`, at two steps: the first from 72
    /// pictures' and crops' styles and 72 blends, the second, resumed, from the wider set (all 24 photos: 168 and
    /// 168), making a network of the built-in model's cost that takes any painting.
    func testAnyPaintingRecipeMakesANetworkThatTakesAnyPainting() throws {
        let tmp = try TempDir()
        let work = tmp.file("work")
        let r = try run(["--work", work, "--steps", "2", "--wider-from", "1", "--image-size", "32"], shared: try SharedData.root().path,
                        script: Self.script("train-any-painting-model.sh"))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("144 styles: 12 pictures, 60 crops of them, 72 blends"), r.stderr)
        XCTAssertTrue(r.stderr.contains("resuming from"), r.stderr)
        XCTAssertTrue(r.stderr.contains("336 styles: 28 pictures, 140 crops of them, 168 blends"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1121 multiply-adds per pixel"), "the 8/16/32 network: \(r.stderr)")
        let model = try NativeModelFile.load(path: work + "/arbitrary_fast.safetensors")
        XCTAssertEqual(model.info.styleEmbeddingSize, 100)
        XCTAssertTrue(model.info.notes.contains("distilled from arbitrary"), model.info.notes)
    }

    func testMissingSharedDataIsOneLine() throws {
        let tmp = try TempDir()
        let r = try run(["--work", tmp.file("work"), "--steps", "1"], shared: tmp.file("nowhere"))
        XCTAssertEqual(r.status, 1)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(lines.first?.contains("nowhere/media/images/kodak/kodim01.png is missing") ?? false, r.stderr)
    }
}
