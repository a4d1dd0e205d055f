import Foundation
import TestSupport
import XCTest

/// The network sources besides RTSP, each fed by a real FFmpeg sender on loopback playing a real clip in a loop:
/// RTMP pulled from nginx-rtmp, UDP MPEG-TS (streamd listens), SRT (streamd calls FFmpeg's listener) and a live
/// HLS playlist served over HTTP and over HTTPS (a self-signed certificate: like FFmpeg, streamd does not verify
/// certificates). Every pipeline records what it stylizes, and every recording must decode.
final class SourceKindsTests: XCTestCase {
    func testRTMPUDPSRTHLSAndHTTPSSourcesAreStylizedAndRecorded() throws {
        let dir = try temporaryDirectory("sources")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let rtmpPort = try ServeProcess.freePort(), udpPort = try ServeProcess.freePort()
        let srtPort = try ServeProcess.freePort(), httpPort = try ServeProcess.freePort(), httpsPort = try ServeProcess.freePort()
        let path = dir.path
        // A sender plays the clip in a loop at its native rate, copying the H.264 stream into `format`.
        func sender(_ name: String, _ format: [String], _ url: String) throws -> LiveServersTests.Child {
            try LiveServersTests.Child("/usr/bin/ffmpeg", ["-v", "error", "-re", "-stream_loop", "-1", "-i", clip, "-an", "-c", "copy"]
                                       + format + [url], log: path + "/\(name)-sender.log")
        }

        let recorder = try LiveServersTests.RTMPRecorder(directory: dir, port: rtmpPort)
        let nginx = try recorder.start(log: "nginx.log")
        defer { nginx.stop() }
        let hlsDir = dir.appendingPathComponent("hls-in")
        try FileManager.default.createDirectory(at: hlsDir, withIntermediateDirectories: true)
        let http = try LiveServersTests.Child("/usr/bin/python3", ["-m", "http.server", String(httpPort), "--bind", "127.0.0.1",
                                                                   "--directory", hlsDir.path], log: path + "/http.log")
        defer { http.stop() }
        let key = path + "/key.pem", certificate = path + "/cert.pem"
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
            """], log: path + "/https.log")
        defer { https.stop() }
        Thread.sleep(forTimeInterval: 1)
        let senders = [
            try sender("rtmp", ["-f", "flv"], "rtmp://127.0.0.1:\(rtmpPort)/rec/src"),
            try sender("udp", ["-f", "mpegts"], "udp://127.0.0.1:\(udpPort)?pkt_size=1316"),
            try sender("srt", ["-f", "mpegts"], "srt://127.0.0.1:\(srtPort)?mode=listener&pkt_size=1316"),
            try sender("hls", ["-f", "hls", "-hls_time", "1", "-hls_list_size", "6", "-hls_flags", "delete_segments"],
                       hlsDir.appendingPathComponent("live.m3u8").path),
        ]
        defer { for s in senders { s.stop() } }

        let sources = [
            ("rtmp", "rtmp://127.0.0.1:\(rtmpPort)/rec/src"),
            ("udp", "udp://127.0.0.1:\(udpPort)"),
            ("srt", "srt://127.0.0.1:\(srtPort)?mode=caller"),
            ("hls", "http://127.0.0.1:\(httpPort)/live.m3u8"),
            ("https", "https://127.0.0.1:\(httpsPort)/live.m3u8"),
        ]
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
                  - record: \(path)/rec/\(name).mp4
                    preset: ultrafast
            """
        }.joined(separator: "\n"), directory: dir)
        try serve.waitReady()
        // 20 stylized frames from each: every source connected and delivers video. (The HLS playlist and the SRT
        // listener may need a retry or two at start-up while their senders begin.)
        try serve.waitFor("20 frames out of every pipeline", timeout: 120) {
            try sources.allSatisfy { name, _ in try serve.frames(name) >= 20 }
        }
        for (name, url) in sources {
            let state = try serve.pipeline(name)
            XCTAssertEqual(state["state"] as? String, "running", "\(name): \(state)")
            XCTAssertEqual(state["source"] as? String, url, name)
        }
        // HLS hands over a segment's frames at once; paced at the stream's rate, the pipeline keeps most of them
        // instead of the two the drop-oldest queue would hold per segment. It has to do about as well as the
        // source that arrives frame by frame (UDP) over the same stretch.
        let udpBefore = try serve.frames("udp"), hlsBefore = try serve.frames("hls")
        Thread.sleep(forTimeInterval: 6)
        let udpGained = try serve.frames("udp") - udpBefore, hlsGained = try serve.frames("hls") - hlsBefore
        XCTAssertGreaterThan(udpGained, 10, "UDP kept flowing")
        XCTAssertGreaterThan(Double(hlsGained), 0.6 * Double(udpGained), "HLS \(hlsGained) frames against UDP \(udpGained) in 6 s")
        XCTAssertEqual(try serve.terminate(), 0, serve.log)

        let files = try FileManager.default.contentsOfDirectory(atPath: path + "/rec")
        for (name, _) in sources {
            let recordings = files.filter { $0.hasPrefix(name + "-") && $0.hasSuffix(".mp4") }
            XCTAssertEqual(recordings.count, 1, "\(name): \(files)")
            guard let file = recordings.first else { continue }
            let probed = try probe(path + "/rec/" + file)
            XCTAssertGreaterThanOrEqual(probed.frames, 20, file)
            XCTAssertEqual(probed.width, 64, file)
            XCTAssertEqual(probed.height, 52, file)
        }
    }
}
