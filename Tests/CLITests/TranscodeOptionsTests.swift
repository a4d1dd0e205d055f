import ArgumentParser
import Decode
import Encode
import Stylize
import Foundation
import Pipeline
@testable import StreamdCLI
import TestSupport
import XCTest

/// Frame-size options, image-sequence input, damaged inputs, and every shared clip through `streamd transcode`.
final class TranscodeOptionsTests: XCTestCase {
    func size(_ args: [String], _ w: Int, _ h: Int) throws -> (PixelSize, PixelSize) {
        let parsed = try SizeArguments.parse(args)
        let input = PixelSize(width: w, height: h)
        let processing = parsed.processingSize(input: input)
        return (processing, parsed.outputSize(input: input, processing: processing))
    }

    func testSizeOptionsFollowTheDocumentedRules() throws {
        XCTAssertEqual(try size([], 1280, 720).0, PixelSize(width: 1280, height: 720))
        XCTAssertEqual(try size(["--width", "640"], 1280, 720).0, PixelSize(width: 640, height: 360))
        XCTAssertEqual(try size(["--height", "240"], 1280, 720).0, PixelSize(width: 426, height: 240), "427 rounds to even")
        XCTAssertEqual(try size(["--width", "300", "--height", "301"], 1280, 720).0, PixelSize(width: 300, height: 301))
        XCTAssertEqual(try size(["--scale", "0.5"], 176, 144).0, PixelSize(width: 88, height: 72))
        XCTAssertEqual(try size(["--max-size", "160"], 2160, 3840).0, PixelSize(width: 90, height: 160))
        XCTAssertEqual(try size(["--max-size", "2000"], 1280, 720).0, PixelSize(width: 1280, height: 720), "never scales up")
        XCTAssertEqual(try size(["--width", "1000", "--max-size", "500"], 1280, 720).0, PixelSize(width: 500, height: 282))
        XCTAssertEqual(try size(["--scale", "0.5", "--output-size", "input"], 640, 480).1, PixelSize(width: 640, height: 480))
        XCTAssertEqual(try size(["--output-size", "320x200"], 640, 480).1, PixelSize(width: 320, height: 200))
        XCTAssertEqual(try size(["--max-size", "320"], 640, 480).1, PixelSize(width: 320, height: 240), "output = processing")
        for bad in [["--scale", "0"], ["--scale", "0.5", "--width", "100"], ["--width", "4"], ["--output-size", "big"],
                    ["--output-size", "100x1"], ["--max-size", "8"]] {
            XCTAssertThrowsError(try SizeArguments.parse(bad), "\(bad)")
        }
    }

