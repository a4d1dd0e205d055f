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
package enum Winograd {
    package struct Transform: Sendable {
        let m: Int
        var alpha: Int { m + 2 }
        /// G (alpha × 3), row-major, for the weight transform. Bᵀ and Aᵀ are written out in
        /// `inputCombine` and `outputCombine`.
        let g: [Float]
    }

    package static let f2 = Transform(
        m: 2,
        g: [1, 0, 0,
            0.5, 0.5, 0.5,
            0.5, -0.5, 0.5,
            0, 0, 1])

    package static let f4 = Transform(
        m: 4,
        g: [1.0 / 4, 0, 0,
            -1.0 / 6, -1.0 / 6, -1.0 / 6,
            -1.0 / 6, 1.0 / 6, -1.0 / 6,
            1.0 / 24, 1.0 / 12, 1.0 / 6,
            1.0 / 24, -1.0 / 12, 1.0 / 6,
            0, 0, 1])

    /// U = G·g·Gᵀ for every (co, ci), stored as alpha² matrices [Cout × Cin] (index ξ = alpha·i + j).
    package static func pack(_ w: [Float], cout: Int, cin: Int, transform t: Transform) -> [Float] {
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

    /// dst_k[x] = Σ_i Bᵀ[k][i]·src_i[x] for x < count: the input transform along one axis, written out per
    /// tile size so each output is one fused expression (loads once, no zeroing, vectorises).
    @inline(__always)
    static func inputCombine(_ m: Int, _ src: UnsafeMutablePointer<UnsafePointer<Float>>, _ dst: UnsafeMutablePointer<UnsafeMutablePointer<Float>>, _ count: Int) {
        if m == 4 {
            let s0 = src[0], s1 = src[1], s2 = src[2], s3 = src[3], s4 = src[4], s5 = src[5]
            let d0 = dst[0], d1 = dst[1], d2 = dst[2], d3 = dst[3], d4 = dst[4], d5 = dst[5]
            for x in 0..<count {
                let a0 = s0[x], a1 = s1[x], a2 = s2[x], a3 = s3[x], a4 = s4[x], a5 = s5[x]
                d0[x] = 4 * a0 - 5 * a2 + a4
                d1[x] = a4 + a3 - 4 * (a1 + a2)
                d2[x] = a4 - a3 + 4 * (a1 - a2)
                d3[x] = a4 - a2 + 2 * (a3 - a1)
                d4[x] = a4 - a2 - 2 * (a3 - a1)
                d5[x] = 4 * a1 - 5 * a3 + a5
            }
        } else {
            let s0 = src[0], s1 = src[1], s2 = src[2], s3 = src[3]
            let d0 = dst[0], d1 = dst[1], d2 = dst[2], d3 = dst[3]
            for x in 0..<count {
                let a0 = s0[x], a1 = s1[x], a2 = s2[x], a3 = s3[x]
                d0[x] = a0 - a2
                d1[x] = a1 + a2
                d2[x] = a2 - a1
                d3[x] = a1 - a3
            }
        }
    }

    /// dst_r[x] = Σ_i Aᵀ[r][i]·src_i[x]: the output transform along one axis.
    @inline(__always)
    static func outputCombine(_ m: Int, _ src: UnsafeMutablePointer<UnsafePointer<Float>>, _ dst: UnsafeMutablePointer<UnsafeMutablePointer<Float>>, _ count: Int) {
        if m == 4 {
            let s0 = src[0], s1 = src[1], s2 = src[2], s3 = src[3], s4 = src[4], s5 = src[5]
            let d0 = dst[0], d1 = dst[1], d2 = dst[2], d3 = dst[3]
            for x in 0..<count {
                let a1 = s1[x], a2 = s2[x], a3 = s3[x], a4 = s4[x]
                let p12 = a1 + a2, m12 = a1 - a2, p34 = a3 + a4, m34 = a3 - a4
                d0[x] = s0[x] + p12 + p34
                d1[x] = m12 + 2 * m34
                d2[x] = p12 + 4 * p34
                d3[x] = m12 + 8 * m34 + s5[x]
            }
        } else {
            let s0 = src[0], s1 = src[1], s2 = src[2], s3 = src[3]
            let d0 = dst[0], d1 = dst[1]
            for x in 0..<count {
                let a1 = s1[x], a2 = s2[x]
                d0[x] = s0[x] + a1 + a2
                d1[x] = a1 - a2 - s3[x]
            }
        }
    }

    /// Splits row[0..<count] into `phases` rows: dst[p·phaseLen + t] = row[phases·t + p], zero beyond the row.
    /// The 4-phase case (F(4×4)) moves 16 values at a time with vector shuffles.
    @inline(__always)
    static func deinterleave(_ row: UnsafePointer<Float>, count: Int, phases m: Int, into dst: UnsafeMutablePointer<Float>, phaseLen: Int) {
        var t = 0
        if m == 4 {
            let p0 = dst, p1 = dst + phaseLen, p2 = dst + 2 * phaseLen, p3 = dst + 3 * phaseLen
            while 4 * t + 16 <= count && t + 4 <= phaseLen {
                let v = UnsafeRawPointer(row + 4 * t).loadUnaligned(as: SIMD16<Float>.self)
                let even = v.evenHalf, odd = v.oddHalf
                UnsafeMutableRawPointer(p0 + t).storeBytes(of: even.evenHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(p1 + t).storeBytes(of: odd.evenHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(p2 + t).storeBytes(of: even.oddHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(p3 + t).storeBytes(of: odd.oddHalf, as: SIMD4<Float>.self)
                t += 4
            }
        }
        for p in 0..<m {
            let ph = dst + p * phaseLen
            for tc in t..<phaseLen {
                let x = m * tc + p
                ph[tc] = x < count ? row[x] : 0
            }
        }
    }

    /// The inverse: row[phases·t + p] = src[p·phaseLen + t] for the first `count` positions of the row.
    @inline(__always)
    static func interleave(_ src: UnsafePointer<Float>, phaseLen: Int, phases m: Int, into row: UnsafeMutablePointer<Float>, count: Int) {
        var t = 0
        if m == 4 {
            let p0 = src, p1 = src + phaseLen, p2 = src + 2 * phaseLen, p3 = src + 3 * phaseLen
            while 4 * t + 16 <= count && t + 4 <= phaseLen {
                var even = SIMD8<Float>(), odd = SIMD8<Float>()
                even.evenHalf = UnsafeRawPointer(p0 + t).loadUnaligned(as: SIMD4<Float>.self)
                even.oddHalf = UnsafeRawPointer(p2 + t).loadUnaligned(as: SIMD4<Float>.self)
                odd.evenHalf = UnsafeRawPointer(p1 + t).loadUnaligned(as: SIMD4<Float>.self)
                odd.oddHalf = UnsafeRawPointer(p3 + t).loadUnaligned(as: SIMD4<Float>.self)
                var v = SIMD16<Float>()
                v.evenHalf = even
                v.oddHalf = odd
                UnsafeMutableRawPointer(row + 4 * t).storeBytes(of: v, as: SIMD16<Float>.self)
                t += 4
            }
        }
        for x in (m * t)..<count { row[x] = src[(x % m) * phaseLen + x / m] }
    }

    /// y[cout, hp-2, wp-2] = conv3×3(xp) for an already padded input.
    /// Tile rows per band and the scratch floats (slot 0, slot 1) `forward` uses.
    static func bands(cin: Int, hp: Int, wp: Int, cout: Int, transform t: Transform) -> (rows: Int, scratch: [Int]) {
        let m = t.m, planes = t.alpha * t.alpha
        let th = (hp - 2 + m - 1) / m, tw = (wp - 2 + m - 1) / m
        let bandRows = Convolution.balancedBand(th, budget: Convolution.bandBudget * 4, perRow: planes * max(cin, cout) * tw)
        return (bandRows, [planes * cin * bandRows * tw, planes * cout * bandRows * tw])
    }

    /// Output channel planes are `yPlane` floats apart (default (hp−2)·(wp−2)).
    package static func forward(_ xp: UnsafePointer<Float>, cin: Int, hp: Int, wp: Int, packed u: UnsafePointer<Float>, cout: Int,
                        transform t: Transform, into y: UnsafeMutablePointer<Float>, yPlane: Int? = nil,
                        workspace: Workspace, pool: ComputePool) {
        let m = t.m, a = t.alpha, planes = a * a
        let ho = hp - 2, wo = wp - 2
        let yPlane = yPlane ?? ho * wo
        let th = (ho + m - 1) / m, tw = (wo + m - 1) / m
        let (bandRows, scratch) = bands(cin: cin, hp: hp, wp: wp, cout: cout, transform: t)
        let v = workspace.scratch(0, scratch[0])
        let mm = workspace.scratch(1, scratch[1])
        // Each input row is split into its m column phases (x = m·tc + p), so that every later step reads
        // and writes contiguous runs of tiles: row i, phase p is rows[(i·m + p)·phaseLen ..].
        let phaseLen = tw + 1
        let len = m * phaseLen
        var t0 = 0
        while t0 < th {
            let rows = min(bandRows, th - t0)
            let n = rows * tw
            // Input transform V = Bᵀ·d·B.
            pool.parallelFor(cin) { ci in
                let plane = xp + ci * hp * wp
                let xiStride = cin * n
                let vbase = v + ci * n
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * a * len) { tmp in
                withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 6) { srcs in
                withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: 6) { dsts in
                    let rowsIn = tmp.baseAddress!, trans = rowsIn + a * len
                    let src = srcs.baseAddress!, dst = dsts.baseAddress!
                    for r in 0..<rows {
                        let iy = m * (t0 + r)
                        for i in 0..<a {
                            let d = rowsIn + i * len
                            if iy + i < hp {
                                deinterleave(plane + (iy + i) * wp, count: wp, phases: m, into: d, phaseLen: phaseLen)
                            } else {
                                d.update(repeating: 0, count: len)
                            }
                        }
                        // Rows: trans_k = Σ_i Bᵀ[k][i]·rows_i (all phases at once).
                        for i in 0..<a { src[i] = UnsafePointer(rowsIn + i * len); dst[i] = trans + i * len }
                        inputCombine(m, src, dst, len)
                        // Columns: V[k·a + c][tc] = Σ_j Bᵀ[c][j]·trans_k[phase j mod m][tc + j / m].
                        for k in 0..<a {
                            let q = trans + k * len
                            for j in 0..<a {
                                src[j] = UnsafePointer(q + (j % m) * phaseLen + j / m)
                                dst[j] = vbase + (k * a + j) * xiStride + r * tw
                            }
                            inputCombine(m, src, dst, tw)
                        }
                    }
                }
                }
                }
            }
            // The alpha² products are independent: spread them over the threads whole (each single-threaded).
            pool.parallelFor(planes) { xi in
                GEMM.multiply(m: cout, n: n, k: cin, a: u + xi * cout * cin, lda: cin, b: v + xi * cin * n, ldb: n,
                              c: mm + xi * cout * n, ldc: n, pool: nil)
            }
            // Output transform Y = Aᵀ·M·A.
            pool.parallelFor(cout) { co in
                let xiStride = cout * n
                let plane = y + co * yPlane
                withUnsafeTemporaryAllocation(of: Float.self, capacity: m * a * tw + m * tw) { tmp in
                withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 6) { srcs in
                withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: 6) { dsts in
                    let s = tmp.baseAddress!
                    let outRow = s + m * a * tw
                    let src = srcs.baseAddress!, dst = dsts.baseAddress!
                    for r in 0..<rows {
                        let mb = mm + co * n + r * tw
                        // s[ri][j] = Σ_i Aᵀ[ri][i]·M[i·a + j]
                        for j in 0..<a {
                            for i in 0..<a { src[i] = UnsafePointer(mb + (i * a + j) * xiStride) }
                            for ri in 0..<m { dst[ri] = s + (ri * a + j) * tw }
                            outputCombine(m, src, dst, tw)
                        }
                        // y[m·tr + ri][m·tc + b] = Σ_j Aᵀ[b][j]·s[ri][j]
                        for ri in 0..<m {
                            let oy = m * (t0 + r) + ri
                            if oy >= ho { break }
                            for j in 0..<a { src[j] = UnsafePointer(s + (ri * a + j) * tw) }
                            for b in 0..<m { dst[b] = outRow + b * tw }
                            outputCombine(m, src, dst, tw)
                            interleave(outRow, phaseLen: tw, phases: m, into: plane + oy * wo, count: wo)
                        }
                    }
                }
                }
                }
            }
            t0 += rows
        }
    }
}
