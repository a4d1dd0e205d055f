import Foundation
import TestSupport
import XCTest

/// The shipped example configuration and systemd unit, checked the way an operator would.
final class ServiceFilesTests: XCTestCase {
    var repo: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// The example is valid as a file; its models (udnie by name, multistyle26 by path) are not installed on a
    /// test machine, and the check, which looks models up as the service does, names both keys.
    func testExampleConfigPassesConfigCheck() throws {
        let example = repo.appendingPathComponent("configs/streamd.yml").path
        let r = try CLI.run(["config", "check", "--skip-models", example], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "ok: 3 pipelines (lobby, webcam, studio)\n")
        XCTAssertEqual(r.stderr, "")
        let withModels = try CLI.run(["config", "check", example], timeout: 60)
        XCTAssertEqual(withModels.status, 1)
        let lines = withModels.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2, withModels.stderr)
        XCTAssertTrue(lines.first?.hasPrefix("streamd: \(example): pipelines.lobby.model: model 'udnie' not found (searched /var/lib/streamd/models") ?? false, withModels.stderr)
        XCTAssertTrue(lines.last?.hasPrefix("streamd: \(example): pipelines.webcam.model: /var/lib/streamd/models/multistyle26.safetensors: no such file") ?? false, withModels.stderr)
    }

    func testConfigCheckPrintsEveryProblemOnItsOwnLineAndFails() throws {
        let dir = try TempDir()
        let file = dir.file("bad.yml")
        try """
        server:
          port: 99999
        pipelines:
          cam1:
            source: {url: rtsp://127.0.0.1/cam}
            model: udnie
            stength: 0.5
            outputs:
              - url: ftp://example.com/out
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try CLI.run(["config", "check", file], timeout: 60)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr.split(separator: "\n").map(String.init), [
            "streamd: \(file):2:9: server.port: must be between 1 and 65535, got 99999",
            "streamd: \(file):7:5: pipelines.cam1.stength: unknown key (did you mean 'strength'?)",
            "streamd: \(file):9:14: pipelines.cam1.outputs[0].url: unsupported scheme 'ftp' (expected rtmp, rtsp, srt, udp)",
        ])
    }

    func testConfigCheckAppliesEnvironmentAndSetFlags() throws {
        let config = repo.appendingPathComponent("configs/streamd.yml").path
        let env = try CLI.run(["config", "check", config], environment: ["STREAMD_SERVER_PORT": "eighty"], timeout: 60)
        CLI.assertFails(env, mentioning: ["environment STREAMD_SERVER_PORT: server.port: expected a whole number, got 'eighty'"])
        let flag = try CLI.run(["config", "check", config, "--set", "pipelines.lobby.outputs[0].url=ftp://h/x"], timeout: 60)
        CLI.assertFails(flag, mentioning: ["--set pipelines.lobby.outputs[0].url=ftp://h/x: pipelines.lobby.outputs[0].url: unsupported scheme 'ftp'"])
        let fixed = try CLI.run(["config", "check", "--skip-models", config, "--set", "server.port=9000"],
                                environment: ["STREAMD_SERVER_PORT": "eighty"], timeout: 60)
        XCTAssertEqual(fixed.status, 0, "a flag overrides the environment: \(fixed.stderr)")
    }

    func testConfigCheckOfAMissingFile() throws {
        CLI.assertFails(try CLI.run(["config", "check", "/nonexistent/streamd.yml"], timeout: 60),
                        mentioning: ["/nonexistent/streamd.yml: no such file"])
    }

    /// `systemd-analyze verify` lints the unit offline. It requires every Exec binary to exist, so the unit is
    /// verified as a copy whose ExecStart names the streamd just built (the arguments are not checked by
    /// systemd: `streamd serve` does not exist yet). It exits 0 on unknown keys and bad values but prints a
    /// warning, so any output fails the test; a copy with a misspelt key proves such warnings are seen.
    func testSystemdUnitPassesVerify() throws {
        let unit = try String(contentsOf: repo.appendingPathComponent("configs/streamd.service"), encoding: .utf8)
        for directive in ["Type=notify", "ExecStart=/usr/local/bin/streamd serve --config /etc/streamd/streamd.yml",
                          "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=", "DynamicUser=yes", "ProtectSystem=strict",
                          "NoNewPrivileges=yes", "StateDirectory=streamd"] {
            XCTAssertTrue(unit.split(separator: "\n").contains { $0.hasPrefix(directive) }, "the unit has \(directive)")
        }
        let dir = try TempDir()
        let installed = unit.replacingOccurrences(of: "/usr/local/bin/streamd", with: try CLI.binary)
        try installed.write(toFile: dir.file("streamd.service"), atomically: true, encoding: .utf8)
        let ok = try verify(dir.file("streamd.service"))
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertEqual(ok.output, "", "systemd-analyze verify has no warnings")

        let misspelt = installed.replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSytem=strict")
        try misspelt.write(toFile: dir.file("streamd.service"), atomically: true, encoding: .utf8)
        XCTAssertTrue(try verify(dir.file("streamd.service")).output.contains("Unknown key 'ProtectSytem'"))
    }

    private func verify(_ unitFile: String) throws -> (status: Int32, output: String) {
        try runTool("/usr/bin/systemd-analyze", ["verify", unitFile], captureErrors: true)
    }
}
