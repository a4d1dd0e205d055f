import Foundation
import Stylize
import TestSupport
import XCTest

/// `streamd models pull` against a real HTTP server on loopback that serves the ml5 collection's layout
/// (this machine has no internet; the server is Python's http.server, started and stopped by the test).
final class PullTests: XCTestCase {
    final class LoopbackServer {
        let process = Process()
        let port: Int

        init(serving dir: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // http.server announces "Serving HTTP on 127.0.0.1 port N"; wait for it at most 10 s.
            let handle = out.fileHandleForReading
            var text = ""
            let deadline = Date().addingTimeInterval(10)
            var found: Int?
            while found == nil && Date() < deadline && process.isRunning {
                let chunk = handle.availableData
                if chunk.isEmpty { usleep(50_000); continue }
                text += String(decoding: chunk, as: UTF8.self)
                if let r = text.range(of: #"port (\d+)"#, options: .regularExpression) {
                    found = Int(text[r].split(separator: " ")[1])
                }
            }
            guard let found else {
                process.terminate()
                throw SharedData.NotFound(description: "http.server did not start: \(text)")
            }
            port = found
        }

        var baseURL: String { "http://127.0.0.1:\(port)" }

        func stop() {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
        }

        deinit { stop() }
    }

    func testPullInstallsAVerifiedModel() throws {
        let server = try LoopbackServer(serving: try SharedData.path("models/ml5"))
        defer { server.stop() }
        let models = try TempDir()
        let r = try CLI.run(["models", "pull", "udnie", "--from", server.baseURL, "--models-dir", models.path], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("49/49 files"), "progress line: \(r.stderr)")
        XCTAssertEqual(models.contents(), ["udnie"])
        // Identical to the source, and usable by name.
        let installed = try FileManager.default.contentsOfDirectory(atPath: models.file("udnie")).sorted()
        XCTAssertEqual(installed.count, 49)
        for f in installed {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: models.file("udnie/" + f))),
                           try Data(contentsOf: try SharedData.url("models/ml5/udnie/" + f)), f)
        }
        let list = try CLI.run(["models", "list", "--models-dir", models.path])
        XCTAssertTrue(list.stdout.contains("udnie"), list.stdout)
        // Pulling again refuses to clobber without --overwrite.
        CLI.assertFails(try CLI.run(["models", "pull", "udnie", "--from", server.baseURL, "--models-dir", models.path]),
                        mentioning: ["already exists"])
    }

    func testTamperedOrMissingFilesLeaveNothingBehind() throws {
        // A served copy of "wave" with one weight byte changed.
        let served = try TempDir()
        let wave = served.file("wave")
        try FileManager.default.copyItem(atPath: try SharedData.path("models/ml5/wave"), toPath: wave)
        let victim = URL(fileURLWithPath: wave + "/Variable_20")
        var bytes = try Data(contentsOf: victim)
        bytes[100] ^= 0x40
        try FileManager.default.removeItem(at: victim)
        try bytes.write(to: victim)
        let server = try LoopbackServer(serving: served.path)
        defer { server.stop() }
        let models = try TempDir()
        let r = try CLI.run(["models", "pull", "wave", "--from", server.baseURL, "--models-dir", models.path], timeout: 120)
        CLI.assertFails(r, mentioning: ["Variable_20", "SHA-256"])
        XCTAssertEqual(models.contents(), [], "no partial model and no staging folder")
        // A model the server does not have (HTTP 404).
        CLI.assertFails(try CLI.run(["models", "pull", "udnie", "--from", server.baseURL, "--models-dir", models.path]),
                        mentioning: ["HTTP 404"])
        XCTAssertEqual(models.contents(), [])
        // A name that is not in the collection.
        CLI.assertFails(try CLI.run(["models", "pull", "picasso", "--models-dir", models.path]), mentioning: ["unknown model 'picasso'"])
        // A server that is gone: a prompt error, not a hang.
        server.stop()
        let start = Date()
        CLI.assertFails(try CLI.run(["models", "pull", "wave", "--from", server.baseURL, "--models-dir", models.path, "--timeout", "5"], timeout: 60),
                        mentioning: ["127.0.0.1:\(server.port)"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
        XCTAssertEqual(models.contents(), [])
    }
}
