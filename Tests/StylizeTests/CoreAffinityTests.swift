import Foundation
import Synchronization
@testable import Stylize
import XCTest

/// Compute threads on distinct cores: pools reserve cores, their threads run only there, and a caller's
/// thread gets its CPU set back after a run.
final class CoreAffinityTests: XCTestCase {
    func testPoolThreadsRunOnDistinctReservedCores() throws {
        let allowed = try XCTUnwrap(CoreAffinity.currentMask(), "sched_getaffinity works on Linux")
        XCTAssertFalse(allowed.isEmpty)
        let threads = min(2, allowed.count)
        let pool = ComputePool(threads: threads)
        let cores = try XCTUnwrap(pool.pinnedCores, "a pool no larger than the machine is pinned")
        XCTAssertEqual(cores.count, threads)
        XCTAssertEqual(Set(cores).count, threads, "distinct cores")
        XCTAssertTrue(Set(cores).isSubset(of: Set(allowed)))

        // Every pass runs on a thread restricted to exactly one of the reserved cores.
        let seen = Mutex<Set<[Int]>>([])
        pool.pinningCaller {
            for _ in 0..<50 {
                pool.parallelFor(8) { _ in
                    let mask = CoreAffinity.currentMask() ?? []
                    seen.withLock { _ = $0.insert(mask) }
                    var x = 0.0
                    for i in 0..<20_000 { x += Double(i).squareRoot() }
                    XCTAssertGreaterThan(x, 0)
                }
            }
        }
        let masks = seen.withLock { $0 }
        for mask in masks {
            XCTAssertEqual(mask.count, 1, "each compute thread is on one core: \(masks)")
            XCTAssertTrue(cores.contains(mask[0]), "\(mask) within \(cores)")
        }
        XCTAssertEqual(CoreAffinity.currentMask(), allowed, "the caller gets its CPU set back")

        // Cores are not handed out twice while the pool lives; they are free again once it is gone.
        if allowed.count - threads < threads {
            XCTAssertNil(ComputePool(threads: threads).pinnedCores, "not enough free cores: unpinned")
        }
    }

    func testReservationsAreReleased() throws {
        let allowed = try XCTUnwrap(CoreAffinity.currentMask())
        var first: [Int]?
        do {
            let pool = ComputePool(threads: allowed.count)
            first = pool.pinnedCores
            XCTAssertEqual(first?.count, allowed.count)
        }
        let again = ComputePool(threads: allowed.count)
        XCTAssertEqual(again.pinnedCores, first, "released by the first pool's deinit")
    }
}
