import Foundation
import Pipeline
import TestSupport
import XCTest

/// Runs the `ffmpeg`/`ffprobe` command-line tools, which the tests use to make inputs our encoder does not
/// write (WebP, BMP, 16-bit and palette PNG…) and to check our outputs independently of our decoder.
enum FFmpegCLI {
    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    /// `tool` quiet (TestSupport's `runFFmpeg`); its standard output as text.
    @discardableResult
    static func run(_ arguments: [String], tool: String = "ffmpeg") throws -> String {
        String(decoding: try runFFmpeg(arguments, tool: tool), as: UTF8.self)
    }

    /// `ffprobe`'s value of one stream entry (e.g. "pix_fmt") for the first video stream of `path`.
    static func probe(_ path: String, entry: String) throws -> String {
        try run(["-select_streams", "v:0", "-show_entries", "stream=\(entry)", "-of",
                 "default=noprint_wrappers=1:nokey=1", path], tool: "ffprobe")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

enum TestImages {
    /// A smooth picture with structure in both directions and all three channels: horizontal and vertical
    /// ramps plus a soft diagonal wave. Smooth, so lossy codecs have a fair chance; deterministic.
    static func gradient(width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                let fx = Double(x) / Double(max(1, width - 1)), fy = Double(y) / Double(max(1, height - 1))
                pixels[i] = UInt8((fx * 255).rounded())
                pixels[i + 1] = UInt8((fy * 255).rounded())
                pixels[i + 2] = UInt8((127.5 + 100 * sin((fx + fy) * 3)).rounded())
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Pseudo-random bytes from a fixed seed (a picture no lossy codec keeps exactly).
    static func noise(width: Int, height: Int, seed: UInt64 = 0x5EED) -> RGBImage {
        var state = seed
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in pixels.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            pixels[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Four flat quadrants: blue top-left, red top-right, green bottom-left, white bottom-right.
    static func quadrants(width: Int, height: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let colour: [UInt8] = switch (x < width / 2, y < height / 2) {
                case (true, true): [0, 0, 255]
                case (false, true): [255, 0, 0]
                case (true, false): [0, 255, 0]
                case (false, false): [255, 255, 255]
                }
                image.pixels.replaceSubrange((y * width + x) * 3..<(y * width + x) * 3 + 3, with: colour)
            }
        }
        return image
    }
}

extension RGBImage {
    /// Mean of each channel over the whole picture.
    var meanColour: [Double] {
        var sums = [0.0, 0.0, 0.0]
        for i in stride(from: 0, to: pixels.count, by: 3) {
            sums[0] += Double(pixels[i]); sums[1] += Double(pixels[i + 1]); sums[2] += Double(pixels[i + 2])
        }
        return sums.map { $0 / Double(width * height) }
    }

    func pixel(_ x: Int, _ y: Int) -> [UInt8] {
        let i = (y * width + x) * 3
        return Array(pixels[i..<i + 3])
    }
}

/// Asserts that `body` throws a `MediaError` with `code`, whose message is one line that names `path`.
func assertMediaError<T>(_ code: MediaError.Code, path: String?, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected MediaError.\(code), got no error", file: file, line: line)
    } catch let error as MediaError {
        XCTAssertEqual(error.code, code, "message: \(error.message)", file: file, line: line)
        XCTAssertFalse(error.message.contains("\n"), "message is not one line: \(error.message)", file: file, line: line)
        XCTAssertFalse(error.cause.isEmpty, file: file, line: line)
        if let path {
            XCTAssertTrue(error.message.hasPrefix(path + ": "), "message does not start with the path: \(error.message)",
                          file: file, line: line)
        }
        XCTAssertEqual(error.description, error.message, file: file, line: line)
    } catch {
        XCTFail("expected MediaError.\(code), got \(error)", file: file, line: line)
    }
}
