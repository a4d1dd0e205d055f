import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import XCTest

/// The HTTP side of the web page, without a browser: `POST /v1/stylize` (answers, limits, admission), the
/// page's headers, and `server.ui`.
final class WebAPITests: XCTestCase {
    /// A small JPEG made from a shared photo, as a phone would upload it.
    static func smallPhoto(in dir: URL, width: Int = 96) throws -> Data {
        let path = dir.appendingPathComponent("photo-\(width).jpg").path
        let source = try SharedData.path("media/images/content/face.jpg")
        let r = try runTool("/usr/bin/ffmpeg", ["-v", "error", "-y", "-i", source, "-vf", "scale=\(width):-2", "-frames:v", "1", path])
        guard r.status == 0 else { throw Failure("ffmpeg could not make \(path)") }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    func serve(_ dir: URL, server: String = "") throws -> ServeProcess {
        let yaml = try loopedClipPipeline("cam", outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: yaml, directory: dir, server: server)
        try serve.waitReady()
        // These tests need no frames: the stopped pipeline leaves the cores to the uploads (a debug build is slow).
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/stop", body: "{}", token: ServeProcess.token).status, 200)
        return serve
    }

    func testStylizeAnswersBadInputWithOneLineJSONErrors() throws {
        let dir = try temporaryDirectory("stylize-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try serve(dir, server: "  stylize_max_bytes: 64KiB")
        let photo = try Self.smallPhoto(in: dir)
        let token = ServeProcess.token

        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave", body: photo), 401, containing: "token")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave", body: photo, token: "wrong-token-0123456789"), 401, containing: "token")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave", body: Data("just some text, no picture\n".utf8), token: token),
                               415, containing: "not a picture")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave", body: Data(count: 100 * 1024), token: token),
                               413, containing: "64 KiB")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=no_such_style", body: photo, token: token), 404, containing: "no_such_style")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave&style=3", body: photo, token: token), 400, containing: "single style")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=../ml5/wave", body: photo, token: token), 404, containing: "not a model name")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave&strength=2", body: photo, token: token), 400, containing: "strength")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave&colour=red", body: photo, token: token), 400, containing: "colour")
        try assertOneLineError(try serve.send("POST", "/v1/stylize", body: photo, token: token), 400, containing: "model")
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=wave", body: Data(), token: token), 400, containing: "empty")
        try assertOneLineError(try serve.send("GET", "/v1/models/no_such_style/thumbnail"), 404, containing: "no_such_style")
        // The server is still fine after all that.
        XCTAssertEqual(try serve.send("POST", "/v1/stylize?model=wave", body: photo, token: token).status, 200)
    }

    func testStylizeReturnsTheStylizedPicture() throws {
        let dir = try temporaryDirectory("stylize-ok")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try serve(dir)
        let photo = try Self.smallPhoto(in: dir, width: 120)

        let jpeg = try serve.send("POST", "/v1/stylize?model=wave&strength=1", body: photo, token: ServeProcess.token)
        XCTAssertEqual(jpeg.status, 200, jpeg.text)
        XCTAssertEqual(jpeg.header("Content-Type"), "image/jpeg")
        XCTAssertEqual(Array(jpeg.body.prefix(3)), [0xFF, 0xD8, 0xFF])
        let size = try XCTUnwrap(jpeg.header("X-Stylize-Size"))
        XCTAssertTrue(size.hasPrefix("120x"), size)

        // PNG on request, and the size limit of the result: the longer side at most max_size.
        let png = try serve.send("POST", "/v1/stylize?model=udnie&format=png&max_size=64&preserve_color=true", body: photo, token: ServeProcess.token)
        XCTAssertEqual(png.status, 200, png.text)
        XCTAssertEqual(Array(png.body.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let pngSize = try XCTUnwrap(png.header("X-Stylize-Size")).split(separator: "x").compactMap { Int($0) }
        XCTAssertEqual(pngSize.max(), 64)

        // What came back differs from what went up: decoded side by side at the same size, the pixels moved.
        let original = dir.appendingPathComponent("in.jpg"), result = dir.appendingPathComponent("out.jpg")
        try photo.write(to: original)
        try jpeg.body.write(to: result)
        let difference = try meanAbsoluteDifference(original.path, result.path)
        XCTAssertGreaterThan(difference, 20, "the stylized picture is too close to the original")

        let models = try serve.request("GET", "/v1/models").json()["models"] as? [[String: Any]] ?? []
        XCTAssertEqual(Set(models.compactMap { $0["name"] as? String }), ["default", "arbitrary", "arbitrary-fast", "la_muse", "mathura", "matilde_perez", "matta", "rain_princess", "scream", "udnie", "wave", "wreck"])
        XCTAssertEqual(models.filter { $0["takes_painting"] as? Bool == true }.compactMap { $0["name"] as? String }, ["arbitrary", "arbitrary-fast"])
        try assertOneLineError(try serve.send("GET", "/v1/models/arbitrary/thumbnail"), 400, containing: "takes any painting")
        let thumbnail = try serve.send("GET", "/v1/models/wave/thumbnail")
        XCTAssertEqual(thumbnail.status, 200, thumbnail.text)
        XCTAssertEqual(Array(thumbnail.body.prefix(3)), [0xFF, 0xD8, 0xFF])
        // Made once, then kept: the second answer is the same picture.
        XCTAssertEqual(try serve.send("GET", "/v1/models/wave/thumbnail").body, thumbnail.body)

        // The built-in model's styles by name, the same picture as by index; an unknown name is a 400 naming them.
        let byName = try serve.send("POST", "/v1/stylize?model=default&style=scream&format=png", body: photo, token: ServeProcess.token)
        XCTAssertEqual(byName.status, 200, byName.text)
        let byIndex = try serve.send("POST", "/v1/stylize?model=default&style=1&format=png", body: photo, token: ServeProcess.token)
        XCTAssertEqual(byName.body, byIndex.body)
        XCTAssertNotEqual(byName.body, try serve.send("POST", "/v1/stylize?model=default&style=wave&format=png", body: photo, token: ServeProcess.token).body)
        try assertOneLineError(try serve.send("POST", "/v1/stylize?model=default&style=nosuch", body: photo, token: ServeProcess.token),
                               400, containing: "wave, scream, wreck, udnie")
    }

    /// With one slot and no waiting line, an upload whose body is still arriving holds the slot: the next one is
    /// refused at once with 429, and once the first goes away the slot is free again.
    func testStylizeRefusesBeyondItsSlotsAndFreesThem() throws {
        let dir = try temporaryDirectory("stylize-slots")
        defer { try? FileManager.default.removeItem(at: dir) }
        let serve = try serve(dir, server: "  stylize_jobs: 1\n  stylize_queue: 0")
        let photo = try Self.smallPhoto(in: dir)

        // The first upload sends its head and a few bytes, then stalls, holding the one slot. A probe that reaches
        // the server before the stalled upload's head takes the slot itself and the stalled upload is the one
        // refused (it then has an answer to read): open it again and probe again.
        var first: RawConnection?
        var refused: ServeProcess.BinaryResponse?
        let deadline = Date().addingTimeInterval(20)
        repeat {
            if first == nil || first!.isReadable(within: 0) {
                first = try RawConnection(port: serve.port)
                XCTAssertTrue(first!.send("POST /v1/stylize?model=wave HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServeProcess.token)\r\nContent-Length: \(photo.count)\r\n\r\n"))
                XCTAssertTrue(first!.send(bytes: [UInt8](photo.prefix(10))))
                Thread.sleep(forTimeInterval: 0.2)
            }
            refused = try serve.send("POST", "/v1/stylize?model=wave", body: photo, token: ServeProcess.token)
            if refused?.status == 429 { break }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        let answer = try XCTUnwrap(refused)
        try assertOneLineError(answer, 429, containing: "too many")
        XCTAssertEqual(answer.header("Retry-After"), "5")

        first = nil  // closes the connection mid-body
        var accepted = 0
        let second = Date().addingTimeInterval(10)
        repeat {
            accepted = try serve.send("POST", "/v1/stylize?model=wave", body: photo, token: ServeProcess.token).status
            if accepted == 200 { break }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < second
        XCTAssertEqual(accepted, 200, "the slot of the abandoned upload was not given back")
    }

    func testPageHeadersAndUISetting() throws {
        let dir = try temporaryDirectory("ui-setting")
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let serve = try serve(dir)
            let page = try serve.send("GET", "/")
            XCTAssertEqual(page.status, 200)
            XCTAssertTrue(page.text.contains("<title>streamd</title>"))
            let policy = try XCTUnwrap(page.header("Content-Security-Policy"))
            XCTAssertTrue(policy.contains("script-src 'self'"), policy)
            XCTAssertFalse(policy.contains("unsafe-inline"), policy)
            XCTAssertFalse(page.text.contains("<script>"), "the page must need no inline script")
            XCTAssertEqual(page.header("X-Content-Type-Options"), "nosniff")
            let script = try serve.send("GET", "/assets/app.js")
            XCTAssertEqual(script.header("Content-Type"), "text/javascript; charset=utf-8")
            XCTAssertTrue(script.text.contains("sessionStorage"))
            XCTAssertFalse(script.text.contains("localStorage") || script.text.contains("document.cookie"), "the token must stay in the tab")
            let etag = try XCTUnwrap(script.header("ETag"))
            XCTAssertEqual(try serve.send("GET", "/assets/app.js", headers: ["If-None-Match": etag]).status, 304)
            // Open: status and previews without a token.
            XCTAssertEqual(try serve.request("GET", "/v1/pipelines").status, 200)
            XCTAssertEqual(try serve.send("GET", "/v1/models").status, 200)
        }
        do {
            let serve = try serve(dir, server: "  ui: locked")
            XCTAssertEqual(try serve.send("GET", "/").status, 200, "the page itself loads, to ask for the token")
            try assertOneLineError(try serve.send("GET", "/v1/pipelines"), 401, containing: "token")
            try assertOneLineError(try serve.send("GET", "/v1/pipelines/cam/preview"), 401, containing: "token")
            try assertOneLineError(try serve.send("GET", "/v1/models"), 401, containing: "token")
            XCTAssertEqual(try serve.send("GET", "/v1/pipelines", token: ServeProcess.token).status, 200)
            XCTAssertEqual(try serve.send("GET", "/healthz").status, 200, "probes stay open")
        }
        do {
            let serve = try serve(dir, server: "  ui: off")
            try assertOneLineError(try serve.send("GET", "/"), 404, containing: "no endpoint")
            XCTAssertEqual(try serve.send("GET", "/v1/pipelines").status, 200)
        }
    }

    /// Mean absolute difference per channel of two pictures, both decoded by FFmpeg at 64×48.
    func meanAbsoluteDifference(_ a: String, _ b: String) throws -> Double {
        func pixels(_ path: String) throws -> [UInt8] {
            let out = path + ".rgb"
            let r = try runTool("/usr/bin/ffmpeg", ["-v", "error", "-y", "-i", path, "-vf", "scale=64:48", "-f", "rawvideo", "-pix_fmt", "rgb24", out])
            guard r.status == 0 else { throw Failure("ffmpeg cannot decode \(path)") }
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        let x = try pixels(a), y = try pixels(b)
        guard x.count == y.count, !x.isEmpty else { throw Failure("pictures of different sizes") }
        return Double(zip(x, y).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }) / Double(x.count)
    }
}

extension ServeProcess {
    struct BinaryResponse {
        var status: Int
        /// Header fields by lower-case name.
        var fields: [String: String]
        var body: Data
        func header(_ name: String) -> String? { fields[name.lowercased()] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One request with a binary body and the answer's headers, 30 s at most.
    func send(_ method: String, _ path: String, body: Data? = nil, token: String? = nil,
              headers: [String: String] = [:]) throws -> BinaryResponse {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!, cachePolicy: .reloadIgnoringLocalCacheData,
                                 timeoutInterval: 30)
        request.httpMethod = method
        if let body { request.httpBody = body; request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<BinaryResponse, Error> = .failure(Failure("no answer"))
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { result = .failure(error) } else {
                let http = response as? HTTPURLResponse
                var fields: [String: String] = [:]
                for (key, value) in http?.allHeaderFields ?? [:] { fields["\(key)".lowercased()] = "\(value)" }
                result = .success(BinaryResponse(status: http?.statusCode ?? 0, fields: fields, body: data ?? Data()))
            }
            done.signal()
        }
        task.resume()
        guard done.wait(timeout: .now() + 35) == .success else { task.cancel(); throw Failure("\(method) \(path): no answer within 35 s") }
        return try result.get()
    }
}

/// The error body the README promises: a JSON object with one `error` string on one line.
func assertOneLineError(_ r: ServeProcess.BinaryResponse, _ status: Int, containing text: String,
                        file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(r.status, status, r.text, file: file, line: line)
    let object = try JSONSerialization.jsonObject(with: r.body) as? [String: Any]
    let message = try XCTUnwrap(object?["error"] as? String, "no error message in \(r.text)", file: file, line: line)
    XCTAssertEqual(object?.count, 1, r.text, file: file, line: line)
    XCTAssertFalse(message.contains("\n"), message, file: file, line: line)
    XCTAssertTrue(message.contains(text), "'\(message)' does not mention '\(text)'", file: file, line: line)
    XCTAssertEqual(r.header("Content-Type"), "application/json", file: file, line: line)
}
