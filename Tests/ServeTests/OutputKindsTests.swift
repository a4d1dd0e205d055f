import Foundation
import TestSupport
import XCTest

/// Every kind of output at once from one pipeline, each read back by an independent receiver (FFmpeg's
/// listeners on loopback, ffprobe on files), plus one output whose server is down.
final class OutputKindsTests: XCTestCase {
    func testEveryOutputKindCarriesPlayableVideoAndADeadOneDoesNotStopThem() throws {
        let dir = try temporaryDirectory("outputs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let udpPort = try ServeProcess.freePort(), srtPort = try ServeProcess.freePort()
        let rtspPort = try ServeProcess.freePort(), deadPort = try ServeProcess.freePort()
        let path = dir.path
        // The receivers listen before streamd connects (streamd would retry with back-off anyway).
        let udp = try LiveServersTests.Child("/usr/bin/ffmpeg", ["-v", "error", "-i", "udp://127.0.0.1:\(udpPort)?timeout=4000000",
                                                                 "-c", "copy", "-y", path + "/udp.ts"], log: path + "/udp.log")
        let srt = try LiveServersTests.Child("/usr/bin/ffmpeg", ["-v", "error", "-i", "srt://127.0.0.1:\(srtPort)?mode=listener",
                                                                 "-c", "copy", "-f", "mpegts", "-y", path + "/srt.ts"], log: path + "/srt.log")
        let rtsp = try LiveServersTests.Child("/usr/bin/ffmpeg", ["-v", "error", "-rtsp_flags", "listen", "-i", "rtsp://127.0.0.1:\(rtspPort)/live",
                                                                  "-c", "copy", "-y", path + "/rtsp.mkv"], log: path + "/rtsp.log")
        defer { udp.stop(); srt.stop(); rtsp.stop() }
        Thread.sleep(forTimeInterval: 1)
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("multi", clip: clip, maxSize: 96, outputs: """
            - url: udp://127.0.0.1:\(udpPort)
              preset: ultrafast
            - url: srt://127.0.0.1:\(srtPort)?mode=caller
              preset: ultrafast
            - url: rtsp://127.0.0.1:\(rtspPort)/live
              preset: ultrafast
            - hls: \(path)/hls
              segment_length: 1s
              list_size: 30
              gop: 10
            - url: rtmp://127.0.0.1:\(deadPort)/nobody/home
            - record: \(path)/rec/multi.mp4
              rotate_every: 2s
            """), directory: dir)
        try serve.waitReady()
        func outputs() throws -> [[String: Any]] { try XCTUnwrap(try serve.pipeline("multi")["outputs"] as? [[String: Any]]) }
        try serve.waitFor("20 frames on every live output", timeout: 120) {
            try outputs().enumerated().allSatisfy { i, o in i == 4 || (o["frames_written"] as? Int ?? 0) >= 20 }
        }
        // However fast the machine stylizes, the recording has rotated once (a finalized file beside the one
        // being written) before the service is stopped.
        try serve.waitFor("the recording to rotate", timeout: 60) {
            ((try? FileManager.default.contentsOfDirectory(atPath: path + "/rec")) ?? []).contains { !$0.hasPrefix(".") }
        }
        let states = try outputs()
        let dead = states[4]
        XCTAssertEqual(dead["state"] as? String, "reconnecting")
        XCTAssertEqual(dead["frames_written"] as? Int, 0)
        XCTAssertGreaterThanOrEqual(dead["reconnects"] as? Int ?? 0, 2, "retried with back-off")
        XCTAssertTrue((dead["last_error"] as? String)?.contains("rtmp://127.0.0.1:\(deadPort)") ?? false, "\(dead)")
        for (i, o) in states.enumerated() where i != 4 {
            XCTAssertEqual(o["state"] as? String, "connected", "\(o)")
            XCTAssertEqual(o["reconnects"] as? Int, 0, "\(o)")
        }
        let recorded = states[5]["frames_written"] as? Int ?? 0
        XCTAssertEqual(try serve.terminate(), 0, serve.log)

        for child in [udp, srt, rtsp] {
            let deadline = Date().addingTimeInterval(15)
            while child.process.isRunning && Date() < deadline { usleep(50_000) }
        }
        for file in ["udp.ts", "srt.ts", "rtsp.mkv", "hls/index.m3u8"] {
            let probed = try probe(path + "/" + file)
            XCTAssertGreaterThanOrEqual(probed.frames, 15, file)
            XCTAssertEqual(probed.width, 96, file)
            XCTAssertEqual(probed.height, 78, file)
        }
        let segments = try FileManager.default.contentsOfDirectory(atPath: path + "/hls").filter { $0.hasSuffix(".ts") }
        XCTAssertGreaterThanOrEqual(segments.count, 2, "HLS segments: \(segments)")
        // Rotation: several finalized files, every one playable, together holding every recorded frame.
        let files = try FileManager.default.contentsOfDirectory(atPath: path + "/rec").sorted()
        XCTAssertTrue(files.allSatisfy { $0.hasPrefix("multi-") && $0.hasSuffix(".mp4") }, "\(files)")
        XCTAssertGreaterThanOrEqual(files.count, 2, "rotated every 2 s: \(files)")
        var total = 0
        for file in files {
            let frames = try probe(path + "/rec/" + file).frames
            XCTAssertGreaterThan(frames, 0, file)
            total += frames
        }
        XCTAssertGreaterThanOrEqual(total, recorded)
    }

