import CKernels
import Foundation
public import Pipeline

/// How to stylize: which style (for multi-style models), how strongly, and whether to keep the colours.
public struct StyleOptions: Sendable, Equatable {
    /// Style-weight vector for a multi-style model (sums to 1); nil means style 0. Ignored by single-style models.
    public var styleWeights: [Float]?
    /// 1 = the stylized picture, 0 = the original; in between blends them.
    public var strength: Float
    /// Keep the original's colours: luminance from the stylized picture, chroma from the original.
    public var preserveColor: Bool

    public init(styleWeights: [Float]? = nil, strength: Float = 1, preserveColor: Bool = false) {
        self.styleWeights = styleWeights
        self.strength = strength
        self.preserveColor = preserveColor
    }
}

/// Turns pictures into stylized pictures with one model: pads each frame to the model's size multiple
/// (mirroring at the bottom and right), runs the network, and crops the top-left H×W, so the output has
/// exactly the input's size and lines up with it pixel for pixel.
public final class Stylizer {
    public let session: Session
    public var model: StyleModel { session.model }

    public init(model: StyleModel, threads: Int = 1) throws {
        session = try Session(model: model, threads: threads)
    }

    public init(session: Session) { self.session = session }

    /// The most bytes `stylize` holds at once for a `height`×`width` picture (see
    /// `Session.estimatedPeakBytes`), plus the picture itself and the stylized copy it returns. Several
    /// stylizers running at once need about the sum of their estimates (plus the shared weights).
    public func estimatedPeakBytes(height: Int, width: Int) throws -> Int {
        let m = max(1, model.info.sizeMultiple)
        let hp = (height + m - 1) / m * m, wp = (width + m - 1) / m * m
        return try session.estimatedPeakBytes(height: hp, width: wp) + 2 * height * width * 3
    }

