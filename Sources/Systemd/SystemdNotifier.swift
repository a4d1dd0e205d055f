public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol: state lines (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`) sent as one
/// datagram each to the unix socket systemd names in `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
/// namespace), for units with `Type=notify`. Outside systemd there is no socket and `init` returns nil.
public struct SystemdNotifier: Sendable {
    /// The socket address as given (`/run/systemd/notify` or `@…`).
    public let socketPath: String
    /// How often systemd expects `WATCHDOG=1` (`$WATCHDOG_USEC`), when the watchdog is on for this process.
    public let watchdogInterval: Duration?

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The notifier systemd configured through the environment, or nil when not started by systemd with
    /// `Type=notify`. `$WATCHDOG_PID`, when set, must name this process.
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        socketPath = path
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = .microseconds(usec)
        } else {
            watchdogInterval = nil
        }
    }

    public init(socketPath: String, watchdogInterval: Duration? = nil) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// Pipelines are up: systemd considers the service started.
    public func ready() throws { try send("READY=1") }
    /// The service is alive and making progress (send at least every `watchdogInterval` / 2).
    public func watchdog() throws { try send("WATCHDOG=1") }
    /// Shutdown has begun.
    public func stopping() throws { try send("STOPPING=1") }
    /// A reload has begun; send `ready()` when it is done.
    public func reloading() throws { try send("RELOADING=1") }
    /// Free-form status shown by `systemctl status`.
    public func status(_ text: String) throws { try send("STATUS=" + text.split(whereSeparator: \.isNewline).joined(separator: " ")) }

    /// Sends one datagram of `KEY=VALUE` lines.
    public func send(_ state: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketPath.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw Failure(description: "NOTIFY_SOCKET \(socketPath): path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))

        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "NOTIFY_SOCKET: socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        guard sent == message.count else {
            throw Failure(description: "NOTIFY_SOCKET \(socketPath): \(sent < 0 ? String(cString: strerror(errno)) : "short write")")
        }
    }
}
