import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import XCTest

/// A `streamd serve` process on loopback, started by a test and always stopped by it, with a bounded wait
/// for everything.
final class ServeProcess {
    let process = Process()
    let port: Int
    let directory: URL
    let configPath: String
    let logPath: String
    static let token = "test-token-0123456789abcdef"

    /// `yaml` is the `pipelines:` part; the server part (loopback, a free port, the token, the ml5 model
    /// directory, then the `server` lines, e.g. `  max_connections: 4`) is written here.
    /// `launcher`, when given, runs streamd (e.g. `pw-v4l2`, which preloads a fake camera).
    init(pipelines yaml: String, directory: URL, server: String = "", environment: [String: String] = [:],
         launcher: String? = nil) throws {
        self.directory = directory
        port = try Self.freePort()
        configPath = directory.appendingPathComponent("streamd.yml").path
        logPath = directory.appendingPathComponent("serve.log").path
        try Self.writeConfig(pipelines: yaml, port: port, server: server, to: configPath)
        let binary = try Self.binary
        if let launcher {
            process.executableURL = URL(fileURLWithPath: launcher)
            process.arguments = [binary, "serve", "--config", configPath]
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["serve", "--config", configPath]
        }
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = nil
        env["STREAMD_SERVER_TOKEN"] = nil
        env["WATCHDOG_USEC"] = nil
        env["WATCHDOG_PID"] = nil
        for (key, value) in environment { env[key] = value }
        process.environment = env
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (port, logPath) = (port, logPath)
        TestWatchdog.shared.adopt("streamd serve", pid: process.processIdentifier) {
            let pipelines = (try? ServeProcess.get(port: port, "/v1/pipelines")) ?? "(no answer from the API)"
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return "pipelines: \(pipelines)\nlog:\n\(log.suffix(3000))"
        }
    }

