import CFFmpeg
import FFmpegSupport
import Pipeline

/// A rotation by a multiple of 90° and/or a mirror: the eight EXIF orientations.
///
/// FFmpeg 5.1's mjpeg decoder turns the EXIF Orientation tag into `AV_FRAME_DATA_DISPLAYMATRIX` side data (it
/// also copies the raw tag into the frame metadata), so reading the display matrix covers JPEG and any other
/// source that exports one. The matrix maps a source point (p, q), x right and y down, to the displayed point
/// (p', q') = (a·p + c·q, b·p + d·q) (libavutil/display.h, row-vector convention). Checked against Pillow's
/// `ImageOps.exif_transpose` for all eight orientations.
struct Orientation: Equatable {
    var a: Int, b: Int, c: Int, d: Int

    static let identity = Orientation(a: 1, b: 0, c: 0, d: 1)

    /// The orientation in a display matrix, or nil if it is not an axis-aligned rotation/mirror (an
    /// arbitrary angle, which no still-image format produces and which we do not resample for).
    init?(displayMatrix m: [Int32]) {
        guard m.count == 9 else { return nil }
        // Entries are 16.16 fixed point; an axis-aligned matrix has entries 0 or ±1.0.
        func unit(_ v: Int32) -> Int? {
            let x = Double(v) / 65536
            if abs(x) < 0.01 { return 0 }
            if abs(abs(x) - 1) < 0.01 { return x > 0 ? 1 : -1 }
            return nil
        }
        guard let a = unit(m[0]), let b = unit(m[1]), let c = unit(m[3]), let d = unit(m[4]) else { return nil }
        // A signed permutation: exactly one non-zero entry in each row and column.
        guard (a != 0 && d != 0 && b == 0 && c == 0) || (a == 0 && d == 0 && b != 0 && c != 0) else { return nil }
        self.init(a: a, b: b, c: c, d: d)
    }

    init(a: Int, b: Int, c: Int, d: Int) {
        self.a = a; self.b = b; self.c = c; self.d = d
    }

    /// The orientation a decoded frame asks for, from its display-matrix side data; identity if none.
    init(frame: UnsafePointer<AVFrame>) {
        guard let sideData = av_frame_get_side_data(frame, AV_FRAME_DATA_DISPLAYMATRIX),
              sideData.pointee.size >= 36, let bytes = sideData.pointee.data else {
            self = .identity
            return
        }
        var matrix = [Int32](repeating: 0, count: 9)
        matrix.withUnsafeMutableBytes { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: bytes, count: 36))
        }
        self = Orientation(displayMatrix: matrix) ?? .identity
    }

    /// The picture as it should be displayed. With a `pool`, the result's buffer comes from it and the
    /// input's goes back to it.
    func apply(to image: RGBImage, pool: FramePool? = nil) -> RGBImage {
        if self == .identity { return image }
        let w = image.width, h = image.height
        let swaps = a == 0
        let outW = swaps ? h : w
        let outH = swaps ? w : h
        // Shift so the smallest transformed coordinate lands on 0.
        let minX = min(0, a * (w - 1)) + min(0, c * (h - 1))
        let minY = min(0, b * (w - 1)) + min(0, d * (h - 1))
        var out = pool?.take(count: outW * outH * 3) ?? [UInt8](repeating: 0, count: outW * outH * 3)
        defer { pool?.recycle(image.pixels) }
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for q in 0..<h {
                    for p in 0..<w {
                        let x = a * p + c * q - minX
                        let y = b * p + d * q - minY
                        let s = (q * w + p) * 3
                        let t = (y * outW + x) * 3
                        dst[t] = src[s]; dst[t + 1] = src[s + 1]; dst[t + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }
}
