import Decode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// `VideoReader` on the real clips in `../shared/media/video` (numbers from its README, counted there with
/// `ffprobe -count_frames`), checked against the `ffmpeg` command line for colour, plus generated damaged and
/// wrong inputs.
final class VideoReaderTests: XCTestCase {
    struct Clip {
        var file: String
        var frames: Int
        var width: Int
        var height: Int
        var seconds: Double
        var pixelFormat: String
    }

    static let clips: [Clip] = [
        Clip(file: "fox_h264_640x640.mp4", frames: 420, width: 640, height: 640, seconds: 14.01, pixelFormat: "yuv420p"),
        Clip(file: "cockatoo_h264_1280x720.mp4", frames: 280, width: 1280, height: 720, seconds: 14.00, pixelFormat: "yuv420p"),
        Clip(file: "cockatoo_h264-444_1280x720.mp4", frames: 280, width: 1280, height: 720, seconds: 14.00, pixelFormat: "yuv444p"),
        Clip(file: "asl_again_h264_640x480.mkv", frames: 77, width: 640, height: 480, seconds: 2.60, pixelFormat: "yuvj420p"),
        Clip(file: "asl_again_mjpeg_640x480_DERIVED.avi", frames: 77, width: 640, height: 480, seconds: 2.57, pixelFormat: "yuvj422p"),
        Clip(file: "face_mpeg4_960x400.avi", frames: 96, width: 960, height: 400, seconds: 4.09, pixelFormat: "yuv420p"),
        Clip(file: "bear_vp9_320x240.webm", frames: 82, width: 320, height: 240, seconds: 2.70, pixelFormat: "yuv420p"),
        Clip(file: "roadtrip_vp9-10bit_426x240.webm", frames: 72, width: 426, height: 240, seconds: 3.00, pixelFormat: "yuv420p10le"),
        Clip(file: "carphone_h264_176x144.mp4", frames: 120, width: 176, height: 144, seconds: 4.00, pixelFormat: "yuv420p"),
        Clip(file: "portrait_h264_3840x2160_60fps_rot-90.mp4", frames: 18, width: 2160, height: 3840, seconds: 0.31, pixelFormat: "yuvj420p"),
    ]

    static func clipPath(_ file: String) throws -> String { try SharedData.path("media/video/" + file) }

    /// Every clip in the folder is covered by the table, so a new clip cannot go untested.
    func testTableCoversEveryClip() throws {
        let dir = try SharedData.path("media/video")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { name in [".mp4", ".mkv", ".avi", ".webm"].contains { name.hasSuffix($0) } }
        XCTAssertEqual(Set(files), Set(Self.clips.map(\.file)))
    }

    /// Frame count, size, strictly increasing pts and length of every clip, decoded to the end.
    func testEveryClipDecodesCompletely() throws {
        for clip in Self.clips {
            let reader = try VideoReader(path: try Self.clipPath(clip.file))
            let info = reader.info
            XCTAssertEqual(info.displayWidth, clip.width, clip.file)
            XCTAssertEqual(info.displayHeight, clip.height, clip.file)
            XCTAssertEqual(info.pixelFormat, clip.pixelFormat, clip.file)
            XCTAssertEqual(info.durationSeconds ?? 0, clip.seconds, accuracy: 0.02, clip.file)
            var count = 0
            var firstPTS: Int64?, lastPTS: Int64?, lastEnd: Int64 = 0
            while let frame = try reader.nextFrame() {
                XCTAssertEqual(frame.sequence, count, clip.file)
                XCTAssertEqual(frame.image.width, clip.width, clip.file)
                XCTAssertEqual(frame.image.height, clip.height, clip.file)
                XCTAssertEqual(frame.timeBase, info.timeBase, clip.file)
                guard let pts = frame.pts else { XCTFail("\(clip.file): frame \(count) has no pts"); break }
                if let lastPTS { XCTAssertGreaterThan(pts, lastPTS, "\(clip.file) frame \(count)") }
                if firstPTS == nil { firstPTS = pts }
                lastPTS = pts
                lastEnd = pts + (frame.duration ?? 0)
                count += 1
            }
            XCTAssertNil(try reader.nextFrame(), "\(clip.file): stays at the end")
            XCTAssertEqual(count, clip.frames, clip.file)
            XCTAssertEqual(reader.warnings, [], clip.file)
            // The decoded frames span the announced length, give or take a frame (the first frame of the AVI
            // does not decode; its neighbours' timing still covers the rest).
            let span = Double(lastEnd - (firstPTS ?? 0)) * info.timeBase.doubleValue
            let frameSeconds = 1 / info.frameRate.doubleValue
            XCTAssertEqual(span, clip.seconds, accuracy: 2.5 * frameSeconds, clip.file)
            print("\(clip.file): \(count) frames, \(info.displayWidth)x\(info.displayHeight), rate \(info.frameRate), "
                  + "tb \(info.timeBase), span \(String(format: "%.3f", span)) s, \(info.colorSpace)/\(info.colorRange)")
        }
    }

