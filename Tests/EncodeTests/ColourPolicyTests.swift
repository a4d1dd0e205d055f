import Decode
import Encode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// One colour rule for every video streamd writes: a live recording (`StreamOutput`) and a transcode
/// (`VideoWriter`) of the same pictures carry the same colour tags and decode to the same colours. (They did
/// not: the live output tagged and converted 720p as BT.601 while files used BT.709, so players that trust the
/// tags showed the two differently.)
final class ColourPolicyTests: XCTestCase {
    /// Flat patches of strongly saturated colours, where a wrong matrix shows most.
    private func picture(width: Int, height: Int) -> RGBImage {
        let colours: [(UInt8, UInt8, UInt8)] = [(230, 120, 40), (40, 170, 220), (200, 40, 160), (60, 200, 70)]
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let c = colours[(x * 2 / width) + 2 * (y * 2 / height)]
                let i = (y * width + x) * 3
                pixels[i] = c.0; pixels[i + 1] = c.1; pixels[i + 2] = c.2
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    func testALiveRecordingAndATranscodeAreTaggedAndDecodedAlike() throws {
        let directory = try TempDir()
        defer { directory.remove() }
        for (width, height, expected) in [(640, 480, "smpte170m"), (1280, 720, "bt709")] {
            let image = picture(width: width, height: height)
            let live = directory.file("live-\(height).mp4"), file = directory.file("file-\(height).mp4")
            let output = try StreamOutput(url: live, format: "mp4",
                                          settings: LiveEncodeSettings(width: width, height: height, frameRate: 25, bitrate: 8_000_000, preset: "ultrafast"),
                                          interrupt: IOInterrupt())
            for n in 0..<5 { try output.write(image, micros: Int64(n) * 40_000) }
            try output.finish()
            let writer = try VideoWriter(path: file, settings: VideoEncodeSettings(width: width, height: height, frameRate: Rational(25, 1),
                                                                                  crf: 10, preset: "ultrafast"))
            for n in 0..<5 { try writer.write(VideoFrame(sequence: n, pts: Int64(n), timeBase: Rational(1, 25), image: image)) }
            try writer.finish()
            var tags: [[String]] = []
            for path in [live, file] {
                let stream = try XCTUnwrap((try ffprobeJSON(["-select_streams", "v:0", "-show_streams", path])["streams"] as? [[String: Any]])?.first)
                tags.append(["color_space", "color_primaries", "color_transfer", "color_range"].map { stream[$0] as? String ?? "untagged" })
                // What a player shows: the picture decoded by its tags, against the picture that went in.
                let reader = try VideoReader(path: path)
                let decoded = try XCTUnwrap(try reader.nextFrame())
                XCTAssertGreaterThan(psnr(decoded.image, image), 30, "\(path): the colours come back")
            }
            XCTAssertEqual(tags[0], tags[1], "\(width)x\(height): live and file tagged alike")
            XCTAssertEqual(tags[0], [expected, expected, expected == "bt709" ? "bt709" : "smpte170m", "tv"], "\(width)x\(height)")
        }
    }
}