    static func writeConfig(pipelines yaml: String, port: Int, token: String = token, server: String = "", to path: String) throws {
        let models = try SharedData.path("models/ml5")
        let text = """
        server:
          listen: 127.0.0.1
          port: \(port)
          token: "\(token)"
          model_dirs:
            - \(models)
          log_level: info
        \(server)
        pipelines:
        \(yaml)
        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    deinit {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// UDP sockets the process holds now (its socket descriptors matched against /proc/net/udp and udp6).
    func udpSocketCount() throws -> Int {
        let fdDir = "/proc/\(process.processIdentifier)/fd"
        let inodes = Set(try FileManager.default.contentsOfDirectory(atPath: fdDir).compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDir + "/" + fd),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst(8).dropLast())
        })
        var count = 0
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let columns = line.split(separator: " ")
                if columns.count > 9, inodes.contains(String(columns[9])) { count += 1 }
            }
        }
        return count
    }

    /// The process's resident memory now (VmRSS).
    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "") else { throw Failure("no VmRSS in /proc/\(process.processIdentifier)/status") }
        return kib << 10
    }

    /// Waits until /readyz answers 200.
    func waitReady(timeout: TimeInterval = 60) throws {
        try waitFor("the API to answer /readyz", timeout: timeout) {
            (try? self.request("GET", "/readyz"))?.status == 200
        }
    }

    /// Polls `condition` until it holds, for at most `timeout`; on a timeout the failure carries the API's view
    /// of every pipeline (state, frames, last error) and the end of the log.
    func waitFor(_ what: String, timeout: TimeInterval, poll: TimeInterval = 0.2, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            if !process.isRunning { throw Failure("streamd exited (status \(process.terminationStatus)) while waiting for \(what); log:\n\(log)") }
            Thread.sleep(forTimeInterval: poll)
        }
        let pipelines = (try? request("GET", "/v1/pipelines").text) ?? "(no answer from the API)"
        throw Failure("timed out after \(timeout) s waiting for \(what); pipelines: \(pipelines)\nlog:\n\(log.suffix(3000))")
    }

    /// Sends SIGTERM and waits for the exit; returns the status.
    func terminate(timeout: TimeInterval = 30) throws -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        guard !process.isRunning else { throw Failure("streamd did not exit within \(timeout) s of SIGTERM") }
        return process.terminationStatus
    }

    struct Response {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { throw Failure("not a JSON object: \(text)") }
            return object
        }
    }

    /// GET `path` on loopback with a 5 s bound, for the watchdog's report (from its own thread).
    static func get(port: Int, _ path: String) throws -> String {
        let (status, data) = try LoopbackHTTP.exchange(port: port, method: "GET", path: path, body: Data(), timeout: 5)
        return "\(status) " + String(decoding: data, as: UTF8.self)
    }

    /// One HTTP request to the API on loopback, 10 s at most.
    func request(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/json", token: String? = nil) throws -> Response {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!, timeoutInterval: 10)
        request.httpMethod = method
        if let body { request.httpBody = Data(body.utf8); request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Response, Error> = .failure(Failure("no answer"))
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { result = .failure(error) } else {
                result = .success(Response(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data ?? Data()))
            }
            done.signal()
        }
        task.resume()
        guard done.wait(timeout: .now() + 15) == .success else { task.cancel(); throw Failure("\(method) \(path): no answer within 15 s") }
        return try result.get()
    }

    func pipeline(_ name: String) throws -> [String: Any] {
        let r = try request("GET", "/v1/pipelines/\(name)")
        guard r.status == 200 else { throw Failure("GET /v1/pipelines/\(name): \(r.status) \(r.text)") }
        return try r.json()
    }

    func frames(_ name: String, _ key: String = "out") throws -> Int {
        ((try pipeline(name)["frames"] as? [String: Any])?[key] as? Int) ?? 0
    }

    static var binary: String { get throws { try streamdBinary } }

    /// A TCP port nothing listens on right now (TestSupport's `freeLoopbackPort`).
    static func freePort() throws -> Int { try freeLoopbackPort() }

    static func loopbackSocket(listening: Bool) throws -> (fd: Int32, port: Int) { try TestSupport.loopbackSocket(listening: listening) }

}

/// One pipeline of a `pipelines:` section: `clip` (the carphone clip unless given) looped at its native rate
/// through `model` with one worker, the longer side at most `maxSize`, and `outputs`: the YAML list that goes
/// under `outputs:`, written from column 0 (`- record: …` / `  rotate_every: 2s`).
func loopedClipPipeline(_ name: String, clip: String? = nil, model: String? = "wave", style: String? = nil, strength: Double? = nil,
                        maxSize: Int? = 64, outputs: String) throws -> String {
    let source = try clip ?? SharedData.path("media/video/carphone_h264_176x144.mp4")
    var lines = ["  \(name):", "    source:", "      url: \(source)", "      loop: true"]
    if let model { lines.append("    model: \(model)") }
    if let style { lines.append("    style: \(style)") }
    if let strength { lines.append("    strength: \(strength)") }
    if let maxSize { lines.append("    max_size: \(maxSize)") }
    lines += ["    workers: 1", "    outputs:"]
    lines += outputs.split(separator: "\n", omittingEmptySubsequences: false).map { "      " + $0 }
    return lines.joined(separator: "\n")
}

/// The one finished recording in `directory` (hidden temporary files aside), as ffprobe decodes it.
func onlyRecording(in directory: String) throws -> (frames: Int, width: Int, height: Int) {
    let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }
    guard files.count == 1, let file = files.first else { throw Failure("expected one recording in \(directory), found \(files)") }
    return try probe(directory + "/" + file)
}

/// Frames ffprobe decodes in the first video stream, and its size.
func probe(_ path: String) throws -> (frames: Int, width: Int, height: Int) {
    let r = try runTool("/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                          "stream=nb_read_frames,width,height", "-of", "json", path])
    guard r.status == 0, let json = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any],
          let stream = (json["streams"] as? [[String: Any]])?.first else { throw Failure("ffprobe cannot read \(path)") }
    return (Int(stream["nb_read_frames"] as? String ?? "0") ?? 0, stream["width"] as? Int ?? 0, stream["height"] as? Int ?? 0)
}

/// The aiortc peer script (bench/webrtc-peer.py, a WebRTC stack and media tool streamd did not write) and the
/// interpreter of its virtual environment.
func aiortcPeerCommand() throws -> (python: String, script: String) {
    let venv = try PythonPeers.environment("aiortc", installing: "aiortc")
    return (venv + "/bin/python", PythonPeers.projectRoot + "/bench/webrtc-peer.py")
}

/// Runs the aiortc peer to its end: its JSON report, or a failure with what it said.
func runAiortcPeer(_ arguments: [String], timeout: TimeInterval = 120) throws -> [String: Any] {
    let (python, script) = try aiortcPeerCommand()
    let r = try runToolCapturing(python, [script] + arguments, timeout: timeout)
    guard r.status == 0, let report = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any] else {
        throw Failure("webrtc-peer \(arguments.joined(separator: " ")): status \(r.status): \(r.stderr.suffix(800))")
    }
    return report
}

/// Checks the sound of a recording of the aiortc peer's pattern and beeps (published through WHIP, or played from
/// its `clip` file): AAC, as long as the pictures (within 1 s), the beeps for half of every second (measured from
/// `toneFrom` s to `toneFrom` s before the end) at 440 Hz, and each beep with the frame it started with: lips and voice
/// within the 45 ms ahead and 125 ms behind that broadcasters hold to (ITU-R BT.1359), over at least `minFrames`
/// frame counters and `minBeeps` beeps. Returns the pictures' length and a summary for the log.
@discardableResult
func assertRecordedBeepsInStep(_ path: String, toneFrom: Double, minFrames: Int, minBeeps: Int,
                               file: StaticString = #filePath, line: UInt = #line) throws -> (videoSeconds: Double, summary: String) {
    let streams = (try ffprobeJSON(["-v", "error", "-show_entries", "stream=codec_type,codec_name", path])["streams"]
        as? [[String: Any]]) ?? []
    let sound = streams.first { $0["codec_type"] as? String == "audio" }
    XCTAssertEqual(sound?["codec_name"] as? String, "aac", "the recording's sound: \(streams)", file: file, line: line)
    let videoSeconds = mediaSpan(try mediaPackets(path, "v")), audioSeconds = sound == nil ? 0 : mediaSpan(try mediaPackets(path, "a"))
    XCTAssertGreaterThan(videoSeconds, 2 * toneFrom + 1, "pictures recorded", file: file, line: line)
    XCTAssertEqual(audioSeconds, videoSeconds, accuracy: 1.0, "sound as long as the pictures", file: file, line: line)
    let tone = try Tone.of(file: path, from: toneFrom, duration: max(1, videoSeconds - 2 * toneFrom))
    XCTAssertGreaterThan(tone.rms, 0.08, "the recorded beeps: \(tone)", file: file, line: line)
    XCTAssertEqual(tone.loud, 0.5, accuracy: 0.15, "a beep for half of every second: \(tone)", file: file, line: line)
    let sync = try runAiortcPeer(["sync", path])
    // The pitch from the peer's reading, which leaves out the 10 ms windows that straddle a beep's abrupt end (their
    // zero crossings are the cut's, not the tone's: where they fall depends on how the windows line up).
    let pitch = (sync["tone"] as? [String: Any])?["hz"] as? Double
    XCTAssertEqual(pitch ?? 0, 440, accuracy: 15, "the beeps at their pitch: \(sync)", file: file, line: line)
    XCTAssertGreaterThan(sync["frames"] as? Int ?? 0, minFrames, "frame counters read from the recording: \(sync)", file: file, line: line)
    XCTAssertGreaterThanOrEqual(sync["beeps"] as? Int ?? 0, minBeeps, "\(sync)", file: file, line: line)
    let offset = try XCTUnwrap(sync["offsetSeconds"] as? Double, "\(sync)", file: file, line: line)
    XCTAssertTrue(offset > -0.045 && offset < 0.125, "the sound is \(Int(offset * 1000)) ms from its pictures: \(sync)", file: file, line: line)
    return (videoSeconds, "\(tone), \(audioSeconds) s of sound for \(videoSeconds) s of pictures, sound \(Int(offset * 1000)) ms after its pictures (\(sync))")
}
