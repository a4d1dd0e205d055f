import Foundation
import TestSupport
import XCTest

/// A pipeline with no `model:` runs the model built into streamd; its styles are chosen by name in the
/// configuration (`style:`) and through the API (`{"style": NAME}`), and `config check` knows the names.
final class DefaultModelServeTests: XCTestCase {
    func testPipelineWithoutModelRunsTheBuiltInModelAndSwitchesStyleByName() throws {
        let dir = try temporaryDirectory("default-model")
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = try loopedClipPipeline("cam", model: nil, style: "scream", outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: yaml, directory: dir)
        let check = try runTool(try ServeProcess.binary, ["config", "check", serve.configPath])
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertTrue(check.output.hasPrefix("ok: 1 pipeline (cam)"), check.output)
        try serve.waitReady()
        try serve.waitFor("frames from the built-in model", timeout: 60) { try serve.frames("cam") >= 2 }
        func style() throws -> [String: Any] { try XCTUnwrap(try serve.pipeline("cam")["style"] as? [String: Any]) }
        XCTAssertEqual(try style()["model"] as? String, "default")
        XCTAssertEqual(try style()["style"] as? String, "scream")
        XCTAssertEqual(try style()["style_index"] as? Int, 1)

        let switched = try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"style": "udnie"}"#, token: ServeProcess.token)
        XCTAssertEqual(switched.status, 200, switched.text)
        XCTAssertEqual(try style()["style"] as? String, "udnie")
        XCTAssertEqual(try style()["style_index"] as? Int, 3)
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"style_index": 2}"#, token: ServeProcess.token).status, 200)
        XCTAssertEqual(try style()["style"] as? String, "wreck", "an index shows its name")
        for (body, message) in [(#"{"style": "nosuch"}"#, "wave, scream, wreck, udnie"),
                                (#"{"style": "wave", "style_index": 0}"#, "style and style_index are exclusive")] {
            let r = try serve.request("POST", "/v1/pipelines/cam/style", body: body, token: ServeProcess.token)
            XCTAssertEqual(r.status, 400, body)
            let error = (try? r.json()["error"] as? String) ?? nil
            XCTAssertTrue(error?.contains(message) ?? false, "\(body): \(r.text)")
            XCTAssertFalse(error?.contains("\n") ?? true)
        }
        // The web page's list has the built-in model, with its styles, beside model_dirs' ones.
        let models = try serve.request("GET", "/v1/models").json()["models"] as? [[String: Any]] ?? []
        XCTAssertEqual(models.first?["name"] as? String, "default")
        XCTAssertEqual(models.first?["styles"] as? [String], ["wave", "scream", "wreck", "udnie"])
        let atSwitch = try serve.frames("cam")
        try serve.waitFor("frames after the switches", timeout: 60) { try serve.frames("cam") >= atSwitch + 2 }
        XCTAssertEqual(try style()["style"] as? String, "wreck")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)

        // An unknown style name fails the check, naming the key.
        let badPath = dir.appendingPathComponent("bad.yml").path
        try ServeProcess.writeConfig(pipelines: try loopedClipPipeline("cam", model: nil, style: "nosuch", outputs: "- record: \(dir.path)/rec/cam.mp4"),
                                     port: 8480, to: badPath)
        let bad = try runTool(try ServeProcess.binary, ["config", "check", badPath], captureErrors: true)
        XCTAssertEqual(bad.status, 1)
        let lines = bad.output.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, bad.output)
        XCTAssertTrue(bad.output.contains("pipelines.cam.style: style 'nosuch' does not exist"), bad.output)
    }
}
