import Foundation
import TestSupport
import XCTest

/// streamd between two real servers on loopback: GStreamer's RTSP server (python3-gi) as the source and
/// nginx with the RTMP module as the sink, including the source server dying and coming back.
final class LiveServersTests: XCTestCase {
    /// A child process the test owns; stopped (TERM, then KILL after a bound) when it goes away.
    final class Child {
        let process = Process()
        let logPath: String
        init(_ executable: String, _ arguments: [String], log: String, environment: [String: String] = [:]) throws {
            logPath = log
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
            FileManager.default.createFile(atPath: log, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            TestWatchdog.shared.adopt(URL(fileURLWithPath: executable).lastPathComponent, pid: process.processIdentifier) {
                String(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1000))
            }
        }
        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        func stop(timeout: TimeInterval = 10) {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        deinit { stop() }
    }

    static var rtspScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/testing/rtsp-server.py").path
    }

    /// GStreamer's RTSP server on `port`, serving `clip` (a real H.264 MP4) or, without one, a live test pattern.
    func startRTSP(port: Int, directory: URL, clip: String? = nil) throws -> Child {
        let child = try Child("/usr/bin/python3", [Self.rtspScript, String(port), "cam"] + (clip.map { ["--file", $0] } ?? []),
                              log: directory.appendingPathComponent("rtsp-\(UInt32.random(in: 0...UInt32.max)).log").path)
        let deadline = Date().addingTimeInterval(20)
        while !child.log.contains("ready") && Date() < deadline && child.process.isRunning { usleep(50_000) }
        guard child.log.contains("ready") else { throw Failure("the RTSP server did not start within 20 s: \(child.log)") }
        return child
    }

    /// nginx with the RTMP module on 127.0.0.1:`port`, recording every stream it is sent into `recordDir`
    /// (its workers run as nobody, hence the permissions). `unique` gives each connection its own file.
    struct RTMPRecorder {
        let home: URL, recordDir: URL, conf: String

        init(directory: URL, port: Int, unique: Bool = false) throws {
            home = directory.appendingPathComponent("nginx")
            recordDir = home.appendingPathComponent("rec")
            try FileManager.default.createDirectory(at: recordDir, withIntermediateDirectories: true)
            chmod(directory.path, 0o755)
            chmod(recordDir.path, 0o777)
            conf = home.appendingPathComponent("nginx.conf").path
            try """
            load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
            daemon off;
            pid \(home.path)/nginx.pid;
            error_log \(home.path)/error.log;
            events { worker_connections 64; }
            rtmp { server { listen 127.0.0.1:\(port); application rec { live on; record all;\(unique ? " record_unique on;" : "") record_path \(recordDir.path); } } }
            """.write(toFile: conf, atomically: true, encoding: .utf8)
        }

        func start(log: String) throws -> Child {
            try Child("/usr/sbin/nginx", ["-c", conf, "-p", home.path], log: home.appendingPathComponent(log).path)
        }

        /// Graceful quit (nginx closes and flushes its recordings), waiting at most 10 s.
        func quit(_ nginx: Child) throws {
            _ = try runTool("/usr/sbin/nginx", ["-c", conf, "-p", home.path, "-s", "quit"], timeout: 10)
            let deadline = Date().addingTimeInterval(10)
            while nginx.process.isRunning && Date() < deadline { usleep(50_000) }
        }
    }

