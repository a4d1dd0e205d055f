import Foundation
import XCTest
@testable import Pipeline

final class OrderedWorkersTests: XCTestCase {
    /// What one source → workers → sink run produced.
    struct Outcome {
        var received: [Int]
        var sourceResults: [SendResult]
        var error: Error?
        var finishedInTime: Bool
    }

    /// Runs `items` through `workers` inside a StageGroup with a source and a sink stage, every wait bounded.
    func run(_ workers: OrderedWorkers<Int, Int>, items: Int, inputCapacity: Int = 2,
             sinkDelayMicroseconds: UInt32 = 0, timeout: Duration = .seconds(20)) -> Outcome {
        let input = BoundedQueue<Int>(capacity: inputCapacity)
        let output = BoundedQueue<Int>(capacity: 2)
        let received = Locked<[Int]>([])
        let sourceResults = Locked<[SendResult]>([])
        let group = StageGroup(name: "test")
        group.addQueue(input)
        group.addQueue(output)
        group.addStage("sink") { _ in
            while let item = output.receive() {
                received.withLock { $0.append(item) }
                if sinkDelayMicroseconds > 0 { usleep(sinkDelayMicroseconds) }
            }
        }
        group.addStage("stylize") { _ in try workers.run(input: input, output: output) }
        group.addStage("source") { _ in
            for item in 0..<items {
                let result = input.send(item)
                sourceResults.withLock { $0.append(result) }
                if result == .consumerGone { return }
            }
            input.finish()
        }
        var error: Error?
        var finished = false
        do {
            try group.start()
            finished = try group.wait(timeout: timeout)
        } catch let caught {
            error = caught
            finished = true
        }
        if !finished { group.cancel() }
        return Outcome(received: received.current, sourceResults: sourceResults.current, error: error,
                       finishedInTime: finished)
    }

    func testOutputOrderEqualsInputOrderWithSlowWorkers() {
        let baseline = StageGroup.liveThreadCount
        for count in 1...4 {
            let inFlight = Locked(0)
            let maxInFlight = Locked(0)
            let workers = OrderedWorkers<Int, Int>(name: "stylize", count: count) { worker in
                { item in
                    let now = inFlight.withLock { $0 += 1; return $0 }
                    maxInFlight.withLock { $0 = max($0, now) }
                    jitter(item, salt: worker, maxMicroseconds: 2_000)
                    inFlight.withLock { $0 -= 1 }
                    return item * 10 + 1
                }
            }
            let outcome = run(workers, items: 200)
            XCTAssertTrue(outcome.finishedInTime, "N=\(count) hung")
            XCTAssertNil(outcome.error, "N=\(count)")
            XCTAssertEqual(outcome.received, (0..<200).map { $0 * 10 + 1 }, "N=\(count): order broken")
            XCTAssertLessThanOrEqual(maxInFlight.current, count)
            if count > 1 { XCTAssertGreaterThan(maxInFlight.current, 1, "N=\(count) never ran in parallel") }
        }
        XCTAssertEqual(StageGroup.liveThreadCount, baseline, "threads left running")
    }

