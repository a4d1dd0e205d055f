import Foundation
import TestSupport
import XCTest

/// A V4L2 camera as a live source, through FFmpeg's v4l2 input, against the userspace fake camera
/// (PipeWire's `pw-v4l2`; this kernel has no V4L2). Real UVC drivers and hot-unplug are not testable here.
final class WebcamServeTests: XCTestCase {
    /// A YUYV camera asked for what it has, and an MJPEG camera asked for a size it does not have (the driver
    /// substitutes 640x480; the pipeline says so once). Both are stylized and recorded, the camera's 30 frames/s
    /// outrun stylizing so the oldest are dropped, and on SIGTERM every capture buffer is handed back before
    /// the device closes (FFmpeg complains otherwise). Stylizing runs at the camera's full 640x480 on one worker
    /// (a few frames a second on any CPU this project has seen), so the camera outruns it however fast the
    /// machine is.
    func testFakeCamerasAreStylizedAndRecorded() throws {
        let cases: [(format: FakeCamera.Format, asked: String, warning: String?)] = [
            (.yuyv, "640x480", nil),
            (.mjpeg, "1280x720", "/dev/video0: the camera does not offer what the source asks for; capturing 640x480 instead of 1280x720\n"),
        ]
        for (format, asked, warning) in cases {
            let dir = try temporaryDirectory("webcam-\(format)")
            defer { try? FileManager.default.removeItem(at: dir) }
            let camera = try FakeCamera(format: format)
            defer { camera.stop() }
            Thread.sleep(forTimeInterval: 1)   // the test pattern registers with PipeWire
            let rec = dir.appendingPathComponent("rec").path
            let serve = try ServeProcess(pipelines: """
              webcam:
                source:
                  device: /dev/video0
                  size: \(asked)
                  framerate: 30
                  input_format: \(format)
                model: wave
                workers: 1
                threads: 1
                outputs:
                  - record: \(rec)/webcam.mp4
                    preset: ultrafast
            """, directory: dir, environment: camera.environment, launcher: FakeCamera.launcher)
            try serve.waitReady()
            try serve.waitFor("10 camera frames stylized and recorded", timeout: 90) { try serve.frames("webcam") >= 10 }
            let info = try serve.pipeline("webcam")
            XCTAssertEqual(info["state"] as? String, "running")
            XCTAssertEqual(info["source"] as? String, "/dev/video0")
            let frames = try XCTUnwrap(info["frames"] as? [String: Any])
            XCTAssertGreaterThan(frames["in"] as? Int ?? 0, frames["out"] as? Int ?? 0)
            XCTAssertEqual(try serve.terminate(), 0, serve.log)

            let log = serve.log
            XCTAssertEqual(log.components(separatedBy: "does not offer what the source asks for").count - 1, warning == nil ? 0 : 1, log)
            if let warning { XCTAssertTrue(log.contains(warning), log) }
            XCTAssertFalse(log.contains("still owned by the caller"), log)
            XCTAssertFalse(log.contains("VIDIOC_QBUF"), log)
            let probed = try onlyRecording(in: rec)
            XCTAssertGreaterThanOrEqual(probed.frames, 10, "\(format)")
            XCTAssertEqual(probed.width, 640)
            XCTAssertEqual(probed.height, 480)
        }
    }

    /// A camera that opens but delivers nothing (here another program holds it and PipeWire's emulation starves
    /// the second reader; a stalled UVC camera looks the same): the pipeline must not wait on it forever. It
    /// reports `reconnecting` after its 5 s deadline, backs off further on each empty attempt, and SIGTERM
    /// still exits promptly. (How the emulation recovers once the holder quits is its own business, so the
    /// resumption is not asserted here; the RTSP test covers a source coming back.)
    func testACameraThatDeliversNothingIsReportedAndNeverHangsTheService() throws {
        let dir = try temporaryDirectory("webcam-starved")
        defer { try? FileManager.default.removeItem(at: dir) }
        let camera = try FakeCamera()
        defer { camera.stop() }
        let holder = try LiveServersTests.Child(FakeCamera.launcher, ["/usr/bin/ffmpeg", "-v", "error", "-f", "v4l2", "-i", "/dev/video0",
                                                                      "-f", "null", "-"],
                                                log: dir.appendingPathComponent("holder.log").path, environment: camera.environment)
        defer { holder.stop() }
        Thread.sleep(forTimeInterval: 3)   // the holder opens the camera and starts streaming
        XCTAssertTrue(holder.process.isRunning, "the holder captures: \(holder.log)")
        let serve = try ServeProcess(pipelines: """
          webcam:
            source:
              device: /dev/video0
            model: wave
            max_size: 96
            workers: 1
            outputs:
              - record: \(dir.path)/rec/webcam.mp4
        """, directory: dir, environment: camera.environment, launcher: FakeCamera.launcher)
        try serve.waitReady()
        try serve.waitFor("the starved camera to be reported", timeout: 30) {
            let p = try serve.pipeline("webcam")
            let error = p["last_error"] as? String ?? ""
            return p["state"] as? String == "reconnecting" && (error == "/dev/video0: no frame within 5.0 seconds" || error.contains("busy"))
        }
        // The second empty attempt waits longer: opening alone does not count as a recovery.
        try serve.waitFor("a second, longer back-off", timeout: 30) { serve.log.contains("reconnecting in 1.0 seconds") }
        XCTAssertEqual(try serve.frames("webcam", "in"), 0)
        XCTAssertTrue(holder.process.isRunning)
        let stopping = Date()
        XCTAssertEqual(try serve.terminate(timeout: 20), 0, serve.log)
        XCTAssertLessThan(Date().timeIntervalSince(stopping), 10, "SIGTERM is not held up by the camera")
        XCTAssertFalse(serve.log.contains("did not drain"), serve.log)
    }
}
