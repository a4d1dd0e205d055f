import CKernels

/// Convolutions as matrix products (`GEMM`, on OpenBLAS `cblas_sgemm`).
///
/// Two lowerings, chosen per layer when a plan is compiled:
/// - **im2col + GEMM** (`forwardIm2col`): the input patches of a band of output rows are laid out as a
///   K×N matrix (K = Cin·kh·kw) and multiplied by the weights [Cout × K]. Good when Cout is large.
/// - **GEMM + col2im** (`forwardCol2im`): the weights, repacked as [(Cout·kh·kw) × Cin], multiply the input
///   itself and the kh·kw shifted partial products are summed into the output. This turns the 32→3 9×9
///   output layer, a 3-row GEMM that runs at a few GFLOP/s, into a 243-row one.
/// Both work on an input that is already padded (`Elementwise.pad`) and process bands of output rows so the
/// scratch matrices stay within a few megabytes (cache-sized) at any frame size.
package enum Convolution {
    /// Floats of scratch per band: 4 MB, large enough for efficient GEMMs, small enough to stay in cache
    /// between the GEMM and the pass that reads its result (measured: 1 MB to 16 MB bands are within noise
    /// of each other at 640×480; 256 KB bands are 2× slower).
    package static let bandBudget = 1 << 20

    /// Rows per band for `rows` rows of `perRow` floats each within `budget`, evened out so the last band is
    /// not a small remainder (a 320-column product runs far below the speed of a 2,400-column one).
    package static func balancedBand(_ rows: Int, budget: Int, perRow: Int) -> Int {
        let most = max(1, min(rows, budget / max(perRow, 1)))
        let bands = (rows + most - 1) / most
        return (rows + bands - 1) / bands
    }

    package struct Geometry {
        package var cin: Int, hp: Int, wp: Int        // padded input
        package var cout: Int, kh: Int, kw: Int
        package var sh: Int, sw: Int
        package var ho: Int { (hp - kh) / sh + 1 }
        package var wo: Int { (wp - kw) / sw + 1 }
        package var k: Int { cin * kh * kw }

        package init(cin: Int, hp: Int, wp: Int, cout: Int, kh: Int, kw: Int, sh: Int, sw: Int) {
            self.cin = cin; self.hp = hp; self.wp = wp
            self.cout = cout; self.kh = kh; self.kw = kw
            self.sh = sh; self.sw = sw
        }
    }

    /// y[cout, ho, wo] = W[cout, K] · im2col(xp), band by band.
    /// Scratch floats per slot that `forward…`/`transposed` ask the workspace for (slot 0, slot 1).
    static func im2colScratch(_ g: Geometry) -> [Int] {
        if g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 { return [0, 0] }
        return [g.k * balancedBand(g.ho, budget: bandBudget, perRow: g.k * g.wo) * g.wo, 0]
    }

    static func rowShiftScratch(_ g: Geometry) -> [Int] {
        let kRow = g.cin * g.kw
        return [kRow * (balancedBand(g.ho, budget: bandBudget, perRow: kRow * g.wo) + g.kh - 1) * g.wo, 0]
    }

    static func col2imScratch(_ g: Geometry) -> [Int] {
        let m = g.cout * g.kh * g.kw
        return [0, m * balancedBand(g.hp, budget: bandBudget, perRow: m * g.wp) * g.wp]
    }

    static func transposedScratch(_ g: TransposeGeometry) -> [Int] {
        let m = g.cout * g.kh * g.kw
        return [0, m * balancedBand(g.hin, budget: bandBudget, perRow: m * g.win) * g.win]
    }

    /// y[cout, ho, wo] = W[cout, K] · im2col(xp), band by band. Output channel planes are `yPlane` floats
    /// apart (ho·wo when y is the whole output; more when this call computes a band of a larger output).
    package static func forwardIm2col(_ xp: UnsafePointer<Float>, _ g: Geometry, weight: UnsafePointer<Float>,
                                      into y: UnsafeMutablePointer<Float>, yPlane: Int? = nil, workspace: Workspace, pool: ComputePool) {
        let ho = g.ho, wo = g.wo, k = g.k
        let yPlane = yPlane ?? ho * wo
        if g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 {
            GEMM.multiply(m: g.cout, n: ho * wo, k: k, a: weight, lda: k, b: xp, ldb: ho * wo, c: y, ldc: yPlane, pool: pool)
            return
        }
        let bandRows = balancedBand(ho, budget: bandBudget, perRow: k * wo)
        let col = workspace.scratch(0, im2colScratch(g)[0])
        var oy0 = 0
        while oy0 < ho {
            let rows = min(bandRows, ho - oy0)
            let n = rows * wo
            im2col(xp, g, rows: oy0..<(oy0 + rows), into: col, pool: pool)
            GEMM.multiply(m: g.cout, n: n, k: k, a: weight, lda: k, b: col, ldb: n, c: y + oy0 * wo, ldc: yPlane, pool: pool)
            oy0 += rows
        }
    }

    /// The K×(rows·wo) patch matrix of output rows `rows`: row r = (ci, ky, kx) holds xp[ci, oy·sh+ky, ox·sw+kx]
    /// for each (oy, ox) of the band. Shared with training, whose weight gradient multiplies by the same matrix.
    package static func im2col(_ xp: UnsafePointer<Float>, _ g: Geometry, rows: Range<Int>, into col: UnsafeMutablePointer<Float>, pool: ComputePool) {
        pool.parallelFor(g.k) { r in im2colRow(r, xp, g, rows: rows, into: col) }
    }

    /// Row r = (ci, ky, kx) of `im2col`'s matrix.
    static func im2colRow(_ r: Int, _ xp: UnsafePointer<Float>, _ g: Geometry, rows: Range<Int>, into col: UnsafeMutablePointer<Float>) {
        let wo = g.wo, n = rows.count * wo
        let ci = r / (g.kh * g.kw), rem = r % (g.kh * g.kw), ky = rem / g.kw, kx = rem % g.kw
        let dst = col + r * n
        let plane = xp + ci * g.hp * g.wp
        for (i, oy) in rows.enumerated() {
            let src = plane + (oy * g.sh + ky) * g.wp + kx
            let d = dst + i * wo
            if g.sw == 1 {
                d.update(from: src, count: wo)
            } else if g.sw == 2 {
                // Eight outputs from one 16-float load while it stays inside the padded row, then one by one.
                var ox = 0
                let inRow = g.wp - kx
                while 2 * ox + 16 <= inRow && ox + 8 <= wo {
                    UnsafeMutableRawPointer(d + ox).storeBytes(of: UnsafeRawPointer(src + 2 * ox).loadUnaligned(as: SIMD16<Float>.self).evenHalf,
                                                               as: SIMD8<Float>.self)
                    ox += 8
                }
                while ox < wo { d[ox] = src[2 * ox]; ox += 1 }
            } else {
                for ox in 0..<wo { d[ox] = src[ox * g.sw] }
            }
        }
    }

    /// Repacks OIHW weights as kh matrices [co × (ci, kx)] for `forwardRowShift`.
    static func packRowShift(_ w: [Float], cout: Int, cin: Int, kh: Int, kw: Int) -> [Float] {
        var out = [Float](repeating: 0, count: w.count)
        for ky in 0..<kh {
            for co in 0..<cout {
                for ci in 0..<cin {
                    for kx in 0..<kw {
                        out[((ky * cout + co) * cin + ci) * kw + kx] = w[((co * cin + ci) * kh + ky) * kw + kx]
                    }
                }
            }
        }
        return out
    }

    /// Stride-1 convolution with few input channels and a wide kernel (the 3→32 9×9 input layer): the
    /// patches are laid out over (ci, kx) only, for the band's input rows, and each kernel row ky is one GEMM
    /// that reads them ky rows further down and adds into the output. The column matrix is kh times smaller
    /// than im2col's (27 instead of 243 rows for conv1), which is most of that layer's memory traffic.
    static func forwardRowShift(_ xp: UnsafePointer<Float>, _ g: Geometry, packedWeight: UnsafePointer<Float>,
                                into y: UnsafeMutablePointer<Float>, yPlane: Int? = nil, workspace: Workspace, pool: ComputePool) {
        let ho = g.ho, wo = g.wo
        let yPlane = yPlane ?? ho * wo
        let kRow = g.cin * g.kw
        let bandRows = balancedBand(ho, budget: bandBudget, perRow: kRow * wo)
        let col = workspace.scratch(0, rowShiftScratch(g)[0])
        var oy0 = 0
        while oy0 < ho {
            let rows = min(bandRows, ho - oy0)
            let inRows = rows + g.kh - 1
            let n = inRows * wo
            pool.parallelFor(kRow) { r in
                let ci = r / g.kw, kx = r % g.kw
                let dst = col + r * n
                let plane = xp + ci * g.hp * g.wp
                for i in 0..<inRows {
                    (dst + i * wo).update(from: plane + (oy0 + i) * g.wp + kx, count: wo)
                }
            }
            for ky in 0..<g.kh {
                GEMM.multiply(m: g.cout, n: rows * wo, k: kRow, a: packedWeight + ky * g.cout * kRow, lda: kRow,
                              b: col + ky * wo, ldb: n, c: y + oy0 * wo, ldc: yPlane, accumulate: ky > 0, pool: pool)
            }
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

    /// y = Σ over (ky, kx) of shifted rows of (Wpacked · xp); see the type's notes. Bands of input rows do
    /// not overlap: each band's products are added into every output row they reach, so no product is
    /// computed twice. Threads own output rows, so the additions never race.
    static func forwardCol2im(_ xp: UnsafePointer<Float>, _ g: Geometry, packedWeight: UnsafePointer<Float>,
                              into y: UnsafeMutablePointer<Float>, yPlane: Int? = nil, workspace: Workspace, pool: ComputePool) {
        let ho = g.ho, wo = g.wo
        let yPlane = yPlane ?? ho * wo
        let m = g.cout * g.kh * g.kw
        let bandRows = balancedBand(g.hp, budget: bandBudget, perRow: m * g.wp)
        let tmp = workspace.scratch(1, col2imScratch(g)[1])
        for co in 0..<g.cout { (y + co * yPlane).update(repeating: 0, count: ho * wo) }
        var r0 = 0
        while r0 < g.hp {
            let rows = min(bandRows, g.hp - r0)
            let n = rows * g.wp
            GEMM.multiply(m: m, n: n, k: g.cin, a: packedWeight, lda: g.cin, b: xp + r0 * g.wp, ldb: g.hp * g.wp, c: tmp, ldc: n, pool: pool)
            // Output rows reached by input rows r0 ..< r0+rows: oy·sh + ky = r for some ky < kh.
            let oyLo = max(0, (r0 - g.kh + 1 + g.sh - 1) / g.sh)
            let oyHi = min(ho - 1, (r0 + rows - 1) / g.sh)
            if oyLo <= oyHi {
                pool.parallelFor(oyHi - oyLo + 1) { i in
                    let oy = oyLo + i
                    for ky in 0..<g.kh {
                        let r = oy * g.sh + ky
                        if r < r0 || r >= r0 + rows { continue }
                        for co in 0..<g.cout {
                            let dst = y + co * yPlane + oy * wo
                            for kx in 0..<g.kw {
                                let src = tmp + ((co * g.kh + ky) * g.kw + kx) * n + (r - r0) * g.wp + kx
                                if g.sw == 1 {
                                    for ox in 0..<wo { dst[ox] += src[ox] }
                                } else {
                                    for ox in 0..<wo { dst[ox] += src[ox * g.sw] }
                                }
                            }
                        }
                    }
                }
            }
            r0 += rows
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
                           into y: UnsafeMutablePointer<Float>, workspace: Workspace, pool: ComputePool) {
        let m = g.cout * g.kh * g.kw
        let bandRows = balancedBand(g.hin, budget: bandBudget, perRow: m * g.win)
        let tmp = workspace.scratch(1, transposedScratch(g)[1])
        // Output rows are written (not added) the first time a band reaches them, so y needs no clearing;
        // `doneBelow` is the first row no earlier band has reached.
        var doneBelow = 0
        var i0 = 0
        while i0 < g.hin {
            let rows = min(bandRows, g.hin - i0)
            let n = rows * g.win
            let firstNew = doneBelow
            GEMM.multiply(m: m, n: n, k: g.cin, a: weight, lda: m, transA: true, b: x + i0 * g.win, ldb: g.hin * g.win, c: tmp, ldc: n, pool: pool)
            // Per output channel and output row, the contributions of each (ky, kx) land on one column phase
            // (ox mod sw): accumulate them contiguously in per-phase rows, then interleave once into y.
            let phaseLen = (g.wo + g.sw - 1) / g.sw
            pool.parallelFor(g.cout) { co in
                let plane = y + co * g.ho * g.wo
                withUnsafeTemporaryAllocation(of: Float.self, capacity: g.sw * phaseLen) { buf in
                    let phases = buf.baseAddress!
                    let oyLo = max(0, i0 * g.sh - g.padTop)
                    let oyHi = min(g.ho - 1, (i0 + rows - 1) * g.sh + g.kh - 1 - g.padTop)
                    // Rows between the last band's reach and this band's first row get nothing: clear them.
                    let clearTo = min(oyLo, g.ho)
                    if firstNew < clearTo { (plane + firstNew * g.wo).update(repeating: 0, count: (clearTo - firstNew) * g.wo) }
                    if oyLo > oyHi { return }
                    for oy in oyLo...oyHi {
                        var touched = false
                        for ky in 0..<g.kh {
                            let t = oy + g.padTop - ky
                            if t < 0 || t % g.sh != 0 { continue }
                            let i = t / g.sh
                            if i < i0 || i >= i0 + rows { continue }
                            if !touched { phases.update(repeating: 0, count: g.sw * phaseLen); touched = true }
                            for kx in 0..<g.kw {
                                let src = tmp + ((co * g.kh + ky) * g.kw + kx) * n + (i - i0) * g.win
                                // ox = j·sw + kx − padLeft = q·sw + p
                                let off = kx - g.padLeft
                                var p = off % g.sw
                                if p < 0 { p += g.sw }
                                let shift = (off - p) / g.sw          // q = j + shift
                                let qCount = (g.wo - p + g.sw - 1) / g.sw
                                let jLo = max(0, -shift), jHi = min(g.win, qCount - shift)
                                if jLo >= jHi { continue }
                                let dst = phases + p * phaseLen + shift
                                for j in jLo..<jHi { dst[j] += src[j] }
                            }
                        }
                        let row = plane + oy * g.wo
                        let first = oy >= firstNew
                        if !touched {
                            if first { row.update(repeating: 0, count: g.wo) }
                            continue
                        }
                        for p in 0..<g.sw {
                            let ph = phases + p * phaseLen
                            let qCount = (g.wo - p + g.sw - 1) / g.sw
                            if first {
                                for q in 0..<qCount { row[q * g.sw + p] = ph[q] }
                            } else {
                                for q in 0..<qCount { row[q * g.sw + p] += ph[q] }
                            }
                        }
                    }
                }
            }
            doneBelow = max(doneBelow, min(g.ho, (i0 + rows - 1) * g.sh + g.kh - g.padTop))
            i0 += rows
        }
        if doneBelow < g.ho {
            for co in 0..<g.cout {
                (y + (co * g.ho + doneBelow) * g.wo).update(repeating: 0, count: (g.ho - doneBelow) * g.wo)
            }
        }
    }

    /// Depthwise convolution: channel c of y is channel c of xp (already padded) convolved with its own kh×kw
    /// kernel (weight [C, 1, kh, kw]), its bias, if any, added in the same pass. Threads own channels. 3×3
    /// kernels with stride 1 or 2 (every depthwise layer of streamd's own networks) run on the AVX2 kernel of
    /// `CKernels`; anything else, or a CPU without AVX2, on `forwardDepthwiseReference`.
    package static func forwardDepthwise(_ xp: UnsafePointer<Float>, _ g: Geometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                         into y: UnsafeMutablePointer<Float>, yPlane: Int? = nil, pool: ComputePool) {
        let ho = g.ho, wo = g.wo, yPlane = yPlane ?? ho * wo
        if g.kh == 3 && g.kw == 3 && g.sh == g.sw && (g.sh == 1 || g.sh == 2) && streamd_kernels_vectorized() {
            pool.parallelFor(g.cout) { c in
                _ = streamd_depthwise3x3(xp + c * g.hp * g.wp, g.wp, weight + c * 9, bias?[c] ?? 0, Int32(g.sh), y + c * yPlane, ho, wo)
            }
            return
        }
        forwardDepthwiseReference(xp, g, weight: weight, bias: bias, into: y, yPlane: yPlane, pool: pool)
    }

    /// The portable depthwise convolution: each kernel tap adds a scaled input row to the output row, so the
    /// inner loop is a contiguous multiply-add for stride 1.
    package static func forwardDepthwiseReference(_ xp: UnsafePointer<Float>, _ g: Geometry, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                                  into y: UnsafeMutablePointer<Float>, yPlane: Int? = nil, pool: ComputePool) {
        let ho = g.ho, wo = g.wo, yPlane = yPlane ?? ho * wo
        pool.parallelFor(g.cout) { c in
            let src = xp + c * g.hp * g.wp, dst = y + c * yPlane, w = weight + c * g.kh * g.kw
            for oy in 0..<ho {
                let out = dst + oy * wo
                out.update(repeating: bias?[c] ?? 0, count: wo)
                for ky in 0..<g.kh {
                    let row = src + (oy * g.sh + ky) * g.wp
                    for kx in 0..<g.kw {
                        let tap = w[ky * g.kw + kx], input = row + kx
                        if g.sw == 1 {
                            for ox in 0..<wo { out[ox] += tap * input[ox] }
                        } else {
                            for ox in 0..<wo { out[ox] += tap * input[ox * g.sw] }
                        }
                    }
                }
            }
        }
    }

    /// y[c·stride + i] += bias[c] for i < plane: whole planes, or (with a larger `stride`) one band of rows of each.
    package static func addBias(_ y: UnsafeMutablePointer<Float>, channels: Int, plane: Int, stride: Int? = nil, bias: UnsafePointer<Float>) {
        for c in 0..<channels {
            let p = y + c * (stride ?? plane), b = bias[c]
            for i in 0..<plane { p[i] += b }
        }
    }
}
