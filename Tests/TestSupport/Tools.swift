public import Foundation

/// A test's failure that is not an assertion: a tool that failed, an answer that never came.
public struct Failure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What a tool run gave: its exit status, standard output and standard error.
public struct ToolRun {
    public var status: Int32
    public var stdout: Data
    public var stderr: String
}

/// Runs `executable` (a path) with `arguments`, the one way tests run a tool (ffmpeg, ffprobe, the streamd
/// binary, systemd-analyze…): standard output into a temporary file (decoded video exceeds a pipe's buffer, and
/// a full pipe would block the tool), standard error captured, killed after `timeout` seconds (then it throws).
/// `environment` is added to this process's.
public func runToolCapturing(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60,
                             environment: [String: String] = [:]) throws -> ToolRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-tool-\(UUID().uuidString)")
    let outURL = scratch.appendingPathExtension("out"), errURL = scratch.appendingPathExtension("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let command = "\(executable) \(arguments.joined(separator: " "))"
    guard waitForExit(process, seconds: timeout) else {
        // Killed, then given a bounded moment: Foundation learns of an exit only when the last copy of the
        // descriptors it gave the child closes, and a daemon the tool started may hold one forever
        // (`waitUntilExit` would then never return: the hang that once stopped CI).
        kill(process.processIdentifier, SIGKILL)
        _ = waitForExit(process, seconds: 5)
        throw Failure("\(command) did not finish within \(timeout) s")
    }
    try out.close()
    try err.close()
    return ToolRun(status: process.terminationStatus, stdout: try Data(contentsOf: outURL),
                   stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// Whether `process` ended within `seconds` (polled: every wait in the tests is bounded).
public func waitForExit(_ process: Process, seconds: TimeInterval) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning {
        guard Date() < deadline else { return false }
        usleep(10_000)
    }
    return true
}

/// `runToolCapturing` as a status and text: standard output, then standard error when `captureErrors`.
@discardableResult
public func runTool(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60, environment: [String: String] = [:],
                    captureErrors: Bool = false) throws -> (status: Int32, output: String) {
    let r = try runToolCapturing(executable, arguments, timeout: timeout, environment: environment)
    return (r.status, String(decoding: r.stdout, as: UTF8.self) + (captureErrors ? r.stderr : ""))
}

/// Debian's `ffmpeg` or `ffprobe` (`tool`), quiet (`-hide_banner -loglevel error`, ffmpeg also `-nostdin`):
/// its standard output; a non-zero exit throws with the command and what it said.
@discardableResult
public func runFFmpeg(_ arguments: [String], tool: String = "ffmpeg", timeout: TimeInterval = 60) throws -> Data {
    let quiet = ["-hide_banner", "-loglevel", "error"] + (tool == "ffmpeg" ? ["-nostdin"] : [])
    let r = try runToolCapturing("/usr/bin/\(tool)", quiet + arguments, timeout: timeout)
    guard r.status == 0 else {
        throw Failure("\(tool) \(arguments.joined(separator: " ")) exited with \(r.status): \(r.stderr.suffix(500))")
    }
    return r.stdout
}

/// `ffprobe -of json` on `arguments`, as a JSON object.
public func ffprobeJSON(_ arguments: [String]) throws -> [String: Any] {
    let data = try runFFmpeg(["-of", "json"] + arguments, tool: "ffprobe")
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw Failure("ffprobe gave no JSON object") }
    return object
}

/// The `streamd` binary built beside the test bundle (both go into the same products directory).
public var streamdBinary: String {
    get throws {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("streamd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw Failure("streamd binary not found near \(CommandLine.arguments[0]); run `swift build --build-tests` first")
    }
}