    /// With a `pool`, the result's pixels come from it (the caller recycles them when done).
    public func stylize(_ image: RGBImage, options: StyleOptions = StyleOptions(), pool: FramePool? = nil) throws -> RGBImage {
        guard options.strength.isFinite, options.strength >= 0, options.strength <= 1 else {
            throw StylizeError(.invalidArgument, "strength must be between 0 and 1, got \(options.strength)")
        }
        let h = image.height, w = image.width
        let m = max(1, model.info.sizeMultiple)
        let hp = (h + m - 1) / m * m, wp = (w + m - 1) / m * m
        let ws = session.workspace
        let buf = ws.take(3 * hp * wp)
        let rowMap = (0..<hp).map { Elementwise.sourceIndex($0, h, .reflect) }
        let colMap = (0..<wp).map { Elementwise.sourceIndex($0, w, .reflect) }
        let t = model.info.input
        let ord = Transforms.order(t.channelOrder)
        image.pixels.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                let a = t.scale / t.std[c], b = -t.mean[c] / t.std[c], s = ord[c]
                let plane = buf.base + c * hp * wp
                for y in 0..<hp {
                    let row = src.baseAddress! + rowMap[y] * w * 3
                    let o = plane + y * wp
                    for x in 0..<wp { o[x] = Float(row[colMap[x] * 3 + s]) * a + b }
                }
            }
        }
        let out = try session.execute(Activation(c: 3, h: hp, w: wp, buffer: buf), styleWeights: options.styleWeights)
        defer { ws.give(out.buffer) }
        guard out.c == 3, out.h >= h, out.w >= w else {
            throw StylizeError(.invalidGraph, "model \(model.info.name) produced \(out.c)x\(out.h)x\(out.w) for a \(h)x\(w) picture")
        }
        var pixels = pool?.take(count: h * w * 3) ?? [UInt8](repeating: 0, count: h * w * 3)
        let o = model.info.output
        let outOrd = Transforms.order(o.channelOrder)
        let scale = (0..<3).map { o.std[$0] * o.scale }, offset = (0..<3).map { o.mean[$0] * o.scale }
        pixels.withUnsafeMutableBufferPointer { dst in
            Stylizer.planesToBytes(out.ptr, planeSize: out.h * out.w, stride: out.w, height: h, width: w,
                                   scale: scale, offset: offset, index: outOrd, into: dst.baseAddress!)
        }
        var result = RGBImage(width: w, height: h, pixels: pixels)
        if options.preserveColor { result = ColorTransfer.preserveColor(stylized: result, original: image) }
        if options.strength < 1 { result = ColorTransfer.blend(result, image, strength: options.strength) }
        return result
    }

    /// Stylizes a picture too large to run at once in overlapping tiles of `tile`×`tile` pixels and feathers
    /// the overlaps (linear ramps) so seams do not show. Each tile runs with at least 32 pixels of real
    /// picture around it, which are cut away afterwards: networks with zero padding draw a frame a few pixels
    /// wide at their input's border, and that frame must not land inside the picture. Instance norm sees each
    /// tile's own statistics, so colours can drift slightly from tile to tile; a wider overlap hides that.
    public func stylizeTiled(_ image: RGBImage, tile: Int, overlap: Int, options: StyleOptions = StyleOptions()) throws -> RGBImage {
        guard tile >= 16 else { throw StylizeError(.invalidArgument, "a tile must be at least 16 pixels, got \(tile)") }
        guard overlap >= 0, overlap * 2 < tile else {
            throw StylizeError(.invalidArgument, "the tiles' overlap must be between 0 and half the tile (\(tile / 2 - 1)), got \(overlap)")
        }
        if image.width <= tile && image.height <= tile { return try stylize(image, options: options) }
        let h = image.height, w = image.width
        var acc = [Float](repeating: 0, count: h * w * 3)
        var weight = [Float](repeating: 0, count: h * w)
        let step = tile - overlap
        func starts(_ n: Int) -> [Int] {
            if n <= tile { return [0] }
            var s = Array(stride(from: 0, to: n - tile, by: step))
            s.append(n - tile)
            return s
        }
        /// Weight across one axis of a tile: ramps up over the overlap on sides that have a neighbour.
        func ramp(_ i: Int, _ len: Int, first: Bool, last: Bool) -> Float {
            guard overlap > 0 else { return 1 }
            var v: Float = 1
            if !first && i < overlap { v = min(v, Float(i + 1) / Float(overlap + 1)) }
            if !last && i >= len - overlap { v = min(v, Float(len - i) / Float(overlap + 1)) }
            return v
        }
        let ys = starts(h), xs = starts(w)
        for (yi, y0) in ys.enumerated() {
            for (xi, x0) in xs.enumerated() {
                let th = min(tile, h - y0), tw = min(tile, w - x0)
                let margin = max(Stylizer.tileContext, overlap / 2)
                let cx0 = max(0, x0 - margin), cy0 = max(0, y0 - margin)
                let cx1 = min(w, x0 + tw + margin), cy1 = min(h, y0 + th + margin)
                let context = try stylize(image.cropped(x: cx0, y: cy0, width: cx1 - cx0, height: cy1 - cy0), options: options)
                let part = context.cropped(x: x0 - cx0, y: y0 - cy0, width: tw, height: th)
                for y in 0..<th {
                    let wy = ramp(y, th, first: yi == 0, last: yi == ys.count - 1)
                    for x in 0..<tw {
                        let wgt = wy * ramp(x, tw, first: xi == 0, last: xi == xs.count - 1)
                        let p = (y0 + y) * w + x0 + x
                        weight[p] += wgt
                        for c in 0..<3 { acc[p * 3 + c] += wgt * Float(part.pixels[(y * tw + x) * 3 + c]) }
                    }
                }
            }
        }
        var pixels = [UInt8](repeating: 0, count: h * w * 3)
        for p in 0..<(h * w) {
            for c in 0..<3 { pixels[p * 3 + c] = Stylizer.toByte(acc[p * 3 + c] / weight[p]) }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// Real picture run around each tile and cut away afterwards (see `stylizeTiled`): the border frame
    /// of zero-padded networks reaches about 20–30 pixels into their input.
    static let tileContext = 32

    /// The network's output planes (`planeSize` floats apart, rows `stride` floats) to interleaved bytes: byte
    /// index[c] of each pixel is `toByte(plane_c · scale[c] + offset[c])`. AVX2 (`CKernels`, the same bytes) where the
    /// CPU has it: the scalar loop's `floorf` call and range check per value took a tenth of a live pipeline's CPU.
    static func planesToBytes(_ planes: UnsafePointer<Float>, planeSize: Int, stride: Int, height h: Int, width w: Int,
                              scale: [Float], offset: [Float], index: [Int], into dst: UnsafeMutablePointer<UInt8>) {
        let i32 = index.map { Int32($0) }
        let done = scale.withUnsafeBufferPointer { sp in offset.withUnsafeBufferPointer { op in i32.withUnsafeBufferPointer { ip in
            streamd_planes_to_rgb8(planes, planes + planeSize, planes + 2 * planeSize, stride, h, w,
                                   sp.baseAddress, op.baseAddress, ip.baseAddress, dst)
        } } }
        if !done {
            planesToBytesReference(planes, planeSize: planeSize, stride: stride, height: h, width: w, scale: scale, offset: offset,
                                   index: index, into: dst)
        }
    }

    /// The portable loop `planesToBytes` replaces, kept as its reference.
    static func planesToBytesReference(_ planes: UnsafePointer<Float>, planeSize: Int, stride: Int, height h: Int, width w: Int,
                                       scale: [Float], offset: [Float], index: [Int], into dst: UnsafeMutablePointer<UInt8>) {
        for c in 0..<3 {
            let a = scale[c], b = offset[c], d = index[c]
            let plane = planes + c * planeSize
            for y in 0..<h {
                let row = plane + y * stride
                let drow = dst + y * w * 3
                for x in 0..<w { drow[x * 3 + d] = Stylizer.toByte(row[x] * a + b) }
            }
        }
    }

    @inline(__always)
    static func toByte(_ v: Float) -> UInt8 {
        UInt8(max(0, min(255, (v + 0.5).rounded(.down))))
    }
}

/// Colour operations applied after the network.
public enum ColorTransfer {
    /// Luminance of `stylized`, chroma of `original` (BT.601 full-range YCbCr).
    public static func preserveColor(stylized: RGBImage, original: RGBImage) -> RGBImage {
        precondition(stylized.width == original.width && stylized.height == original.height)
        var out = stylized.pixels
        for i in stride(from: 0, to: out.count, by: 3) {
            let sr = Float(stylized.pixels[i]), sg = Float(stylized.pixels[i + 1]), sb = Float(stylized.pixels[i + 2])
            let r = Float(original.pixels[i]), g = Float(original.pixels[i + 1]), b = Float(original.pixels[i + 2])
            let y = 0.299 * sr + 0.587 * sg + 0.114 * sb
            let cb = -0.168736 * r - 0.331264 * g + 0.5 * b
            let cr = 0.5 * r - 0.418688 * g - 0.081312 * b
            out[i] = Stylizer.toByte(y + 1.402 * cr)
            out[i + 1] = Stylizer.toByte(y - 0.344136 * cb - 0.714136 * cr)
            out[i + 2] = Stylizer.toByte(y + 1.772 * cb)
        }
        return RGBImage(width: stylized.width, height: stylized.height, pixels: out)
    }

    /// `strength·a + (1−strength)·b`.
    public static func blend(_ a: RGBImage, _ b: RGBImage, strength s: Float) -> RGBImage {
        precondition(a.width == b.width && a.height == b.height)
        var out = a.pixels
        for i in out.indices { out[i] = Stylizer.toByte(s * Float(a.pixels[i]) + (1 - s) * Float(b.pixels[i])) }
        return RGBImage(width: a.width, height: a.height, pixels: out)
    }
}
