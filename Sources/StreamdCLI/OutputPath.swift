import Foundation

/// Checks an output path before any work is done, so a long run does not end in "cannot write".
enum OutputPath {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func check(_ path: String, overwrite: Bool, extensions: [String]) throws {
        let ext = (path as NSString).pathExtension.lowercased()
        guard extensions.contains(ext) else {
            throw Problem(description: "\(path): unsupported output type '.\(ext)' (use \(extensions.map { "." + $0 }.joined(separator: ", ")))")
        }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            if isDir.boolValue { throw Problem(description: "\(path): is a directory") }
            if !overwrite { throw Problem(description: "\(path): already exists (pass --overwrite to replace it)") }
        }
        let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw Problem(description: "\(path): directory \(dir) does not exist")
        }
        guard fm.isWritableFile(atPath: dir) else {
            throw Problem(description: "\(path): directory \(dir) is not writable")
        }
    }
}
