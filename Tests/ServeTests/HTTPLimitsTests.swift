import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import XCTest

/// The HTTP server's time limits and connection limit, against the real binary, with raw sockets doing what
/// slow or hostile clients do (URLSession would pool connections and hide them).
final class HTTPLimitsTests: XCTestCase {
    /// A service with one small looped pipeline (it needs one to start) and `server` lines added to its config.
    func startServe(_ name: String, server: String = "", environment: [String: String] = [:]) throws -> (ServeProcess, URL) {
        let dir = try temporaryDirectory(name)
        let pipeline = try loopedClipPipeline("cam", outputs: "- record: \(dir.path)/rec/cam.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: pipeline, directory: dir, server: server, environment: environment)
        try serve.waitFor("the API to answer /readyz", timeout: 60) { (try? RawHTTP.get(serve.port, "/readyz"))?.status == 200 }
        return (serve, dir)
    }

    func metric(_ serve: ServeProcess, _ name: String, _ labels: [String: String] = [:]) throws -> Double {
        let metrics = try RawHTTP.get(serve.port, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        return try ServeTests.sample(metrics.text, name, labels: labels)
    }

    /// 50 clients each send a request header one byte every 0.5 s with `header_timeout: 2s` (set through the
    /// environment): every one is cut off 2 s after it connected, however steadily it sends, and meanwhile
    /// `/healthz` answers 200 promptly. Without the deadline they would stay connected forever.
    func testSlowlorisHeadersAreCutOffWhileHealthzAnswers() throws {
        let (serve, dir) = try startServe("slowloris", environment: ["STREAMD_SERVER_HEADER_TIMEOUT": "2s"])
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try metric(serve, "streamd_http_timeouts_total", ["kind": "header"]), 0)

        let header = Array(slowHeader)
        let clients = try (0..<50).map { _ in try RawConnection(port: serve.port) }
        let prober = HealthzProber(port: serve.port)
        prober.start()
        var lifetimes = [TimeInterval?](repeating: nil, count: clients.count)
        let deadline = Date().addingTimeInterval(10)
        var sent = 0
        while lifetimes.contains(where: { $0 == nil }) && Date() < deadline {
            for (i, client) in clients.enumerated() where lifetimes[i] == nil {
                if client.isClosedByPeer() || !client.send(String(header[sent % header.count])) {
                    lifetimes[i] = Date().timeIntervalSince(client.opened)
                }
            }
            sent += 1
            Thread.sleep(forTimeInterval: 0.5)
        }
        let probes = prober.stop()

        let cut = lifetimes.compactMap { $0 }
        XCTAssertEqual(cut.count, clients.count, "every slow client is disconnected within 10 s")
        // Noticed at the next 0.5 s tick after the close: 2 s plus up to one tick plus scheduling.
        XCTAssertGreaterThanOrEqual(cut.min() ?? 0, 1.9, "no client is cut off before header_timeout")
        XCTAssertLessThanOrEqual(cut.max() ?? .infinity, 4, "every client is cut off soon after header_timeout")
        XCTAssertGreaterThan(sent, 3, "the clients were sending while they were cut off")
        XCTAssertGreaterThanOrEqual(probes.count, 10, "healthz was probed throughout")
        XCTAssertTrue(probes.allSatisfy { $0.status == 200 }, "healthz answered 200 every time: \(probes.map(\.status))")
        let latencies = probes.map(\.seconds).sorted()
        XCTAssertLessThan(latencies.last ?? .infinity, 1, "healthz answered within 1 s under the slow clients")
        print("slowloris: \(cut.count) clients cut off after \(fmt(cut.min())) … \(fmt(cut.max())) s; healthz \(probes.count)× median \(fmt(latencies[latencies.count / 2] * 1000)) ms, max \(fmt((latencies.last ?? 0) * 1000)) ms")
        XCTAssertEqual(try metric(serve, "streamd_http_timeouts_total", ["kind": "header"]), Double(clients.count))
        XCTAssertEqual(try metric(serve, "streamd_http_timeouts_total", ["kind": "body"]), 0)
        XCTAssertEqual(try serve.terminate(), 0)
    }

    /// `body_timeout: 2s`: a POST announcing 1000 bytes that sends 10 and then one more every 0.5 s is closed 2 s
    /// after its head. `idle_timeout: 3s`: a kept-alive connection left alone after its answer is closed 3 s later,
    /// but one that starts its next request and drips it is held to `header_timeout: 1500ms` from that first
    /// byte, not to the idle timeout. Each shows in `streamd_http_timeouts_total` under its kind.
    func testBodyIdleAndKeptAliveHeaderDeadlines() throws {
        let (serve, dir) = try startServe("deadlines", server: "  header_timeout: 1500ms\n  body_timeout: 2s\n  idle_timeout: 3s")
        defer { try? FileManager.default.removeItem(at: dir) }

        // Body: the handler is reading it (authorized, a real route), the client trickles.
        let body = try RawConnection(port: serve.port)
        XCTAssertTrue(body.send("POST /v1/pipelines/cam/style HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(ServeProcess.token)\r\n"
                                + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"strength\""))
        let headSent = Date()
        let bodyLifetime = try body.dripUntilClosed(String(repeating: " ", count: 100), every: 0.5, timeout: 8, since: headSent)
        XCTAssertGreaterThanOrEqual(bodyLifetime, 1.9, "not cut off before body_timeout")
        XCTAssertLessThanOrEqual(bodyLifetime, 3.5, "cut off soon after body_timeout although bytes kept coming")

        // Idle: one answered request, then nothing.
        let idle = try RawConnection(port: serve.port)
        XCTAssertEqual(try idle.exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 200)
        let answered = Date()
        let idleLeftover = try XCTUnwrap(idle.waitClosed(timeout: 8), "an idle connection is closed")
        let idleAfter = Date().timeIntervalSince(answered)
        XCTAssertGreaterThanOrEqual(idleAfter, 2.9, "kept alive for idle_timeout")
        XCTAssertLessThanOrEqual(idleAfter, 4.5)
        XCTAssertTrue(idleLeftover.isEmpty, "closed without another answer")

        // Kept alive, then the next request's header dripped: header_timeout from its first byte.
        let dripping = try RawConnection(port: serve.port)
        XCTAssertEqual(try dripping.exchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 200)
        let firstByte = Date()
        let dripLifetime = try dripping.dripUntilClosed(slowHeader, every: 0.25, timeout: 8, since: firstByte)
        XCTAssertGreaterThanOrEqual(dripLifetime, 1.4, "not cut off before header_timeout")
        XCTAssertLessThan(dripLifetime, 2.8, "held to header_timeout (1.5 s), not idle_timeout (3 s)")
        print("deadlines: body cut off after \(fmt(bodyLifetime)) s, idle after \(fmt(idleAfter)) s, kept-alive dripping header after \(fmt(dripLifetime)) s")

        for (kind, count) in [("header", 1.0), ("body", 1), ("idle", 1)] {
            XCTAssertEqual(try metric(serve, "streamd_http_timeouts_total", ["kind": kind]), count, kind)
        }
        XCTAssertEqual(try serve.terminate(), 0)
    }

    /// `max_connections: 4`: four slow clients hold every slot, so a fifth client's `/healthz` is not answered
    /// (it waits in the listen backlog, not refused) until the slow ones hit `header_timeout: 3s`; then it is.
    /// The limit shows in `streamd_http_connection_limit_reached_total`.
    func testConnectionLimitHoldsNewClientsUntilASlotFrees() throws {
        let (serve, dir) = try startServe("limit", server: "  max_connections: 4\n  header_timeout: 3s")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try metric(serve, "streamd_http_connection_limit_reached_total"), 0)
        Thread.sleep(forTimeInterval: 0.3)  // the metrics connection closes

        let slow = try (0..<4).map { _ in try RawConnection(port: serve.port) }
        for client in slow { XCTAssertTrue(client.send("GET /healthz HTTP/1.1\r\n")) }
        Thread.sleep(forTimeInterval: 0.3)
        let fifth = try RawConnection(port: serve.port)
        XCTAssertTrue(fifth.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        XCTAssertFalse(fifth.isReadable(within: 1.5), "no answer while four connections hold the limit")
        let answer = try fifth.readResponse(timeout: 6)
        let waited = Date().timeIntervalSince(fifth.opened)
        XCTAssertEqual(answer.status, 200, "answered once a slot freed")
        XCTAssertGreaterThanOrEqual(waited, 2.2, "answered only after the slow clients timed out (3 s after they connected)")
        XCTAssertLessThanOrEqual(waited, 4.5)
        for client in slow { XCTAssertNotNil(client.waitClosed(timeout: 2), "the slow clients were cut off") }
        print("connection limit: the fifth client waited \(fmt(waited)) s for its answer")

        XCTAssertGreaterThanOrEqual(try metric(serve, "streamd_http_connection_limit_reached_total"), 1)
        XCTAssertEqual(try metric(serve, "streamd_http_timeouts_total", ["kind": "header"]), 4)
        XCTAssertGreaterThanOrEqual(try metric(serve, "streamd_http_connections"), 1, "the metrics request's own connection")
        XCTAssertEqual(try serve.terminate(), 0)
    }

    /// A style body over 16 KiB gets 413 with a JSON error naming the limit (it used to be empty), an unknown
    /// route 404 with a JSON error, and the connection stays usable for an ordinary request afterwards.
    func testErrorsAreJSON() throws {
        let (serve, dir) = try startServe("errors")
        defer { try? FileManager.default.removeItem(at: dir) }
        let huge = "{\"model\": \"" + String(repeating: "a", count: 100_000) + "\"}"
        let tooLarge = try serve.request("POST", "/v1/pipelines/cam/style", body: huge, token: ServeProcess.token)
        XCTAssertEqual(tooLarge.status, 413)
        XCTAssertEqual(try tooLarge.json()["error"] as? String, "the request body is over the 16 KiB limit")
        let missing = try serve.request("GET", "/v1/nothing")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try missing.json()["error"] as? String, "no endpoint GET /v1/nothing")
        XCTAssertEqual(try serve.request("GET", "/healthz").status, 200)
        XCTAssertEqual(try serve.terminate(), 0)
    }
}

