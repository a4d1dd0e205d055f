import Decode
import Encode
import Foundation
import Pipeline
import TestSupport
import XCTest

final class ImageDecoderTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        FFmpegLog.setQuiet()
    }

    /// Every JPEG in shared/media/images with its size from shared/media/README.md (also checked with ffprobe).
    /// Covers baseline and progressive, 4:2:0 and 4:4:4, and the CMYK matta.jpg.
    static let sharedJPEGs: [(path: String, width: Int, height: Int)] = [
        ("content/chicago.jpg", 712, 474), ("content/diana.jpg", 786, 805), ("content/face.jpg", 1279, 959),
        ("content/stata.jpg", 1024, 679),
        ("reference/chicago_la_muse.jpg", 712, 474), ("reference/chicago_rain_princess.jpg", 712, 474),
        ("reference/chicago_the_scream.jpg", 712, 474), ("reference/chicago_udnie.jpg", 712, 474),
        ("reference/chicago_wave.jpg", 712, 474), ("reference/chicago_wreck.jpg", 712, 474),
        ("style/la_muse.jpg", 500, 403), ("style/matilde_perez.jpg", 1190, 940), ("style/matta.jpg", 670, 451),
        ("style/rain_princess.jpg", 299, 300), ("style/scream.jpg", 512, 652), ("style/udnie.jpg", 512, 512),
        ("style/wave.jpg", 650, 448), ("style/wreck.jpg", 800, 552),
    ]

    func testDecodesEverySharedJPEGAtItsSize() throws {
        let images = try SharedData.url("media/images")
        let onDisk = try FileManager.default.subpathsOfDirectory(atPath: images.path).filter { $0.hasSuffix(".jpg") }
        XCTAssertEqual(Set(onDisk), Set(Self.sharedJPEGs.map(\.path)), "shared/media/images changed; update the table")
        for entry in Self.sharedJPEGs {
            let image = try ImageDecoder.decode(path: images.appendingPathComponent(entry.path).path)
            XCTAssertEqual(image.width, entry.width, entry.path)
            XCTAssertEqual(image.height, entry.height, entry.path)
            // Not a blank or constant picture.
            XCTAssertGreaterThan(Set(image.pixels).count, 64, entry.path)
        }
    }

    /// Mean colours measured with Pillow 13.0 (`Image.open(p).convert("RGB")`, libjpeg-turbo, no ICC), the
    /// reference for "the colours are right": our decode matches each channel mean to within 0.1 level; the
    /// tolerance of 0.3 catches a wrong matrix or range (several levels) or a chroma shift.
    func testYCbCrJPEGColoursMatchPillow() throws {
        let references: [(String, [Double])] = [
            ("content/chicago.jpg", [127.020, 150.689, 168.044]),   // progressive 4:2:0
            ("content/face.jpg", [212.068, 195.425, 180.239]),      // baseline 4:2:0
            ("content/stata.jpg", [123.287, 122.085, 136.889]),     // progressive 4:4:4
            ("style/wave.jpg", [162.135, 160.728, 154.109]),        // baseline 4:2:0
        ]
        for (path, reference) in references {
            let image = try ImageDecoder.decode(path: try SharedData.url("media/images/" + path).path)
            for (channel, (ours, theirs)) in zip(image.meanColour, reference).enumerated() {
                XCTAssertEqual(ours, theirs, accuracy: 0.3, "\(path) channel \(channel)")
            }
        }
    }

    /// matta.jpg is an Adobe CMYK JPEG (YCCK, transform 2). Reference: Pillow 13.0 `convert("RGB")` (naive
    /// CMYK→RGB, no ICC profile) gives mean R,G,B = 89.635, 103.235, 63.200. FFmpeg 5.1 alone gives 88.43,
    /// 103.12, 61.91 — its in-decoder K folding truncates — and our correction brings it to 89.63, 103.09,
    /// 63.28. A tolerance of 0.3 fails the uncorrected decode (off by 1.2) and any inverted or unfolded K.
    func testCMYKJPEGColoursMatchPillow() throws {
        let image = try ImageDecoder.decode(path: try SharedData.url("media/images/style/matta.jpg").path)
        XCTAssertEqual(image.width, 670)
        XCTAssertEqual(image.height, 451)
        let reference = [89.635, 103.235, 63.200]
        for (channel, (ours, theirs)) in zip(image.meanColour, reference).enumerated() {
            XCTAssertEqual(ours, theirs, accuracy: 0.3, "channel \(channel)")
        }
    }

    /// A JPEG with an EXIF Orientation tag decodes upright. The tag is spliced into a JPEG we encode (ffmpeg
    /// cannot write one), as an APP1 segment right after SOI.
    func testEXIFOrientationIsApplied() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        let source = TestImages.quadrants(width: 40, height: 20)
        let jpeg = try ImageEncoder.encoded(source, as: .jpeg, quality: 100)
        let blue: [UInt8] = [0, 0, 255], red: [UInt8] = [255, 0, 0], green: [UInt8] = [0, 255, 0]
        let white: [UInt8] = [255, 255, 255]
        // Expected colours of the displayed picture's quadrants: top-left, top-right, bottom-left, bottom-right.
        let cases: [(orientation: UInt16, width: Int, height: Int, quadrants: [[UInt8]])] = [
            (1, 40, 20, [blue, red, green, white]),
            (2, 40, 20, [red, blue, white, green]),   // mirrored left-right
            (3, 40, 20, [white, green, red, blue]),   // rotated 180°
            (6, 20, 40, [green, blue, white, red]),   // rotated 90° clockwise
            (8, 20, 40, [red, white, blue, green]),   // rotated 90° counter-clockwise
        ]
        for entry in cases {
            let path = directory.file("orientation\(entry.orientation).jpg")
            try Data(Self.withEXIFOrientation(jpeg, entry.orientation)).write(to: URL(fileURLWithPath: path))
            let image = try ImageDecoder.decode(path: path)
            XCTAssertEqual(image.width, entry.width, "orientation \(entry.orientation)")
            XCTAssertEqual(image.height, entry.height, "orientation \(entry.orientation)")
            let centres = [(image.width / 4, image.height / 4), (3 * image.width / 4, image.height / 4),
                           (image.width / 4, 3 * image.height / 4), (3 * image.width / 4, 3 * image.height / 4)]
            for (index, (x, y)) in centres.enumerated() {
                let got = image.pixel(x, y), want = entry.quadrants[index]
                for c in 0..<3 {
                    XCTAssertEqual(Double(got[c]), Double(want[c]), accuracy: 8,
                                   "orientation \(entry.orientation) quadrant \(index): got \(got), want \(want)")
                }
            }
        }
    }

    /// `jpeg` with an APP1 Exif segment holding only Orientation = `orientation` (big-endian TIFF).
    static func withEXIFOrientation(_ jpeg: [UInt8], _ orientation: UInt16) -> [UInt8] {
        precondition(jpeg.starts(with: [0xFF, 0xD8]))
        var tiff: [UInt8] = Array("Exif".utf8) + [0, 0]
        tiff += [0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08]   // "MM", 42, first IFD at offset 8
        tiff += [0x00, 0x01]                                       // one entry
        tiff += [0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]   // tag 0x0112 Orientation, SHORT, count 1
        tiff += [UInt8(orientation >> 8), UInt8(orientation & 0xFF), 0x00, 0x00]
        tiff += [0x00, 0x00, 0x00, 0x00]                           // no next IFD
        let length = tiff.count + 2
        let segment: [UInt8] = [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + tiff
        return [0xFF, 0xD8] + segment + jpeg[2...]
    }

    // MARK: - Formats made by the ffmpeg CLI

    /// Grayscale PNG: every pixel comes back as (v, v, v) with exactly the stored v (gray is full range).
    func testGrayPNG() throws {
        try withGenerated { dir, source in
            try FFmpegCLI.run(["-i", source, "-pix_fmt", "gray", dir.file("gray.png")])
            XCTAssertEqual(try FFmpegCLI.probe(dir.file("gray.png"), entry: "pix_fmt"), "gray")
            try FFmpegCLI.run(["-i", dir.file("gray.png"), "-f", "rawvideo", "-pix_fmt", "gray", dir.file("gray.raw")])
            let stored = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("gray.raw"))))
            let image = try ImageDecoder.decode(path: dir.file("gray.png"))
            XCTAssertEqual(stored.count, image.width * image.height)
            XCTAssertEqual(image.pixels, stored.flatMap { [$0, $0, $0] })

            // 1-bit (monob): black and white only, each pixel as ffmpeg thresholded it.
            try FFmpegCLI.run(["-i", source, "-pix_fmt", "monob", dir.file("mono.png")])
            XCTAssertEqual(try FFmpegCLI.probe(dir.file("mono.png"), entry: "pix_fmt"), "monob")
            try FFmpegCLI.run(["-i", dir.file("mono.png"), "-f", "rawvideo", "-pix_fmt", "gray", dir.file("mono.raw")])
            let mono = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("mono.raw"))))
            XCTAssertEqual(Set(mono), [0, 255])
            XCTAssertEqual(try ImageDecoder.decode(path: dir.file("mono.png")).pixels, mono.flatMap { [$0, $0, $0] })
        }
    }

    /// 16-bit PNGs (RGB, gray, RGBA) with arbitrary sample values: each becomes round(v·255/65535), with no
    /// dither and no detour through YUV. The files are made from raw samples we choose (ffmpeg only wraps
    /// them as PNG, no conversion), because ffmpeg's own rgb24→rgb48 conversion is itself inexact.
    func testSixteenBitPNG() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let width = 37, height = 23
        var state: UInt64 = 7
        func next16() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 48)
        }
        func to8(_ v: Int) -> UInt8 { UInt8((Double(v) * 255 / 65535).rounded()) }
        func bigEndian(_ samples: [Int]) -> Data { Data(samples.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }) }

        let rgb = (0..<(width * height * 3)).map { _ in next16() }
        try makePNG(from: bigEndian(rgb), pixelFormat: "rgb48be", width: width, height: height, in: dir, name: "rgb48.png")
        XCTAssertEqual(try ImageDecoder.decode(path: dir.file("rgb48.png")).pixels, rgb.map(to8))

        let gray = (0..<(width * height)).map { _ in next16() }
        try makePNG(from: bigEndian(gray), pixelFormat: "gray16be", width: width, height: height, in: dir, name: "gray16.png")
        XCTAssertEqual(try ImageDecoder.decode(path: dir.file("gray16.png")).pixels, gray.flatMap { [to8($0), to8($0), to8($0)] })

        let rgba = (0..<(width * height * 4)).map { _ in next16() }
        try makePNG(from: bigEndian(rgba), pixelFormat: "rgba64be", width: width, height: height, in: dir, name: "rgba64.png")
        let decoded = try ImageDecoder.decode(path: dir.file("rgba64.png"))
        for p in 0..<(width * height) {
            let alpha = Double(rgba[p * 4 + 3]) / 65535
            for c in 0..<3 {
                let expected = 255 * (Double(rgba[p * 4 + c]) / 65535 * alpha + 1 - alpha)
                XCTAssertEqual(Double(decoded.pixels[p * 3 + c]), expected, accuracy: 0.5 + 1e-9, "pixel \(p) channel \(c)")
            }
        }
    }

    /// Wraps raw samples as a PNG with the ffmpeg CLI, checking that no conversion happened.
    private func makePNG(from raw: Data, pixelFormat: String, width: Int, height: Int, in dir: TempDir,
                         name: String) throws {
        let rawPath = dir.file(name + ".raw")
        try raw.write(to: URL(fileURLWithPath: rawPath))
        try FFmpegCLI.run(["-f", "rawvideo", "-pixel_format", pixelFormat, "-video_size", "\(width)x\(height)",
                           "-i", rawPath, "-frames:v", "1", dir.file(name)])
        XCTAssertEqual(try FFmpegCLI.probe(dir.file(name), entry: "pix_fmt"), pixelFormat, name)
    }

    /// A palette PNG of a four-colour picture decodes to exactly that picture.
    func testPalettePNG() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let source = TestImages.quadrants(width: 31, height: 17)
        try ImageEncoder.write(source, to: dir.file("source.png"))
        try FFmpegCLI.run(["-i", dir.file("source.png"), "-filter_complex",
                           "split[a][b];[a]palettegen=reserve_transparent=0[p];[b][p]paletteuse=dither=none",
                           dir.file("palette.png")])
        XCTAssertEqual(try FFmpegCLI.probe(dir.file("palette.png"), entry: "pix_fmt"), "pal8")
        XCTAssertEqual(try ImageDecoder.decode(path: dir.file("palette.png")), source)
    }

    /// Alpha is composited over white: half-transparent colour blends with white, fully transparent is white.
    /// Checked for 8-bit and 16-bit RGBA and gray+alpha.
    func testAlphaIsCompositedOverWhite() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        // Left: 0x2040C0 at alpha 0x80; right: black at alpha 0.
        let filter = "color=c=0x2040C080:s=8x4[l];color=c=0x00000000:s=8x4[r];[l][r]hstack,format=rgba"
        try FFmpegCLI.run(["-f", "lavfi", "-i", filter, "-frames:v", "1", dir.file("rgba.png")])
        XCTAssertEqual(try FFmpegCLI.probe(dir.file("rgba.png"), entry: "pix_fmt"), "rgba")
        try FFmpegCLI.run(["-i", dir.file("rgba.png"), "-pix_fmt", "rgba64be", dir.file("rgba64.png")])
        try FFmpegCLI.run(["-i", dir.file("rgba.png"), "-pix_fmt", "ya8", dir.file("ya8.png")])
        XCTAssertEqual(try FFmpegCLI.probe(dir.file("ya8.png"), entry: "pix_fmt"), "ya8")

        func blend(_ c: Double, _ a: Double) -> Double { (c * a + 255 * (255 - a)) / 255 }
        let half = [blend(0x20, 0x80), blend(0x40, 0x80), blend(0xC0, 0x80)]
        for name in ["rgba.png", "rgba64.png"] {
            let image = try ImageDecoder.decode(path: dir.file(name))
            XCTAssertEqual(image.width, 16, name)
            for c in 0..<3 {
                XCTAssertEqual(Double(image.pixel(2, 2)[c]), half[c], accuracy: 1, name)
            }
            XCTAssertEqual(image.pixel(12, 2), [255, 255, 255], name)
        }
        // Lossy WebP with alpha decodes to yuva420p, which goes through libswscale before the blend.
        try FFmpegCLI.run(["-f", "lavfi", "-i", filter.replacingOccurrences(of: "format=rgba", with: "format=yuva420p"),
                           "-frames:v", "1", "-c:v", "libwebp", "-quality", "100", dir.file("alpha.webp")])
        XCTAssertEqual(try FFmpegCLI.probe(dir.file("alpha.webp"), entry: "pix_fmt"), "yuva420p")
        let webp = try ImageDecoder.decode(path: dir.file("alpha.webp"))
        for c in 0..<3 {
            XCTAssertEqual(Double(webp.pixel(2, 2)[c]), half[c], accuracy: 6, "webp")
            XCTAssertEqual(Double(webp.pixel(12, 2)[c]), 255, accuracy: 2, "webp")
        }

        let gray = try ImageDecoder.decode(path: dir.file("ya8.png"))
        XCTAssertEqual(gray.pixel(12, 2), [255, 255, 255])
        let left = gray.pixel(2, 2)
        XCTAssertEqual(left[0], left[1])
        XCTAssertEqual(left[1], left[2])
        XCTAssertGreaterThan(left[0], 128)   // half-transparent dark gray over white
    }

    /// WebP: lossless decodes exactly, lossy closely (PSNR); BMP decodes exactly.
    func testWebPAndBMP() throws {
        try withGenerated { dir, source in
            let original = try ImageDecoder.decode(path: source)

            try FFmpegCLI.run(["-i", source, "-c:v", "libwebp", "-lossless", "1", dir.file("lossless.webp")])
            XCTAssertEqual(try ImageDecoder.decode(path: dir.file("lossless.webp")), original)

            try FFmpegCLI.run(["-i", source, "-c:v", "libwebp", "-quality", "95", dir.file("lossy.webp")])
            let lossy = try ImageDecoder.decode(path: dir.file("lossy.webp"))
            XCTAssertEqual(lossy.width, original.width)
            XCTAssertEqual(lossy.height, original.height)
            XCTAssertGreaterThan(psnr(lossy, original), 30)

            try FFmpegCLI.run(["-i", source, dir.file("picture.bmp")])
            XCTAssertEqual(try FFmpegCLI.probe(dir.file("picture.bmp"), entry: "codec_name"), "bmp")
            XCTAssertEqual(try ImageDecoder.decode(path: dir.file("picture.bmp")), original)
        }
    }

    /// A file's content, not its name, decides the format: a PNG named .jpg still decodes.
    func testMisnamedPNGDecodes() throws {
        try withGenerated { dir, source in
            try FileManager.default.copyItem(atPath: source, toPath: dir.file("really-a-png.jpg"))
            XCTAssertEqual(try ImageDecoder.decode(path: dir.file("really-a-png.jpg")), try ImageDecoder.decode(path: source))
        }
    }

    /// Runs `body` with a temporary directory holding `source.png`, a 37×23 gradient written by our encoder.
    private func withGenerated(_ body: (TempDir, String) throws -> Void) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let source = dir.file("source.png")
        try ImageEncoder.write(TestImages.gradient(width: 37, height: 23), to: source)
        try body(dir, source)
    }
}
