import Foundation
import XCTest
@testable import Pipeline

final class BoundedQueueTests: XCTestCase {
    func testDeliversInOrderThenFinishesAfterDraining() {
        let queue = BoundedQueue<Int>(capacity: 4)
        for item in 0..<4 { XCTAssertEqual(queue.send(item), .sent) }
        queue.finish()
        XCTAssertEqual(queue.count, 4)
        var received: [Int] = []
        while case .element(let item) = queue.receive(timeout: .seconds(1)) { received.append(item) }
        XCTAssertEqual(received, [0, 1, 2, 3])
        guard case .finished = queue.receive(timeout: .seconds(1)) else { return XCTFail("expected finished") }
        XCTAssertNil(queue.receive())
        XCTAssertFalse(queue.isCancelled)
    }

    func testReceiveTimesOutOnAnEmptyQueue() {
        let queue = BoundedQueue<Int>(capacity: 1)
        let start = Date()
        guard case .timedOut = queue.receive(timeout: .milliseconds(30)) else { return XCTFail("expected timeout") }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.025)
    }

    /// A slow consumer: the producer blocks, and the queue never holds more than its capacity.
    func testBlockPolicyNeverExceedsCapacityWithASlowConsumer() {
        let queue = BoundedQueue<Int>(capacity: 2, policy: .block)
        let sent = Locked(0)
        let producer = TestThread {
            for item in 0..<40 {
                XCTAssertEqual(queue.send(item), .sent)
                sent.withLock { $0 += 1 }
            }
            queue.finish()
        }
        // With nobody receiving, the producer fills the queue and then blocks on the third item.
        usleep(100_000)
        XCTAssertEqual(sent.current, 2)
        XCTAssertEqual(queue.count, 2)

        var received: [Int] = []
        while true {
            let result = queue.receive(timeout: .seconds(5))
            guard case .element(let item) = result else {
                guard case .finished = result else { return XCTFail("consumer got \(result) instead of finished") }
                break
            }
            received.append(item)
            XCTAssertLessThanOrEqual(queue.count, 2)
            usleep(1_000)
        }
        XCTAssertTrue(producer.wait())
        XCTAssertEqual(received, Array(0..<40))
        XCTAssertEqual(queue.highWaterMark, 2)
        XCTAssertEqual(queue.droppedCount, 0)
    }

    func testDropOldestCountsDropsAndKeepsTheNewest() {
        let queue = BoundedQueue<Int>(capacity: 3, policy: .dropOldest)
        for item in 0..<10 { XCTAssertEqual(queue.send(item), .sent) }
        XCTAssertEqual(queue.count, 3)
        XCTAssertEqual(queue.droppedCount, 7)
        queue.finish()
        var received: [Int] = []
        while let item = queue.receive() { received.append(item) }
        XCTAssertEqual(received, [7, 8, 9])
        XCTAssertEqual(queue.highWaterMark, 3)
    }

    /// A live source never waits: a producer far faster than its consumer keeps going and counts drops.
    func testDropOldestNeverBlocksTheProducer() {
        let queue = BoundedQueue<Int>(capacity: 1, policy: .dropOldest)
        let producer = TestThread {
            for item in 0..<1_000 { _ = queue.send(item) }
            queue.finish()
        }
        XCTAssertTrue(producer.wait(timeout: 5), "a drop-oldest producer blocked")
        var received: [Int] = []
        while let item = queue.receive() { received.append(item) }
        XCTAssertEqual(received, [999])
        XCTAssertEqual(queue.droppedCount, 999)
    }

    func testCancelWakesBlockedProducerAndConsumerPromptly() {
        let full = BoundedQueue<Int>(capacity: 1)
        XCTAssertEqual(full.send(0), .sent)
        let empty = BoundedQueue<Int>(capacity: 1)
        let producerResult = Locked<SendResult?>(nil)
        let consumerResult = Locked<Int??>(nil)
        let producer = TestThread {
            let result = full.send(1)
            producerResult.withLock { $0 = result }
        }
        let consumer = TestThread {
            let item = empty.receive()
            consumerResult.withLock { $0 = .some(item) }
        }
        usleep(50_000)
        XCTAssertNil(producerResult.current, "the producer should be blocked on the full queue")
        if case .some = consumerResult.current { XCTFail("the consumer should be blocked on the empty queue") }

        let start = Date()
        full.cancel()
        empty.cancel()
        XCTAssertTrue(producer.wait(timeout: 5))
        XCTAssertTrue(consumer.wait(timeout: 5))
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertEqual(producerResult.current, .consumerGone)
        XCTAssertEqual(consumerResult.current, .some(nil))

        XCTAssertEqual(full.send(2), .consumerGone)
        XCTAssertEqual(full.count, 0, "cancel discards queued items")
        XCTAssertNil(full.receive())
        guard case .cancelled = empty.receive(timeout: .seconds(1)) else { return XCTFail("expected cancelled") }
    }

    /// A consumer waiting with a long timeout is woken at once by the end of the stream or by a cancel.
    func testTimedReceiveIsWokenByFinishAndByCancel() {
        for cancel in [false, true] {
            let queue = BoundedQueue<Int>(capacity: 1)
            let outcome = Locked<String?>(nil)
            let consumer = TestThread {
                let result: String
                switch queue.receive(timeout: .seconds(30)) {
                case .finished: result = "finished"
                case .cancelled: result = "cancelled"
                case .timedOut: result = "timedOut"
                case .element: result = "element"
                }
                outcome.withLock { $0 = result }
            }
            usleep(30_000)
            let start = Date()
            if cancel { queue.cancel() } else { queue.finish() }
            XCTAssertTrue(consumer.wait(timeout: 5))
            XCTAssertLessThan(Date().timeIntervalSince(start), 1)
            XCTAssertEqual(outcome.current, cancel ? "cancelled" : "finished")
        }
    }

    func testCloseConsumerReleasesABlockedProducer() {
        let queue = BoundedQueue<Int>(capacity: 1)
        XCTAssertEqual(queue.send(0), .sent)
        let result = Locked<SendResult?>(nil)
        let producer = TestThread {
            let sent = queue.send(1)
            result.withLock { $0 = sent }
        }
        usleep(50_000)
        XCTAssertNil(result.current)
        queue.closeConsumer()
        XCTAssertTrue(producer.wait(timeout: 5))
        XCTAssertEqual(result.current, .consumerGone)
        XCTAssertEqual(queue.send(2), .consumerGone)
    }

    /// Several producers and consumers at once: nothing lost, nothing duplicated, capacity respected.
    func testManyProducersAndConsumersLoseNothing() {
        let queue = BoundedQueue<Int>(capacity: 3)
        let received = Locked<[Int]>([])
        let producers = (0..<3).map { producer in
            TestThread { for item in 0..<100 { _ = queue.send(producer * 100 + item) } }
        }
        let consumers = (0..<2).map { _ in
            TestThread {
                while case .element(let item) = queue.receive(timeout: .seconds(5)) {
                    received.withLock { $0.append(item) }
                }
            }
        }
        for producer in producers { XCTAssertTrue(producer.wait()) }
        queue.finish()
        for consumer in consumers { XCTAssertTrue(consumer.wait()) }
        XCTAssertEqual(received.current.sorted(), Array(0..<300))
        XCTAssertLessThanOrEqual(queue.highWaterMark, 3)
    }
}