    func testProcessingAndOutputSizesReachTheFile() throws {
        let tmp = try TempDir()
        let out = tmp.file("small.mp4")
        let r = try CLI.run(["transcode", "--model", try SharedData.path("models/johnson-fns-onnx/candy.onnx"),
                             "--width", "88", "--output-size", "input", "--duration", "1",
                             try SharedData.path("media/video/carphone_h264_176x144.mp4"), out], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        let p = try probeVideo(out)
        XCTAssertEqual(p.width, 176)
        XCTAssertEqual(p.height, 144)
        XCTAssertEqual(p.frames, 30, accuracy: 1)
    }

    func testImageSequencesInBothSpellings() throws {
        let tmp = try TempDir()
        let frames = tmp.file("frames")
        try FileManager.default.createDirectory(atPath: frames, withIntermediateDirectories: true)
        try runFFmpeg(["-y", "-i", try SharedData.path("media/video/carphone_h264_176x144.mp4"), "-frames:v", "12", frames + "/f_%04d.png"])
        let model = try SharedData.path("models/johnson-fns-onnx/candy.onnx")
        let numbered = tmp.file("numbered.mp4")
        var r = try CLI.run(["transcode", "--model", model, "--frame-rate", "6", frames + "/f_%04d.png", numbered], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        var p = try probeVideo(numbered)
        XCTAssertEqual(p.frames, 12)
        XCTAssertEqual(p.duration, 2.0, accuracy: 0.01, "12 pictures at 6 per second")
        XCTAssertEqual(p.width, 176)

        let globbed = tmp.file("globbed.mkv")
        r = try CLI.run(["transcode", "--model", model, "--max-size", "88", frames + "/*.png", globbed], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        p = try probeVideo(globbed)
        XCTAssertEqual(p.frames, 12)
        XCTAssertEqual(p.duration, 12.0 / 25, accuracy: 0.05, "default 25 pictures per second")
        XCTAssertEqual(p.width, 88)

        CLI.assertFails(try CLI.run(["transcode", "--model", model, frames + "/*.jpg", tmp.file("none.mp4")]),
                        mentioning: ["*.jpg", "no files match"])
        CLI.assertFails(try CLI.run(["transcode", "--model", model, frames + "/g_%03d.png", tmp.file("none.mp4")]),
                        mentioning: ["g_%03d.png", "no files match"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("none.mp4")))
    }

    func testPictureSequenceOutputs() throws {
        let tmp = try TempDir()
        let model = try SharedData.path("models/ml5/wave")
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let args = ["transcode", "--model", model, "--duration", "0.3", "--max-size", "64", clip]
        // A directory named with a trailing slash is created and gets 000001.png, 000002.png, …
        let dir = tmp.file("frames") + "/"
        var r = try CLI.run(args + [dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(names, (1...9).map { String(format: "%06d.png", $0) })
        let picture = try ImageDecoder.decode(path: dir + "000001.png")
        XCTAssertEqual(picture.width, 64)
        XCTAssertEqual(picture.height, 52)
        // Running again refuses to replace the frames without --overwrite.
        CLI.assertFails(try CLI.run(args + [dir]), mentioning: [dir, "--overwrite"])
        XCTAssertEqual(try CLI.run(args + ["--overwrite", dir]).status, 0)
        // A numbered pattern.
        r = try CLI.run(args + [tmp.file("f_%03d.png")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.file("f_009.png")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("f_010.png")))
        // A .png name without a frame number is refused before any work.
        CLI.assertFails(try CLI.run(args + [tmp.file("single.png")]), mentioning: ["single.png", "pattern"])
        XCTAssertEqual(tmp.contents().filter { $0.hasPrefix(".") }, [], "no temporary files left")
    }

    func testDamagedInputs() throws {
        let tmp = try TempDir()
        let model = try SharedData.path("models/johnson-fns-onnx/candy.onnx")
        // The first half of an MP4 whose index (moov) is at the end: nothing can be decoded, so it is an error.
        let mp4 = try Data(contentsOf: URL(fileURLWithPath: try SharedData.path("media/video/carphone_h264_176x144.mp4")))
        let halfMP4 = tmp.file("half.mp4")
        try mp4.prefix(mp4.count / 2).write(to: URL(fileURLWithPath: halfMP4))
        CLI.assertFails(try CLI.run(["transcode", "--model", model, halfMP4, tmp.file("a.mp4")]), mentioning: [halfMP4])
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("a.mp4")))

        // The first half of a Matroska file still holds its first frames: transcoded up to the damage, with a warning.
        let mkv = try Data(contentsOf: URL(fileURLWithPath: try SharedData.path("media/video/asl_again_h264_640x480.mkv")))
        let halfMKV = tmp.file("half.mkv")
        try mkv.prefix(mkv.count / 2).write(to: URL(fileURLWithPath: halfMKV))
        let out = tmp.file("b.mp4")
        let r = try CLI.run(["transcode", "--model", model, "--max-size", "96", halfMKV, out], timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning") && r.stderr.contains(halfMKV) && r.stderr.contains("truncated"), r.stderr)
        let p = try probeVideo(out)
        XCTAssertGreaterThan(p.frames, 10)
        XCTAssertLessThan(p.frames, 77)

        // A model file that is not a model fails before any output exists.
        let junkModel = tmp.file("junk.onnx")
        try Data(repeating: 7, count: 5000).write(to: URL(fileURLWithPath: junkModel))
        CLI.assertFails(try CLI.run(["transcode", "--model", junkModel, try SharedData.path("media/video/carphone_h264_176x144.mp4"),
                                     tmp.file("c.mp4")]), mentioning: [junkModel])
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.file("c.mp4")))
    }

    /// Every shared clip, small and short: same frame count and duration as the input (±1 frame), the right
    /// size, upright, audio where the input has some (its timing is checked in `TranscodeAudioTests`).
    func testEveryClipTranscodes() throws {
        let tmp = try TempDir()
        let model = try SharedData.path("models/ml5/wave")
        let stylizer = try Stylizer(model: try ModelLoader.load(path: model))
        let clips = try FileManager.default.contentsOfDirectory(atPath: try SharedData.path("media/video")).sorted()
        XCTAssertGreaterThanOrEqual(clips.count, 10)
        for clip in clips {
            let input = try SharedData.path("media/video/" + clip)
            let reader = try VideoReader(path: input)
            var expectedFrames = 0, lastEnd = 0.0
            var frames: [VideoFrame] = []
            // Frames and end time as this project's reader sees them over the first 3 s.
            while expectedFrames < 1000, let f = try reader.nextFrame() {
                let end = (f.seconds ?? 0) + Double(f.duration ?? 0) * f.timeBase.doubleValue
                if (f.seconds ?? 0) >= 3 { break }
                expectedFrames += 1
                lastEnd = end
                if frames.count < 8 { frames.append(f) }
            }
            let info = reader.info
            let out = tmp.file((clip as NSString).deletingPathExtension + ".mkv")
            // Near-lossless encoding, so the comparison with `streamd image` below measures stylization.
            let r = try CLI.run(["transcode", "--model", model, "--max-size", "64", "--duration", "3", "--crf", "4",
                                 "--pix-fmt", "yuv444p", input, out], timeout: 600)
            XCTAssertEqual(r.status, 0, "\(clip): \(r.stderr)")
            let p = try probeVideo(out)
            XCTAssertEqual(p.frames, expectedFrames, accuracy: 1, clip)
            let period = 1 / max(info.frameRate.doubleValue, 1)
            let start = (try? VideoReader(path: input).nextFrame()?.seconds ?? 0) ?? 0
            XCTAssertEqual(p.duration, lastEnd - start, accuracy: period + 0.02, clip)
            let longer = max(info.displayWidth, info.displayHeight)
            XCTAssertEqual(max(p.width, p.height), min(64, longer), clip)
            XCTAssertEqual(p.width > p.height, info.displayWidth > info.displayHeight, "\(clip): orientation kept")
            let audio = (try ffprobeJSON(["-select_streams", "a", "-show_entries", "stream=index", out])["streams"] as? [Any])?.count ?? 0
            XCTAssertEqual(audio > 0, info.hasAudio, "\(clip): audio kept where the input has it")
            // Stylized content: output frame k is input frame k run through the model as `streamd image` does.
            let k = frames.count - 1
            let source = try ImageDecoder.resize(frames[k].image, width: p.width, height: p.height)
            let expected = try stylizer.stylize(source)
            let written = try VideoReader(path: out)
            var got: VideoFrame?
            for _ in 0...k { got = try written.nextFrame() }
            let image = try XCTUnwrap(got, clip).image
            XCTAssertGreaterThanOrEqual(psnr(image, expected), 30, "\(clip): frame \(k) vs streamd image")
            XCTAssertLessThan(psnr(image, source), 20, "\(clip): and clearly not the unstylized frame")
        }
    }

    // MARK: - Helpers

    struct VideoProbe { var frames: Int; var width: Int; var height: Int; var duration: Double }

    func probeVideo(_ path: String) throws -> VideoProbe {
        let json = try ffprobeJSON(["-count_frames", "-select_streams", "v:0", "-show_entries",
                                    "stream=nb_read_frames,width,height:format=duration", path])
        let stream = try XCTUnwrap((json["streams"] as? [[String: Any]])?.first, path)
        let format = json["format"] as? [String: Any]
        return VideoProbe(frames: Int(stream["nb_read_frames"] as? String ?? "") ?? -1,
                          width: stream["width"] as? Int ?? -1, height: stream["height"] as? Int ?? -1,
                          duration: Double(format?["duration"] as? String ?? "") ?? -1)
    }

}

/// The transcode pipeline recycles its frame buffers: after the first few frames nothing new is allocated.
final class TranscodeFramePoolTests: XCTestCase {
    func testSteadyStateAllocatesNoFrameBuffers() throws {
        let tmp = try TempDir()
        let input = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let model = try ModelLoader.load(path: try SharedData.path("models/ml5/wave"))
        let reader = try VideoReader(path: input, options: VideoReaderOptions(duration: 2))
        let size = PixelSize(width: reader.info.displayWidth, height: reader.info.displayHeight)
        let writer = try VideoWriter(path: tmp.file("out.mkv"), settings: VideoEncodeSettings(
            width: size.width, height: size.height, frameRate: reader.info.frameRate, timeBase: reader.info.timeBase))
        // Stylized at half size and scaled back: both resizes draw from the pool too.
        let job = TranscodeJob(reader: reader, writer: writer, model: model, options: StyleOptions(),
                               workers: 2, threads: 1, processing: PixelSize(width: 88, height: 72), output: size, input: input)
        let outcome = try job.runBlocking()
        XCTAssertEqual(outcome.frames, 60)
        let pool = try XCTUnwrap(job.pool)
        let stats = pool.statistics
        print("frame pool after 60 frames: capacity \(pool.capacity), \(stats)")
        XCTAssertLessThanOrEqual(stats.allocations, pool.capacity, "allocations stop at the frames in flight: \(stats)")
        XCTAssertGreaterThanOrEqual(stats.reuses, 4 * 60 - pool.capacity, "decode, resize, stylize, resize reuse buffers: \(stats)")
    }
}
