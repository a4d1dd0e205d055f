import Foundation
import Systemd
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A real unix datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let fd: Int32
    let path: String

    /// Bound at a filesystem path, or in the abstract namespace when `abstract` (path then starts with `@`).
    init(abstract: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let name = "streamd-notify-\(getpid())-\(UUID().uuidString.prefix(8))"
        path = abstract ? "@" + name : NSTemporaryDirectory() + name
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard r == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram (waits at most 5 s).
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n < 0 ? nil : String(decoding: buffer[..<n], as: UTF8.self)
    }

    deinit {
        close(fd)
        if !path.hasPrefix("@") { unlink(path) }
    }
}

final class SystemdNotifierTests: XCTestCase {
    func testSendsEachStateAsOneDatagramToThePathSocket() throws {
        let socket = try NotifySocket()
        let notifier = try XCTUnwrap(SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path]))
        try notifier.ready()
        try notifier.watchdog()
        try notifier.status("3 pipelines running\nall good")
        try notifier.stopping()
        XCTAssertEqual(socket.receive(), "READY=1")
        XCTAssertEqual(socket.receive(), "WATCHDOG=1")
        XCTAssertEqual(socket.receive(), "STATUS=3 pipelines running all good")
        XCTAssertEqual(socket.receive(), "STOPPING=1")
    }

    func testAbstractNamespaceSocket() throws {
        let socket = try NotifySocket(abstract: true)
        let notifier = try XCTUnwrap(SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path]))
        try notifier.ready()
        XCTAssertEqual(socket.receive(), "READY=1")
    }

    func testNotStartedBySystemd() {
        XCTAssertNil(SystemdNotifier(environment: [:]), "no NOTIFY_SOCKET: nothing to notify")
        XCTAssertNil(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]))
    }

    func testWatchdogIntervalComesFromTheEnvironmentForThisProcessOnly() {
        let mine = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"])
        XCTAssertEqual(mine?.watchdogInterval, .seconds(30))
        let other = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"])
        XCTAssertNil(other?.watchdogInterval, "the watchdog belongs to another process")
        XCTAssertNil(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x"])?.watchdogInterval)
    }

    func testMissingSocketIsAnErrorNamingIt() {
        let notifier = SystemdNotifier(socketPath: "/nonexistent/notify")
        XCTAssertThrowsError(try notifier.ready()) { error in
            XCTAssertEqual("\(error)", "NOTIFY_SOCKET /nonexistent/notify: No such file or directory")
        }
    }
}
