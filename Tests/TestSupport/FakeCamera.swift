public import Foundation

/// A fake V4L2 camera in userspace (this machine kind has no V4L2 in its kernel): a private D-Bus session,
/// PipeWire and WirePlumber, and a GStreamer test pattern published as a PipeWire video source. Programs see
/// it as `/dev/video0` when started through `pw-v4l2`, which preloads PipeWire's V4L2 emulation for libc
/// `open`/`ioctl`. Everything is stopped in `stop()` (and `deinit`).
public final class FakeCamera {
    public static let launcher = "/usr/bin/pw-v4l2"
    public let runtimeDirectory: URL
    private var processes: [Process] = []

    public var environment: [String: String] {
        ["XDG_RUNTIME_DIR": runtimeDirectory.path,
         "DBUS_SESSION_BUS_ADDRESS": "unix:path=\(runtimeDirectory.path)/bus"]
    }

    /// What the camera offers; a real UVC camera typically has both, this one has exactly one.
    public enum Format: Sendable {
        case yuyv, mjpeg

        /// The GStreamer caps (and encoder) publishing a moving test pattern in this format.
        var pipeline: [String] {
            let size = "width=640,height=480,framerate=30/1"
            switch self {
            case .yuyv: return ["video/x-raw,format=YUY2,\(size)"]
            case .mjpeg: return ["video/x-raw,\(size)", "!", "jpegenc", "!", "image/jpeg,\(size)"]
            }
        }
    }

    /// Starts the stack; 640x480 at 30 frames/s in `format`, or (`publishing: false`) no camera at all: only
    /// the PipeWire session, for programs that make cameras of their own.
    public init(format: Format = .yuyv, publishing: Bool = true) throws {
        runtimeDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-pw-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: runtimeDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        do {
            try start("/usr/bin/dbus-daemon", ["--session", "--address=unix:path=\(runtimeDirectory.path)/bus", "--nofork", "--nopidfile"])
            try waitFor("the D-Bus socket") { FileManager.default.fileExists(atPath: self.runtimeDirectory.path + "/bus") }
            try start("/usr/bin/pipewire", [])
            try waitFor("the PipeWire socket") { FileManager.default.fileExists(atPath: self.runtimeDirectory.path + "/pipewire-0") }
            try start("/usr/bin/wireplumber", [])
            guard publishing else { return }
            try start("/usr/bin/gst-launch-1.0", ["-q", "videotestsrc", "is-live=true", "pattern=ball", "!"] + format.pipeline + ["!",
                                                 "pipewiresink", "mode=provide",
                                                 "stream-properties=props,media.class=Video/Source,node.name=fakecam"])
        } catch {
            stop()
            throw error
        }
    }

    private func start(_ executable: String, _ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw SharedData.NotFound(description: "\(executable) not found: run scripts/install-deps.sh (PipeWire fake camera)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        TestWatchdog.shared.adopt("fake camera: " + URL(fileURLWithPath: executable).lastPathComponent, pid: p.processIdentifier)
        processes.append(p)
    }

    /// Polls `condition` every 50 ms for at most `seconds`.
    public func waitFor(_ what: String, seconds: TimeInterval = 15, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(50_000)
        }
        throw SharedData.NotFound(description: "fake camera: \(what) not ready within \(seconds) s")
    }

    public func stop() {
        for p in processes.reversed() where p.isRunning {
            p.terminate()
            let deadline = Date().addingTimeInterval(5)
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
        processes = []
        try? FileManager.default.removeItem(at: runtimeDirectory)
    }

    deinit { stop() }
}
