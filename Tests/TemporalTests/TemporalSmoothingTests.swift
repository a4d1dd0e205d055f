import Decode
import Pipeline
import Temporal
import TestSupport
import XCTest

final class TemporalSmoothingTests: XCTestCase {
    /// The flow shim on a real photo: two windows of it, the second displaced by a known amount, give that
    /// displacement back everywhere but at the borders.
    func testFlowRecoversAKnownTranslationOfARealPicture() throws {
        let photo = try ImageDecoder.decode(path: try SharedData.path("media/images/content/stata.jpg"))
        let grey = TemporalGuide(reducing: photo, maxSide: max(photo.width, photo.height))
        let (w, h, x0, y0) = (320, 240, 200, 150)
        let (tx, ty) = (7, -4)
        func window(_ x: Int, _ y: Int) -> TemporalGuide {
            var pixels = [UInt8](repeating: 0, count: w * h)
            for row in 0..<h { for col in 0..<w { pixels[row * w + col] = grey.pixels[(y + row) * grey.width + x + col] } }
            return TemporalGuide(width: w, height: h, pixels: pixels)
        }
        // second(x + t) = first(x): the content moved by t.
        let first = window(x0, y0), second = window(x0 - tx, y0 - ty)
        let flow = try DISFlow(preset: .fast).flow(from: first, to: second)
        var dx: [Float] = [], dy: [Float] = []
        for y in 16..<(h - 16) { for x in 16..<(w - 16) {
            dx.append(flow.vectors[2 * (y * w + x)]); dy.append(flow.vectors[2 * (y * w + x) + 1])
        } }
        XCTAssertEqual(dx.sorted()[dx.count / 2], Float(tx), accuracy: 0.25)
        XCTAssertEqual(dy.sorted()[dy.count / 2], Float(ty), accuracy: 0.25)
        // Not just the median: nine in ten vectors within half a pixel.
        let within = (0..<dx.count).filter { abs(dx[$0] - Float(tx)) < 0.5 && abs(dy[$0] - Float(ty)) < 0.5 }.count
        XCTAssertGreaterThan(Double(within) / Double(dx.count), 0.9)
    }

    /// The goal of issue 12 on real clips: the default strength cuts the warping error by at least 40% while
    /// staying at least 30 dB from the unsmoothed stylization.
    func testWarpingErrorFallsByTheGoalOnRealClips() throws {
        for (file, frames, size) in [("carphone_h264_176x144.mp4", 16, nil), ("bear_vp9_320x240.webm", 12, (176, 144) as (Int, Int)?)] {
            let clip = try Clips.clip(file, frames: frames, size: size)
            let before = try Clips.warpingError(clip, clip.stylized)
            let (steps, smoothed) = try Clips.smooth(clip, settings: SmoothingSettings())
            let after = try Clips.warpingError(clip, smoothed)
            let psnr = try Clips.psnr(smoothed, clip.stylized)
            XCTAssertGreaterThan(before, 0, file)
            XCTAssertLessThanOrEqual(after, 0.6 * before, "\(file): warping error \(before) → \(after)")
            XCTAssertGreaterThanOrEqual(psnr, 30, "\(file): PSNR against the unsmoothed stylization")
            XCTAssertEqual(steps.first, .reset(.first))
            XCTAssertFalse(steps.dropFirst().contains { if case .reset = $0 { return true } else { return false } }, "\(file): \(steps)")
        }
    }

    /// Still mode needs no flow but must steady a clip too (less than flow mode, which follows motion).
    func testStillModeSteadiesWhereTheInputDidNotChange() throws {
        let clip = try Clips.clip("carphone_h264_176x144.mp4", frames: 16)
        let before = try Clips.warpingError(clip, clip.stylized)
        let (_, still) = try Clips.smooth(clip, settings: SmoothingSettings(strength: 1, mode: .still))
        XCTAssertLessThan(try Clips.warpingError(clip, still), 0.9 * before)
        XCTAssertGreaterThanOrEqual(try Clips.psnr(still, clip.stylized), 30)
    }

    func testStrengthZeroIsBitIdenticalToNoSmoothing() throws {
        let clip = try Clips.clip("carphone_h264_176x144.mp4", frames: 16)
        let (steps, frames) = try Clips.smooth(clip, settings: SmoothingSettings(strength: 0))
        XCTAssertEqual(frames, clip.stylized)
        XCTAssertTrue(steps.allSatisfy { $0 == .passedThrough }, "\(steps)")
        // …while any strength above it changes frames (the comparison above can fail).
        let (_, weak) = try Clips.smooth(clip, settings: SmoothingSettings(strength: 0.05))
        XCTAssertNotEqual(weak, clip.stylized)
    }

    /// Two real clips joined: the frame after the cut is its own unsmoothed stylization, exactly, and the new
    /// shot is smoothed from there on.
    func testASceneCutResetsTheHistory() throws {
        let a = try Clips.clip("carphone_h264_176x144.mp4", frames: 16)
        let b = try Clips.clip("bear_vp9_320x240.webm", frames: 12, size: (176, 144))
        let joined = Clips.Clip(originals: Array(a.originals.prefix(8)) + Array(b.originals.prefix(8)),
                                stylized: Array(a.stylized.prefix(8)) + Array(b.stylized.prefix(8)), timestamps: [])
        let (steps, frames) = try Clips.smooth(joined, settings: SmoothingSettings(strength: 1))
        XCTAssertEqual(steps[8], .reset(.sceneCut), "\(steps)")
        XCTAssertEqual(frames[8], joined.stylized[8])
        for i in [1, 7, 9, 15] {
            guard case .blended = steps[i] else { return XCTFail("frame \(i): \(steps[i])") }
            XCTAssertNotEqual(frames[i], joined.stylized[i], "frame \(i)")
        }
        XCTAssertEqual(steps.filter { $0 == .reset(.sceneCut) }.count, 1, "\(steps)")
    }

