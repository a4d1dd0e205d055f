import COpenBLAS

/// Convolutions on OpenBLAS `cblas_sgemm`.
///
/// Two lowerings, chosen per layer when a plan is compiled:
/// - **im2col + GEMM** (`forwardIm2col`): the input patches of a band of output rows are laid out as a
///   K×N matrix (K = Cin·kh·kw) and multiplied by the weights [Cout × K]. Good when Cout is large.
/// - **GEMM + col2im** (`forwardCol2im`): the weights, repacked as [(Cout·kh·kw) × Cin], multiply the input
///   itself and the kh·kw shifted partial products are summed into the output. This turns the 32→3 9×9
///   output layer, a 3-row GEMM that runs at a few GFLOP/s, into a 243-row one.
/// Both work on an input that is already padded (`Elementwise.pad`) and process bands of output rows so the
/// scratch matrices stay within a few megabytes (cache-sized) at any frame size.
enum Convolution {
    /// Floats of scratch per band: about 16 MB, large enough for efficient GEMMs and small enough for the L3.
    static let bandBudget = 4 << 20

    struct Geometry {
        var cin: Int, hp: Int, wp: Int        // padded input
        var cout: Int, kh: Int, kw: Int
        var sh: Int, sw: Int
        var ho: Int { (hp - kh) / sh + 1 }
        var wo: Int { (wp - kw) / sw + 1 }
        var k: Int { cin * kh * kw }
    }

