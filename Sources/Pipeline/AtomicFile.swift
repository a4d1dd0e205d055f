#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see either the old contents or the complete new ones, never a partial file.
///
/// The bytes go to a uniquely named hidden file in the same directory (the same file system, so `rename` is
/// atomic), are flushed to disk, and the file is renamed over the target. Any failure removes the temporary
/// file. A replaced file gets default permissions (0644 minus the umask), not the old file's. Used for every
/// file streamd writes: pictures, videos (the temporary file) and model files.
public enum AtomicFile {
    /// Creates `.<name>.<pid>.<random>.tmp` in `path`'s directory and returns it open for writing. O_EXCL with a
    /// random suffix: never clobber someone else's file; retry on the unlikely clash.
    public static func createTemporary(beside path: String) throws -> (path: String, fd: Int32) {
        let (directory, name) = split(path)
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<8 {
            temporary = "\(directory)/.\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw MediaError(.unwritable, path: path, "cannot create a file in \(directory): \(systemError(errno))")
        }
        return (temporary, fd)
    }

    /// - Throws: `MediaError(.unwritable)` naming `path` (directory missing or not writable, disk full, `path`
    ///   is a directory).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let (temporary, fd) = try createTemporary(beside: path)
        var closed = false
        var renamed = false
        defer {
            if !closed { close(fd) }
            if !renamed { unlink(temporary) }
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw MediaError(.unwritable, path: path, "cannot write: \(systemError(errno))")
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw MediaError(.unwritable, path: path, "cannot write: \(systemError(errno))") }
        closed = true
        guard close(fd) == 0 else { throw MediaError(.unwritable, path: path, "cannot write: \(systemError(errno))") }
        guard rename(temporary, path) == 0 else {
            let code = errno
            if code == EISDIR || code == ENOTEMPTY || code == EEXIST {
                throw MediaError(.unwritable, path: path, "is a directory")
            }
            throw MediaError(.unwritable, path: path, "cannot move the finished file into place: \(systemError(code))")
        }
        renamed = true
    }

    /// The directory ("." for a bare name) and the last component of `path`.
    public static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    public static func systemError(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// POSIX `write`, under another name: inside `AtomicFile` the bare name means `AtomicFile.write`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
    #else
    Darwin.write(fd, buffer, count)
    #endif
}
