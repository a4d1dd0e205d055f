public import Foundation

/// Finds the shared, read-only test data (`shared/media`, `shared/models`) that lives outside the repository.
///
/// Tests that need it call `SharedData.root()` and let the error fail the test: a missing data directory
/// must show up as a failure, never as a silently skipped test.
public enum SharedData {
    public struct NotFound: Error, CustomStringConvertible {
        public var description: String
    }

    /// The shared data directory: `$STREAMD_SHARED_DIR` if set (it must exist), otherwise the first folder
    /// named `shared` holding `media` or `models` found beside this source file's ancestors — for a checkout at
    /// `/work/main` or a worktree at `/work/wt-x`, that is `/work/shared`.
    public static func root() throws -> URL {
        let fileManager = FileManager.default
        if let override = ProcessInfo.processInfo.environment["STREAMD_SHARED_DIR"], !override.isEmpty {
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: override, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw NotFound(description: "STREAMD_SHARED_DIR=\(override) is not a directory")
            }
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" && !directory.path.isEmpty {
            let candidate = directory.appendingPathComponent("shared", isDirectory: true)
            if looksLikeSharedData(candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw NotFound(description: "no shared/ test data directory beside any parent of \(#filePath); set STREAMD_SHARED_DIR")
    }

    /// `root()/relativePath`, which must exist.
    public static func url(_ relativePath: String) throws -> URL {
        let url = try root().appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw NotFound(description: "shared test data \(relativePath) is missing (looked in \(url.path))")
        }
        return url
    }

    private static func looksLikeSharedData(_ url: URL) -> Bool {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        for child in ["media", "models"] {
            if fileManager.fileExists(atPath: url.appendingPathComponent(child).path, isDirectory: &isDirectory),
               isDirectory.boolValue {
                return true
            }
        }
        return false
    }
}
