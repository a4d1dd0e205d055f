import Decode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// Frame `index` (0-based) of the video at `path`, decoded as streamd decodes it.
func videoFrame(_ index: Int, of path: String) throws -> RGBImage {
    let reader = try VideoReader(path: path)
    for _ in 0..<index { _ = try reader.nextFrame() }
    return try XCTUnwrap(try reader.nextFrame(), "\(path) has no frame \(index)").image
}

/// Runs the real `streamd` binary (built beside the test bundle) the way a user does, with a time limit.
enum CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: String { get throws { try streamdBinary } }

    /// `launcher`, when given, runs streamd (e.g. `/usr/bin/pw-v4l2`, which preloads a fake camera).
    @discardableResult
    static func run(_ args: [String], environment: [String: String] = [:], timeout: TimeInterval = 300,
                    launcher: String? = nil, currentDirectory: String? = nil) throws -> Result {
        let p = Process()
        if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        if let launcher {
            p.executableURL = URL(fileURLWithPath: launcher)
            p.arguments = [try binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: try binary)
            p.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-home-\(getpid())").path
        env["STREAMD_MODELS"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Read both pipes while the process runs so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if !waitForExit(p, seconds: timeout) {
            kill(p.processIdentifier, SIGKILL)
            _ = waitForExit(p, seconds: 5)
            throw SharedData.NotFound(description: "streamd \(args.joined(separator: " ")) did not finish within \(timeout) s")
        }
        p.waitUntilExit()
        _ = group.wait(timeout: .now() + 10)
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Asserts the command failed the way every streamd failure should: status 1 and one error line on
    /// standard error (after any progress lines) that contains `mentions`.
    static func assertFails(_ r: Result, mentioning mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "status; stderr: \(r.stderr)", file: file, line: line)
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("streamd: ") }
        XCTAssertEqual(errors.count, 1, "one error line on stderr, got: \(r.stderr)", file: file, line: line)
        let last = r.stderr.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("streamd: "), "the error is the last line: \(r.stderr)", file: file, line: line)
        for m in mentions { XCTAssertTrue(last.contains(m), "error should mention \(m): \(last)", file: file, line: line) }
    }
}

