import Foundation
import Stylize
import TestSupport
import XCTest

/// `streamd models average`: the checkpoints of one run averaged weight by weight into a network that runs, and
/// checkpoints of different networks refused in one line.
final class ModelsAverageTests: XCTestCase {
    private func train(_ tmp: TempDir, out: String, width: String) throws {
        let r = try CLI.run(["train", "--dataset-path", try DistillationRun.photos(tmp), "--teacher", "arbitrary",
                             "--style-image", try SharedData.path("media/images/style/wave.jpg"), "--out", tmp.file(out),
                             "--arch", "light", "--edge-kernel", "3", "--depthwise-sampling", "--strided-edges", "--width-multiplier", width,
                             "--image-size", "32", "--batch-size", "2", "--max-steps", "3", "--checkpoint-interval", "1",
                             "--sample-interval", "0", "--seed", "1", "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testCheckpointsAverageWeightByWeight() throws {
        let tmp = try TempDir()
        try train(tmp, out: "a.safetensors", width: "0.25")
        let folders = (1...3).map { tmp.file("a-checkpoints/step-\($0)") }
        let r = try CLI.run(["models", "average", "-o", tmp.file("mean.safetensors"), "--name", "mean"] + folders)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("the mean of 3 models' weights"), r.stderr)
        let steps = try folders.map { try NativeModelFile.load(path: $0 + "/model.safetensors") }
        let mean = try NativeModelFile.load(path: tmp.file("mean.safetensors"))
        XCTAssertEqual(mean.graph, steps[0].graph)
        XCTAssertEqual(mean.info.styleNames, steps[0].info.styleNames)
        XCTAssertEqual(mean.info.name, "mean")
        XCTAssertTrue(mean.info.notes.contains("the mean of 3 checkpoints"), mean.info.notes)
        var moved = 0
        for (key, tensor) in mean.weights {
            for i in tensor.data.indices {
                let values = steps.map { Double($0.weights[key]!.data[i]) }
                XCTAssertEqual(Double(tensor.data[i]), values.reduce(0, +) / 3, accuracy: 1e-6 * max(1, abs(values[0])), "\(key)[\(i)]")
                if values[0] != values[2] { moved += 1 }
            }
        }
        XCTAssertGreaterThan(moved, 100, "the steps differ, so the mean is not any one of them")
        // It runs, as any model does.
        let picture = tmp.file("p.png")
        XCTAssertEqual(try CLI.run(["image", "--model", tmp.file("mean.safetensors"), "--max-size", "64",
                                    try SharedData.path("media/images/content/stata.jpg"), picture]).status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: picture))

        // A narrower network's checkpoint is another network: refused, naming it, and nothing written.
        try train(tmp, out: "b.safetensors", width: "0.125")
        CLI.assertFails(try CLI.run(["models", "average", "-o", tmp.file("bad.safetensors"), folders[0], tmp.file("b.safetensors")]),
                        mentioning: [tmp.file("b.safetensors"), "not the same network"])
        CLI.assertFails(try CLI.run(["models", "average", "-o", tmp.file("bad.safetensors"), folders[0], tmp.file("nosuch.safetensors")]),
                        mentioning: [tmp.file("nosuch.safetensors")])
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("bad.safetensors")))
    }
}
