import COpenBLAS

/// 3×3 stride-1 convolution by Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray 2016), m = 2 or 4.
///
/// Each m×m output tile costs (m+2)² multiplications per channel pair instead of 9m²: 2.25× fewer for
/// F(2×2), 4× fewer for F(4×4). The transforms are per channel (not per channel pair), so they are cheap
/// next to the (m+2)² GEMMs [Cout × Cin]·[Cin × tiles] that OpenBLAS runs. The transforms are written over
/// whole rows of tiles so the loops vectorise: rows of the input are combined first (contiguous), then the
/// columns of each tile, writing each of the (m+2)² planes contiguously.
///
/// Rounding: F(2×2) stays within ~1e-6 relative of direct convolution; F(4×4) within ~1e-5 (its transform
/// coefficients reach 8 and 1/24), still far inside the reference tests' tolerance.
enum Winograd {
    struct Transform: Sendable {
        let m: Int
        var alpha: Int { m + 2 }
        /// Bᵀ (alpha × alpha), G (alpha × 3), Aᵀ (m × alpha), row-major.
        let bt: [Float], g: [Float], at: [Float]
    }

    static let f2 = Transform(
        m: 2,
        bt: [1, 0, -1, 0,
             0, 1, 1, 0,
             0, -1, 1, 0,
             0, 1, 0, -1],
        g: [1, 0, 0,
            0.5, 0.5, 0.5,
            0.5, -0.5, 0.5,
            0, 0, 1],
        at: [1, 1, 1, 0,
             0, 1, -1, -1])

    static let f4 = Transform(
        m: 4,
        bt: [4, 0, -5, 0, 1, 0,
             0, -4, -4, 1, 1, 0,
             0, 4, -4, -1, 1, 0,
             0, -2, -1, 2, 1, 0,
             0, 2, -1, -2, 1, 0,
             0, 4, 0, -5, 0, 1],
        g: [1.0 / 4, 0, 0,
            -1.0 / 6, -1.0 / 6, -1.0 / 6,
            -1.0 / 6, 1.0 / 6, -1.0 / 6,
            1.0 / 24, 1.0 / 12, 1.0 / 6,
            1.0 / 24, -1.0 / 12, 1.0 / 6,
            0, 0, 1],
        at: [1, 1, 1, 1, 1, 0,
             0, 1, -1, 2, -2, 0,
             0, 1, 1, 4, 4, 0,
             0, 1, -1, 8, -8, 1])

    /// U = G·g·Gᵀ for every (co, ci), stored as alpha² matrices [Cout × Cin] (index ξ = alpha·i + j).
    static func pack(_ w: [Float], cout: Int, cin: Int, transform t: Transform) -> [Float] {
        let a = t.alpha
        var u = [Float](repeating: 0, count: a * a * cout * cin)
        var gg = [Double](repeating: 0, count: a * 3)
        for co in 0..<cout {
            for ci in 0..<cin {
                let base = (co * cin + ci) * 9
                for r in 0..<a {
                    for c in 0..<3 {
                        var s = 0.0
                        for k in 0..<3 { s += Double(t.g[r * 3 + k]) * Double(w[base + k * 3 + c]) }
                        gg[r * 3 + c] = s
                    }
                }
                for r in 0..<a {
                    for c in 0..<a {
                        var s = 0.0
                        for k in 0..<3 { s += gg[r * 3 + k] * Double(t.g[c * 3 + k]) }
                        u[((r * a + c) * cout + co) * cin + ci] = Float(s)
                    }
                }
            }
        }
        return u
    }

