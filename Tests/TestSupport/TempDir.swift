public import Foundation

/// A fresh directory under the system's temporary directory, the one way tests make one: named after `label`,
/// removed when the value goes away (or by `remove()`), unless `STREAMD_KEEP_TEST_FILES` is set (to look at
/// what a test wrote: the path is printed).
public final class TempDir: Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ label: String = "test") throws {
        url = try temporaryDirectory(label)
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Names in the directory (hidden ones included), sorted.
    public func contents() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

    public func remove() {
        if ProcessInfo.processInfo.environment["STREAMD_KEEP_TEST_FILES"] != nil {
            print("kept \(path)")
            return
        }
        try? FileManager.default.removeItem(at: url)
    }

    deinit { remove() }
}

/// A fresh directory `streamd-LABEL-…` under the system's temporary directory that the caller removes (tests
/// that hand it to a server process keep it until the server has stopped).
public func temporaryDirectory(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-\(label)-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
