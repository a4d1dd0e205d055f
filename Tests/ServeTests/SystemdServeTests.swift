import Foundation
import TestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `streamd serve` under a stand-in for systemd's notify socket: READY=1 once the pipelines are up,
/// WATCHDOG=1 only while frames flow, STOPPING=1 on SIGTERM.
final class SystemdServeTests: XCTestCase {
    /// A unix datagram socket collecting every message, with its arrival time.
    final class Collector: @unchecked Sendable {
        let fd: Int32
        let path = NSTemporaryDirectory() + "streamd-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        private let lock = NSLock()
        private var messages: [(Date, String)] = []
        private var closed = false

        init() throws {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw Failure("socket() failed") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
            let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            guard r == 0 else { throw Failure("bind(\(path)) failed") }
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let thread = Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !lock.withLock({ closed }) {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n > 0 {
                        let text = String(decoding: buffer[..<n], as: UTF8.self)
                        lock.withLock { messages.append((Date(), text)) }
                    }
                }
            }
            thread.start()
        }

        func count(_ message: String, since: Date = .distantPast) -> Int {
            lock.withLock { messages.filter { $0.1 == message && $0.0 >= since }.count }
        }

        func close() {
            lock.withLock { closed = true }
            Thread.sleep(forTimeInterval: 0.3)
            Glibc.close(fd)
            unlink(path)
        }
    }

    func testReadyWatchdogOnlyWhileFramesFlowAndStopping() throws {
        let dir = try temporaryDirectory("systemd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notify = try Collector()
        defer { notify.close() }
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", clip: clip, outputs: """
            - record: \(dir.path)/rec/cam.mp4
            """), directory: dir, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        try serve.waitReady()
        try serve.waitFor("READY=1", timeout: 10) { notify.count("READY=1") >= 1 }
        try serve.waitFor("frames", timeout: 60) { try serve.frames("cam") >= 3 }
        try serve.waitFor("WATCHDOG=1 while frames flow", timeout: 10) { notify.count("WATCHDOG=1") >= 2 }

        // No frames: the pings stop (systemd would restart a stuck service).
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/stop", token: ServeProcess.token).status, 200)
        Thread.sleep(forTimeInterval: 1.5)
        let quietSince = Date()
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertEqual(notify.count("WATCHDOG=1", since: quietSince), 0, "no watchdog ping while no frame flows")

        // Frames again: the pings resume.
        XCTAssertEqual(try serve.request("POST", "/v1/pipelines/cam/start", token: ServeProcess.token).status, 200)
        let restarted = Date()
        try serve.waitFor("WATCHDOG=1 again", timeout: 60) { notify.count("WATCHDOG=1", since: restarted) >= 1 }

        XCTAssertEqual(try serve.terminate(), 0)
        // The process has exited; the datagram is already queued, give the collector a moment to read it.
        let deadline = Date().addingTimeInterval(3)
        while notify.count("STOPPING=1") == 0 && Date() < deadline { usleep(50_000) }
        XCTAssertEqual(notify.count("STOPPING=1"), 1)
    }
    /// Every pipeline failed to start (its model is missing): READY=1 comes (the API is up and says why), but
    /// no WATCHDOG=1, so systemd restarts the service instead of watching a daemon that does nothing.
    func testNoWatchdogWhenEveryPipelineFailedToStart() throws {
        let dir = try temporaryDirectory("systemd-failed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notify = try Collector()
        defer { notify.close() }
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", model: "nosuch", outputs: """
            - record: \(dir.path)/rec/cam.mp4
            """), directory: dir, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        try serve.waitReady()
        try serve.waitFor("READY=1", timeout: 10) { notify.count("READY=1") >= 1 }
        XCTAssertEqual(try serve.pipeline("cam")["state"] as? String, "failed")
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertEqual(notify.count("WATCHDOG=1"), 0, "no watchdog ping while every pipeline has failed")
        XCTAssertEqual(try serve.terminate(), 0)
    }

    /// A service whose only pipeline waits for a WHIP publisher is healthy: the watchdog is fed while it waits.
    func testAPipelineWaitingForAPublisherFeedsTheWatchdog() throws {
        let dir = try temporaryDirectory("systemd-whip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let notify = try Collector()
        defer { notify.close() }
        let serve = try ServeProcess(pipelines: "  studio:\n    source:\n      url: \"whip:\"\n", directory: dir,
                                     environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        try serve.waitReady()
        try serve.waitFor("WATCHDOG=1 while waiting for a publisher", timeout: 10) { notify.count("WATCHDOG=1") >= 2 }
        XCTAssertEqual(try serve.pipeline("studio")["last_error"] as? String, "waiting for a WHIP publisher")
        XCTAssertEqual(try serve.terminate(), 0)
    }
}
