import Foundation

/// Python packages that serve as peers and independent checkers in the tests (kubernetes-validate, aiortc), each
/// in its own virtual environment under `.build/venvs/NAME`, made on first use with pip from PyPI. Building and
/// running streamd never needs them.
public enum PythonPeers {
    /// The project's root (three levels above this file).
    public static var projectRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The virtual environment `name` with `package` installed: its directory.
    public static func environment(_ name: String, installing package: String) throws -> String {
        let venv = projectRoot + "/.build/venvs/" + name
        let marker = venv + "/.installed-" + package
        if !FileManager.default.fileExists(atPath: marker) {
            let made = try runTool("/usr/bin/python3", ["-m", "venv", venv], timeout: 120, captureErrors: true)
            guard made.status == 0 else { throw Failure("python3 -m venv \(venv): \(made.output)") }
            let installed = try runTool(venv + "/bin/pip", ["install", "--quiet", "--disable-pip-version-check", package],
                                        timeout: 600, captureErrors: true)
            guard installed.status == 0 else { throw Failure("pip install \(package): \(installed.output)") }
            FileManager.default.createFile(atPath: marker, contents: Data())
        }
        return venv
    }
}
