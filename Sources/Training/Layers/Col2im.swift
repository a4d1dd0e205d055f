import Stylize

/// The adjoint of `Convolution.im2col`: adds each entry of a K×(rows·wo) column-gradient matrix back onto the
/// padded-input position that im2col copied it from, so dXp = col2im(Wᵀ·dY) (Caffe's `col2im_cpu`, band by
/// band like the forward). Overlapping 3×3 windows make this a sum, not a copy.
enum Col2im {
    /// dxp[ci, oy·sh+ky, ox·sw+kx] += dcol[(ci, ky, kx), (oy − rows.lowerBound)·wo + ox] for oy in `rows`.
    /// Threads own input channels (the rows (ci, ·, ·) of dcol and the plane ci of dxp), so additions never race.
    static func add(_ dcol: UnsafePointer<Float>, _ g: Convolution.Geometry, rows: Range<Int>,
                    into dxp: UnsafeMutablePointer<Float>, pool: ComputePool) {
        let wo = g.wo, n = rows.count * wo, taps = g.kh * g.kw
        pool.parallelFor(g.cin) { ci in
            let plane = dxp + ci * g.hp * g.wp
            for t in 0..<taps {
                let ky = t / g.kw, kx = t % g.kw
                let src = dcol + (ci * taps + t) * n
                for (i, oy) in rows.enumerated() {
                    let d = plane + (oy * g.sh + ky) * g.wp + kx
                    let s = src + i * wo
                    if g.sw == 1 {
                        for ox in 0..<wo { d[ox] += s[ox] }
                    } else {
                        for ox in 0..<wo { d[ox * g.sw] += s[ox] }
                    }
                }
            }
        }
    }
}
