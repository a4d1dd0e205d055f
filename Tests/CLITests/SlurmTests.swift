import Foundation
import Pipeline
import Stylize
import TestSupport
import XCTest

/// streamd's scale-out contracts driven by a real scheduler: a Slurm cluster of a controller and two nodes on
/// loopback (`SlurmCluster`), started by the test. A segment job array with a dependent join, one node killed
/// while it runs a segment; a training job whose node dies, requeued on the other node and resumed from its
/// checkpoint. Both end exactly as one process on one machine would.
final class SlurmTests: XCTestCase {
    /// `s` as one word for the shell.
    private func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }

    func testASegmentArrayAndItsJoinCompleteCorrectlyWhenANodeDies() throws {
        let cluster = try SlurmCluster()
        defer { cluster.stop() }
        let work = cluster.directory
        let input = try SharedData.path("media/video/face_mpeg4_960x400.avi")
        let streamd = try streamdBinary
        // Lossless, no smoothing: every frame of the joined file must be the one-process file's, bit for bit.
        let options = "--max-size 96 --workers 1 --threads 1 --crf 0"
        let whole = work.file("whole.mp4")
        let r = try CLI.run(["transcode"] + options.split(separator: " ").map(String.init) + [input, whole], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)

        let (bin, clip, dir) = (quoted(streamd), quoted(input), quoted(work.path))
        let array = try cluster.submit(["--requeue", "--array=0-2", "-o", work.file("segment-%a.out")], script: [
            "# Long enough that the node can be killed while the task runs.",
            "sleep 4",
            "\(bin) transcode \(options) --overwrite --segment $SLURM_ARRAY_TASK_ID/3 \(clip) \(dir)/part-$SLURM_ARRAY_TASK_ID.mkv",
            "echo $SLURM_ARRAY_TASK_ID $SLURMD_NODENAME ${SLURM_RESTART_COUNT:-0} >> \(dir)/ran",
        ].joined(separator: "\n"))
        let join = try cluster.submit(["--dependency=afterok:\(array)", "-o", work.file("join.out")],
                                      script: "\(bin) join \(clip) \(dir)/joined.mp4 \(dir)/part-*.mkv")
        // Both nodes busy with a segment each, then n1 dies.
        try cluster.wait("two segments running", seconds: 60) { try cluster.states().values.filter { $0 == "RUNNING" }.count == 2 }
        try cluster.killNode("n1")
        try cluster.wait("the join finished", seconds: 240) {
            try cluster.releaseRequeued()
            let state = try cluster.job(join)["JobState"] ?? ""
            if ["FAILED", "CANCELLED", "TIMEOUT"].contains(state) { throw Failure("join \(state): \((try? String(contentsOfFile: work.file("join.out"), encoding: .utf8)) ?? "")") }
            return state == "COMPLETED"
        }
        let ran = try String(contentsOfFile: work.file("ran"), encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        print("segments ran (task node restarts): \(ran)")
        XCTAssertEqual(Set(ran.map { $0[0] }), ["0", "1", "2"], "every segment done")
        XCTAssertEqual(ran.count, 3, "each segment done once (the killed attempt never finished)")
        XCTAssertTrue(ran.contains { $0[2] == "1" && $0[1] == "n2" }, "the killed node's segment ran again on n2: \(ran)")

        let joined = work.file("joined.mp4")
        XCTAssertEqual(try MediaProbe.packets(joined, "v").count, try MediaProbe.packets(whole, "v").count, "frame count")
        XCTAssertEqual(try MediaProbe.packets(joined, "a").count, try MediaProbe.packets(whole, "a").count, "audio packets")
        let a = try runFFmpeg(["-i", whole, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        let b = try runFFmpeg(["-i", joined, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        XCTAssertEqual(a.count, b.count)
        XCTAssertTrue(a == b, "the joined pictures are the one-process pictures, bit for bit")
    }

    func testATrainingJobWhoseNodeDiesResumesOnTheOtherFromItsCheckpoint() throws {
        let cluster = try SlurmCluster()
        defer { cluster.stop() }
        let work = cluster.directory
        let photos = try TrainCommandTests.dataset(work)
        let steps = ["--max-steps", "24", "--checkpoint-interval", "4"]
        let outA = work.file("a.safetensors")
        try TrainCommandTests.trainUninterrupted(photos, out: outA, steps: steps)

        let folder = work.file("checkpoints"), outB = work.file("b.safetensors")
        let command = try TrainCommandTests.arguments(photos, out: outB, extra: steps + ["--resume", "--checkpoint-dir", folder])
        let commandLine = ([try streamdBinary] + command).map(quoted).joined(separator: " ")
        let job = try cluster.submit(["--requeue", "-o", work.file("train.out"), "--open-mode=append"], script: commandLine)
        func checkpoints() -> [Int] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).compactMap { $0.hasPrefix("step-") ? Int($0.dropFirst(5)) : nil }
        }
        try cluster.wait("a checkpoint", seconds: 120) { try !checkpoints().isEmpty && cluster.job(job)["JobState"] == "RUNNING" }
        let node = try XCTUnwrap(try cluster.job(job)["NodeList"])
        let before = checkpoints().max() ?? 0
        try cluster.killNode(node)
        try cluster.wait("the training finished", seconds: 240) {
            try cluster.releaseRequeued()
            let state = try cluster.job(job)["JobState"] ?? ""
            if ["FAILED", "CANCELLED", "TIMEOUT"].contains(state) { throw Failure("training \(state)") }
            return state == "COMPLETED"
        }
        let fields = try cluster.job(job)
        XCTAssertEqual(fields["Restarts"], "1", "requeued once")
        XCTAssertNotEqual(fields["NodeList"], node, "finished on the other node")
        XCTAssertLessThan(before, 24, "the node died before the end")
        let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/step-24/state.json"))) as? [String: Any])
        XCTAssertTrue((last["attempt"] as? String)?.contains("restart 1") == true, "\(last["attempt"] ?? "no attempt")")
        let (wa, wb) = (try TrainCommandTests.weights(outA), try TrainCommandTests.weights(outB))
        XCTAssertEqual(Set(wa.keys), Set(wb.keys))
        for (name, values) in wa { XCTAssertEqual(values, wb[name], "\(name) differs after the node died") }
    }
}
