import Foundation
import TestSupport
import XCTest

/// The network sources besides RTSP, each fed by a real FFmpeg sender on loopback playing a real clip in a loop:
/// RTMP pulled from nginx-rtmp, UDP MPEG-TS (streamd listens), SRT (streamd calls FFmpeg's listener), and a live
/// HLS playlist served over HTTP and over HTTPS (a self-signed certificate: like FFmpeg, streamd does not verify
/// certificates). Every pipeline records what it stylizes, and every recording must decode.
final class SourceKindsTests: XCTestCase {
    /// The real clip every sender plays (a missing shared directory fails the test, naming it).
    func clipPath() throws -> String { try SharedData.path("media/video/carphone_h264_176x144.mp4") }

    /// A sender plays the clip in a loop at its native rate, copying the H.264 stream into `format` at `url`.
    func sender(_ name: String, _ format: [String], _ url: String, in dir: URL) throws -> LiveServersTests.Child {
        try LiveServersTests.Child("/usr/bin/ffmpeg", ["-v", "error", "-re", "-stream_loop", "-1", "-i", try clipPath(),
                                                       "-an", "-c", "copy"] + format + [url],
                                   log: dir.appendingPathComponent("\(name)-sender.log").path)
    }

    /// Serves one pipeline per source (recording into `dir/rec`) and waits for 20 stylized frames from each.
    func serveSources(_ sources: [(name: String, url: String)], in dir: URL) throws -> ServeProcess {
        let serve = try ServeProcess(pipelines: sources.map { name, url in
            """
              \(name):
                source:
                  url: "\(url)"
                  timeout: 3s
                model: wave
                max_size: 64
                workers: 1
                outputs:
                  - record: \(dir.path)/rec/\(name).mp4
                    preset: ultrafast
            """
        }.joined(separator: "\n"), directory: dir)
        try serve.waitReady()
        // Every source connected and delivers video. (The HLS playlist and the SRT listener may need a retry or
        // two at start-up while their senders begin.)
        try serve.waitFor("20 frames out of every pipeline", timeout: 120) {
            try sources.allSatisfy { name, _ in try serve.frames(name) >= 20 }
        }
        for (name, url) in sources {
            let state = try serve.pipeline(name)
            XCTAssertEqual(state["state"] as? String, "running", "\(name): \(state)")
            XCTAssertEqual(state["source"] as? String, url, name)
        }
        return serve
    }

    /// After SIGTERM: one finished recording per source, each decoding to at least 20 frames at 64x52.
    func assertRecordings(_ sources: [(name: String, url: String)], in dir: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/rec")
        for (name, _) in sources {
            let recordings = files.filter { $0.hasPrefix(name + "-") && $0.hasSuffix(".mp4") }
            XCTAssertEqual(recordings.count, 1, "\(name): \(files)")
            guard let file = recordings.first else { continue }
            let probed = try probe(dir.path + "/rec/" + file)
            XCTAssertGreaterThanOrEqual(probed.frames, 20, file)
            XCTAssertEqual(probed.width, 64, file)
            XCTAssertEqual(probed.height, 52, file)
        }
    }

    /// A phone's portrait clip (stored sideways, with a display matrix saying "rotate 90°") as a `serve` source is
    /// recorded upright, as `transcode` turns it: 144×176, scaled to 52×64. It used to come out sideways.
    func testARotatedClipIsRecordedUpright() throws {
        let dir = try temporaryDirectory("rotated-source")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rotated = dir.appendingPathComponent("portrait.mp4").path
        let made = try runTool("/usr/bin/ffmpeg", ["-v", "error", "-y", "-i", try clipPath(), "-c", "copy", "-metadata:s:v:0", "rotate=90", rotated])
        XCTAssertEqual(made.status, 0, made.output)
        let yaml = try loopedClipPipeline("phone", clip: rotated, outputs: "- record: \(dir.path)/rec/phone.mp4\n  preset: ultrafast")
        let serve = try ServeProcess(pipelines: yaml, directory: dir)
        try serve.waitReady()
        try serve.waitFor("10 frames out", timeout: 60) { try serve.frames("phone") >= 10 }
        XCTAssertEqual(try serve.terminate(), 0)
        let recording = try onlyRecording(in: dir.path + "/rec")
        XCTAssertEqual(recording.width, 52, "upright: the portrait's width")
        XCTAssertEqual(recording.height, 64)
        XCTAssertGreaterThanOrEqual(recording.frames, 10)
    }