    /// y[cout, hp-2, wp-2] = conv3×3(xp) for an already padded input.
    static func forward(_ xp: UnsafePointer<Float>, cin: Int, hp: Int, wp: Int, packed u: UnsafePointer<Float>, cout: Int,
                        transform t: Transform, into y: UnsafeMutablePointer<Float>, workspace: Workspace, threads: Int) {
        let m = t.m, a = t.alpha, planes = a * a
        let ho = hp - 2, wo = wp - 2
        let th = (ho + m - 1) / m, tw = (wo + m - 1) / m
        let bandRows = max(1, min(th, Convolution.bandBudget * 4 / max(planes * max(cin, cout) * tw, 1)))
        let v = workspace.scratch(0, planes * cin * bandRows * tw)
        let mm = workspace.scratch(1, planes * cout * bandRows * tw)
        let rowLen = m * tw + 2
        var t0 = 0
        while t0 < th {
            let rows = min(bandRows, th - t0)
            let n = rows * tw
            // Input transform V = Bᵀ·d·B.
            parallelFor(cin, threads: threads) { ci in
                let plane = xp + ci * hp * wp
                let xiStride = cin * n
                let vbase = v + ci * n
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * a * rowLen) { tmp in
                    let rowsIn = tmp.baseAddress!, trows = rowsIn + a * rowLen
                    for r in 0..<rows {
                        let iy = m * (t0 + r)
                        for i in 0..<a {
                            let dst = rowsIn + i * rowLen
                            if iy + i < hp {
                                let k = min(wp, rowLen)
                                dst.update(from: plane + (iy + i) * wp, count: k)
                                if k < rowLen { (dst + k).update(repeating: 0, count: rowLen - k) }
                            } else {
                                dst.update(repeating: 0, count: rowLen)
                            }
                        }
                        // Rows: T_k = Σ_i Bᵀ[k][i]·R_i.
                        for k in 0..<a {
                            let q = trows + k * rowLen
                            q.update(repeating: 0, count: rowLen)
                            for i in 0..<a {
                                let c = t.bt[k * a + i]
                                if c == 0 { continue }
                                let src = rowsIn + i * rowLen
                                for x in 0..<rowLen { q[x] += c * src[x] }
                            }
                        }
                        // Columns: V[k·a + c][tile] = Σ_j Bᵀ[c][j]·T_k[m·tc + j].
                        for k in 0..<a {
                            let q = trows + k * rowLen
                            for c in 0..<a {
                                let o = vbase + (k * a + c) * xiStride + r * tw
                                o.update(repeating: 0, count: tw)
                                for j in 0..<a {
                                    let coef = t.bt[c * a + j]
                                    if coef == 0 { continue }
                                    let src = q + j
                                    for tc in 0..<tw { o[tc] += coef * src[m * tc] }
                                }
                            }
                        }
                    }
                }
            }
            for xi in 0..<planes {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(n), Int32(cin),
                            1, u + xi * cout * cin, Int32(cin), v + xi * cin * n, Int32(n), 0, mm + xi * cout * n, Int32(n))
            }
            // Output transform Y = Aᵀ·M·A.
            parallelFor(cout, threads: threads) { co in
                let xiStride = cout * n
                let plane = y + co * ho * wo
                withUnsafeTemporaryAllocation(of: Float.self, capacity: m * a * tw + m * tw) { tmp in
                    let s = tmp.baseAddress!
                    let outRow = s + m * a * tw
                    for r in 0..<rows {
                        let mb = mm + co * n + r * tw
                        // s[rIdx][j] = Σ_i Aᵀ[rIdx][i]·M[i·a + j]  (contiguous in the tile index)
                        for ri in 0..<m {
                            for j in 0..<a {
                                let dst = s + (ri * a + j) * tw
                                dst.update(repeating: 0, count: tw)
                                for i in 0..<a {
                                    let c = t.at[ri * a + i]
                                    if c == 0 { continue }
                                    let src = mb + (i * a + j) * xiStride
                                    for tc in 0..<tw { dst[tc] += c * src[tc] }
                                }
                            }
                        }
                        // y[m·tr + ri][m·tc + b] = Σ_j Aᵀ[b][j]·s[ri][j]
                        for ri in 0..<m {
                            let oy = m * (t0 + r) + ri
                            if oy >= ho { break }
                            for b in 0..<m {
                                let dst = outRow + b * tw
                                dst.update(repeating: 0, count: tw)
                                for j in 0..<a {
                                    let c = t.at[b * a + j]
                                    if c == 0 { continue }
                                    let src = s + (ri * a + j) * tw
                                    for tc in 0..<tw { dst[tc] += c * src[tc] }
                                }
                            }
                            let row = plane + oy * wo
                            for tc in 0..<tw {
                                let ox = m * tc
                                for b in 0..<min(m, wo - ox) { row[ox + b] = outRow[b * tw + tc] }
                            }
                        }
                    }
                }
            }
            t0 += rows
        }
    }
}
