/// Conversions between interleaved RGB pictures (0..255) and the planar network tensors, applying a model's
/// input and output transforms on the way.
enum Transforms {
    /// Network channel c reads RGB channel `source[c]`.
    static func order(_ o: InputTransform.ChannelOrder) -> [Int] { o == .rgb ? [0, 1, 2] : [2, 1, 0] }

    /// HWC RGB values (any numeric source via `load`) → CHW network input.
    static func packInput<T>(_ src: UnsafePointer<T>, height: Int, width: Int, rowStride: Int,
                             transform t: InputTransform, into dst: UnsafeMutablePointer<Float>,
                             load: (T) -> Float) {
        let ord = order(t.channelOrder)
        let plane = height * width
        for c in 0..<3 {
            let a = t.scale / t.std[c], b = -t.mean[c] / t.std[c]
            let s = ord[c]
            let out = dst + c * plane
            for y in 0..<height {
                let row = src + y * rowStride
                let o = out + y * width
                for x in 0..<width { o[x] = load(row[x * 3 + s]) * a + b }
            }
        }
    }

    static func packInput(_ src: UnsafePointer<Float>, height: Int, width: Int, rowStride: Int,
                          transform t: InputTransform, into dst: UnsafeMutablePointer<Float>) {
        packInput(src, height: height, width: width, rowStride: rowStride, transform: t, into: dst) { $0 }
    }

    static func packInput(_ src: UnsafePointer<UInt8>, height: Int, width: Int, rowStride: Int,
                          transform t: InputTransform, into dst: UnsafeMutablePointer<Float>) {
        packInput(src, height: height, width: width, rowStride: rowStride, transform: t, into: dst) { Float($0) }
    }

    /// CHW network output → HWC RGB floats on the 0..255 scale (unclipped).
    static func unpackOutput(_ src: UnsafePointer<Float>, height: Int, width: Int,
                             transform t: OutputTransform, into dst: UnsafeMutablePointer<Float>) {
        let ord = order(t.channelOrder)
        let plane = height * width
        for c in 0..<3 {
            let a = t.std[c] * t.scale, b = t.mean[c] * t.scale
            let d = ord[c]
            let p = src + c * plane
            for i in 0..<plane { dst[i * 3 + d] = p[i] * a + b }
        }
    }
}
