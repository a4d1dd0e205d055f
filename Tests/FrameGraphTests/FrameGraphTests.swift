import Decode
import FrameGraph
import Pipeline
import Stylize
import Synchronization
import TestSupport
import XCTest

/// The one graph every pipeline runs (transcode and live): what a user sees of it is that every frame of a
/// file comes out, in order, painted exactly as `streamd image` would paint it; that a live graph that cannot
/// keep up drops frames but never reorders them or loses one uncounted; and that a frame that cannot be painted
/// stops the graph with a message naming the source, the frame and its size.
final class FrameGraphTests: XCTestCase {
    private func frames(_ count: Int, width: Int = 64, height: Int = 48) -> [VideoFrame] {
        (0..<count).map { n in
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let i = (y * width + x) * 3
                    pixels[i] = UInt8((x * 4 + n * 9) & 255); pixels[i + 1] = UInt8((y * 5) & 255); pixels[i + 2] = UInt8(((x ^ y) * 3 + n) & 255)
                }
            }
            return VideoFrame(sequence: n, pts: Int64(n), timeBase: Rational(1, 25), image: RGBImage(width: width, height: height, pixels: pixels))
        }
    }

    private final class Delivered: @unchecked Sendable {
        let lock = NSLock()
        var frames: [VideoFrame] = []
        func add(_ frame: VideoFrame) { lock.withLock { frames.append(frame) } }
    }

    private final class Drops: StylizeObserver, @unchecked Sendable {
        let count = Mutex(0)
        func frameDropped() { count.withLock { $0 += 1 } }
    }

    func testAFileGraphDeliversEveryFrameInOrderPaintedAsAPictureWouldBe() throws {
        let model = try ModelLoader.load(path: "builtin:default")
        let input = frames(12)
        let processing = PixelSize(width: 32, height: 24), output = PixelSize(width: 64, height: 48)
        let delivered = Delivered()
        let graph = FrameGraph(
            layout: .init(name: "file", workers: 2, sourcePolicy: .block, smoothing: false),
            worker: .init(threads: 1, sizing: .fixed(processing: processing, output: output), source: "clip.mp4"),
            style: { WorkerStyle(model: model, identity: "builtin:default", options: StyleOptions()) },
            deliver: { frame, pool, _ in
                delivered.add(frame.frame)
                pool.recycle(frame.frame.image.pixels)
            },
            source: { feed, context in
                for frame in input where !context.isStopRequested { if !feed.send(frame) { break } }
            })
        try graph.group.start()
        try graph.group.wait(timeout: .seconds(120))
        XCTAssertEqual(delivered.frames.map(\.sequence), Array(0..<12), "every frame, in order")
        XCTAssertTrue(delivered.frames.allSatisfy { $0.image.width == 64 && $0.image.height == 48 }, "written at the output size")
        // What the worker makes of frame 5 is what resizing and stylizing that picture by hand makes of it.
        let stylizer = try Stylizer(model: model, threads: 1)
        let small = try PictureResizer().resize(input[5].image, width: 32, height: 24)
        let expected = try PictureResizer().resize(try stylizer.stylize(small), width: 64, height: 48)
        XCTAssertEqual(psnr(delivered.frames[5].image, expected), .infinity, "frame 5 as `streamd image` paints it")
        XCTAssertLessThan(psnr(delivered.frames[5].image, input[5].image), 15, "the frame was painted, not passed through")
        let stats = graph.pool.statistics
        XCTAssertLessThanOrEqual(stats.allocations, graph.pool.capacity, "the pool holds every frame in flight: \(stats)")
    }

    func testALiveGraphThatCannotKeepUpDropsButNeverReordersOrLosesAFrameUncounted() throws {
        let model = try ModelLoader.load(path: "builtin:default")
        let input = frames(60, width: 320, height: 240)
        let delivered = Delivered(), drops = Drops()
        let queueDrops = Mutex(0)
        let graph = FrameGraph(
            layout: .init(name: "live", workers: 1, sourcePolicy: .dropOldest, smoothing: true),
            worker: .init(threads: 1, sizing: .fitted(maxSide: 160), latencyBudget: .milliseconds(200), source: "rtsp://127.0.0.1/cam"),
            style: { WorkerStyle(model: model, identity: "builtin:default", options: StyleOptions(), smoothing: .init(strength: 0.5)) },
            observer: drops,
            deliver: { frame, pool, _ in
                delivered.add(frame.frame)
                pool.recycle(frame.frame.image.pixels)
            },
            source: { feed, _ in
                // Faster than one worker can paint: the source queue drops its oldest.
                for frame in input { if !feed.send(frame) { break } }
                queueDrops.withLock { $0 = feed.droppedCount }
            })
        try graph.group.start()
        try graph.group.wait(timeout: .seconds(120))
        let sequences = delivered.frames.map(\.sequence)
        XCTAssertEqual(sequences, sequences.sorted(), "frames leave in the order they came")
        XCTAssertEqual(Set(sequences).count, sequences.count, "no frame twice")
        XCTAssertEqual(sequences.last, 59, "the newest frame is never the one dropped")
        XCTAssertGreaterThan(queueDrops.withLock { $0 }, 0, "a source faster than the worker loses its oldest frames")
        XCTAssertEqual(sequences.count + queueDrops.withLock { $0 } + drops.count.withLock { $0 }, 60, "every frame delivered or counted as dropped")
        XCTAssertTrue(delivered.frames.allSatisfy { $0.image.width == 160 && $0.image.height == 120 }, "fitted to max_size")
        XCTAssertGreaterThan(graph.smoothingStatistics?.values.blended ?? 0, 0, "the live graph smooths")
    }

    func testAFrameThatCannotBePaintedStopsTheGraphNamingSourceFrameAndSize() throws {
        let model = try ModelLoader.load(path: "builtin:default")
        let input = frames(4)
        // Thirteen style weights for a model with fewer styles: the session refuses the frame.
        let options = StyleOptions(styleWeights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        let graph = FrameGraph(
            layout: .init(name: "file", workers: 1, sourcePolicy: .block, smoothing: false),
            worker: .init(threads: 1, sizing: .fitted(maxSide: nil), source: "broken.mp4"),
            style: { WorkerStyle(model: model, identity: "builtin:default", options: options) },
            deliver: { frame, pool, _ in pool.recycle(frame.frame.image.pixels) },
            source: { feed, _ in for frame in input { if !feed.send(frame) { break } } })
        try graph.group.start()
        XCTAssertThrowsError(try graph.group.wait(timeout: .seconds(60)))
        let message = "\(try XCTUnwrap(graph.group.error?.underlying))"
        XCTAssertTrue(message.hasPrefix("broken.mp4: frame 1 (64x48): "), message)
        XCTAssertFalse(message.contains("\n"), "one line: \(message)")
    }
}
