import Decode
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

    /// Video outputs: a file whose extension names a container, or PNG pictures — into an existing directory
    /// (or one named with a trailing `/`, created here), or named by a `%d` pattern (`frames/f_%04d.png`).
    static func checkVideo(_ path: String, overwrite: Bool) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            guard fm.isWritableFile(atPath: path) else { throw Problem(description: "\(path): directory is not writable") }
            if !overwrite, fm.fileExists(atPath: (path as NSString).appendingPathComponent("000001.png")) {
                throw Problem(description: "\(path): already holds frames (000001.png …; pass --overwrite to replace them)")
            }
            return
        }
        if path.hasSuffix("/") {
            let parent = (String(path.dropLast()) as NSString).deletingLastPathComponent
            guard fm.fileExists(atPath: parent.isEmpty ? "." : parent, isDirectory: &isDir), isDir.boolValue else {
                throw Problem(description: "\(path): directory \(parent) does not exist")
            }
            do {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: false)
            } catch {
                throw Problem(description: "\(path): cannot create the directory (\((error as NSError).localizedDescription))")
            }
            return
        }
        if (path as NSString).pathExtension.lowercased() == "png" {
            guard let first = ImageSequence.pictureName(pattern: path, number: 1) else {
                throw Problem(description: "\(path): a .png output needs a frame number pattern such as frames/f_%06d.png, or name a directory")
            }
            if !overwrite && fm.fileExists(atPath: first) {
                throw Problem(description: "\(path): \(first) already exists (pass --overwrite to replace the frames)")
            }
            try check(path, overwrite: true, extensions: ["png"])
            return
        }
        try check(path, overwrite: overwrite, extensions: ["mp4", "m4v", "mov", "mkv", "webm", "avi"])
    }
}
