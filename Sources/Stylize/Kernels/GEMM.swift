import COpenBLAS

/// Matrix products for the convolutions: OpenBLAS `cblas_sgemm`, single-threaded per call, with the
/// columns (or, for narrow products, the rows) split across our own threads.
///
/// Why not OpenBLAS's threads: its worker threads keep spinning for a while after each product, and the
/// transform and normalisation passes between products run on our threads, so the two pools fought over
/// the same cores (measured: 20–40% slower, and very noisy, at 2 threads on 2 cores). Keeping OpenBLAS at one
/// thread and parallelising ourselves means exactly `threads` busy threads at any time; it also makes
/// several single-threaded workers in one process safe and predictable.
package enum GEMM {
    /// C[m×n] = op(A)·op(B) (+ C when `accumulate`), row-major, split over `pool` (nil: on the calling thread).
    /// `transA` reads A as stored [k×m] (lda ≥ m); otherwise A is [m×k]. `transB` reads B as stored [n×k]
    /// (ldb ≥ k; the weight gradient dY·colᵀ of training); otherwise B is [k×n].
    package static func multiply(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
                                 b: UnsafePointer<Float>, ldb: Int, transB: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int,
                                 accumulate: Bool = false, pool: ComputePool?) {
        func run(_ m: Int, _ n: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                        1, a, Int32(lda), b, Int32(ldb), accumulate ? 1 : 0, c, Int32(ldc))
        }
        let t = pool?.threads ?? 1
        guard let pool, t > 1, m * n * k >= 1 << 18 else {
            run(m, n, a, b, c)
            return
        }
        if n >= 64 * t {
            // Split the columns; chunks are multiples of 16 so each starts on a cache line.
            let chunk = ((n + t - 1) / t + 15) / 16 * 16
            let parts = (n + chunk - 1) / chunk
            pool.parallelFor(parts) { i in
                let j0 = i * chunk, j1 = min(n, j0 + chunk)
                run(m, j1 - j0, a, transB ? b + j0 * ldb : b + j0, c + j0)
            }
        } else {
            let chunk = (m + t - 1) / t
            let parts = (m + chunk - 1) / chunk
            pool.parallelFor(parts) { i in
                let i0 = i * chunk, i1 = min(m, i0 + chunk)
                run(i1 - i0, n, transA ? a + i0 : a + i0 * lda, b, c + i0 * ldc)
            }
        }
    }
}