    func testInfo() throws {
        let portrait = try VideoReader(path: try Self.clipPath("portrait_h264_3840x2160_60fps_rot-90.mp4")).info
        XCTAssertEqual(portrait.codecName, "h264")
        XCTAssertEqual(portrait.codedWidth, 3840)
        XCTAssertEqual(portrait.codedHeight, 2160)
        XCTAssertEqual(portrait.rotation, 90)
        XCTAssertFalse(portrait.mirrored)
        XCTAssertEqual(portrait.colorRange, "pc")
        XCTAssertEqual(portrait.frameRate.doubleValue, 60, accuracy: 0.01)
        XCTAssertTrue(portrait.hasAudio)
        XCTAssertEqual(portrait.streams.map(\.kind.rawValue).sorted(), ["audio", "video"])

        let roadtrip = try VideoReader(path: try Self.clipPath("roadtrip_vp9-10bit_426x240.webm")).info
        XCTAssertEqual(roadtrip.codecName, "vp9")
        XCTAssertEqual(roadtrip.colorSpace, "bt2020nc")
        XCTAssertEqual(roadtrip.rotation, 0)
        XCTAssertFalse(roadtrip.hasAudio)

        let fox = try VideoReader(path: try Self.clipPath("fox_h264_640x640.mp4")).info
        XCTAssertEqual(fox.frameRate, Rational(2997, 100))
        XCTAssertEqual(fox.estimatedFrameCount, 420)

        let face = try VideoReader(path: try Self.clipPath("face_mpeg4_960x400.avi")).info
        XCTAssertEqual(face.codecName, "mpeg4")
        XCTAssertTrue(face.hasAudio)
        XCTAssertEqual(face.estimatedFrameCount, 98, "the header's count; 96 decode")
    }

