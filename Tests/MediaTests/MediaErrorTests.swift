import Decode
import Encode
import Foundation
import Pipeline
import TestSupport
import Synchronization
import XCTest

/// Bad inputs and outputs give one-line `MediaError`s naming the file, never a crash, and a failed write
/// leaves nothing behind.
final class MediaErrorTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        FFmpegLog.setQuiet()
    }

    // MARK: - Reading

    func testMissingFile() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.file("nothing-here.jpg")
        assertMediaError(.fileNotFound, path: path) { try ImageDecoder.decode(path: path) }
        let inMissingDirectory = dir.file("no-such-dir/picture.png")
        assertMediaError(.fileNotFound, path: inMissingDirectory) { try ImageDecoder.decode(path: inMissingDirectory) }
    }

    func testDirectory() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("folder.jpg"), withIntermediateDirectories: false)
        assertMediaError(.unreadable, path: dir.file("folder.jpg")) { try ImageDecoder.decode(path: dir.file("folder.jpg")) }
    }

    func testEmptyFile() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.file("empty.jpg")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        assertMediaError(.decodeFailed, path: path) { try ImageDecoder.decode(path: path) }
    }

    /// Random bytes: named .jpg, the jpeg decoder gets them and finds no picture; with an unknown extension
    /// no demuxer recognises them at all.
    func testRandomBytes() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let bytes = Data(TestImages.noise(width: 50, height: 50, seed: 42).pixels)
        try bytes.write(to: URL(fileURLWithPath: dir.file("random.jpg")))
        try bytes.write(to: URL(fileURLWithPath: dir.file("random.bin")))
        assertMediaError(.decodeFailed, path: dir.file("random.jpg")) { try ImageDecoder.decode(path: dir.file("random.jpg")) }
        assertMediaError(.unsupportedFormat, path: dir.file("random.bin")) { try ImageDecoder.decode(path: dir.file("random.bin")) }
    }

    func testTextNamedPNG() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try Data("this is not a picture\n".utf8).write(to: URL(fileURLWithPath: dir.file("text.png")))
        assertMediaError(.decodeFailed, path: dir.file("text.png")) { try ImageDecoder.decode(path: dir.file("text.png")) }
    }

    /// FFmpeg's `tty` demuxer takes any text file named .ans/.txt-like and would render it as ANSI art; an
    /// image decoder must say "not a picture" instead.
    func testTextAsANSIArtIsRefused() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: dir.file("note.ans")))
        assertMediaError(.unsupportedFormat, path: dir.file("note.ans")) { try ImageDecoder.decode(path: dir.file("note.ans")) }
    }

    /// A video file is not a still picture: refused rather than silently decoding its first frame.
    func testVideoIsRefused() throws {
        let path = try SharedData.url("media/video/carphone_h264_176x144.mp4").path
        assertMediaError(.unsupportedFormat, path: path) { try ImageDecoder.decode(path: path) }
    }

    /// Truncated JPEGs: cut after the first half of the scan data, FFmpeg decodes what is there (like every
    /// JPEG viewer) and so do we — the top of a baseline picture is exactly as in the full decode. Cut inside
    /// the headers, before any scan, nothing decodes: an error.
    func testTruncatedJPEG() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let facePath = try SharedData.url("media/images/content/face.jpg").path
        let full = try Data(contentsOf: URL(fileURLWithPath: facePath))
        let complete = try ImageDecoder.decode(path: facePath)

        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: dir.file("half.jpg")))
        let half = try ImageDecoder.decode(path: dir.file("half.jpg"))
        XCTAssertEqual(half.width, 1279)
        XCTAssertEqual(half.height, 959)
        XCTAssertEqual(half.cropped(x: 0, y: 0, width: 1279, height: 100), complete.cropped(x: 0, y: 0, width: 1279, height: 100))

        let chicagoPath = try SharedData.url("media/images/content/chicago.jpg").path   // progressive
        let progressive = try Data(contentsOf: URL(fileURLWithPath: chicagoPath))
        try progressive.prefix(progressive.count / 2).write(to: URL(fileURLWithPath: dir.file("half-progressive.jpg")))
        let partial = try ImageDecoder.decode(path: dir.file("half-progressive.jpg"))
        XCTAssertEqual(partial.width, 712)
        XCTAssertEqual(partial.height, 474)

        // The headers of face.jpg end well after byte 300 (its first SOS is further in).
        try full.prefix(300).write(to: URL(fileURLWithPath: dir.file("headers.jpg")))
        assertMediaError(.decodeFailed, path: dir.file("headers.jpg")) { try ImageDecoder.decode(path: dir.file("headers.jpg")) }
    }

    func testTruncatedPNG() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try ImageEncoder.write(TestImages.noise(width: 64, height: 64), to: dir.file("full.png"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.file("full.png")))
        try bytes.prefix(100).write(to: URL(fileURLWithPath: dir.file("cut.png")))
        assertMediaError(.decodeFailed, path: dir.file("cut.png")) { try ImageDecoder.decode(path: dir.file("cut.png")) }
    }

    // MARK: - Writing

    func testUnknownExtension() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let image = RGBImage(width: 4, height: 4)
        for name in ["picture.gif", "picture", "archive.tar", ".png"] {
            assertMediaError(.unsupportedFormat, path: dir.file(name)) { try ImageEncoder.write(image, to: dir.file(name)) }
        }
        XCTAssertEqual(dir.contents(), [])
    }

    func testQualityOutOfRange() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        for quality in [0, 101, -5] {
            assertMediaError(.invalidArgument, path: dir.file("q.jpg")) {
                try ImageEncoder.write(RGBImage(width: 4, height: 4), to: dir.file("q.jpg"), quality: quality)
            }
        }
        XCTAssertEqual(dir.contents(), [])
    }

    func testUnwritablePaths() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let image = RGBImage(width: 4, height: 4)
        let inMissingDirectory = dir.file("missing/out.png")
        assertMediaError(.unwritable, path: inMissingDirectory) { try ImageEncoder.write(image, to: inMissingDirectory) }
        // A path whose parent is a file, not a directory.
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.file("file"), contents: Data("x".utf8)))
        assertMediaError(.unwritable, path: dir.file("file/out.jpg")) { try ImageEncoder.write(image, to: dir.file("file/out.jpg")) }
        XCTAssertEqual(dir.contents(), ["file"])
    }

    /// The target is an existing directory: the temporary file is created and written, the final rename
    /// fails — and the temporary file is removed, so the directory holds exactly what it held before.
    func testNoStrayFileAfterFailedWrite() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("taken.png"), withIntermediateDirectories: false)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.file("taken.png/keep"), contents: Data()))
        let before = dir.contents()
        assertMediaError(.unwritable, path: dir.file("taken.png")) {
            try ImageEncoder.write(TestImages.noise(width: 32, height: 32), to: dir.file("taken.png"))
        }
        XCTAssertEqual(dir.contents(), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.file("taken.png")), ["keep"])
    }

    /// A failed write leaves an existing file at the path untouched.
    func testFailedWriteKeepsExistingFile() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.file("keep.jpg")
        try ImageEncoder.write(TestImages.gradient(width: 16, height: 16), to: path, quality: 90)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        assertMediaError(.invalidArgument, path: path) {
            try ImageEncoder.write(TestImages.noise(width: 16, height: 16), to: path, quality: 0)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), original)
        XCTAssertEqual(dir.contents(), ["keep.jpg"])
    }

    func testResizeToZeroIsAnError() {
        let image = RGBImage(width: 4, height: 4)
        assertMediaError(.invalidArgument, path: nil) { try ImageDecoder.resize(image, width: 0, height: 4) }
        assertMediaError(.invalidArgument, path: nil) { try ImageDecoder.resize(image, width: 4, height: -1) }
    }
}