    func testRTSPInRTMPOutSurvivesSourceServerRestart() throws {
        let dir = try temporaryDirectory("servers")
        defer { try? FileManager.default.removeItem(at: dir) }
        // nginx-rtmp records what streamd pushes.
        let rtmpPort = try ServeProcess.freePort(), rtspPort = try ServeProcess.freePort()
        let recorder = try RTMPRecorder(directory: dir, port: rtmpPort)
        let recordDir = recorder.recordDir
        let nginx = try recorder.start(log: "out.log")
        defer { nginx.stop() }
        // A real clip (14 s at 30 fps; each new RTSP session plays it from the start).
        let clip = try SharedData.path("media/video/fox_h264_640x640.mp4")
        var rtsp = try startRTSP(port: rtspPort, directory: dir, clip: clip)

        let serve = try ServeProcess(pipelines: """
          live:
            source:
              url: rtsp://127.0.0.1:\(rtspPort)/cam
              timeout: 2s
            model: wave
            max_size: 96
            workers: 1
            outputs:
              - url: rtmp://127.0.0.1:\(rtmpPort)/rec/live
                preset: ultrafast
                gop: 15
        """, directory: dir)
        try serve.waitReady()
        func output() throws -> [String: Any] { try XCTUnwrap((try serve.pipeline("live")["outputs"] as? [[String: Any]])?.first) }
        try serve.waitFor("10 frames pushed over RTMP", timeout: 90) { (try output()["frames_written"] as? Int ?? 0) >= 10 }

        XCTAssertEqual(try serve.udpSocketCount(), 0, "RTSP goes over TCP unless rtsp_transport says otherwise")

        // The source server dies: the pipeline reports reconnecting (2 s read timeout) and keeps its RTMP output.
        rtsp.stop()
        try serve.waitFor("state reconnecting", timeout: 15) { try serve.pipeline("live")["state"] as? String == "reconnecting" }
        func state(_ name: String) throws -> Double {
            try ServeTests.sample(try serve.request("GET", "/metrics").text, "streamd_pipeline_state", labels: ["pipeline": "live", "state": name])
        }
        XCTAssertEqual(try state("reconnecting"), 1, "the metrics say reconnecting too")
        XCTAssertEqual(try state("running"), 0)
        let before = try serve.frames("live")
        rtsp = try startRTSP(port: rtspPort, directory: dir, clip: clip)
        defer { rtsp.stop() }
        let restarted = Date()
        try serve.waitFor("frames again after the server came back", timeout: 30) {
            try serve.frames("live") >= before + 10 && serve.pipeline("live")["state"] as? String == "running"
        }
        let resumedAfter = Date().timeIntervalSince(restarted)
        XCTAssertLessThan(resumedAfter, 30)
        XCTAssertGreaterThanOrEqual(try serve.pipeline("live")["source_reconnects"] as? Int ?? 0, 1)
        XCTAssertEqual(try output()["reconnects"] as? Int, 0, "the RTMP push stayed connected through the source outage")
        let metrics = try serve.request("GET", "/metrics").text
        XCTAssertGreaterThanOrEqual(try ServeTests.sample(metrics, "streamd_source_reconnects_total", labels: ["pipeline": "live"]), 1)
        XCTAssertEqual(try state("running"), 1)
        XCTAssertEqual(try state("reconnecting"), 0)

        let pushed = try output()["frames_written"] as? Int ?? 0
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        let pushedFinal = pushed
        // nginx closes the recording when the publisher goes; quit flushes it.
        try recorder.quit(nginx)
        let flv = recordDir.appendingPathComponent("live.flv").path
        let probed = try probe(flv)
        XCTAssertEqual(probed.width, 96)
        XCTAssertEqual(probed.height, 96)
        // Everything streamd counted as pushed is in nginx's recording (a few more may follow the last count).
        XCTAssertGreaterThanOrEqual(probed.frames, pushedFinal - 2, "nginx recorded \(probed.frames) of \(pushedFinal) pushed frames")
        // Timestamps stay monotonic across drops and the source reconnect.
        let packets = try runTool("/usr/bin/ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
                                                       "-of", "csv=p=0", flv])
        let pts = packets.output.split(separator: "\n").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        XCTAssertEqual(pts.count, probed.frames)
        XCTAssertTrue(zip(pts, pts.dropFirst()).allSatisfy { $0 < $1 }, "pts increase: \(pts.prefix(40))")
        print("source restart → frames again after \((resumedAfter * 10).rounded() / 10) s; \(probed.frames) frames recorded by nginx")
    }

    /// The RTMP server goes away mid-stream and comes back: the output reports reconnecting, reconnects with
    /// back-off, and frames flow to the new server; the pipeline itself keeps running throughout.
    func testRTMPOutputReconnectsWhenTheServerComesBack() throws {
        let dir = try temporaryDirectory("rtmp-restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rtmpPort = try ServeProcess.freePort()
        let recorder = try RTMPRecorder(directory: dir, port: rtmpPort, unique: true)
        let recordDir = recorder.recordDir
        var nginx = try recorder.start(log: "out1.log")
        Thread.sleep(forTimeInterval: 0.5)
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", clip: clip, outputs: """
            - url: rtmp://127.0.0.1:\(rtmpPort)/rec/cam
              preset: ultrafast
            """), directory: dir)
        try serve.waitReady()
        func output() throws -> [String: Any] { try XCTUnwrap((try serve.pipeline("cam")["outputs"] as? [[String: Any]])?.first) }
        try serve.waitFor("frames pushed", timeout: 90) { (try output()["frames_written"] as? Int ?? 0) >= 5 }

        nginx.stop()   // SIGTERM: nginx's fast shutdown closes the connection
        try serve.waitFor("the output to notice", timeout: 20) { try output()["state"] as? String == "reconnecting" }
        func connected() throws -> Double {
            try ServeTests.sample(try serve.request("GET", "/metrics").text, "streamd_output_connected",
                                  labels: ["pipeline": "cam", "output": "rtmp://127.0.0.1:\(rtmpPort)/rec/cam"])
        }
        XCTAssertEqual(try connected(), 0)
        XCTAssertEqual(try serve.pipeline("cam")["state"] as? String, "running", "the pipeline keeps running")
        let during = try serve.frames("cam")
        try serve.waitFor("frames still flowing through the pipeline", timeout: 30) { try serve.frames("cam") > during + 3 }

        nginx = try recorder.start(log: "out2.log")
        defer { nginx.stop() }
        let back = Date()
        try serve.waitFor("the output to reconnect", timeout: 30) {
            let o = try output()
            return o["state"] as? String == "connected" && (o["reconnects"] as? Int ?? 0) >= 1
        }
        let written = try output()["frames_written"] as? Int ?? 0
        try serve.waitFor("frames to the new server", timeout: 30) { (try output()["frames_written"] as? Int ?? 0) >= written + 5 }
        XCTAssertEqual(try connected(), 1, "the metrics say connected again")
        print("RTMP server back → output reconnected after \((Date().timeIntervalSince(back) * 10).rounded() / 10) s")
        XCTAssertEqual(try serve.terminate(), 0)
        try recorder.quit(nginx)
        // Two recordings: one per connection, the second from after the reconnect, and it decodes.
        let files = try FileManager.default.contentsOfDirectory(atPath: recordDir.path).filter { $0.hasSuffix(".flv") }.sorted()
        XCTAssertEqual(files.count, 2, "\(files)")
        if let last = files.last { XCTAssertGreaterThanOrEqual(try probe(recordDir.path + "/" + last).frames, 5) }
    }

    /// `rtsp_transport: udp`: RTP arrives over UDP (the process holds UDP sockets for it), and the clip is
    /// stylized and recorded.
    func testRTSPOverUDPWhenAsked() throws {
        let dir = try temporaryDirectory("rtsp-udp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rtspPort = try ServeProcess.freePort()
        let rtsp = try startRTSP(port: rtspPort, directory: dir, clip: try SharedData.path("media/video/fox_h264_640x640.mp4"))
        defer { rtsp.stop() }
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: """
          live:
            source:
              url: rtsp://127.0.0.1:\(rtspPort)/cam
              rtsp_transport: udp
            model: wave
            max_size: 64
            workers: 1
            outputs:
              - record: \(rec)/live.mp4
                preset: ultrafast
        """, directory: dir)
        try serve.waitReady()
        try serve.waitFor("20 frames over RTSP/UDP", timeout: 60) { try serve.frames("live") >= 20 }
        XCTAssertGreaterThanOrEqual(try serve.udpSocketCount(), 2, "RTP and RTCP sockets")
        XCTAssertEqual(try serve.pipeline("live")["state"] as? String, "running")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        let probed = try onlyRecording(in: rec)
        XCTAssertGreaterThanOrEqual(probed.frames, 20)
        XCTAssertEqual(probed.width, 64)
        XCTAssertEqual(probed.height, 64)
    }
}
