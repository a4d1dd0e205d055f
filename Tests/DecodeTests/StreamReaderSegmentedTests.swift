import Decode
import Foundation
import Pipeline
import TestSupport
import XCTest

/// `StreamReader.isSegmented`, which the live service uses to pace HLS: true for an HLS playlist (here one
/// FFmpeg cut from a real clip), false for the MP4 it came from.
final class StreamReaderSegmentedTests: XCTestCase {
    func testAnHLSPlaylistIsSegmentedAndItsSourceClipIsNot() throws {
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-hls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let playlist = dir.appendingPathComponent("index.m3u8").path
        try runFFmpeg(["-i", clip, "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0", playlist])

        let hls = try StreamReader(url: playlist, interrupt: IOInterrupt())
        XCTAssertTrue(hls.isSegmented)
        XCTAssertNotNil(try hls.nextFrame(), "the playlist decodes")
        XCTAssertFalse(try StreamReader(url: clip, interrupt: IOInterrupt()).isSegmented)
    }
}
