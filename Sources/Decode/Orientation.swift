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

/// How a video stream's frames are turned upright, written once for the file reader (`VideoReader`) and the live
/// one (`StreamReader`): the stream's display matrix (MP4/MOV `tkhd`, Matroska projection: a phone's portrait
/// clip is stored sideways with one), overridden for a frame that carries its own (H.264's display-orientation
/// SEI). With `autorotate` off, frames come as they are coded.
struct StreamOrientation {
    /// The stream's orientation (identity with `autorotate` off or without a matrix).
    let stream: Orientation
    let autorotate: Bool
    /// Clockwise degrees (0, 90, 180, 270) the stream's matrix asks for, whether or not it is applied.
    let rotation: Int
    /// The stream's matrix mirrors the picture.
    let mirrored: Bool

    init(stream: UnsafePointer<AVStream>, autorotate: Bool) {
        var matrix: [Int32]?
        var sideSize = 0
        if let side = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &sideSize), sideSize >= 36 {
            var m = [Int32](repeating: 0, count: 9)
            m.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: side, count: 36)) }
            matrix = m
        }
        let orientation = matrix.flatMap { Orientation(displayMatrix: $0) } ?? .identity
        self.autorotate = autorotate
        self.stream = autorotate ? orientation : .identity
        var rotation = 0
        if let matrix {
            // FFmpeg's angle is counter-clockwise (what ffprobe prints as "rotate -90"); ours is clockwise.
            let degrees = -matrix.withUnsafeBufferPointer { av_display_rotation_get($0.baseAddress!) }
            if degrees.isFinite { rotation = ((Int(degrees.rounded()) % 360) + 360) % 360 }
        }
        self.rotation = rotation
        mirrored = orientation.a * orientation.d - orientation.b * orientation.c < 0
    }

    /// The size of the frames made upright from `width`×`height` coded ones.
    func displaySize(width: Int, height: Int) -> (width: Int, height: Int) {
        stream.a == 0 ? (height, width) : (width, height)
    }

    /// A decoded frame's picture, upright: its own display matrix wins over the stream's.
    func upright(_ image: RGBImage, of decoded: UnsafePointer<AVFrame>, pool: FramePool?) -> RGBImage {
        guard autorotate else { return image }
        let orientation = av_frame_get_side_data(decoded, AV_FRAME_DATA_DISPLAYMATRIX) != nil ? Orientation(frame: decoded) : stream
        return orientation.apply(to: image, pool: pool)
    }
}
