import Decode
import Encode
import Foundation
import Pipeline
import TestSupport
import XCTest

final class ImageEncoderTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        FFmpegLog.setQuiet()
    }

    /// PNG is lossless: encode → decode gives back the same bytes, for a real photo, noise, odd sizes and 1×1.
    func testPNGRoundTripIsLossless() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let photo = try ImageDecoder.decode(path: try SharedData.url("media/images/content/chicago.jpg").path)
        let pictures = [("photo", photo), ("noise", TestImages.noise(width: 64, height: 48)),
                        ("odd", TestImages.noise(width: 37, height: 23)), ("pixel", RGBImage(width: 1, height: 1, fill: 200))]
        for (name, picture) in pictures {
            let path = dir.file("\(name).png")
            try ImageEncoder.write(picture, to: path)
            XCTAssertEqual(try FFmpegCLI.probe(path, entry: "codec_name"), "png", name)
            XCTAssertEqual(try FFmpegCLI.probe(path, entry: "pix_fmt"), "rgb24", name)
            XCTAssertEqual(try ImageDecoder.decode(path: path), picture, name)
        }
    }

    /// JPEG at high quality keeps PSNR ≥ 35 dB on a photo (measured: quality 95 ≈ 39.9 dB on chicago.jpg, the
    /// default ≈ 42 dB), is full-range 4:4:4 as ffprobe sees it, and keeps odd sizes at quality 100.
    func testJPEGRoundTripAtHighQuality() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let photo = try ImageDecoder.decode(path: try SharedData.url("media/images/content/chicago.jpg").path)
        for quality in [nil, 95] as [Int?] {
            let path = dir.file("photo-\(quality ?? 0).jpg")
            try ImageEncoder.write(photo, to: path, quality: quality)
            XCTAssertEqual(try FFmpegCLI.probe(path, entry: "pix_fmt"), "yuvj444p")
            XCTAssertEqual(try FFmpegCLI.probe(path, entry: "color_range"), "pc")
            let decoded = try ImageDecoder.decode(path: path)
            XCTAssertGreaterThanOrEqual(psnr(decoded, photo), 35, "quality \(quality.map(String.init) ?? "default")")
        }
        // Odd sizes, cut from the photo (JPEG pads them to whole 8×8 blocks internally).
        for (width, height) in [(37, 23), (1, 1), (2, 3), (17, 9), (9, 17)] {
            let picture = photo.cropped(x: 300, y: 200, width: width, height: height)
            let path = dir.file("odd-\(width)x\(height).jpeg")
            try ImageEncoder.write(picture, to: path, quality: 100)
            let decoded = try ImageDecoder.decode(path: path)
            XCTAssertEqual(decoded.width, width)
            XCTAssertEqual(decoded.height, height)
            XCTAssertGreaterThanOrEqual(psnr(decoded, picture), 35, "\(width)x\(height)")
        }
    }

    /// Below quality 90 the chroma is 4:2:0 (centred, as JPEG expects) and still decodes close to the source;
    /// lower quality means smaller files.
    func testJPEGQualityScale() throws {
        let photo = try ImageDecoder.decode(path: try SharedData.url("media/images/content/chicago.jpg").path)
        let dir = try TempDir()
        defer { dir.remove() }
        var sizes: [Int] = []
        for quality in [100, 90, 75, 50, 10] {
            let path = dir.file("q\(quality).jpg")
            try ImageEncoder.write(photo, to: path, quality: quality)
            sizes.append(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int)
            XCTAssertEqual(try FFmpegCLI.probe(path, entry: "pix_fmt"), quality >= 90 ? "yuvj444p" : "yuvj420p")
            XCTAssertEqual(try FFmpegCLI.probe(path, entry: "color_range"), "pc")
            let decoded = try ImageDecoder.decode(path: path)
            XCTAssertGreaterThan(psnr(decoded, photo), quality >= 75 ? 33 : 28, "quality \(quality)")
        }
        XCTAssertEqual(sizes, sizes.sorted(by: >), "file size should fall with quality: \(sizes)")
    }

    /// Colours survive a JPEG round trip without a shift: flat patches of saturated colours come back within a
    /// few levels (a wrong range would move them by ~16, a wrong matrix by more).
    func testJPEGKeepsFlatColours() throws {
        let colours: [[UInt8]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [16, 16, 16], [235, 235, 235], [128, 64, 200]]
        let dir = try TempDir()
        defer { dir.remove() }
        for colour in colours {
            let picture = RGBImage(width: 24, height: 16, pixels: Array((0..<(24 * 16)).map { _ in colour }.joined()))
            for quality in [100, 75] {
                let path = dir.file("flat.jpg")
                try ImageEncoder.write(picture, to: path, quality: quality)
                let mean = try ImageDecoder.decode(path: path).meanColour
                for c in 0..<3 {
                    XCTAssertEqual(mean[c], Double(colour[c]), accuracy: 3, "colour \(colour) quality \(quality)")
                }
            }
        }
    }

    /// Writing over an existing file replaces it completely.
    func testOverwritesExistingFile() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = dir.file("out.png")
        try ImageEncoder.write(TestImages.noise(width: 64, height: 64), to: path)
        let small = RGBImage(width: 3, height: 2, fill: 9)
        try ImageEncoder.write(small, to: path)
        XCTAssertEqual(try ImageDecoder.decode(path: path), small)
        XCTAssertEqual(dir.contents(), ["out.png"])
    }

    /// Upper-case and bare-name paths work (the temporary file goes into the current directory).
    func testExtensionCaseAndRelativePath() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        try ImageEncoder.write(TestImages.gradient(width: 8, height: 8), to: dir.file("UPPER.JPG"))
        XCTAssertEqual(try FFmpegCLI.probe(dir.file("UPPER.JPG"), entry: "codec_name"), "mjpeg")
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.url.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        try ImageEncoder.write(TestImages.gradient(width: 8, height: 8), to: "bare.png")
        XCTAssertEqual(dir.contents(), ["UPPER.JPG", "bare.png"])
    }
}
