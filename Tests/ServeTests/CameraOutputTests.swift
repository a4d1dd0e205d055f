import Foundation
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
        let yaml = try loopedClipPipeline("lobby", outputs: "- camera: streamd-lobby\n- record: \(dir.file("rec/lobby.mp4"))")
        let serve = try ServeProcess(pipelines: yaml, directory: dir.url, environment: ["XDG_RUNTIME_DIR": runtime.path])
        try serve.waitReady()
        try serve.waitFor("the camera output's reason", timeout: 30) {
            let outputs = try serve.pipeline("lobby")["outputs"] as? [[String: Any]] ?? []
            return (outputs.first?["last_error"] as? String)?.contains("camera 'streamd-lobby': no PipeWire daemon in this session") == true
        }
        let frames = try serve.frames("lobby")
        try serve.waitFor("the pipeline running on", timeout: 20) { try serve.frames("lobby") > frames + 5 }
        XCTAssertEqual(try serve.pipeline("lobby")["state"] as? String, "running")
        XCTAssertEqual(try serve.terminate(), 0)
        XCTAssertGreaterThan(try onlyRecording(in: dir.file("rec")).frames, 5, "the other output recorded")
    }
}
