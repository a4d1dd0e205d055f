import Foundation

/// Runs `body(i)` for i in 0..<n on up to `threads` threads and returns when all are done.
///
/// Used for the memory-bound passes between GEMMs (im2col, normalisation, scatter), which would otherwise
/// leave every core but one idle. GEMMs themselves are threaded by OpenBLAS.
@inline(__always)
func parallelFor(_ n: Int, threads: Int, _ body: (Int) -> Void) {
    if threads <= 1 || n <= 1 {
        for i in 0..<n { body(i) }
        return
    }
    let t = min(threads, n)
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: t) { k in
            var i = k
            while i < n {
                box.value(i)
                i += t
            }
        }
    }
}

/// Carries a non-Sendable closure into `concurrentPerform`; sound because every caller partitions the
/// work so iterations never touch the same memory.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