    /// One frame (the sixth, the 31st of the AVI, the first of the 4K clip) against
    /// `ffmpeg -pix_fmt rgb24`, which also turns the portrait clip upright: 40 dB or better for every matrix,
    /// range, depth and subsampling in the set.
    ///
    /// PSNR cannot tell a slightly wrong matrix or range from chroma filtering, and FFmpeg's CLI is not exact
    /// either: its default scaler truncates, measured 0.4–1.8 levels darker per channel than an exact
    /// conversion on these clips. So the channel means are also checked, to 0.25 levels, against an exact
    /// floating-point conversion of the decoded YUV samples (`exactMeans`) with the matrix and range the
    /// stream declares. Means do not depend on chroma siting or on rotation.
    func testColourMatchesFFmpeg() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        for clip in Self.clips where clip.file != "fox_h264_640x640.mp4" && clip.file != "cockatoo_h264_1280x720.mp4" {
            let path = try Self.clipPath(clip.file)
            let reader = try VideoReader(path: path)
            // The AVI fades in from black over its first 19 frames; the 4K clip is slow to convert exactly.
            let index = clip.file.hasPrefix("face") ? 30 : clip.height > 2000 ? 0 : 5
            var frame: VideoFrame?
            for _ in 0...index { frame = try reader.nextFrame() }
            guard let frame else { XCTFail("\(clip.file): no frame \(index)"); continue }
            let select = ["-vf", "select=eq(n\\,\(index))", "-fps_mode", "passthrough", "-frames:v", "1", "-f", "rawvideo"]
            let out = tmp.file("ref.rgb")
            try runFFmpeg(["-y", "-i", path] + select + ["-pix_fmt", "rgb24", out])
            let reference = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
            XCTAssertEqual(reference.count, clip.width * clip.height * 3, clip.file)
            guard reference.count == frame.image.pixels.count else { continue }
            let db = psnr(samples: frame.image.pixels, reference)
            XCTAssertGreaterThanOrEqual(db, 40, clip.file)

            let yuv = tmp.file("ref.yuv")
            try runFFmpeg(["-y", "-autorotate", "0", "-i", path] + select + ["-pix_fmt", clip.pixelFormat, yuv])
            let exact = try exactMeans(yuvFile: yuv, clip: clip, colorSpace: reader.info.colorSpace,
                                       fullRange: reader.info.colorRange == "pc" || clip.pixelFormat.hasPrefix("yuvj"))
            let ours = channelMeans(frame.image.pixels), cli = channelMeans(reference)
            let ourShift = (0..<3).map { abs(ours[$0] - exact[$0]) }.max()!
            let cliShift = (0..<3).map { abs(cli[$0] - exact[$0]) }.max()!
            print("\(clip.file) frame \(index): means \(ours.map { Int($0) }), PSNR against ffmpeg \(String(format: "%.2f", db)) dB; channel means off "
                  + "the exact conversion by at most \(String(format: "%.3f", ourShift)) (ffmpeg CLI: \(String(format: "%.3f", cliShift)))")
            XCTAssertLessThan(ourShift, 0.25, clip.file)
            XCTAssertGreaterThan(ours.reduce(0, +), 30, "\(clip.file): frame \(index) is too dark to tell colours apart")
        }
    }

    /// Mean R, G, B of an exact conversion of a raw planar YUV frame (as `ffmpeg -f rawvideo` writes it):
    /// nearest-neighbour chroma, the textbook equations in floating point, rounded and clipped per pixel.
    func exactMeans(yuvFile: String, clip: Clip, colorSpace: String, fullRange: Bool) throws -> [Double] {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: yuvFile)))
        let rotated = clip.height > clip.width && clip.file.contains("rot")
        let w = rotated ? clip.height : clip.width, h = rotated ? clip.width : clip.height
        let tenBit = clip.pixelFormat.hasSuffix("10le")
        let (sx, sy) = clip.pixelFormat.contains("420") ? (1, 1) : clip.pixelFormat.contains("422") ? (1, 0) : (0, 0)
        let cw = (w + (1 << sx) - 1) >> sx, ch = (h + (1 << sy) - 1) >> sy
        let bytesPerSample = tenBit ? 2 : 1
        guard data.count == (w * h + 2 * cw * ch) * bytesPerSample else {
            throw Failure("\(yuvFile): \(data.count) bytes, not one \(w)x\(h) \(clip.pixelFormat) frame")
        }
        func sample(_ i: Int) -> Double {
            tenBit ? Double(Int(data[2 * i]) | Int(data[2 * i + 1]) << 8) : Double(data[i])
        }
        let (kr, kb): (Double, Double) = switch colorSpace {
        case "bt709": (0.2126, 0.0722)
        case "bt2020nc", "bt2020c": (0.2627, 0.0593)
        default: (0.299, 0.114)  // BT.601, also FFmpeg's choice for "unknown"
        }
        let scale = tenBit ? 4.0 : 1.0, maxValue = tenBit ? 1023.0 : 255.0
        var sums = [0.0, 0.0, 0.0]
        for y in 0..<h {
            for x in 0..<w {
                let c = (y >> sy) * cw + (x >> sx)
                let luma = sample(y * w + x), cb = sample(w * h + c), cr = sample(w * h + cw * ch + c)
                let yn, u, v: Double
                if fullRange {
                    yn = luma / maxValue; u = (cb - 128 * scale) / maxValue; v = (cr - 128 * scale) / maxValue
                } else {
                    yn = (luma - 16 * scale) / (219 * scale); u = (cb - 128 * scale) / (224 * scale)
                    v = (cr - 128 * scale) / (224 * scale)
                }
                let r = yn + 2 * (1 - kr) * v, b = yn + 2 * (1 - kb) * u
                let g = (yn - kr * r - kb * b) / (1 - kr - kb)
                sums[0] += min(255, max(0, (r * 255).rounded()))
                sums[1] += min(255, max(0, (g * 255).rounded()))
                sums[2] += min(255, max(0, (b * 255).rounded()))
            }
        }
        return sums.map { $0 / Double(w * h) }
    }

    /// The first half of a real clip: the frames in it, then the end with a warning, no error.
    func testTruncatedFileEndsWithWarning() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        for file in ["asl_again_h264_640x480.mkv", "fox_h264_640x640.mp4"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: try Self.clipPath(file)))
            let cut = tmp.file("half-" + file)
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
            let full = Self.clips.first { $0.file == file }!.frames
            let reader: VideoReader
            do {
                reader = try VideoReader(path: cut)
            } catch let error as MediaError {
                // An MP4 whose index sits at the end cannot even be opened once cut: that is an error, not a crash.
                print("\(file) cut in half: \(error.message)")
                XCTAssertTrue(error.message.hasPrefix(cut), error.message)
                continue
            }
            var count = 0
            while try reader.nextFrame() != nil { count += 1 }
            print("\(file) cut in half: \(count) of \(full) frames; warnings: \(reader.warnings)")
            XCTAssertGreaterThan(count, 0, file)
            XCTAssertLessThan(count, full, file)
            XCTAssertFalse(reader.warnings.isEmpty, file)
            XCTAssertTrue(reader.warnings.allSatisfy { $0.hasPrefix(cut + ": ") }, "\(reader.warnings)")
        }
    }

    func testStartAndDurationWindow() throws {
        let path = try Self.clipPath("carphone_h264_176x144.mp4")
        let reader = try VideoReader(path: path, options: VideoReaderOptions(start: 1.0, duration: 1.0))
        var frames: [VideoFrame] = []
        while let frame = try reader.nextFrame() { frames.append(frame) }
        XCTAssertEqual(frames.first?.sequence, 0)
        let start = try XCTUnwrap(frames.first?.seconds), end = try XCTUnwrap(frames.last?.seconds)
        let frameSeconds = 1 / reader.info.frameRate.doubleValue
        XCTAssertEqual(start, 1.0, accuracy: frameSeconds)
        XCTAssertEqual(end, 2.0 - frameSeconds, accuracy: frameSeconds)
        XCTAssertEqual(Double(frames.count), 1.0 / frameSeconds, accuracy: 1.5)
        XCTAssertEqual(reader.warnings, [])

        // Seeking back restarts at the right place and sequence numbers go on.
        let again = try VideoReader(path: path)
        _ = try again.nextFrame()
        try again.seek(to: 3.0)
        let after = try XCTUnwrap(try again.nextFrame())
        XCTAssertEqual(after.sequence, 1)
        XCTAssertEqual(try XCTUnwrap(after.seconds), 3.0, accuracy: frameSeconds)
    }

    func testWindowOutsideTheVideoIsAnError() throws {
        let path = try Self.clipPath("carphone_h264_176x144.mp4")
        for options in [VideoReaderOptions(start: 4.5), VideoReaderOptions(start: -1),
                        VideoReaderOptions(start: 1, duration: 0)] {
            XCTAssertThrowsError(try VideoReader(path: path, options: options)) { error in
                let error = error as? MediaError
                XCTAssertEqual(error?.code, .invalidArgument)
                XCTAssertTrue(error?.message.hasPrefix(path + ": ") ?? false)
                print(error?.message ?? "")
            }
        }
        // A start just before the last frame (pts 3.971 s) gives that frame alone.
        let reader = try VideoReader(path: path, options: VideoReaderOptions(start: 3.96))
        var count = 0
        while try reader.nextFrame() != nil { count += 1 }
        XCTAssertEqual(count, 1)
        XCTAssertEqual(reader.warnings, [])
    }

    // MARK: - Errors: one line naming the file

    func testMissingFile() {
        let path = "/nonexistent/dir/clip.mp4"
        XCTAssertThrowsError(try VideoReader(path: path)) { error in
            let error = error as? MediaError
            XCTAssertEqual(error?.code, .fileNotFound)
            XCTAssertEqual(error?.message, "\(path): no such file")
        }
    }

    func testRandomBytesAreNotMedia() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<65536).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let path = tmp.file("noise.mp4")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try VideoReader(path: path)) { error in
            let error = error as? MediaError
            XCTAssertEqual(error?.code, .unsupportedFormat)
            XCTAssertTrue(error?.message.hasPrefix(path + ": ") ?? false, "\(String(describing: error))")
            XCTAssertFalse(error?.message.contains("\n") ?? true)
            print(error?.message ?? "")
        }
    }

    func testAudioOnlyFileHasNoVideo() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let path = tmp.file("tone.m4a")
        try runFFmpeg(["-f", "lavfi", "-i", "sine=duration=1", path])
        XCTAssertThrowsError(try VideoReader(path: path)) { error in
            let error = error as? MediaError
            XCTAssertEqual(error?.code, .unsupportedFormat)
            XCTAssertEqual(error?.message, "\(path): has no video stream (#0 audio aac)")
        }
    }

    /// An AVI whose video FourCC names no codec FFmpeg knows.
    func testUnsupportedCodec() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let made = tmp.file("made.avi"), path = tmp.file("unknown.avi")
        try runFFmpeg(["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=0.3", "-c:v", "mpeg4", made])
        // FFmpeg's AVI muxer refuses a tag that does not fit the codec, so rename the FourCC ("FMP4", in the
        // stream header and the bitmap header) afterwards.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: made)))
        let from = Array("FMP4".utf8), to = Array("QQQQ".utf8)
        var replaced = 0
        for i in 0..<(bytes.count - 3) where Array(bytes[i..<i + 4]) == from {
            bytes.replaceSubrange(i..<i + 4, with: to)
            replaced += 1
        }
        XCTAssertEqual(replaced, 2)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try VideoReader(path: path)) { error in
            let error = error as? MediaError
            XCTAssertEqual(error?.code, .unsupportedFormat)
            XCTAssertTrue(error?.message.hasPrefix(path + ": no decoder") ?? false, "\(String(describing: error))")
            print(error?.message ?? "")
        }
    }

    // MARK: - Helpers

    func channelMeans(_ rgb: [UInt8]) -> [Double] {
        var sums = [0.0, 0.0, 0.0]
        for i in rgb.indices { sums[i % 3] += Double(rgb[i]) }
        return sums.map { $0 / Double(rgb.count / 3) }
    }

}

