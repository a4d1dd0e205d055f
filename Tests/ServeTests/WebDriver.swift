import Foundation
import TestSupport
import XCTest

/// A headless Chromium driven over W3C WebDriver by Debian's `chromedriver`, on loopback, started and always
/// stopped by the test. Every command and every wait is bounded.
final class Browser {
    private let driver = Process()
    private let port: Int
    private let profile: URL
    private(set) var session = ""
    /// chromedriver's output, for failures.
    let logPath: String

    static let chromedriver = "/usr/bin/chromedriver"
    static let chromium = "/usr/bin/chromium"
    /// W3C's key for an element reference in JSON.
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    init(directory: URL, width: Int = 1280, height: Int = 1000) throws {
        for tool in [Self.chromedriver, Self.chromium] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw Failure("\(tool) is missing: scripts/install-deps.sh installs chromium and chromium-driver")
        }
        port = try ServeProcess.freePort()
        profile = directory.appendingPathComponent("chromium-profile")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        logPath = directory.appendingPathComponent("chromedriver.log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        driver.executableURL = URL(fileURLWithPath: Self.chromedriver)
        driver.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
        driver.standardOutput = log
        driver.standardError = log
        driver.standardInput = FileHandle.nullDevice
        try driver.run()
        let logPath = logPath
        TestWatchdog.shared.adopt("chromedriver and Chromium", pid: driver.processIdentifier) {
            "chromedriver log:\n" + String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(2000))
        }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if let status = try? command("GET", "/status", timeout: 2), (status["ready"] as? Bool) == true { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let options: [String: Any] = [
            "binary": Self.chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking", "--user-data-dir=\(profile.path)",
                     "--window-size=\(width),\(height)",
                     // A fake camera and microphone that need no permission prompt (the page's "Use my camera"), and
                     // WebRTC on loopback: the tests' servers offer 127.0.0.1 candidates only.
                     "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection"],
        ]
        let created = try command("POST", "/session", [
            "capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": options,
                                             "goog:loggingPrefs": ["browser": "ALL"]]],
        ], timeout: 60)
        guard let id = created["sessionId"] as? String else { throw Failure("chromedriver made no session: \(created)") }
        session = id
    }

    deinit { close() }

    /// Ends the session (Chromium quits, having written its profile) and chromedriver. Idempotent.
    func close() {
        if !session.isEmpty { _ = try? command("DELETE", "/session/\(session)", timeout: 20) }
        session = ""
        if driver.isRunning {
            driver.terminate()
            let deadline = Date().addingTimeInterval(10)
            while driver.isRunning && Date() < deadline { usleep(50_000) }
            if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
        }
    }

    func open(_ url: String) throws { _ = try sessionCommandValue("POST", "/url", ["url": url]) }

    /// The first element matching `css`, waiting up to `timeout` for it to appear.
    func element(_ css: String, timeout: TimeInterval = 10) throws -> String {
        var found: String?
        try waitFor("an element matching \(css)", timeout: timeout) {
            let value = try? self.sessionCommandValue("POST", "/element", ["using": "css selector", "value": css])
            found = (value as? [String: Any])?[Self.elementKey] as? String
            return found != nil
        }
        return found!
    }

    func click(_ css: String) throws {
        let id = try element(css)
        _ = try sessionCommandValue("POST", "/element/\(id)/click", [:])
    }

    /// Types `text` into the element (for a file input: the path of the file to choose).
    func type(_ css: String, _ text: String) throws {
        let id = try element(css)
        _ = try sessionCommandValue("POST", "/element/\(id)/value", ["text": text])
    }

    /// Runs `script` (a function body; `arguments[0…]` are `args`) in the page and returns its result.
    func run(_ script: String, _ args: [Any] = []) throws -> Any? {
        try sessionCommandValue("POST", "/execute/sync", ["script": script, "args": args])
    }

    /// Polls `script` until it returns true, for at most `timeout`.
    func waitUntil(_ what: String, timeout: TimeInterval, _ script: String) throws {
        try waitFor(what, timeout: timeout) { (try self.run(script) as? Bool) == true }
    }

    /// The page as PNG bytes.
    func screenshot() throws -> Data {
        guard let text = try sessionCommandValue("GET", "/screenshot", nil) as? String, let data = Data(base64Encoded: text) else {
            throw Failure("no screenshot")
        }
        return data
    }

    /// The browser console since the last call: level and text of each entry.
    func consoleEntries() throws -> [(level: String, message: String)] {
        guard let entries = try sessionCommandValue("POST", "/se/log", ["type": "browser"]) as? [[String: Any]] else { return [] }
        return entries.map { ($0["level"] as? String ?? "", $0["message"] as? String ?? "") }
    }

    private func waitFor(_ what: String, timeout: TimeInterval, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        throw Failure("timed out after \(timeout) s waiting for \(what)")
    }

    private func sessionCommandValue(_ method: String, _ path: String, _ body: [String: Any]?) throws -> Any? {
        try rawCommand(method, "/session/\(session)" + path, body, timeout: 30)
    }

    private func command(_ method: String, _ path: String, _ body: [String: Any]? = nil, timeout: TimeInterval) throws -> [String: Any] {
        (try rawCommand(method, path, body, timeout: timeout) as? [String: Any]) ?? [:]
    }

    /// One WebDriver command; its `value`, or a failure carrying WebDriver's error.
    private func rawCommand(_ method: String, _ path: String, _ body: [String: Any]?, timeout: TimeInterval) throws -> Any? {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let (status, data) = try LoopbackHTTP.exchange(port: port, method: method, path: path, body: payload, timeout: timeout)
        let object = (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? [String: Any]
        let value = object?["value"]
        guard status == 200 else {
            let error = (value as? [String: Any]).map { "\($0["error"] ?? ""): \($0["message"] ?? "")" } ?? String(decoding: data, as: UTF8.self)
            throw Failure("WebDriver \(method) \(path): \(status) \(error.prefix(500))")
        }
        return value is NSNull ? nil : value
    }
}

