import Foundation
import Live
import Pipeline
import TestSupport
import XCTest

/// `camera:` outputs: the stylized pipeline appears as a PipeWire camera (a `Video/Source` node) that a PipeWire
/// client reads, here GStreamer's `pipewiresrc` as a browser's camera portal or OBS would; without a PipeWire
/// session the output says so and the pipeline runs on.
final class CameraOutputTests: XCTestCase {
    func testThePipelineIsACameraThatAPipeWireClientReads() throws {
        let session = try FakeCamera(publishing: false)
        defer { session.stop() }
        let dir = try TempDir("camera-output")
        let yaml = try loopedClipPipeline("lobby", maxSize: 176, outputs: "- camera: streamd-lobby")
        let serve = try ServeProcess(pipelines: yaml, directory: dir.url, environment: session.environment)
        try serve.waitReady()
        try serve.waitFor("the camera node", timeout: 60) {
            let nodes = try runTool("/usr/bin/pw-cli", ["ls", "Node"], timeout: 10, environment: session.environment).output
            return nodes.contains("node.name = \"streamd-lobby\"") && nodes.contains("media.class = \"Video/Source\"")
        }
        // 30 pictures through PipeWire, converted to RGB by the reader.
        let read = dir.file("read.rgb")
        let r = try runToolCapturing("/usr/bin/gst-launch-1.0", ["-q", "pipewiresrc", "target-object=streamd-lobby", "num-buffers=30", "!",
                                                             "videoconvert", "!", "video/x-raw,format=RGB", "!", "filesink", "location=\(read)"],
                                     timeout: 60, environment: session.environment)
        XCTAssertEqual(r.status, 0, r.stderr)
        let pictures = try Data(contentsOf: URL(fileURLWithPath: read))
        let size = 176 * 144 * 3
        XCTAssertEqual(pictures.count, 30 * size, "30 pictures of the pipeline's 176x144")
        // The stylized picture: far from the clip's own frames at the same size, and not flat.
        let last = pictures.suffix(size)
        let clip = try runFFmpeg(["-i", try SharedData.path("media/video/carphone_h264_176x144.mp4"), "-frames:v", "1",
                                  "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        let difference = zip(last, clip).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(size)
        XCTAssertGreaterThan(difference, 25, "the camera shows the stylized picture (mean |Δ| \(difference) from the clip)")
        let mean = last.reduce(0.0) { $0 + Double($1) } / Double(size)
        let spread = (last.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(size)).squareRoot()
        XCTAssertGreaterThan(spread, 20, "not flat, not black")
        let output = try XCTUnwrap((try serve.pipeline("lobby")["outputs"] as? [[String: Any]])?.first)
        XCTAssertEqual(output["name"] as? String, "camera:streamd-lobby")
        XCTAssertEqual(output["state"] as? String, "connected")
        XCTAssertEqual(try serve.terminate(), 0)
    }

    func testWithoutAPipeWireSessionTheOutputSaysSoAndThePipelineRuns() throws {
        let dir = try TempDir("camera-none")
        let runtime = try TempDir("camera-runtime")
        // Beside it, two v4l2loopback cameras that cannot be: a device that does not exist (this kernel has no
        // v4l2loopback) and a file that is no V4L2 device.
        let yaml = try loopedClipPipeline("lobby", outputs: "- camera: streamd-lobby\n- camera: /dev/video9\n- camera: /dev/null\n- record: \(dir.file("rec/lobby.mp4"))")
        let serve = try ServeProcess(pipelines: yaml, directory: dir.url, environment: ["XDG_RUNTIME_DIR": runtime.path])
        try serve.waitReady()
        try serve.waitFor("the camera output's reason", timeout: 30) {
            let outputs = try serve.pipeline("lobby")["outputs"] as? [[String: Any]] ?? []
            return (outputs.first?["last_error"] as? String)?.contains("camera 'streamd-lobby': no PipeWire daemon in this session") == true
        }
        try serve.waitFor("the loopback cameras' reasons", timeout: 30) {
            let errors = (try serve.pipeline("lobby")["outputs"] as? [[String: Any]] ?? []).map { $0["last_error"] as? String ?? "" }
            return errors.count == 4 && errors[1].contains("camera '/dev/video9': no such device: load v4l2loopback")
                && errors[2].contains("camera '/dev/null': not a V4L2 device")
        }
        let frames = try serve.frames("lobby")
        try serve.waitFor("the pipeline running on", timeout: 20) { try serve.frames("lobby") > frames + 5 }
        XCTAssertEqual(try serve.pipeline("lobby")["state"] as? String, "running")
        XCTAssertEqual(try serve.terminate(), 0)
        XCTAssertGreaterThan(try onlyRecording(in: dir.file("rec")).frames, 5, "the other output recorded")
    }

    /// The v4l2loopback output's one conversion, RGB to YUYV 4:2:2 (BT.601, limited range), against FFmpeg's on a
    /// real photo: the output cannot be run here, so its pixels are checked where they are made.
    func testYUYVPackingMatchesFFmpeg() throws {
        let photo = try SharedData.path("media/images/kodak/kodim23.png")
        let (w, h) = (96, 64)
        let dir = try TempDir("yuyv")
        let rgbFile = dir.file("photo.rgb")
        let rgb = try runFFmpeg(["-i", photo, "-vf", "scale=\(w):\(h)", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        try rgb.write(to: URL(fileURLWithPath: rgbFile))
        let reference = try runFFmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(w)x\(h)", "-i", rgbFile, "-f", "rawvideo",
                                       "-vf", "scale=out_color_matrix=bt601:out_range=tv:flags=accurate_rnd+full_chroma_int",
                                       "-pix_fmt", "yuyv422", "-"])
        var packed: [UInt8] = []
        LoopbackCamera.packYUYV(RGBImage(width: w, height: h, pixels: [UInt8](rgb)), into: &packed)
        XCTAssertEqual(packed.count, reference.count)
        var lumaWorst = 0, chromaWorst = 0, chromaTotal = 0
        for (i, (a, b)) in zip(packed, reference).enumerated() {
            let d = abs(Int(a) - Int(b))
            if i % 2 == 0 { lumaWorst = max(lumaWorst, d) } else { chromaWorst = max(chromaWorst, d); chromaTotal += d }
        }
        XCTAssertLessThanOrEqual(lumaWorst, 1, "luma as FFmpeg computes it")
        XCTAssertLessThan(Double(chromaTotal) / Double(packed.count / 2), 1.5, "chroma on average as FFmpeg's")
        XCTAssertLessThanOrEqual(chromaWorst, 8, "chroma nowhere far from FFmpeg's")
    }
}
