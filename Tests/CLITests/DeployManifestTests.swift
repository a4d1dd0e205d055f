import Foundation
import TestSupport
import XCTest

/// The Kubernetes manifests under deploy/kubernetes validate against the Kubernetes API's schemas, strictly (an
/// unknown field is an error), with the `kubernetes-validate` package from PyPI, which bundles them; and the
/// service configuration inside them is one `streamd config check` accepts. No cluster runs here: this is what
/// can be checked without one (README "Past one machine").
final class DeployManifestTests: XCTestCase {
    private var root: String { PythonPeers.projectRoot }

    /// kubernetes-validate in a virtual environment under .build, made once.
    private func validator() throws -> String {
        try PythonPeers.environment("kubernetes-validate", installing: "kubernetes-validate") + "/bin/kubernetes-validate"
    }

    func testTheManifestsValidateStrictlyAndCarryAConfigurationStreamdAccepts() throws {
        let tool = try validator()
        let folder = root + "/deploy/kubernetes"
        let manifests = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }.sorted().map { folder + "/" + $0 }
        XCTAssertEqual(manifests.map { ($0 as NSString).lastPathComponent }, ["serve.yaml", "train.yaml", "transcode-join.yaml", "transcode.yaml"])
        let r = try runTool(tool, ["--strict"] + manifests, timeout: 120, captureErrors: true)
        XCTAssertEqual(r.status, 0, r.output)
        for kind in ["statefulset/streamd", "service/streamd", "configmap/streamd-config", "job/streamd-segments", "job/streamd-join", "job/streamd-train"] {
            XCTAssertTrue(r.output.contains("passed for resource \(kind)"), "\(kind): \(r.output)")
        }

        // The validator is not a rubber stamp: a field the API does not have fails.
        let tmp = try TempDir()
        let broken = tmp.file("broken.yaml")
        try String(contentsOfFile: folder + "/serve.yaml", encoding: .utf8)
            .replacingOccurrences(of: "  serviceName: streamd\n", with: "  serviceName: streamd\n  replica: 3\n")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let rejected = try runTool(tool, ["--strict", broken], timeout: 120, captureErrors: true)
        XCTAssertNotEqual(rejected.status, 0, rejected.output)
        XCTAssertTrue(rejected.output.contains("replica"), rejected.output)

        // The configuration the StatefulSet mounts, as streamd reads it.
        let serve = try String(contentsOfFile: folder + "/serve.yaml", encoding: .utf8)
        let lines = serve.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try XCTUnwrap(lines.firstIndex { $0.contains("streamd.yml: |") })
        let body = lines[(start + 1)...].prefix { $0.hasPrefix("    ") || $0.isEmpty }.map { $0.dropFirst(min(4, $0.count)) }.joined(separator: "\n")
        let config = tmp.file("streamd.yml")
        try body.write(toFile: config, atomically: true, encoding: .utf8)
        let check = try CLI.run(["config", "check", config])
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertTrue(check.stdout.contains("2 pipelines"), check.stdout)
        // And the shard every replica is started with covers the replicas the StatefulSet has.
        XCTAssertTrue(serve.contains("replicas: 3") && serve.contains("\"--shard\", \"auto/3\""), "replicas and --shard agree")
    }

    /// `serve --shard` (and `$STREAMD_SHARD`) with a shard that cannot be: one line, exit 1, before anything starts.
    func testABadShardIsOneLineBeforeAnythingStarts() throws {
        let tmp = try TempDir()
        let config = tmp.file("streamd.yml")
        try "pipelines:\n  cam:\n    source:\n      url: \(try SharedData.path("media/video/carphone_h264_176x144.mp4"))\n    outputs:\n      - record: \(tmp.file("cam.mp4"))\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        CLI.assertFails(try CLI.run(["serve", "--config", config, "--shard", "3/2"], timeout: 30), mentioning: ["--shard '3/2'", "from 0 to 1"])
        CLI.assertFails(try CLI.run(["serve", "--config", config], environment: ["STREAMD_SHARD": "auto/3", "HOSTNAME": "streamd"], timeout: 30),
                        mentioning: ["no index in the environment"])
        XCTAssertEqual(tmp.contents(), ["streamd.yml"], "no recording started")
    }
}