/// A minimal HTTP/1.1 client for chromedriver, whose header lines (`Content-Length:252`, no space) Foundation's
/// URLSession on Linux cannot read. One request per connection; the answer is read as far as its
/// `Content-Length` says, within `timeout`.
enum LoopbackHTTP {
    static func exchange(port: Int, method: String, path: String, body: Data, timeout: TimeInterval) throws -> (Int, Data) {
        let connection = try RawConnection(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if !body.isEmpty || method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        guard connection.send(head + "\r\n"), body.isEmpty || connection.send(bytes: [UInt8](body)) else {
            throw Failure("\(method) \(path): chromedriver closed the connection")
        }
        // Read the head, then `Content-Length` bytes of body (chromedriver keeps the connection open regardless).
        var answer = Data()
        let deadline = Date().addingTimeInterval(timeout)
        var expected: Int?
        var bodyStart = 0
        while Date() < deadline {
            if let separator = answer.range(of: Data("\r\n\r\n".utf8)), expected == nil {
                bodyStart = separator.upperBound
                let head = String(decoding: answer[..<separator.lowerBound], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                expected = length.flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            }
            if let expected, answer.count - bodyStart >= expected { break }
            guard connection.isReadable(within: min(0.2, max(0, deadline.timeIntervalSinceNow))) else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(connection.fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            answer.append(contentsOf: chunk[..<n])
        }
        guard let expected, answer.count - bodyStart >= expected else { throw Failure("\(method) \(path): no whole answer within \(timeout) s") }
        let separator = answer.range(of: Data("\r\n\r\n".utf8))!
        let statusLine = String(decoding: answer[..<separator.lowerBound], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure("\(method) \(path): bad status line '\(statusLine)'") }
        return (status, Data(answer[bodyStart..<(bodyStart + expected)]))
    }
}