    /// y[cout, ho, wo] = W[cout, K] · im2col(xp), band by band.
    static func forwardIm2col(_ xp: UnsafePointer<Float>, _ g: Geometry, weight: UnsafePointer<Float>,
                              into y: UnsafeMutablePointer<Float>, workspace: Workspace, threads: Int) {
        let ho = g.ho, wo = g.wo, k = g.k
        if g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.cout), Int32(ho * wo), Int32(k),
                        1, weight, Int32(k), xp, Int32(ho * wo), 0, y, Int32(ho * wo))
            return
        }
        let bandRows = max(1, min(ho, bandBudget / max(k * wo, 1)))
        let col = workspace.scratch(0, k * bandRows * wo)
        var oy0 = 0
        while oy0 < ho {
            let rows = min(bandRows, ho - oy0)
            let n = rows * wo
            parallelFor(k, threads: threads) { r in
                let ci = r / (g.kh * g.kw), rem = r % (g.kh * g.kw), ky = rem / g.kw, kx = rem % g.kw
                let dst = col + r * n
                let plane = xp + ci * g.hp * g.wp
                for oy in 0..<rows {
                    let src = plane + ((oy0 + oy) * g.sh + ky) * g.wp + kx
                    let d = dst + oy * wo
                    if g.sw == 1 {
                        d.update(from: src, count: wo)
                    } else {
                        for ox in 0..<wo { d[ox] = src[ox * g.sw] }
                    }
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.cout), Int32(n), Int32(k),
                        1, weight, Int32(k), col, Int32(n), 0, y + oy0 * wo, Int32(ho * wo))
            oy0 += rows
        }
    }

    /// Repacks OIHW weights as [(co, ky, kx) × ci] for `forwardCol2im`.
    static func packCol2im(_ w: [Float], cout: Int, cin: Int, kh: Int, kw: Int) -> [Float] {
        var out = [Float](repeating: 0, count: w.count)
        for co in 0..<cout {
            for ci in 0..<cin {
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        out[((co * kh + ky) * kw + kx) * cin + ci] = w[((co * cin + ci) * kh + ky) * kw + kx]
                    }
                }
            }
        }
        return out
    }

    /// y = Σ over (ky, kx) of shifted rows of (Wpacked · xp); see the type's notes.
    static func forwardCol2im(_ xp: UnsafePointer<Float>, _ g: Geometry, packedWeight: UnsafePointer<Float>,
                              into y: UnsafeMutablePointer<Float>, workspace: Workspace, threads: Int) {
        let ho = g.ho, wo = g.wo
        let m = g.cout * g.kh * g.kw
        let bandRows = max(1, min(ho, bandBudget / max(m * g.sh * g.wp, 1)))
        let tmp = workspace.scratch(1, m * ((bandRows - 1) * g.sh + g.kh) * g.wp)
        var oy0 = 0
        while oy0 < ho {
            let rows = min(bandRows, ho - oy0)
            let r0 = oy0 * g.sh
            let inRows = (rows - 1) * g.sh + g.kh
            let n = inRows * g.wp
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(g.cin),
                        1, packedWeight, Int32(g.cin), xp + r0 * g.wp, Int32(g.hp * g.wp), 0, tmp, Int32(n))
            parallelFor(rows, threads: threads) { i in
                let oy = oy0 + i
                for co in 0..<g.cout {
                    let dst = y + (co * ho + oy) * wo
                    dst.update(repeating: 0, count: wo)
                    for ky in 0..<g.kh {
                        let rowBase = (oy * g.sh + ky - r0) * g.wp
                        for kx in 0..<g.kw {
                            let src = tmp + ((co * g.kh + ky) * g.kw + kx) * n + rowBase + kx
                            if g.sw == 1 {
                                for ox in 0..<wo { dst[ox] += src[ox] }
                            } else {
                                for ox in 0..<wo { dst[ox] += src[ox * g.sw] }
                            }
                        }
                    }
                }
            }
            oy0 += rows
        }
    }

    struct TransposeGeometry {
        var cin: Int, hin: Int, win: Int
        var cout: Int, kh: Int, kw: Int
        var sh: Int, sw: Int
        var padTop: Int, padLeft: Int
        var ho: Int, wo: Int
    }

    /// Transposed convolution in scatter form: GEMM Wᵀ·x, then each (co, ky, kx) row is added at
    /// (i·s + ky - padTop, j·s + kx - padLeft). Contributions outside the output are dropped.
    static func transposed(_ x: UnsafePointer<Float>, _ g: TransposeGeometry, weight: UnsafePointer<Float>,
                           into y: UnsafeMutablePointer<Float>, workspace: Workspace, threads: Int) {
        let m = g.cout * g.kh * g.kw
        let bandRows = max(1, min(g.hin, bandBudget / max(m * g.win, 1)))
        let tmp = workspace.scratch(1, m * bandRows * g.win)
        y.update(repeating: 0, count: g.cout * g.ho * g.wo)
        var i0 = 0
        while i0 < g.hin {
            let rows = min(bandRows, g.hin - i0)
            let n = rows * g.win
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(n), Int32(g.cin),
                        1, weight, Int32(m), x + i0 * g.win, Int32(g.hin * g.win), 0, tmp, Int32(n))
            parallelFor(g.cout, threads: threads) { co in
                let plane = y + co * g.ho * g.wo
                for ky in 0..<g.kh {
                    for kx in 0..<g.kw {
                        let src = tmp + ((co * g.kh + ky) * g.kw + kx) * n
                        // Columns j whose target ox = j·sw + kx - padLeft lies in 0..<wo.
                        let last = g.wo - 1 + g.padLeft - kx
                        if last < 0 { continue }
                        let jLo = max(0, (g.padLeft - kx + g.sw - 1) / g.sw)
                        let jHi = min(g.win, last / g.sw + 1)
                        if jLo >= jHi { continue }
                        for i in 0..<rows {
                            let oy = (i0 + i) * g.sh + ky - g.padTop
                            if oy < 0 || oy >= g.ho { continue }
                            let srow = src + i * g.win
                            let drow = plane + oy * g.wo + kx - g.padLeft
                            if g.sw == 2 {
                                for j in jLo..<jHi { drow[2 * j] += srow[j] }
                            } else {
                                for j in jLo..<jHi { drow[j * g.sw] += srow[j] }
                            }
                        }
                    }
                }
            }
            i0 += rows
        }
    }

    static func addBias(_ y: UnsafeMutablePointer<Float>, channels: Int, plane: Int, bias: UnsafePointer<Float>) {
        for c in 0..<channels {
            let p = y + c * plane, b = bias[c]
            for i in 0..<plane { p[i] += b }
        }
    }
}
