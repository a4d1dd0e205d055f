public import Foundation

/// Finds the project's shared test data (`../shared` beside the repository root).
///
/// `STREAMD_SHARED_DIR` overrides the location. A test that needs the data and cannot find it fails with
/// this error: nothing is skipped silently.
public enum SharedData {
    public struct NotFound: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func root(file: String = #filePath) throws -> URL {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["STREAMD_SHARED_DIR"], !env.isEmpty {
            let url = URL(fileURLWithPath: env)
            guard fm.fileExists(atPath: url.appendingPathComponent("models").path) else {
                throw NotFound(description: "STREAMD_SHARED_DIR=\(env) has no models/ folder")
            }
            return url
        }
        var dir = URL(fileURLWithPath: file).deletingLastPathComponent()
        for _ in 0..<12 {
            let candidate = dir.appendingPathComponent("shared")
            if fm.fileExists(atPath: candidate.appendingPathComponent("models").path) { return candidate }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        throw NotFound(description: "../shared not found above \(file); set STREAMD_SHARED_DIR")
    }

    /// A path inside the shared folder, e.g. `models/ml5/udnie`. Throws if it does not exist.
    public static func path(_ relative: String, file: String = #filePath) throws -> String {
        let p = try root(file: file).appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: p) else {
            throw NotFound(description: "shared data missing: \(p)")
        }
        return p
    }

    /// A URL inside the shared folder, e.g. `media/images/content/stata.jpg`. Throws if it does not exist.
    public static func url(_ relative: String, file: String = #filePath) throws -> URL {
        URL(fileURLWithPath: try path(relative, file: file))
    }

    /// Raw little-endian float32 file as an array.
    public static func floats(_ relative: String, file: String = #filePath) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try path(relative, file: file)))
        return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
    }

    /// Raw bytes of a shared file.
    public static func bytes(_ relative: String, file: String = #filePath) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: try path(relative, file: file))))
    }
}
