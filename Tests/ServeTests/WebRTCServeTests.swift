import Foundation
import TestSupport
import XCTest

/// WebRTC in and out of `streamd serve`, end to end with a WebRTC stack streamd did not write: aiortc from PyPI
/// (bench/webrtc-peer.py) publishes a test pattern through WHIP and plays the stylized pipeline through WHEP.
/// ICE stays on loopback on both sides (`webrtc_addresses: [127.0.0.1]`, and the peer's host addresses).
final class WebRTCServeTests: XCTestCase {
    static let server = "  webrtc_addresses: [127.0.0.1]"

    /// Starts the peer in the background (killed by the caller, or by the end of its `--seconds`).
    private func startPeer(_ arguments: [String], log: String) throws -> Process {
        let (python, script) = try aiortcPeerCommand()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script] + arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return p
    }

    private func stop(_ p: Process) {
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        _ = waitForExit(p, seconds: 5)
    }

    private func whipPipeline(_ name: String, record: String) -> String {
        ["  \(name):", "    source:", "      url: \"whip:\"", "    model: wave", "    max_size: 320", "    workers: 1",
         "    outputs:", "      - record: \(record)"].joined(separator: "\n")
    }

    /// Pictures and sound: the publisher sends the pattern and a 440 Hz beep each second; the player hears it beside
    /// the stylized picture, and the recording carries it too (AAC), as long as its pictures and in step with them
    /// (each beep starts with the frame whose counter marks its second).
    func testPicturesPublishedThroughWHIPComeBackStylizedThroughWHEP() throws {
        let dir = try TempDir("webrtc")
        let recordings = dir.file("rec")
        let serve = try ServeProcess(pipelines: whipPipeline("cam", record: recordings + "/cam.mp4"), directory: dir.url, server: Self.server)
        try serve.waitReady()
        let base = "http://127.0.0.1:\(serve.port)/v1/pipelines/cam"
        XCTAssertEqual(try serve.pipeline("cam")["last_error"] as? String, "waiting for a WHIP publisher")

        // 40 s: enough for a slow machine to stylize what the player waits for, at a few frames a second.
        let publisher = try startPeer(["whip", base + "/whip", "--seconds", "40", "--audio", "--token", ServeProcess.token],
                                      log: dir.file("publisher.log"))
        defer { stop(publisher) }
        try serve.waitFor("the published pictures being stylized", timeout: 60) { try serve.frames("cam") >= 5 }
        XCTAssertEqual(try serve.pipeline("cam")["state"] as? String, "running")

        // A player, with no token (the page's read rules: open).
        let played = try runAiortcPeer(["whep", base + "/whep", "--frames", "20", "--save", dir.file("played.rgb"), "--audio", "--timeout", "30"])
        XCTAssertEqual(played["frames"] as? Int, 20, "\(played)")
        let heard = played["audio"] as? [String: Any] ?? [:]
        XCTAssertGreaterThanOrEqual(heard["seconds"] as? Double ?? 0, 1.5, "the player hears the publisher's sound: \(played)")
        XCTAssertGreaterThan(heard["rms"] as? Double ?? 0, 0.08, "the beeps' loudness: \(played)")
        XCTAssertEqual(heard["loud"] as? Double ?? 0, 0.5, accuracy: 0.15, "a beep for half of every second: \(played)")
        XCTAssertEqual(heard["hz"] as? Double ?? 0, 440, accuracy: 15, "the tone's pitch: \(played)")
        XCTAssertEqual(played["width"] as? Int, 320, "the pipeline's size (640x480 fitted to max_size 320)")
        XCTAssertEqual(played["height"] as? Int, 240)

        // What came back is the stylized picture: far from the published pattern at the same size, and not flat.
        _ = try runAiortcPeer(["pattern", dir.file("pattern.rgb")])
        let sent = try runFFmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "640x480", "-i", dir.file("pattern.rgb"),
                                  "-vf", "scale=320:240", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        let got = try Data(contentsOf: URL(fileURLWithPath: dir.file("played.rgb")))
        XCTAssertEqual(got.count, sent.count)
        let difference = zip(got, sent).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(max(1, got.count))
        XCTAssertGreaterThan(difference, 25, "the played picture differs from the published one (mean |Δ| \(difference))")
        let mean = got.reduce(0.0) { $0 + Double($1) } / Double(got.count)
        let spread = (got.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(got.count)).squareRoot()
        XCTAssertGreaterThan(spread, 20, "the played picture has detail (not flat, not black)")

        // The publisher ends its session (DELETE): the pipeline waits for the next one and keeps its outputs.
        XCTAssertTrue(waitForExit(publisher, seconds: 75), "the publisher's 40 s run ended")
        let report = try String(contentsOfFile: dir.file("publisher.log"), encoding: .utf8)
        XCTAssertTrue(report.contains("\"state\": \"connected\""), report)
        try serve.waitFor("the pipeline to wait for a publisher again", timeout: 15) {
            (try serve.pipeline("cam")["last_error"] as? String)?.contains("the publisher ended its session; waiting for a WHIP publisher") == true
        }
        XCTAssertEqual(try serve.terminate(), 0)
        let recorded = try onlyRecording(in: recordings)
        XCTAssertGreaterThan(recorded.frames, 10, "the recording holds the published pictures")
        XCTAssertEqual(recorded.width, 320)

        // The recording's sound: the beeps throughout (after the first seconds), in step with the pictures.
        let file = recordings + "/" + (try FileManager.default.contentsOfDirectory(atPath: recordings).first { !$0.hasPrefix(".") } ?? "")
        let sound = try assertRecordedBeepsInStep(file, toneFrom: 2, minFrames: 10, minBeeps: 11)
        print("WebRTC sound: the player heard \(heard); the recording has \(sound.summary)")
    }

    func testBadOffersLimitsAndAVanishingPublisherLeaveThePipelinesRunning() throws {
        let dir = try TempDir("webrtc-bad")
        let pipelines = whipPipeline("cam", record: dir.file("rec/cam.mp4")) + "\n"
            + (try loopedClipPipeline("clip", outputs: "- record: \(dir.file("clip/clip.mp4"))"))
        let serve = try ServeProcess(pipelines: pipelines, directory: dir.url, server: Self.server + "\n  webrtc_viewers: 1")
        try serve.waitReady()
        let token = ServeProcess.token
        func offer(_ path: String, _ body: String, type: String = "application/sdp", token: String? = nil) throws -> ServeProcess.Response {
            try serve.request("POST", path, body: body, contentType: type, token: token)
        }
        func assertError(_ r: ServeProcess.Response, _ status: Int, _ mention: String, line: UInt = #line) {
            XCTAssertEqual(r.status, status, r.text, line: line)
            let message = (try? r.json())?["error"] as? String ?? ""
            XCTAssertTrue(message.contains(mention), "'\(mention)' in \(r.text)", line: line)
            XCTAssertFalse(message.contains("\n"), "one line", line: line)
        }
        let sdp = { (media: String) in "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + media }
        let h264 = sdp("m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\na=recvonly\r\n")

        assertError(try offer("/v1/pipelines/clip/whep", "hello"), 400, "not a usable SDP description")
        assertError(try offer("/v1/pipelines/clip/whep", sdp("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")), 400, "has no video")
        assertError(try offer("/v1/pipelines/clip/whep", sdp("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n")), 400, "no H.264")
        // webrtcbin itself refuses an offer that parses but cannot be negotiated (no ICE credentials, no fingerprint).
        assertError(try offer("/v1/pipelines/clip/whep", h264), 400, "the offer")
        assertError(try offer("/v1/pipelines/clip/whep", h264, type: "application/json"), 415, "application/sdp")
        assertError(try offer("/v1/pipelines/nothing/whep", h264), 404, "no pipeline named 'nothing'")
        assertError(try offer("/v1/pipelines/cam/whip", h264), 401, "bearer token")
        assertError(try offer("/v1/pipelines/clip/whip", h264, token: token), 409, "does not take a WHIP publisher")
        assertError(try serve.request("DELETE", "/v1/pipelines/clip/whep/nope"), 404, "no WHEP session 'nope'")

        // One player at most (webrtc_viewers: 1): a second offer is refused while the first plays.
        let player = try startPeer(["whep", "http://127.0.0.1:\(serve.port)/v1/pipelines/clip/whep", "--frames", "100000", "--timeout", "60"],
                                   log: dir.file("player.log"))
        defer { stop(player) }
        try serve.waitFor("the first player to be admitted", timeout: 30) { try offer("/v1/pipelines/clip/whep", h264).status == 503 }
        XCTAssertTrue(player.isRunning, "the first player plays on")
        assertError(try offer("/v1/pipelines/clip/whep", h264), 503, "already 1 player session")
        XCTAssertEqual((try serve.pipeline("clip")["webrtc"] as? [String: Any])?["players"] as? Int, 1)
        // Killed without a word (no DELETE, no DTLS close): ICE's answered keepalives notice, checked at the end.
        stop(player)

        // A publisher that vanishes (killed, no DELETE) is noticed, and the slot is free for the next one.
        let whip = "http://127.0.0.1:\(serve.port)/v1/pipelines/cam/whip"
        let vanishing = try startPeer(["whip", whip, "--seconds", "120", "--token", token], log: dir.file("vanishing.log"))
        defer { stop(vanishing) }
        try serve.waitFor("the first publisher's pictures", timeout: 60) { try serve.frames("cam") >= 3 }
        assertError(try offer("/v1/pipelines/cam/whip", h264, token: token), 409, "already sending")
        XCTAssertEqual((try serve.pipeline("cam")["webrtc"] as? [String: Any])?["publishing"] as? Bool, true)
        stop(vanishing)
        // No DELETE and no DTLS close: the silence gives it away (5 s without a packet).
        try serve.waitFor("the vanished publisher to be noticed", timeout: 30) {
            let error = try serve.pipeline("cam")["last_error"] as? String ?? ""
            return error.hasSuffix("; waiting for a WHIP publisher") && !error.contains("ended its session")
        }
        XCTAssertEqual(try serve.pipeline("cam")["state"] as? String, "reconnecting")
        let before = try serve.frames("cam")
        let next = try runAiortcPeer(["whip", whip, "--seconds", "6", "--token", token])
        XCTAssertEqual(next["state"] as? String, "connected", "\(next)")
        try serve.waitFor("the next publisher's pictures", timeout: 10) { try serve.frames("cam") > before }

        // Through all of it the other pipeline kept running.
        let clipFrames = try serve.frames("clip")
        try serve.waitFor("the clip pipeline still running", timeout: 10) { try serve.frames("clip") > clipFrames }
        XCTAssertEqual(try serve.pipeline("clip")["state"] as? String, "running")
        // The killed player's session was closed (about 45 s after it vanished), so its slot is free again.
        try serve.waitFor("the killed player's session to be closed", timeout: 90) {
            (try serve.pipeline("clip")["webrtc"] as? [String: Any])?["players"] as? Int == 0
        }
        XCTAssertEqual(try serve.terminate(), 0)

        // Publishers without sound: the whip: pipeline's recording still has its one continuous AAC track, silent,
        // as long as the pictures; a pipeline from a file has no sound track at all.
        for (directory, hasSound) in [(dir.file("rec"), true), (dir.file("clip"), false)] {
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
            let file = directory + "/" + (files.first ?? "")
            let streams = (try ffprobeJSON(["-v", "error", "-show_entries", "stream=codec_type,codec_name,duration", file])["streams"]
                as? [[String: Any]]) ?? []
            let sound = streams.first { $0["codec_type"] as? String == "audio" }
            XCTAssertEqual(sound != nil, hasSound, "\(file): \(streams)")
            guard hasSound else { continue }
            XCTAssertEqual(sound?["codec_name"] as? String, "aac")
            let videoSeconds = Double(streams.first { $0["codec_type"] as? String == "video" }?["duration"] as? String ?? "") ?? 0
            XCTAssertEqual(Double(sound?["duration"] as? String ?? "") ?? 0, videoSeconds, accuracy: 1.0, "\(streams)")
            let tone = try Tone.of(file: file)
            XCTAssertEqual(tone.loud, 0, "silence where the publishers sent no sound: \(tone)")
        }
    }
}
