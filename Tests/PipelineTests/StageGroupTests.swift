import Foundation
import XCTest
@testable import Pipeline

final class StageGroupTests: XCTestCase {
    /// A source that produces until asked to stop, two workers, a slow sink: a graceful stop ends the stream at
    /// the source and everything already produced still reaches the sink, in order.
    func testGracefulStopLetsEndOfStreamFlowDown() {
        let input = BoundedQueue<Int>(capacity: 2)
        let output = BoundedQueue<Int>(capacity: 2)
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 2) { _ in
            { item in
                usleep(500)
                return item
            }
        }
        let produced = Locked(0)
        let received = Locked<[Int]>([])
        let sinkSawEnd = Locked(false)
        let group = StageGroup()
        group.addQueue(input)
        group.addQueue(output)
        group.addStage("sink") { _ in
            while let item = output.receive() { received.withLock { $0.append(item) } }
            sinkSawEnd.withLock { $0 = output.isFinished && !output.isCancelled }
        }
        group.addStage("stylize") { _ in try workers.run(input: input, output: output) }
        group.addStage("source") { context in
            var item = 0
            while !context.isStopRequested {
                guard input.send(item) == .sent else { return }
                item += 1
                produced.withLock { $0 = item }
            }
            input.finish()
        }
        XCTAssertNoThrow(try group.start())
        usleep(50_000)
        group.stop()
        XCTAssertEqual(try group.wait(timeout: .seconds(10)), true)
        XCTAssertGreaterThan(produced.current, 0)
        XCTAssertEqual(received.current, Array(0..<produced.current))
        XCTAssertTrue(sinkSawEnd.current)
    }

    /// A hard stop in the middle of a stream wakes a producer blocked on a full queue and a consumer blocked
    /// on an empty one, and joins every thread promptly.
    func testHardStopWakesBlockedStagesPromptly() {
        let baseline = StageGroup.liveThreadCount
        let full = BoundedQueue<Int>(capacity: 1)
        let empty = BoundedQueue<Int>(capacity: 1)
        let producerBlocked = Locked(false)
        let group = StageGroup()
        group.addQueue(full)
        group.addQueue(empty)
        group.addStage("hardstop-src") { _ in
            _ = full.send(0)
            producerBlocked.withLock { $0 = true }
            XCTAssertEqual(full.send(1), .consumerGone)
        }
        group.addStage("hardstop-sink") { _ in XCTAssertNil(empty.receive()) }
        XCTAssertNoThrow(try group.start())
        usleep(50_000)
        XCTAssertTrue(producerBlocked.current)
        XCTAssertEqual(StageGroup.liveThreadCount, baseline + 2)
        if let names = processThreadNames() {
            XCTAssertTrue(names.contains("hardstop-src") && names.contains("hardstop-sink"), "\(names)")
        }
        XCTAssertEqual(try group.wait(timeout: .milliseconds(20)), false, "stages should still be blocked")

        let start = Date()
        group.cancel()
        XCTAssertEqual(try group.wait(timeout: .seconds(5)), true)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertNil(group.error, "a hard stop is not an error")
        XCTAssertEqual(StageGroup.liveThreadCount, baseline)
        if let names = processThreadNames() {
            XCTAssertFalse(names.contains { $0.hasPrefix("hardstop-") }, "threads not joined: \(names)")
        }
    }

    /// A hard stop while workers are busy and the source is blocked on a full queue: everything ends within
    /// about one work item, without an error, and every thread is joined.
    func testHardStopMidStreamThroughWorkers() {
        let baseline = StageGroup.liveThreadCount
        let input = BoundedQueue<Int>(capacity: 2)
        let output = BoundedQueue<Int>(capacity: 2)
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 2) { _ in
            { item in
                usleep(20_000)
                return item
            }
        }
        let received = Locked<[Int]>([])
        let sourceEnd = Locked<SendResult?>(nil)
        let group = StageGroup()
        group.addQueue(input)
        group.addQueue(output)
        group.addStage("sink") { _ in
            while let item = output.receive() {
                received.withLock { $0.append(item) }
                usleep(30_000)
            }
        }
        group.addStage("stylize") { _ in try workers.run(input: input, output: output) }
        group.addStage("source") { _ in
            var item = 0
            while input.send(item) == .sent { item += 1 }
            sourceEnd.withLock { $0 = .consumerGone }
        }
        XCTAssertNoThrow(try group.start())
        usleep(150_000)
        let start = Date()
        group.cancel()
        XCTAssertEqual(try group.wait(timeout: .seconds(5)), true)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertNil(group.error)
        XCTAssertEqual(sourceEnd.current, .consumerGone)
        XCTAssertGreaterThan(received.current.count, 0)
        XCTAssertEqual(received.current, Array(0..<received.current.count))
        XCTAssertEqual(StageGroup.liveThreadCount, baseline)
    }

    /// The first error wins: it names its stage, keeps its cause, wakes the blocked stages, and errors the
    /// others throw while stopping are not reported.
    func testFirstStageErrorIsReportedOnceAndStopsTheOthers() {
        let queue = BoundedQueue<Int>(capacity: 1)
        let group = StageGroup()
        group.addQueue(queue)
        group.addStage("sink") { _ in
            while queue.receive() != nil {}
            throw TestFailure(item: 2)  // a consequence of the stop, not the cause
        }
        group.addStage("source") { _ in
            _ = queue.send(0)
            throw TestFailure(item: 1)
        }
        XCTAssertNoThrow(try group.start())
        var reported: [PipelineError] = []
        do {
            let done = try group.wait(timeout: .seconds(5))
            XCTFail("the error was not reported (all stages done: \(done))")
        } catch let error as PipelineError {
            reported.append(error)
        } catch {
            XCTFail("unexpected \(error)")
        }
        XCTAssertEqual(reported.count, 1)
        XCTAssertEqual(reported.first?.stage, "source")
        XCTAssertEqual(reported.first?.message, "synthetic failure at 1")
        XCTAssertEqual(reported.first?.underlying as? TestFailure, TestFailure(item: 1))
        XCTAssertEqual(reported.first?.description, "source: synthetic failure at 1")
        XCTAssertTrue(queue.isCancelled)
    }

    func testStageCancelledIsNotAnError() {
        let group = StageGroup()
        group.addStage("source") { _ in throw StageCancelled() }
        XCTAssertNoThrow(try group.start())
        XCTAssertEqual(try group.wait(timeout: .seconds(5)), true)
        XCTAssertNil(group.error)
    }

    func testMultiLineErrorsBecomeOneLine() {
        struct Chatty: Error, CustomStringConvertible {
            var description: String { "first line\nsecond line" }
        }
        let error = PipelineError(stage: "encode", wrapping: Chatty())
        XCTAssertEqual(error.message, "first line second line", "one line, nothing of it lost (the rule every message follows)")
        XCTAssertTrue(error.underlying is Chatty)
    }

    func testStageThreadsAreNamed() throws {
        #if os(Linux)
        let name = Locked<String?>(nil)
        let group = StageGroup()
        group.addStage("stylize-frames-long-name") { _ in
            let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
            name.withLock { $0 = comm?.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        try group.start()
        XCTAssertEqual(try group.wait(timeout: .seconds(5)), true)
        XCTAssertEqual(name.current, "stylize-frames-")
        #else
        throw XCTSkip("thread names are read from /proc")
        #endif
    }
}
