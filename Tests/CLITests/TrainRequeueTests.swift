import Foundation
import Stylize
import TestSupport
import XCTest

/// `streamd train` under a scheduler that warns, stops and requeues a job: SIGUSR1 (Slurm's
/// `--signal=B:USR1@…`) writes a checkpoint and training goes on; SIGTERM writes one and stops; the same command
/// line with `--resume` then goes on from the latest checkpoint and ends with the very weights of a run that was
/// never stopped. Each checkpoint says which attempt wrote it.
final class TrainRequeueTests: XCTestCase {
    func testStoppedByTheSchedulerAndRunAgainItEndsWithTheUninterruptedWeights() throws {
        let tmp = try TempDir()
        let base = TrainCommandTests.self
        let photos = try base.dataset(tmp)
        let steps = ["--max-steps", "24", "--checkpoint-interval", "100"]
        let outA = tmp.file("a.safetensors")
        try TrainCommandTests.trainUninterrupted(photos, out: outA, steps: steps)

        // The same command line each attempt, as a requeued batch script runs it.
        let outB = tmp.file("b.safetensors"), folder = tmp.file("b-checkpoints")
        let command = try base.arguments(photos, out: outB, extra: steps + ["--resume", "--checkpoint-dir", folder])
        let first = Process()
        first.executableURL = URL(fileURLWithPath: try streamdBinary)
        first.arguments = command
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        func wait(_ what: String, _ condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(120)
            while !condition() {
                guard Date() < deadline, first.isRunning else { throw Failure("\(what): not within 120 s (running: \(first.isRunning))") }
                usleep(20_000)
            }
        }
        func lines() -> Int { ((try? String(contentsOfFile: folder + "/loss.csv", encoding: .utf8)) ?? "").split(separator: "\n").count - 1 }
        func checkpoints() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix("step-") && !$0.contains(".tmp") }.sorted() }
        try wait("a few steps") { lines() >= 4 }
        kill(first.processIdentifier, SIGUSR1)
        try wait("a checkpoint on SIGUSR1") { !checkpoints().isEmpty }
        XCTAssertTrue(first.isRunning, "SIGUSR1 does not stop training")
        kill(first.processIdentifier, SIGTERM)
        guard waitForExit(first, seconds: 60) else {
            kill(first.processIdentifier, SIGKILL)
            return XCTFail("still running 60 s after SIGTERM")
        }
        XCTAssertEqual(first.terminationStatus, 130, "stopped by SIGTERM")
        let stopped = try XCTUnwrap(checkpoints().compactMap { Int($0.dropFirst(5)) }.max())
        XCTAssertLessThan(stopped, 24, "stopped before the end")
        let state = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/step-\(stopped)/state.json"))) as? [String: Any])
        XCTAssertTrue((state["attempt"] as? String)?.contains("pid \(first.processIdentifier)") == true, "\(state["attempt"] ?? "no attempt")")

        let again = try CLI.run(command, timeout: 600)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("resuming \(folder)/step-\(stopped) at step \(stopped)"), again.stderr)
        let (wa, wb) = (try base.weights(outA), try base.weights(outB))
        XCTAssertEqual(Set(wa.keys), Set(wb.keys))
        for (name, values) in wa { XCTAssertEqual(values, wb[name], "\(name) differs after the requeue") }
    }
}
