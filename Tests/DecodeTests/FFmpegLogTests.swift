@testable import Decode
import Foundation
import Logging
import Synchronization
import TestSupport
import XCTest

/// FFmpeg's own messages routed into swift-log: whole lines with FFmpeg's prefix, mapped levels, rate-limited.
final class FFmpegLogTests: XCTestCase {
    final class Entries: Sendable {
        let list = Mutex<[(Logger.Level, String)]>([])
    }

    /// Collects what reaches the logger.
    struct Capture: LogHandler {
        let entries: Entries
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            entries.list.withLock { $0.append((level, message.description)) }
        }
    }

    func testFFmpegMessagesReachTheLoggerAsLinesWithinTheRateLimit() throws {
        let entries = Entries()
        let logger = Logger(label: "ffmpeg-test") { _ in Capture(entries: entries) }
        FFmpegLog.route(to: logger, level: .warning, burst: 3, window: 60)
        defer { FFmpegLog.stopRouting(); FFmpegLog.setQuiet() }

        // An MP4 cut in half has no index: the mov demuxer complains ("moov atom not found") before we throw.
        let tmp = try TempDir()
        let clip = try Data(contentsOf: URL(fileURLWithPath: try SharedData.path("media/video/carphone_h264_176x144.mp4")))
        defer { tmp.remove() }
        let half = tmp.file("half.mp4")
        try clip.prefix(clip.count / 2).write(to: URL(fileURLWithPath: half))
        for _ in 0..<5 { XCTAssertThrowsError(try VideoReader(path: half)) }

        let got = entries.list.withLock { $0 }
        XCTAssertFalse(got.isEmpty, "FFmpeg's complaints arrive")
        XCTAssertLessThanOrEqual(got.count, 3, "no more than the burst within one window: \(got)")
        for (level, text) in got {
            XCTAssertTrue(text.contains("moov atom not found"), text)
            XCTAssertTrue(text.hasPrefix("[mov,mp4"), "FFmpeg's prefix names the component: \(text)")
            XCTAssertFalse(text.hasSuffix("\n"), "one line, no newline")
            XCTAssertEqual(level, .error)
        }
    }

    func testLevelsMapOntoSwiftLog() {
        XCTAssertEqual(FFmpegLog.loggerLevel(0), .critical)    // AV_LOG_PANIC
        XCTAssertEqual(FFmpegLog.loggerLevel(16), .error)      // AV_LOG_ERROR
        XCTAssertEqual(FFmpegLog.loggerLevel(24), .warning)    // AV_LOG_WARNING
        XCTAssertEqual(FFmpegLog.loggerLevel(32), .info)       // AV_LOG_INFO
        XCTAssertEqual(FFmpegLog.loggerLevel(48), .debug)      // AV_LOG_DEBUG
    }
}