    /// Each worker's state comes from the factory on its own thread and is never shared.
    func testEachWorkerOwnsItsState() {
        final class Session {
            let worker: Int
            var uses = 0
            init(worker: Int) { self.worker = worker }
        }
        let seen = Locked<[Int: Int]>([:])
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 3) { worker in
            let session = Session(worker: worker)
            return { item in
                session.uses += 1
                seen.withLock { $0[item] = session.worker }
                return item
            }
        }
        let outcome = run(workers, items: 30)
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.received, Array(0..<30))
        // Round-robin: item i always lands on worker i mod N.
        XCTAssertEqual(seen.current, Dictionary(uniqueKeysWithValues: (0..<30).map { ($0, $0 % 3) }))
    }

    /// End of stream arrives while every worker is busy: all items in flight still come out, then finished.
    func testEndOfStreamDrainsEverythingInFlight() {
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 3) { _ in
            { item in
                usleep(20_000)
                return item
            }
        }
        // The input holds the whole stream, so `finish` comes long before the workers are done.
        let outcome = run(workers, items: 10, inputCapacity: 16)
        XCTAssertTrue(outcome.finishedInTime)
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.received, Array(0..<10))
    }

    func testWorkerErrorStopsEverythingAndIsReportedOnceWithItsCause() {
        let baseline = StageGroup.liveThreadCount
        let processedAfterFailure = Locked(0)
        let failed = Locked(false)
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 3) { _ in
            { item in
                if failed.current { processedAfterFailure.withLock { $0 += 1 } }
                jitter(item, salt: 7, maxMicroseconds: 1_000)
                if item == 37 {
                    failed.withLock { $0 = true }
                    throw TestFailure(item: item)
                }
                return item
            }
        }
        let outcome = run(workers, items: 200)
        XCTAssertTrue(outcome.finishedInTime, "the pipeline hung after a worker error")
        guard let error = outcome.error as? PipelineError else {
            return XCTFail("expected a PipelineError, got \(String(describing: outcome.error))")
        }
        XCTAssertEqual(error.stage, "stylize")
        XCTAssertEqual(error.message, "worker 1 failed on item 37: synthetic failure at 37")
        XCTAssertEqual(error.underlying as? TestFailure, TestFailure(item: 37))
        XCTAssertFalse(error.message.contains("\n"))
        // Output stays ordered up to the failure and nothing at or after item 37 comes out.
        XCTAssertEqual(outcome.received, Array(0..<outcome.received.count))
        XCTAssertLessThanOrEqual(outcome.received.count, 37)
        // The source learned nobody listens any more instead of feeding all 200 items.
        XCTAssertEqual(outcome.sourceResults.last, .consumerGone)
        XCTAssertLessThan(outcome.sourceResults.count, 200)
        // At most the items already running on the other two workers finish after the failure.
        XCTAssertLessThanOrEqual(processedAfterFailure.current, 2)
        XCTAssertEqual(StageGroup.liveThreadCount, baseline)
    }

    /// The first, a middle and the last item failing, for every worker count: one error naming the worker
    /// that had the item, an ordered prefix of output before it, and nothing left running.
    func testErrorAtAnyItemWithAnyWorkerCount() {
        let baseline = StageGroup.liveThreadCount
        for count in 1...4 {
            for failing in [0, 57, 199] {
                let workers = OrderedWorkers<Int, Int>(name: "stylize", count: count) { worker in
                    { item in
                        jitter(item, salt: worker, maxMicroseconds: 300)
                        if item == failing { throw TestFailure(item: item) }
                        return item
                    }
                }
                let outcome = run(workers, items: 200)
                let context = "N=\(count), failing item \(failing)"
                XCTAssertTrue(outcome.finishedInTime, "hung: \(context)")
                let error = outcome.error as? PipelineError
                XCTAssertEqual(error?.message,
                               "worker \(failing % count) failed on item \(failing): synthetic failure at \(failing)", context)
                XCTAssertEqual(error?.underlying as? TestFailure, TestFailure(item: failing), context)
                XCTAssertEqual(outcome.received, Array(0..<outcome.received.count), context)
                XCTAssertLessThanOrEqual(outcome.received.count, failing, context)
            }
        }
        XCTAssertEqual(StageGroup.liveThreadCount, baseline, "threads left running")
    }

    func testWorkerThatCannotStartFailsTheRun() {
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 2) { worker in
            if worker == 1 { throw TestFailure(item: -1) }
            return { $0 }
        }
        let outcome = run(workers, items: 50)
        XCTAssertTrue(outcome.finishedInTime)
        let error = outcome.error as? PipelineError
        XCTAssertEqual(error?.message, "worker 1 could not start: synthetic failure at -1")
        XCTAssertEqual(error?.underlying as? TestFailure, TestFailure(item: -1))
    }

    /// Downstream stops reading: the workers stop and the source is told, without any error.
    func testConsumerGoneStopsWorkersAndSourceQuietly() {
        let input = BoundedQueue<Int>(capacity: 2)
        let output = BoundedQueue<Int>(capacity: 1)
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 2) { _ in { $0 } }
        let sourceEnd = Locked<SendResult?>(nil)
        let group = StageGroup()
        group.addQueue(input)
        group.addQueue(output)
        group.addStage("sink") { _ in
            for _ in 0..<5 { _ = output.receive() }
            output.closeConsumer()
        }
        group.addStage("stylize") { _ in try workers.run(input: input, output: output) }
        group.addStage("source") { _ in
            var item = 0
            while true {
                if input.send(item) == .consumerGone { break }
                item += 1
            }
            sourceEnd.withLock { $0 = .consumerGone }
        }
        XCTAssertNoThrow(try group.start())
        XCTAssertEqual(try group.wait(timeout: .seconds(10)), true)
        XCTAssertEqual(sourceEnd.current, .consumerGone)
    }

    /// Cancelling the input mid-stream (a hard stop upstream) ends the run and cancels the output.
    func testInputCancelPropagatesToOutput() {
        let input = BoundedQueue<Int>(capacity: 2)
        let output = BoundedQueue<Int>(capacity: 2)
        let workers = OrderedWorkers<Int, Int>(name: "stylize", count: 2) { _ in { $0 } }
        let runner = TestThread {
            do { try workers.run(input: input, output: output) } catch { XCTFail("run threw \(error)") }
        }
        XCTAssertEqual(input.send(1), .sent)
        guard case .element(1) = output.receive(timeout: .seconds(5)) else { return XCTFail("no first item") }
        input.cancel()
        XCTAssertTrue(runner.wait(timeout: 5))
        XCTAssertTrue(output.isCancelled)
    }
}