/// A valid request head that never ends, for sending one character at a time.
private let slowHeader = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + String(repeating: "a", count: 100)

private func fmt(_ value: Double?) -> String { value.map { String(format: "%.2f", $0) } ?? "-" }

/// Plain HTTP/1.1 over a fresh raw connection with `Connection: close`, so no connection outlives a request.
enum RawHTTP {
    static func get(_ port: Int, _ path: String, timeout: TimeInterval = 10) throws -> (status: Int, text: String) {
        let connection = try RawConnection(port: port)
        guard connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") else {
            throw Failure("GET \(path): the server closed the connection")
        }
        return try connection.readResponse(timeout: timeout)
    }
}

/// One TCP connection to the API on 127.0.0.1, driven byte by byte; every wait is bounded.
final class RawConnection {
    let fd: Int32
    let opened = Date()
    private var buffered = Data()

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let e = errno
            close(fd)
            throw Failure("connect to 127.0.0.1:\(port) failed: errno \(e)")
        }
    }

    deinit { close(fd) }

    /// False once the server has closed the connection (the write fails with EPIPE or ECONNRESET).
    func send(_ text: String) -> Bool { send(bytes: Array(text.utf8)) }

    func send(bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Whether data or a close is waiting within `seconds`.
    func isReadable(within seconds: TimeInterval) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(seconds * 1000)) > 0
    }

    /// Reads what is waiting into the buffer; false when the server closed the connection (EOF or reset).
    private func readAvailable() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
        if n > 0 { buffered.append(contentsOf: chunk[..<n]); return true }
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    /// Whether the server has closed the connection, without waiting.
    func isClosedByPeer() -> Bool {
        isReadable(within: 0) && !readAvailable()
    }

    /// Waits up to `timeout` for the server to close the connection: what it sent before, or nil if still open.
    func waitClosed(timeout: TimeInterval) -> Data? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if isReadable(within: min(0.05, max(0, deadline.timeIntervalSinceNow))) && !readAvailable() { return buffered }
        }
        return nil
    }

    /// Sends `text` one character every `every` seconds until the server closes the connection; how long after
    /// `since` that was.
    func dripUntilClosed(_ text: String, every: TimeInterval, timeout: TimeInterval, since: Date) throws -> TimeInterval {
        let deadline = Date().addingTimeInterval(timeout)
        for character in text where Date() < deadline {
            if !send(String(character)) || waitClosed(timeout: every) != nil { return Date().timeIntervalSince(since) }
        }
        throw Failure("the connection was still open after dripping for \(fmt(Date().timeIntervalSince(since))) s")
    }

    /// Sends a request on this (kept-alive) connection and reads one response.
    func exchange(_ request: String, timeout: TimeInterval = 10) throws -> (status: Int, text: String) {
        guard send(request) else { throw Failure("the server closed the connection before the request") }
        return try readResponse(timeout: timeout)
    }

    /// One response: the head, then a `Content-Length` body (or everything up to the close).
    func readResponse(timeout: TimeInterval) throws -> (status: Int, text: String) {
        let deadline = Date().addingTimeInterval(timeout)
        var open = true
        while Date() < deadline {
            if let separator = buffered.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: buffered[..<separator.lowerBound], as: UTF8.self)
                let lines = head.split(separator: "\r\n")
                let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
                let length = lines.dropFirst().first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
                let body = buffered[separator.upperBound...]
                if let length, body.count >= length {
                    let text = String(decoding: body.prefix(length), as: UTF8.self)
                    buffered = Data(body.dropFirst(length))
                    return (status, text)
                }
                if !open { buffered = Data(); return (status, String(decoding: body, as: UTF8.self)) }
            } else if !open {
                throw Failure("the server closed the connection without a complete response (\(buffered.count) bytes)")
            }
            if isReadable(within: min(0.05, max(0, deadline.timeIntervalSinceNow))) { open = readAvailable() }
        }
        throw Failure("no complete response within \(timeout) s")
    }
}

/// Requests `/healthz` on fresh connections every 0.2 s on its own thread, recording status and latency.
final class HealthzProber: @unchecked Sendable {
    struct Probe { var status: Int; var seconds: TimeInterval }
    private let port: Int
    private let lock = NSLock()
    private var probes: [Probe] = []
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    init(port: Int) { self.port = port }

    func start() {
        Thread {
            while self.lock.withLock({ self.running }) {
                let start = Date()
                let status = (try? RawHTTP.get(self.port, "/healthz", timeout: 5))?.status ?? 0
                self.lock.withLock { self.probes.append(Probe(status: status, seconds: Date().timeIntervalSince(start))) }
                Thread.sleep(forTimeInterval: 0.2)
            }
            self.finished.signal()
        }.start()
    }

    /// Stops (after the probe in flight, 5 s at most) and returns every probe.
    func stop() -> [Probe] {
        lock.withLock { running = false }
        _ = finished.wait(timeout: .now() + 10)
        return lock.withLock { probes }
    }
}