/// Inputs generated at test time: damage in the middle, a size change mid-stream, rotation turned off.
final class VideoReaderGeneratedInputTests: XCTestCase {
    /// Zeros written over a stretch in the middle of a real clip: no error, a warning, and exactly as many
    /// frames as FFmpeg's own tools decode (the Matroska demuxer gives up at the damage, as it does for
    /// `ffmpeg`; the MP4 index lets decoding go on past it).
    func testDamageInTheMiddleIsNotFatal() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        for file in ["asl_again_h264_640x480.mkv", "bear_vp9_320x240.webm", "fox_h264_640x640.mp4"] {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try VideoReaderTests.clipPath(file))))
            let at = bytes.count / 2
            for i in at..<(at + 4096) { bytes[i] = 0 }
            let path = tmp.file("damaged-" + file)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let reader = try VideoReader(path: path)
            var count = 0
            while try reader.nextFrame() != nil { count += 1 }
            let full = VideoReaderTests.clips.first { $0.file == file }!.frames
            let counted = tmp.file("count.txt")
            try runFFmpeg(["-select_streams", "v:0", "-count_frames", "-show_entries", "stream=nb_read_frames",
                           "-of", "csv=p=0", "-o", counted, path], tool: "ffprobe")
            let expected = try String(contentsOfFile: counted, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            print("\(file) with 4 KB zeroed in the middle: \(count) of \(full) frames (ffprobe: \(expected)); warnings: \(reader.warnings)")
            XCTAssertEqual(String(count), expected, file)
            XCTAssertFalse(reader.warnings.isEmpty, file)
        }
    }

    /// Two H.264 transport streams of different sizes played back to back: every frame has its own size, and
    /// the reader rebuilds its scaler when the size changes.
    func testSizeChangeMidStream() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        var joined = Data()
        for (index, size) in ["64x48", "80x60"].enumerated() {
            let part = tmp.file("part\(index).ts")
            try runFFmpeg(["-f", "lavfi", "-i", "testsrc=size=\(size):rate=10:duration=0.5",
                                              "-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "0", part])
            joined.append(try Data(contentsOf: URL(fileURLWithPath: part)))
        }
        let path = tmp.file("joined.ts")
        try joined.write(to: URL(fileURLWithPath: path))
        let reader = try VideoReader(path: path)
        var sizes: [String] = []
        while let frame = try reader.nextFrame() { sizes.append("\(frame.image.width)x\(frame.image.height)") }
        XCTAssertEqual(sizes, Array(repeating: "64x48", count: 5) + Array(repeating: "80x60", count: 5))
    }

    /// With `autorotate` off the portrait clip comes out as stored, 3840×2160, and says so in `info`.
    func testAutorotateOff() throws {
        let path = try VideoReaderTests.clipPath("portrait_h264_3840x2160_60fps_rot-90.mp4")
        let reader = try VideoReader(path: path, options: VideoReaderOptions(autorotate: false))
        XCTAssertEqual(reader.info.rotation, 90)
        XCTAssertEqual(reader.info.displayWidth, 3840)
        XCTAssertEqual(reader.info.displayHeight, 2160)
        let frame = try XCTUnwrap(try reader.nextFrame())
        XCTAssertEqual(frame.image.width, 3840)
        XCTAssertEqual(frame.image.height, 2160)
    }

    /// The live reader (a `serve` source) turns a phone's portrait clip upright as the file reader does: same size,
    /// same pixels. It used to hand the frames over sideways.
    func testLiveReaderTurnsARotatedClipUprightAsTheFileReaderDoes() throws {
        let path = try VideoReaderTests.clipPath("portrait_h264_3840x2160_60fps_rot-90.mp4")
        let live = try StreamReader(url: path, interrupt: IOInterrupt())
        XCTAssertEqual(live.width, 2160)
        XCTAssertEqual(live.height, 3840)
        let file = try VideoReader(path: path)
        let a = try XCTUnwrap(try live.nextFrame()), b = try XCTUnwrap(try file.nextFrame())
        XCTAssertEqual(a.image.width, 2160)
        XCTAssertEqual(a.image.height, 3840)
        XCTAssertTrue(a.image.pixels == b.image.pixels, "the same upright picture")
    }
}