    func testRTMPUDPAndSRTSourcesAreStylizedAndRecorded() throws {
        let dir = try temporaryDirectory("sources")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rtmpPort = try ServeProcess.freePort(), udpPort = try ServeProcess.freePort(), srtPort = try ServeProcess.freePort()
        let recorder = try LiveServersTests.RTMPRecorder(directory: dir, port: rtmpPort)
        let nginx = try recorder.start(log: "nginx.log")
        defer { nginx.stop() }
        Thread.sleep(forTimeInterval: 1)
        let senders = [
            try sender("rtmp", ["-f", "flv"], "rtmp://127.0.0.1:\(rtmpPort)/rec/src", in: dir),
            try sender("udp", ["-f", "mpegts"], "udp://127.0.0.1:\(udpPort)?pkt_size=1316", in: dir),
            try sender("srt", ["-f", "mpegts"], "srt://127.0.0.1:\(srtPort)?mode=listener&pkt_size=1316", in: dir),
        ]
        defer { for s in senders { s.stop() } }
        let sources = [
            (name: "rtmp", url: "rtmp://127.0.0.1:\(rtmpPort)/rec/src"),
            (name: "udp", url: "udp://127.0.0.1:\(udpPort)"),
            (name: "srt", url: "srt://127.0.0.1:\(srtPort)?mode=caller"),
        ]
        let serve = try serveSources(sources, in: dir)
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        try assertRecordings(sources, in: dir)
    }

    /// A live HLS playlist over HTTP and HTTPS. (Its pacing is tested deterministically in SourcePacerTests and
    /// StreamReaderSegmentedTests: throughput comparisons between pipelines were too noisy for CI here.)
    func testLiveHLSOverHTTPAndHTTPSIsStylizedAndRecorded() throws {
        let dir = try temporaryDirectory("sources-hls")
        defer { try? FileManager.default.removeItem(at: dir) }
        let httpPort = try ServeProcess.freePort(), httpsPort = try ServeProcess.freePort()
        let hlsDir = dir.appendingPathComponent("hls-in")
        try FileManager.default.createDirectory(at: hlsDir, withIntermediateDirectories: true)
        let http = try LiveServersTests.Child("/usr/bin/python3", ["-m", "http.server", String(httpPort), "--bind", "127.0.0.1",
                                                                   "--directory", hlsDir.path], log: dir.path + "/http.log")
        defer { http.stop() }
        let key = dir.path + "/key.pem", certificate = dir.path + "/cert.pem"
        let made = try runTool("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                                    "-days", "1", "-subj", "/CN=127.0.0.1"])
        XCTAssertEqual(made.status, 0, "openssl made a self-signed certificate")
        let https = try LiveServersTests.Child("/usr/bin/python3", ["-c", """
            import functools, http.server, ssl
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="\(hlsDir.path)")
            server = http.server.ThreadingHTTPServer(("127.0.0.1", \(httpsPort)), handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain("\(certificate)", "\(key)")
            server.socket = context.wrap_socket(server.socket, server_side=True)
            server.serve_forever()
            """], log: dir.path + "/https.log")
        defer { https.stop() }
        let hls = try sender("hls", ["-f", "hls", "-hls_time", "1", "-hls_list_size", "6", "-hls_flags", "delete_segments"],
                             hlsDir.appendingPathComponent("live.m3u8").path, in: dir)
        defer { hls.stop() }
        let sources = [
            (name: "hls", url: "http://127.0.0.1:\(httpPort)/live.m3u8"),
            (name: "https", url: "https://127.0.0.1:\(httpsPort)/live.m3u8"),
        ]
        let serve = try serveSources(sources, in: dir)
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        try assertRecordings(sources, in: dir)
    }
}
