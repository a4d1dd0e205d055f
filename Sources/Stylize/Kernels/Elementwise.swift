import CKernels
import Foundation

/// Element-wise and layout kernels on C×H×W planes. Each has the obvious loop form; they are written over raw
/// pointers so the optimiser vectorises them.
package enum Elementwise {
    static func relu(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { p[i] = max(p[i], 0) }
    }

    /// y = min(max(x, lo), hi); `y` may equal `x`.
    static func clip(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int, min lo: Float, max hi: Float) {
        for i in 0..<n { y[i] = Swift.min(Swift.max(x[i], lo), hi) }
    }

    static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] = a[i] + b[i] }
    }

    /// y = affine(a) + b (a normalised residual branch added to its shortcut); `y` may equal `a`.
    static func add(_ a: UnsafePointer<Float>, mappedBy affine: PlaneAffine, _ b: UnsafePointer<Float>,
                    into y: UnsafeMutablePointer<Float>, _ n: Int) {
        let (s, t) = (affine.a, affine.b)
        if affine.relu {
            for i in 0..<n { y[i] = max(a[i] * s + t, 0) + b[i] }
        } else {
            for i in 0..<n { y[i] = a[i] * s + t + b[i] }
        }
    }

    static func scalarAffine(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int, alpha: Float, beta: Float) {
        for i in 0..<n { y[i] = x[i] * alpha + beta }
    }

    /// True when this CPU runs the AVX2 kernels of `CKernels` (tests check they are not comparing the portable
    /// loops with themselves).
    package static var vectorizedKernels: Bool { streamd_kernels_vectorized() }

    /// scale·tanh(x) + shift on AVX2 (`CKernels`, tanh's absolute error below 2e-7) where the CPU has it, else
    /// from `tanhReference`.
    package static func tanh(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int,
                             scale: Float = 1, shift: Float = 0) {
        if !streamd_tanh_affine(x, y, n, scale, shift) {
            tanhReference(x, into: y, n)
            if scale != 1 || shift != 0 { scalarAffine(y, into: y, n, alpha: scale, beta: shift) }
        }
    }

    package static func tanhReference(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] = Foundation.tanh(x[i]) }
    }

    /// σ(x) = ½·tanh(x/2) + ½ on the AVX2 tanh where the CPU has it (absolute error below 1e-7), else
    /// `sigmoidReference`. `y` may equal `x`.
    package static func sigmoid(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        guard vectorizedKernels else { return sigmoidReference(x, into: y, n) }
        scalarAffine(x, into: y, n, alpha: 0.5, beta: 0)
        _ = streamd_tanh_affine(y, y, n, 0.5, 0.5)
    }

    package static func sigmoidReference(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] = 1 / (1 + Foundation.exp(-x[i])) }
    }

    /// Folds an index that may lie outside 0..<n back inside by mirroring (without repeating the edge), or
    /// clamps it (edge mode). Repeated folding keeps very large pads well defined on tiny inputs.
    @inline(__always)
    package static func sourceIndex(_ i: Int, _ n: Int, _ mode: PadMode) -> Int {
        if i >= 0 && i < n { return i }
        switch mode {
        case .edge, .zero:
            return i < 0 ? 0 : n - 1
        case .reflect:
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var m = i % period
            if m < 0 { m += period }
            return m < n ? m : period - m
        }
    }

    /// Pads every plane of `x` (c×h×w) into `y` (c×(h+t+b)×(w+l+r)), mapping each channel's values through
    /// `affines[ch]` on the way (a normalisation folded into its reader) when given.
    package static func pad(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, pads: Pads, mode: PadMode,
                            affines: [PlaneAffine]? = nil, into y: UnsafeMutablePointer<Float>, pool: ComputePool) {
        let ho = h + pads.top + pads.bottom, wo = w + pads.left + pads.right
        let colMap = padColumns(w: w, pads: pads, mode: mode)
        colMap.withUnsafeBufferPointer { cmap in
            pool.parallelFor(c) { ch in
                padPlane(x + ch * h * w, h: h, w: w, pads: pads, mode: mode, columns: cmap, affine: affines?[ch], into: y + ch * ho * wo)
            }
        }
    }

    /// The source column of each padded column (`padPlane`'s `columns`); with `factor`, the column of the
    /// nearest-upsampled row each one repeats (`padUpsampleRows`' `columns`).
    package static func padColumns(w: Int, factor f: Int = 1, pads: Pads, mode: PadMode) -> [Int] {
        (0..<(w * f + pads.left + pads.right)).map { sourceIndex($0 - pads.left, w * f, mode) }
    }

    /// Pads one h×w plane into (h+t+b)×(w+l+r): for kernels that pad a channel just before they read it, while
    /// it is still in cache. With `affine`, the copied values are mapped through it (zero padding stays zero).
    package static func padPlane(_ src: UnsafePointer<Float>, h: Int, w: Int, pads: Pads, mode: PadMode, columns cmap: UnsafeBufferPointer<Int>,
                                 affine: PlaneAffine? = nil, into dst: UnsafeMutablePointer<Float>) {
        let ho = h + pads.top + pads.bottom, wo = w + pads.left + pads.right
        for oy in 0..<ho {
            let sy = oy - pads.top
            let drow = dst + oy * wo
            if mode == .zero && (sy < 0 || sy >= h) {
                drow.update(repeating: 0, count: wo)
                continue
            }
            let srow = src + sourceIndex(sy, h, mode) * w
            let mid = drow + pads.left
            if let affine { affine.apply(srow, into: mid, w) } else { mid.update(from: srow, count: w) }
            // Border columns repeat (already mapped) columns of this row.
            for ox in 0..<pads.left { drow[ox] = mode == .zero ? 0 : mid[cmap[ox]] }
            for ox in (pads.left + w)..<wo { drow[ox] = mode == .zero ? 0 : mid[cmap[ox]] }
        }
    }

    /// Rows `rowStart ..< rowStart + rows` of pad(upsampleNearest(x, factor), pads, mode) for every channel,
    /// into y (c × rows × (w·factor + left + right)): the part of a padded (and upsampled) input that one band
    /// of a convolution reads, so the whole padded tensor never has to exist. With `affines`, each channel's
    /// values are mapped through its `PlaneAffine` on the way.
    static func padUpsampleRows(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, factor f: Int, pads: Pads, mode: PadMode,
                                affines: [PlaneAffine]? = nil, rowStart: Int, rows: Int, into y: UnsafeMutablePointer<Float>,
                                pool: ComputePool) {
        let wo = w * f + pads.left + pads.right
        padColumns(w: w, factor: f, pads: pads, mode: mode).withUnsafeBufferPointer { cmap in
            pool.parallelFor(c) { ch in
                padUpsampleRows(x + ch * h * w, h: h, w: w, factor: f, pads: pads, mode: mode, columns: cmap, affine: affines?[ch],
                                rowStart: rowStart, rows: rows, into: y + ch * rows * wo)
            }
        }
    }

    /// One plane's part of `padUpsampleRows`, for kernels that build the rows a band reads just before they
    /// read them.
    static func padUpsampleRows(_ src: UnsafePointer<Float>, h: Int, w: Int, factor f: Int, pads: Pads, mode: PadMode,
                                columns cmap: UnsafeBufferPointer<Int>, affine: PlaneAffine?, rowStart: Int, rows: Int,
                                into dst: UnsafeMutablePointer<Float>) {
        let uh = h * f, uw = w * f
        let wo = uw + pads.left + pads.right
        for i in 0..<rows {
            let uy = rowStart + i - pads.top
            let drow = dst + i * wo
            if mode == .zero && (uy < 0 || uy >= uh) {
                drow.update(repeating: 0, count: wo)
                continue
            }
            let srow = src + (sourceIndex(uy, uh, mode) / f) * w
            let mid = drow + pads.left
            if f == 1 {
                if let affine { affine.apply(srow, into: mid, w) } else { mid.update(from: srow, count: w) }
            } else if let affine {
                for j in 0..<uw { mid[j] = affine(srow[j / f]) }
            } else if f == 2 {
                for j in 0..<w { let v = srow[j]; mid[2 * j] = v; mid[2 * j + 1] = v }
            } else {
                for j in 0..<uw { mid[j] = srow[j / f] }
            }
            // Border columns repeat (already mapped) columns of this row.
            for ox in 0..<pads.left { drow[ox] = mode == .zero ? 0 : mid[cmap[ox]] }
            for ox in (pads.left + uw)..<wo { drow[ox] = mode == .zero ? 0 : mid[cmap[ox]] }
        }
    }

    package static func crop(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, pads: Pads, into y: UnsafeMutablePointer<Float>) {
        let ho = h - pads.top - pads.bottom, wo = w - pads.left - pads.right
        for ch in 0..<c {
            for oy in 0..<ho {
                (y + (ch * ho + oy) * wo).update(from: x + (ch * h + oy + pads.top) * w + pads.left, count: wo)
            }
        }
    }

    static func upsampleNearest(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, factor f: Int, into y: UnsafeMutablePointer<Float>) {
        let wo = w * f
        for ch in 0..<c {
            for iy in 0..<h {
                let src = x + (ch * h + iy) * w
                let first = y + (ch * h * f + iy * f) * wo
                for ix in 0..<w {
                    let v = src[ix]
                    for k in 0..<f { first[ix * f + k] = v }
                }
                for r in 1..<max(f, 1) { (first + r * wo).update(from: first, count: wo) }
            }
        }
    }

    static func maxPool(_ x: UnsafePointer<Float>, h: Int, w: Int, kernel k: Int, stride s: Int, into y: UnsafeMutablePointer<Float>) {
        let ho = (h - k) / s + 1, wo = (w - k) / s + 1
        for oy in 0..<ho {
            for ox in 0..<wo {
                var m = -Float.infinity
                for ky in 0..<k {
                    let row = x + (oy * s + ky) * w + ox * s
                    for kx in 0..<k { m = max(m, row[kx]) }
                }
                y[oy * wo + ox] = m
            }
        }
    }
}
