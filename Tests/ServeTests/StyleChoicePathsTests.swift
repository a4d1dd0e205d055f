import Foundation
import TestSupport
import XCTest

/// One style rule (`StyleChoice`) behind every way of choosing a trained style: the same mistake gets the same
/// message from `streamd image`, `streamd config check`, the style API and `POST /v1/stylize`, and the same
/// choice paints the same picture.
final class StyleChoicePathsTests: XCTestCase {
    func testEveryPathGivesTheSameAnswerAndMessage() throws {
        let dir = try temporaryDirectory("style-paths")
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = try WebAPITests.smallPhoto(in: dir)
        let photoPath = dir.appendingPathComponent("photo.jpg").path
        try photo.write(to: URL(fileURLWithPath: photoPath))
        // The built-in model: wave, scream, wreck, udnie.
        let yaml = try loopedClipPipeline("cam", model: "default", outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: yaml, directory: dir)
        try serve.waitReady()
        let binary = try ServeProcess.binary
        let mistakes: [(cli: [String], config: String, api: String, query: String, message: String)] = [
            (["--style-index", "7"], "style_index: 7", #"{"style_index": 7}"#, "style=7", "style 7 does not exist: the model has styles 0 to 3"),
            (["--style", "nope"], "style: nope", #"{"style": "nope"}"#, "style=nope",
             "style 'nope' does not exist: the model's styles are wave, scream, wreck, udnie"),
        ]
        for m in mistakes {
            let cli = try runTool(binary, ["image", "--model", "default"] + m.cli + [photoPath, dir.appendingPathComponent("x.png").path],
                                  captureErrors: true)
            XCTAssertNotEqual(cli.status, 0)
            XCTAssertTrue(cli.output.contains("streamd: \(m.message)"), "image: \(cli.output)")

            let config = dir.appendingPathComponent("check.yml").path
            try String(contentsOfFile: serve.configPath, encoding: .utf8)
                .replacingOccurrences(of: "    model: default", with: "    model: default\n    \(m.config)")
                .write(toFile: config, atomically: true, encoding: .utf8)
            let check = try runTool(binary, ["config", "check", config], captureErrors: true)
            XCTAssertNotEqual(check.status, 0)
            XCTAssertTrue(check.output.contains(m.message), "config check: \(check.output)")

            let api = try serve.request("POST", "/v1/pipelines/cam/style", body: m.api, token: ServeProcess.token)
            XCTAssertEqual(api.status, 400, api.text)
            XCTAssertTrue(api.text.contains(m.message), "style API: \(api.text)")

            let picture = try serve.send("POST", "/v1/stylize?model=default&\(m.query)&max_size=64", body: photo, token: ServeProcess.token,
                                         headers: ["Content-Type": "image/jpeg"])
            XCTAssertEqual(picture.status, 400, picture.text)
            XCTAssertTrue(picture.text.contains(m.message), "/v1/stylize: \(picture.text)")
        }
        // The same choice paints the same picture: index 2 and the name wreck, on the command line and the API.
        var pictures: [Data] = []
        for (flag, value) in [("--style-index", "2"), ("--style", "wreck")] {
            let out = dir.appendingPathComponent("\(value).png").path
            let r = try runTool(binary, ["image", "--model", "default", flag, value, "--max-size", "64", photoPath, out], captureErrors: true)
            XCTAssertEqual(r.status, 0, r.output)
            pictures.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        XCTAssertEqual(pictures[0], pictures[1])
        var answers: [Data] = []
        for query in ["style=2", "style=wreck"] {
            let r = try serve.send("POST", "/v1/stylize?model=default&\(query)&max_size=64&format=png", body: photo, token: ServeProcess.token,
                                   headers: ["Content-Type": "image/jpeg"])
            XCTAssertEqual(r.status, 200, r.text)
            answers.append(r.body)
        }
        XCTAssertEqual(answers[0], answers[1])
        XCTAssertEqual(try serve.terminate(), 0)
    }
}
