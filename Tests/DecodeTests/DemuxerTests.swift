import Decode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// `Demuxer`: packet counts per stream against `ffprobe -count_packets`.
final class DemuxerTests: XCTestCase {
    func probePackets(_ path: String, select: String, in tmp: TempDir) throws -> Int {
        let out = tmp.file("packets.txt")
        try runFFmpeg(["-select_streams", select, "-count_packets", "-show_entries", "stream=nb_read_packets",
                       "-of", "csv=p=0", "-o", out, path], tool: "ffprobe")
        let text = try String(contentsOfFile: out, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try XCTUnwrap(Int(text), "ffprobe said '\(text)'")
    }

    func testAudioPacketsOnly() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        for file in ["cockatoo_h264-444_1280x720.mp4", "face_mpeg4_960x400.avi", "portrait_h264_3840x2160_60fps_rot-90.mp4"] {
            let path = try VideoReaderTests.clipPath(file)
            let demuxer = try Demuxer(path: path, keep: [.audio])
            let audio = try XCTUnwrap(demuxer.streams.first { $0.kind == .audio }, file)
            XCTAssertGreaterThan(audio.sampleRate, 0, file)
            XCTAssertGreaterThan(audio.channels, 0, file)
            var count = 0
            var lastDTS = Int64.min
            while let packet = try demuxer.readPacket() {
                XCTAssertEqual(packet.streamIndex, audio.index, file)
                if let dts = packet.dts {
                    XCTAssertGreaterThanOrEqual(dts, lastDTS, file)
                    lastDTS = dts
                }
                count += 1
            }
            let expected = try probePackets(path, select: "a:0", in: tmp)
            print("\(file): \(count) \(audio.codecName) packets, \(audio.sampleRate) Hz, \(audio.channels) ch (ffprobe: \(expected))")
            XCTAssertEqual(count, expected, file)
        }
    }

    func testAllStreams() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let path = try VideoReaderTests.clipPath("cockatoo_h264-444_1280x720.mp4")
        let demuxer = try Demuxer(path: path)
        XCTAssertEqual(demuxer.streams.map(\.kind), [.video, .audio])
        XCTAssertEqual(demuxer.durationSeconds ?? 0, 14.0, accuracy: 0.1)
        var counts = [0, 0]
        var keyframes = 0
        while let packet = try demuxer.readPacket() {
            counts[packet.streamIndex] += 1
            if packet.streamIndex == 0 && packet.isKeyframe { keyframes += 1 }
            XCTAssertFalse(packet.isCorrupt)
            XCTAssertGreaterThan(packet.size, 0)
        }
        XCTAssertEqual(counts[0], try probePackets(path, select: "v:0", in: tmp))
        XCTAssertEqual(counts[1], try probePackets(path, select: "a:0", in: tmp))
        XCTAssertGreaterThan(keyframes, 0)
    }

    /// After `seek(to: 2)` the audio continues from the packet at or just before 2 s (MP3 packets are 24 ms),
    /// not from the start.
    func testSeekContinuesNearTheTarget() throws {
        for file in ["face_mpeg4_960x400.avi", "cockatoo_h264-444_1280x720.mp4"] {
            let demuxer = try Demuxer(path: try VideoReaderTests.clipPath(file), keep: [.audio])
            try demuxer.seek(to: 2)
            let audio = try XCTUnwrap(demuxer.streams.first { $0.kind == .audio }, file)
            let first = try XCTUnwrap(try demuxer.readPacket(), file)
            let seconds = Double(try XCTUnwrap(first.pts ?? first.dts, file)) * audio.timeBase.doubleValue
            XCTAssertLessThanOrEqual(seconds, 2.0, file)
            XCTAssertGreaterThan(seconds, 1.0, file)
        }
    }

    /// The container's tags and the streams' tags, as `ffmpeg -metadata` wrote them.
    func testMetadata() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let path = tmp.file("tagged.mkv")
        try runFFmpeg(["-i", try VideoReaderTests.clipPath("face_mpeg4_960x400.avi"), "-t", "0.5", "-c", "copy",
                       "-metadata", "title=Tagged", "-metadata:s:a:0", "language=fra", path])
        let demuxer = try Demuxer(path: path)
        XCTAssertEqual(demuxer.metadata["title"], "Tagged")
        XCTAssertEqual(demuxer.streams.first { $0.kind == .audio }?.metadata["language"], "fra")
    }

    func testErrors() throws {
        XCTAssertThrowsError(try Demuxer(path: "/nonexistent/x.mp4")) { error in
            XCTAssertEqual((error as? MediaError)?.code, .fileNotFound)
        }
    }
}