    /// A picture too small for flow (a guide under 16 pixels on a side) passes through instead of failing.
    func testPicturesTooSmallForFlowPassThrough() throws {
        let clip = try Clips.clip("carphone_h264_176x144.mp4", frames: 16)
        let smoother = TemporalSmoother()
        for i in 0..<3 {
            var image = clip.stylized[i].cropped(x: 40, y: 40, width: 40, height: 12)
            let before = image
            let guide = TemporalGuide(reducing: clip.originals[i].cropped(x: 40, y: 40, width: 40, height: 12))
            let step = try smoother.process(&image, tag: TemporalTag(guide: guide, continuity: Continuity(), settings: SmoothingSettings()))
            XCTAssertEqual(step, .passedThrough)
            XCTAssertEqual(image, before)
        }
    }

    /// A discontinuity the pipeline announces (reconnect, style switch, seek) resets even when the pictures
    /// would have been blended.
    func testAnAnnouncedDiscontinuityResets() throws {
        let clip = try Clips.clip("carphone_h264_176x144.mp4", frames: 16)
        let (steps, frames) = try Clips.smooth(clip, settings: SmoothingSettings(strength: 1),
                                               continuity: { Continuity(segment: $0 < 5 ? 0 : 1) })
        XCTAssertEqual(steps[5], .reset(.discontinuity))
        XCTAssertEqual(frames[5], clip.stylized[5])
        guard case .blended = steps[6] else { return XCTFail("\(steps)") }
        // A style switch is told apart from a reconnect (the metrics count them apart).
        let (switched, _) = try Clips.smooth(clip, settings: SmoothingSettings(strength: 1),
                                             continuity: { Continuity(style: $0 < 8 ? 0 : 1) })
        XCTAssertEqual(switched[8], .reset(.style))
        guard case .blended = switched[7], case .blended = switched[9] else { return XCTFail("\(switched)") }
    }
}

/// The stage on its own thread between bounded queues, as the pipelines build it.
final class SmoothingStageTests: XCTestCase {
    struct Item: SmoothableFrame, Equatable {
        var frame: VideoFrame
        var temporalTag: TemporalTag?
        mutating func withStylizedImage(_ body: (inout RGBImage) throws -> Void) rethrows { try body(&frame.image) }
        static func == (a: Item, b: Item) -> Bool { a.frame == b.frame }
    }

    /// Every frame comes out once, in order, with its sequence number and timestamps; dropped places (nil,
    /// a live frame dropped before stylization) pass and do not break the history.
    func testKeepsFrameCountOrderAndTimestamps() throws {
        let clip = try Clips.clip("carphone_h264_176x144.mp4", frames: 16)
        let input = BoundedQueue<Item?>(capacity: 2), output = BoundedQueue<Item?>(capacity: 2)
        let stage = SmoothingStage()
        let group = StageGroup(name: "smooth-test")
        group.addQueue(input)
        group.addQueue(output)
        let received = Received()
        group.addStage("sink") { _ in while let item = output.receive() { received.append(item) } }
        group.addStage("smooth") { _ in try stage.run(input: input, output: output) }
        group.addStage("source") { _ in
            for (i, image) in clip.stylized.enumerated() {
                if i == 6 { input.send(nil) }
                let frame = VideoFrame(sequence: i, pts: clip.timestamps[i], timeBase: Rational(1, 30000), duration: 1001, image: image)
                let tag = TemporalTag(guide: TemporalGuide(reducing: clip.originals[i]), continuity: Continuity(), settings: SmoothingSettings())
                input.send(Item(frame: frame, temporalTag: tag))
            }
            input.finish()
        }
        try group.start()
        XCTAssertTrue(try group.wait(timeout: .seconds(60)))
        let items = received.items
        XCTAssertEqual(items.count, clip.stylized.count + 1)
        XCTAssertNil(items[6])
        let frames = items.compactMap { $0 }
        XCTAssertEqual(frames.map(\.frame.sequence), Array(0..<clip.stylized.count))
        XCTAssertEqual(frames.map(\.frame.pts), clip.timestamps)
        XCTAssertEqual(frames.map(\.frame.duration), Array(repeating: 1001, count: clip.stylized.count))
        let values = stage.statistics.values
        XCTAssertEqual(values.frames, clip.stylized.count)
        XCTAssertEqual(values.blended, clip.stylized.count - 1, "the nil place does not reset: \(values.resets)")
        // The same as the smoother alone: the stage adds threads, not differences.
        XCTAssertEqual(frames.map(\.frame.image), try Clips.smooth(clip, settings: SmoothingSettings()).frames)
    }

    final class Received: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Item?] = []
        func append(_ item: Item?) { lock.lock(); values.append(item); lock.unlock() }
        var items: [Item?] { lock.lock(); defer { lock.unlock() }; return values }
    }
}