    /// An HLS output that runs for long keeps only `list_size` segments in its playlist and deletes the older
    /// ones from the disk, so the directory stays small; the live playlist stays playable.
    func testHLSKeepsOnlyListSizeSegments() throws {
        let dir = try temporaryDirectory("hls-window")
        defer { try? FileManager.default.removeItem(at: dir) }
        let hls = dir.appendingPathComponent("hls").path
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("live", outputs: """
            - hls: \(hls)
              segment_length: 1s
              list_size: 2
              gop: 5
              preset: ultrafast
            """), directory: dir)
        try serve.waitReady()
        func playlist() -> String { (try? String(contentsOfFile: hls + "/index.m3u8", encoding: .utf8)) ?? "" }
        func mediaSequence() -> Int {
            playlist().split(separator: "\n").first { $0.hasPrefix("#EXT-X-MEDIA-SEQUENCE:") }
                .flatMap { Int($0.split(separator: ":")[1]) } ?? 0
        }
        try serve.waitFor("five segments to have rolled out of the playlist", timeout: 120) { mediaSequence() >= 5 }
        let listed = playlist().split(separator: "\n").filter { $0.hasSuffix(".ts") }.map(String.init)
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: hls).filter { $0.hasSuffix(".ts") }
        XCTAssertEqual(listed.count, 2, playlist())
        XCTAssertTrue(listed.allSatisfy { onDisk.contains($0) }, "listed \(listed), on disk \(onDisk)")
        // FFmpeg keeps one segment past the list (hls_delete_threshold) and the one being written.
        XCTAssertLessThanOrEqual(onDisk.count, 4, "old segments are deleted: \(onDisk.sorted())")
        XCTAssertFalse(onDisk.contains("segment000000.ts"), "the first segment was deleted")
        // At the end the playlist is closed (#EXT-X-ENDLIST) and what it lists still plays.
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        XCTAssertTrue(playlist().contains("#EXT-X-ENDLIST"), playlist())
        XCTAssertGreaterThan(try probe(hls + "/index.m3u8").frames, 0)
    }

    /// `keep: 2` with hourly-style rotation (every second here): only the two newest recordings of this output
    /// stay, counting one left by an earlier run; other files in the directory are not touched.
    func testKeepDeletesTheOldestRecordings() throws {
        let dir = try temporaryDirectory("keep")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rec = dir.appendingPathComponent("rec")
        try FileManager.default.createDirectory(at: rec, withIntermediateDirectories: true)
        let bystanders = ["cam-20200101-000000.mkv", "cam-notes.mp4", "other-20200101-000000.mp4", "cam.mp4"]
        for name in bystanders + ["cam-20200101-000000.mp4"] {
            try Data("not ours to delete".utf8).write(to: rec.appendingPathComponent(name))
        }
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", outputs: """
            - record: \(rec.path)/cam.mp4
              rotate_every: 1s
              keep: 2
              preset: ultrafast
            """), directory: dir)
        try serve.waitReady()
        try serve.waitFor("four rotations", timeout: 90) { serve.log.components(separatedBy: "recording finalized").count > 4 }
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        let files = try FileManager.default.contentsOfDirectory(atPath: rec.path).sorted()
        let ours = files.filter { $0.hasPrefix("cam-2") && $0.hasSuffix(".mp4") }
        XCTAssertEqual(ours.count, 2, "\(files)")
        XCTAssertFalse(ours.contains("cam-20200101-000000.mp4"), "the earlier run's recording counts and went first")
        for name in bystanders { XCTAssertTrue(files.contains(name), "\(name) left alone: \(files)") }
        for name in ours { XCTAssertGreaterThan(try probe(rec.path + "/" + name).frames, 0, name) }
        XCTAssertTrue(serve.log.contains("deleted old recording (keep: 2): \(rec.path)/cam-20200101-000000.mp4"), serve.log)
    }

    /// `rotate_size`: a recording is closed (finalized, playable) once it reaches the size, and the next one
    /// starts; no file grows past the size by more than a frame and the container's trailer.
    func testRecordingsRotateBySize() throws {
        let dir = try temporaryDirectory("rotate-size")
        defer { try? FileManager.default.removeItem(at: dir) }
        // All-intra at a high bitrate: about 30 KB a frame, so 1 MiB fills in a few dozen frames.
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("big", maxSize: nil, outputs: """
            - record: \(dir.path)/rec/big.mp4
              rotate_size: 1MiB
              bitrate: 20M
              gop: 1
              preset: ultrafast
            """), directory: dir)
        try serve.waitReady()
        func output() throws -> [String: Any] { try XCTUnwrap((try serve.pipeline("big")["outputs"] as? [[String: Any]])?.first) }
        try serve.waitFor("a recording to reach 1 MiB and rotate", timeout: 120) {
            (try output()["recordings"] as? [Any])?.isEmpty == false
        }
        let written = try output()["frames_written"] as? Int ?? 0
        try serve.waitFor("frames in the next recording", timeout: 30) { (try output()["frames_written"] as? Int ?? 0) >= written + 3 }
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        let total = try recordedFrames(loggedBy: serve)

        let limit = 1 << 20
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/rec").sorted()
        XCTAssertGreaterThanOrEqual(files.count, 2, "\(files)")
        var frames = 0
        for (i, file) in files.enumerated() {
            let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: dir.path + "/rec/" + file)[.size] as? Int)
            // A frame is ~30 KB here; 128 KiB of slack covers the last frame and the trailer.
            XCTAssertLessThan(size, limit + 128 << 10, "\(file) grew past rotate_size")
            if i < files.count - 1 { XCTAssertGreaterThanOrEqual(size, limit, "\(file) was rotated before reaching rotate_size") }
            let probed = try probe(dir.path + "/rec/" + file)
            XCTAssertGreaterThan(probed.frames, 0, file)
            frames += probed.frames
        }
        XCTAssertGreaterThanOrEqual(total, written + 3)
        XCTAssertEqual(frames, total, "every frame streamd says it recorded decodes from some file")
    }

    /// Frames written as counted in the log's last "recording finalized" lines (the API is gone after exit).
    private func recordedFrames(loggedBy serve: ServeProcess) throws -> Int {
        let counts = serve.log.split(separator: "\n").filter { $0.contains("recording finalized") }.compactMap { line -> Int? in
            guard let open = line.lastIndex(of: "("), let space = line[open...].firstIndex(of: " ") else { return nil }
            return Int(line[line.index(after: open)..<space])
        }
        guard !counts.isEmpty else { throw Failure("no 'recording finalized' line in the log:\n\(serve.log)") }
        return counts.reduce(0, +)
    }

    /// A peer that accepts the connection and then never answers: that output waits out its timeout on its
    /// own thread and then retries, while the recording beside it keeps receiving every frame.
    func testAStalledPeerDelaysOnlyItsOwnOutput() throws {
        let dir = try temporaryDirectory("stalled")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try ServeProcess.freePort()
        let blackHole = try LiveServersTests.Child("/usr/bin/python3", ["-c", """
            import socket, sys
            s = socket.socket(); s.bind(("127.0.0.1", \(port))); s.listen(16)
            print("ready", flush=True)
            held = [s.accept() for _ in range(16)]
            """], log: dir.appendingPathComponent("hole.log").path)
        defer { blackHole.stop() }
        let deadline = Date().addingTimeInterval(10)
        while !blackHole.log.contains("ready") && Date() < deadline { usleep(50_000) }
        let serve = try ServeProcess(pipelines: try loopedClipPipeline("cam", outputs: """
            - url: rtmp://127.0.0.1:\(port)/live/stalled
            - record: \(dir.path)/rec/cam.mp4
            """), directory: dir)
        try serve.waitReady()
        func outputs() throws -> [[String: Any]] { try XCTUnwrap(try serve.pipeline("cam")["outputs"] as? [[String: Any]]) }
        // While the RTMP handshake hangs (up to the 10 s timeout), the recording goes on.
        try serve.waitFor("the recording to get 10 frames", timeout: 60) { (try outputs()[1]["frames_written"] as? Int ?? 0) >= 10 }
        let residentAtStart = try serve.residentBytes()
        XCTAssertEqual(try outputs()[0]["frames_written"] as? Int, 0)
        // Then the stalled output gives up with a timeout and retries, still without blocking the recording.
        try serve.waitFor("the stalled output to time out", timeout: 30) { try outputs()[0]["state"] as? String == "reconnecting" }
        let error = try outputs()[0]["last_error"] as? String ?? ""
        XCTAssertTrue(error.contains("rtmp://127.0.0.1:\(port)") && error.contains("no progress within 10"), error)
        let recorded = try outputs()[1]["frames_written"] as? Int ?? 0
        try serve.waitFor("the recording to keep going", timeout: 30) { (try outputs()[1]["frames_written"] as? Int ?? 0) >= recorded + 5 }
        // Memory stays bounded while the peer takes nothing: the stalled output's queue drops its oldest frames
        // (each 176x144 frame is ~300 KB as floats; hundreds went by in this time).
        let growth = try serve.residentBytes() - residentAtStart
        print("resident memory growth while the peer stalled: \(growth >> 10) KiB over \(try outputs()[1]["frames_written"] as? Int ?? 0) frames")
        XCTAssertLessThan(growth, 32 << 20, "resident memory grew by \(growth >> 20) MiB while an output stalled")
        XCTAssertEqual(try serve.terminate(timeout: 40), 0)
    }
}
