import Foundation
import Live
import TestSupport
import XCTest

/// Any painting as a live style: `style_image:` in the configuration, `POST /v1/styles`, the style API and
/// `POST /v1/stylize` with a painting, bad paintings refused without touching the running style, and the
/// paintings kept across a reload.
final class PaintingServeTests: XCTestCase {
    static func painting(_ name: String, in dir: URL, width: Int = 200) throws -> Data {
        let path = dir.appendingPathComponent("\(name)-\(width).jpg").path
        let r = try runTool("/usr/bin/ffmpeg", ["-v", "error", "-y", "-i", try SharedData.path("media/images/style/\(name).jpg"),
                                                "-vf", "scale=\(width):-2", "-frames:v", "1", path])
        guard r.status == 0 else { throw Failure("ffmpeg could not make \(path)") }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    func style(_ serve: ServeProcess, _ name: String = "cam") throws -> [String: Any] {
        try serve.pipeline(name)["style"] as? [String: Any] ?? [:]
    }

    func testPaintingsFromTheConfigAndTheAPI() throws {
        let dir = try temporaryDirectory("paintings")
        defer { try? FileManager.default.removeItem(at: dir) }
        let wave = try SharedData.path("media/images/style/wave.jpg")
        // `style_image:` and no `model:`: the built-in real-time network for paintings with that painting.
        let yaml = try loopedClipPipeline("cam", model: nil, outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast")
            .replacingOccurrences(of: "    max_size: 64", with: "    max_size: 64\n    style_image: \(wave)")
        let serve = try ServeProcess(pipelines: yaml, directory: dir, server: "  stylize_max_bytes: 256KiB")
        // `config check` knows the key, and names a painting that is not there by its key and file.
        let check = try runTool(try ServeProcess.binary, ["config", "check", serve.configPath])
        XCTAssertEqual(check.status, 0, check.output)
        let missing = dir.appendingPathComponent("missing.yml").path
        try String(contentsOfFile: serve.configPath, encoding: .utf8).replacingOccurrences(of: wave, with: "/nowhere/painting.jpg")
            .write(toFile: missing, atomically: true, encoding: .utf8)
        let bad = try runTool(try ServeProcess.binary, ["config", "check", missing], captureErrors: true)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.output.contains("missing.yml: pipelines.cam.style_image: /nowhere/painting.jpg: no such readable file"), bad.output)
        try serve.waitReady()
        try serve.waitFor("frames at the output", timeout: 60) { try serve.frames("cam") > 3 }
        var s = try style(serve)
        XCTAssertEqual(s["model"] as? String, "arbitrary-fast")
        XCTAssertEqual((s["style_image"] as? [String: Any])?["label"] as? String, "wave.jpg")
        let token = ServeProcess.token
        func send(_ method: String, _ path: String, _ body: Data?, type: String = "image/jpeg", token: String? = token) throws -> ServeProcess.BinaryResponse {
            try serve.send(method, path, body: body, token: token, headers: ["Content-Type": type])
        }

        // Upload: 201 with an id, the same id for the same bytes, a thumbnail, listed.
        let scream = try Self.painting("scream", in: dir)
        let added = try send("POST", "/v1/styles?name=scream.jpg", scream)
        XCTAssertEqual(added.status, 201, added.text)
        let id = try XCTUnwrap((try JSONSerialization.jsonObject(with: added.body) as? [String: Any])?["id"] as? String)
        let again = try send("POST", "/v1/styles", scream)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: again.body) as? [String: Any])?["id"] as? String, id, "kept by content")
        let list = try serve.request("GET", "/v1/styles").json()["styles"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(list.compactMap { $0["label"] as? String }), ["scream.jpg", "wave.jpg"], "\(list)")
        let thumbnail = try send("GET", "/v1/styles/\(id)/thumbnail", nil, token: nil)
        XCTAssertEqual(thumbnail.status, 200)
        XCTAssertEqual(thumbnail.header("Content-Type"), "image/jpeg")
        XCTAssertEqual(Array(thumbnail.body.prefix(2)), [0xFF, 0xD8])

        // Switching the running pipeline to it by id.
        let generation = s["generation"] as? Int ?? -1
        let switched = try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"style_image": "\#(id)"}"#, token: token)
        XCTAssertEqual(switched.status, 200, switched.text)
        s = try style(serve)
        XCTAssertEqual((s["style_image"] as? [String: Any])?["id"] as? String, id)
        XCTAssertEqual(s["generation"] as? Int, generation + 1)

        // Bad paintings and requests: one-line JSON errors, and the pipeline keeps its painting.
        try assertOneLineError(try send("POST", "/v1/styles", Data("no picture here\n".utf8)), 415, containing: "not a picture")
        try assertOneLineError(try send("POST", "/v1/styles", Data()), 400, containing: "empty")
        try assertOneLineError(try send("POST", "/v1/styles", Data(count: 300 * 1024)), 413, containing: "256 KiB")
        try assertOneLineError(try send("POST", "/v1/styles", scream, token: nil), 401, containing: "token")
        try assertOneLineError(try send("POST", "/v1/pipelines/cam/style", Data("GIF89a nonsense".utf8), type: "image/gif"), 415, containing: "not a picture")
        try assertOneLineError(try send("POST", "/v1/pipelines/cam/style", Data(#"{"style_image": "0123456789abcdef"}"#.utf8), type: "application/json"),
                                   400, containing: "no painting '0123456789abcdef'")
        try assertOneLineError(try send("POST", "/v1/pipelines/cam/style", Data(#"{"style_index": 1}"#.utf8), type: "application/json"),
                                   400, containing: "takes a painting")
        try assertOneLineError(try send("POST", "/v1/stylize?model=wave&style_image=\(id)", scream), 400, containing: "cannot take a painting")
        try assertOneLineError(try send("POST", "/v1/stylize?model=arbitrary", scream), 400, containing: "style_image")
        s = try style(serve)
        XCTAssertEqual((s["style_image"] as? [String: Any])?["id"] as? String, id, "unchanged by the refused requests")
        XCTAssertEqual(s["generation"] as? Int, generation + 1)

        // A fixed-style model and back: a painting posted as the body switches to the real-time painting network again.
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/style", body: #"{"model": "wave"}"#, token: token).status, 200)
        XCTAssertNil(try style(serve)["style_image"])
        let udnie = try send("POST", "/v1/pipelines/cam/style", try Self.painting("udnie", in: dir))
        XCTAssertEqual(udnie.status, 200, udnie.text)
        s = try style(serve)
        XCTAssertEqual(s["model"] as? String, "arbitrary-fast")
        XCTAssertNotNil(s["style_image"])
        let framesBefore = try serve.frames("cam")
        try serve.waitFor("frames after the switches", timeout: 30) { try serve.frames("cam") > framesBefore + 5 }

        // A picture stylized with a painting: a JPEG, different for two paintings.
        let photo = try WebAPITests.smallPhoto(in: dir)
        let a = try send("POST", "/v1/stylize?style_image=\(id)&max_size=96", photo)
        XCTAssertEqual(a.status, 200, a.text)
        XCTAssertEqual(a.header("Content-Type"), "image/jpeg")
        let waveID = try XCTUnwrap(list.first { $0["label"] as? String == "wave.jpg" }?["id"] as? String)
        let b = try send("POST", "/v1/stylize?style_image=\(waveID)&max_size=96", photo)
        XCTAssertEqual(b.status, 200, b.text)
        XCTAssertNotEqual(a.body, b.body)

        // A reload (SIGHUP) keeps every painting and the pipeline's own.
        kill(serve.process.processIdentifier, SIGHUP)
        try serve.waitFor("the reload", timeout: 30) { serve.log.contains("reloaded") }
        let kept = try serve.request("GET", "/v1/styles").json()["styles"] as? [[String: Any]] ?? []
        XCTAssertEqual(kept.count, 3, "\(kept)")
        XCTAssertEqual(try send("GET", "/v1/styles/\(id)/thumbnail", nil, token: nil).status, 200)
        XCTAssertEqual(try serve.terminate(), 0)
    }

    /// The cache is bounded: the least recently used painting goes first.
    func testPaintingsAreKeptByContentAndBounded() throws {
        let dir = try temporaryDirectory("paintings-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = StyleEmbeddings(capacity: 2)
        let wave = try cache.add(upload: [UInt8](try Self.painting("wave", in: dir)))
        let scream = try cache.add(upload: [UInt8](try Self.painting("scream", in: dir)))
        XCTAssertEqual(wave.embedding.count, 100)
        XCTAssertNotEqual(wave.embedding, scream.embedding)
        XCTAssertNotNil(cache.painting(id: wave.id))  // wave is now the most recently used
        _ = try cache.add(upload: [UInt8](try Self.painting("udnie", in: dir)))
        XCTAssertEqual(cache.all.count, 2)
        XCTAssertNil(cache.painting(id: scream.id), "the least recently used one was evicted")
        XCTAssertNotNil(cache.painting(id: wave.id))
        XCTAssertThrowsError(try cache.add(upload: Array("text".utf8)))
        XCTAssertThrowsError(try cache.add(path: dir.appendingPathComponent("missing.jpg").path)) { error in
            XCTAssertTrue("\(error)".contains("missing.jpg"), "\(error)")
        }
    }
}