/// FFmpeg itself stays silent once `FFmpegLog.setQuiet()` is called, so the command line shows only our
/// one-line errors: stderr is redirected to a file while garbage is decoded, and the file stays empty.
final class FFmpegLogTests: XCTestCase {
    func testQuietLeavesStderrEmpty() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try Data(TestImages.noise(width: 40, height: 40, seed: 3).pixels).write(to: URL(fileURLWithPath: dir.file("junk.jpg")))
        let capture = dir.file("stderr.txt")
        FFmpegLog.setQuiet()
        let saved = dup(2)
        let fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        dup2(fd, 2)
        close(fd)
        let failed = (try? ImageDecoder.decode(path: dir.file("junk.jpg"))) == nil
        let truncated = Data(try Data(contentsOf: try SharedData.url("media/images/content/face.jpg")).prefix(40000))
        try truncated.write(to: URL(fileURLWithPath: dir.file("cut.jpg")))
        _ = try? ImageDecoder.decode(path: dir.file("cut.jpg"))   // mjpeg warns about the missing data
        fflush(nil)
        dup2(saved, 2)
        close(saved)
        XCTAssertTrue(failed)
        XCTAssertEqual(try String(contentsOfFile: capture, encoding: .utf8), "")
    }
}

/// Decoding and encoding on several threads at once: each call owns its FFmpeg objects.
final class ConcurrencyTests: XCTestCase {
    func testParallelDecodeAndEncode() throws {
        let path = try SharedData.url("media/images/content/chicago.jpg").path
        let reference = try ImageDecoder.decode(path: path)
        let dir = try TempDir()
        defer { dir.remove() }
        let results = Mutex<[Bool]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            var ok = false
            if let image = try? ImageDecoder.decode(path: path) {
                let out = dir.file("copy\(index).png")
                ok = image == reference && (try? ImageEncoder.write(image, to: out)) != nil
                    && (try? ImageDecoder.decode(path: out)) == reference
            }
            results.withLock { $0.append(ok) }
        }
        XCTAssertEqual(results.withLock { $0 }, [Bool](repeating: true, count: 8))
    }
}
