import COpenBLAS

/// 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016): each 2×2
/// output tile costs 16 multiplications per channel pair instead of 36, so the GEMM work of the residual
/// blocks drops 2.25×. The transforms are cheap (per channel, not per channel pair); the 16 products are
/// 16 GEMMs [Cout × Cin]·[Cin × tiles] on OpenBLAS. Numerically F(2,3) stays within about 1e-6 relative
/// of direct convolution, far inside the tolerance of the reference tests (`ReferenceKernelTests`
/// compares it with the naive loop).
enum Winograd {
    /// U = G·g·Gᵀ for every (co, ci), stored as 16 matrices [Cout × Cin] (index ξ = 4·i + j).
    static func pack(_ w: [Float], cout: Int, cin: Int) -> [Float] {
        var u = [Float](repeating: 0, count: 16 * cout * cin)
        for co in 0..<cout {
            for ci in 0..<cin {
                let g = (0..<9).map { w[(co * cin + ci) * 9 + $0] }
                // Gg: 4×3
                var gg = [Float](repeating: 0, count: 12)
                for c in 0..<3 {
                    let g0 = g[c], g1 = g[3 + c], g2 = g[6 + c]
                    gg[c] = g0
                    gg[3 + c] = (g0 + g1 + g2) / 2
                    gg[6 + c] = (g0 - g1 + g2) / 2
                    gg[9 + c] = g2
                }
                for r in 0..<4 {
                    let r0 = gg[r * 3], r1 = gg[r * 3 + 1], r2 = gg[r * 3 + 2]
                    let row = [r0, (r0 + r1 + r2) / 2, (r0 - r1 + r2) / 2, r2]
                    for c in 0..<4 { u[((r * 4 + c) * cout + co) * cin + ci] = row[c] }
                }
            }
        }
        return u
    }

    /// y[cout, hp-2, wp-2] = conv3×3(xp) for an already padded input.
    static func forward(_ xp: UnsafePointer<Float>, cin: Int, hp: Int, wp: Int, packed u: UnsafePointer<Float>, cout: Int,
                        into y: UnsafeMutablePointer<Float>, workspace: Workspace, threads: Int) {
        let ho = hp - 2, wo = wp - 2
        let th = (ho + 1) / 2, tw = (wo + 1) / 2
        let bandRows = max(1, min(th, Convolution.bandBudget * 4 / max(16 * max(cin, cout) * tw, 1)))
        let v = workspace.scratch(0, 16 * cin * bandRows * tw)
        let m = workspace.scratch(1, 16 * cout * bandRows * tw)
        var t0 = 0
        while t0 < th {
            let rows = min(bandRows, th - t0)
            let n = rows * tw
            // Input transform V = Bᵀ·d·B per channel and tile: first the row combination Bᵀ on whole rows
            // (contiguous, vectorised), then the column combination per tile, written contiguously per ξ.
            parallelFor(cin, threads: threads) { ci in
                let plane = xp + ci * hp * wp
                let xiStride = cin * n
                let vbase = v + ci * n
                let rowLen = 2 * tw + 2
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * rowLen) { tmp in
                    let rowsIn = tmp.baseAddress!, trows = rowsIn + 4 * rowLen
                    for r in 0..<rows {
                        let iy = 2 * (t0 + r)
                        for i in 0..<4 {
                            let dst = rowsIn + i * rowLen
                            if iy + i < hp {
                                let src = plane + (iy + i) * wp
                                let k = min(wp, rowLen)
                                dst.update(from: src, count: k)
                                if k < rowLen { (dst + k).update(repeating: 0, count: rowLen - k) }
                            } else {
                                dst.update(repeating: 0, count: rowLen)
                            }
                        }
                        let r0 = rowsIn, r1 = rowsIn + rowLen, r2 = rowsIn + 2 * rowLen, r3 = rowsIn + 3 * rowLen
                        let q0 = trows, q1 = trows + rowLen, q2 = trows + 2 * rowLen, q3 = trows + 3 * rowLen
                        for x in 0..<rowLen {
                            q0[x] = r0[x] - r2[x]
                            q1[x] = r1[x] + r2[x]
                            q2[x] = r2[x] - r1[x]
                            q3[x] = r1[x] - r3[x]
                        }
                        for k in 0..<4 {
                            let q = trows + k * rowLen
                            let o0 = vbase + (k * 4) * xiStride + r * tw, o1 = o0 + xiStride
                            let o2 = o1 + xiStride, o3 = o2 + xiStride
                            for tc in 0..<tw {
                                let a = q[2 * tc], b = q[2 * tc + 1], c = q[2 * tc + 2], e = q[2 * tc + 3]
                                o0[tc] = a - c
                                o1[tc] = b + c
                                o2[tc] = c - b
                                o3[tc] = b - e
                            }
                        }
                    }
                }
            }
            for xi in 0..<16 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(n), Int32(cin),
                            1, u + xi * cout * cin, Int32(cin), v + xi * cin * n, Int32(n), 0, m + xi * cout * n, Int32(n))
            }
            // Output transform Y = Aᵀ·M·A per channel and tile: Aᵀ across the 16 planes (contiguous in the
            // tile index), then A per tile into the two output rows.
            parallelFor(cout, threads: threads) { co in
                let xiStride = cout * n
                let plane = y + co * ho * wo
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * tw) { tmp in
                    let s = tmp.baseAddress!
                    for r in 0..<rows {
                        let mb = m + co * n + r * tw
                        for j in 0..<4 {
                            let a = mb + j * xiStride, b = mb + (4 + j) * xiStride
                            let c = mb + (8 + j) * xiStride, d = mb + (12 + j) * xiStride
                            let s0 = s + j * tw, s1 = s + (4 + j) * tw
                            for tc in 0..<tw {
                                s0[tc] = a[tc] + b[tc] + c[tc]
                                s1[tc] = b[tc] - c[tc] - d[tc]
                            }
                        }
                        let oy = 2 * (t0 + r)
                        for (k, row) in [(0, oy), (4, oy + 1)] where row < ho {
                            let dst = plane + row * wo
                            let a = s + k * tw, b = s + (k + 1) * tw, c = s + (k + 2) * tw, d = s + (k + 3) * tw
                            let pairs = wo / 2
                            for tc in 0..<pairs {
                                dst[2 * tc] = a[tc] + b[tc] + c[tc]
                                dst[2 * tc + 1] = b[tc] - c[tc] - d[tc]
                            }
                            if wo % 2 == 1 { dst[wo - 1] = a[pairs] + b[pairs] + c[pairs] }
                        }
                    }
                }
            }
            t0 += rows
        }
    }
}
