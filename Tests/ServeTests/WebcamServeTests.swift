import Foundation
import TestSupport
import XCTest

/// A V4L2 camera as a live source, through FFmpeg's v4l2 input, against the userspace fake camera
/// (PipeWire's `pw-v4l2`; this kernel has no V4L2). Real UVC drivers and hot-unplug are not testable here.
final class WebcamServeTests: XCTestCase {
    func testFakeCameraIsStylizedAndRecorded() throws {
        let dir = try temporaryDirectory("webcam")
        defer { try? FileManager.default.removeItem(at: dir) }
        let camera = try FakeCamera()
        defer { camera.stop() }
        Thread.sleep(forTimeInterval: 1)   // the test pattern registers with PipeWire
        let rec = dir.appendingPathComponent("rec").path
        let serve = try ServeProcess(pipelines: """
          webcam:
            source:
              device: /dev/video0
              size: 640x480
              framerate: 30
              input_format: yuyv
            model: wave
            max_size: 96
            workers: 1
            outputs:
              - record: \(rec)/webcam.mp4
                preset: ultrafast
        """, directory: dir, environment: camera.environment, launcher: FakeCamera.launcher)
        try serve.waitReady()
        try serve.waitFor("10 camera frames stylized and recorded", timeout: 90) { try serve.frames("webcam") >= 10 }
        let info = try serve.pipeline("webcam")
        XCTAssertEqual(info["state"] as? String, "running")
        XCTAssertEqual(info["source"] as? String, "/dev/video0")
        // The camera delivers 30 frames/s; stylizing cannot keep up on two cores, so the oldest are dropped.
        let frames = try XCTUnwrap(info["frames"] as? [String: Any])
        XCTAssertGreaterThan(frames["in"] as? Int ?? 0, frames["out"] as? Int ?? 0)
        XCTAssertEqual(try serve.terminate(), 0, serve.log)
        let files = try FileManager.default.contentsOfDirectory(atPath: rec).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(files.count, 1)
        let probed = try probe(rec + "/" + (files.first ?? ""))
        XCTAssertGreaterThanOrEqual(probed.frames, 10)
        XCTAssertEqual(probed.width, 96)
        XCTAssertEqual(probed.height, 72)
    }
}
