import CFFmpeg
import FFmpegSupport
import Pipeline

/// Turns a decoded `AVFrame` of any software pixel format into a packed 8-bit `RGBImage`.
///
/// Three paths:
/// - Adobe YCCK (CMYK) JPEGs, which FFmpeg 5.1 hands over already folded into YCbCr (see `convertFoldedYCCK`).
/// - RGB, gray and palette formats of any integer depth (PNG, BMP, lossless WebP…): read sample by sample with
///   libavutil's `av_read_image_line2` and scaled to 8 bits with rounding. Exact, which libswscale is not
///   here: it converts gray16, palette and 16-bit-with-alpha input through YUV internally and comes back off
///   by a level or two (measured: palette 255 → 254/253, gray16 off by one).
/// - YUV (and float) formats through libswscale, honouring the frame's matrix, range and chroma siting.
///
/// Alpha is composited over **white**, because a transparent area is background, and white is what viewers
/// and browsers show behind it; merely dropping alpha would expose whatever colour the encoder left in fully
/// transparent pixels (often black or junk). The blend uses the samples at full depth, before rounding.
enum FrameConversion {
    /// Scaler flags for a same-size format conversion: chroma interpolated to full resolution on input and
    /// output (no nearest-neighbour chroma) and accurate rounding instead of the fast approximations.
    static let conversionFlags: Int32 = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP
        | SWS_BITEXACT

    /// Like `rgbImage(from:codecID:)`, for a stream of frames: the common case (YUV without alpha) goes through
    /// `cache`, one scaler and one output frame kept across calls and rebuilt only when the frame's size,
    /// format, matrix, range or chroma siting changes, so a video does not build a `SwsContext` per frame.
    /// Anything else takes the still-picture paths above.
    /// With a `pool`, the common case's pixels land in a recycled buffer.
    static func rgbImage(from frame: UnsafeMutablePointer<AVFrame>, codecID: AVCodecID,
                         cache: inout ScaledConversion?, pool: FramePool? = nil) throws(FFmpegCallError) -> RGBImage {
        let format = AVPixelFormat(rawValue: frame.pointee.format)
        guard frame.pointee.width > 0, frame.pointee.height > 0, let descriptor = av_pix_fmt_desc_get(format) else {
            throw FFmpegCallError(function: "av_pix_fmt_desc_get", code: streamd_averror_invaliddata())
        }
        // Read without a scaler (RGB, gray, palette), or the folded CMYK of a JPEG: nothing to cache.
        let special = isDirectlyReadable(descriptor) || (codecID == AV_CODEC_ID_MJPEG && format == AV_PIX_FMT_YUVA444P)
        if special { return try rgbImage(from: frame, codecID: codecID) }
        // YUV with alpha goes through 16-bit RGBA (then over white) with the same cached scaler.
        let hasAlpha = descriptor.pointee.flags & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0
        let target = hasAlpha ? AV_PIX_FMT_RGBA64LE : AV_PIX_FMT_RGB24
        let key = ScaledConversion.Key(frame: frame, descriptor: descriptor, dstFormat: target)
        if cache?.key != key {
            cache = nil  // free the old scaler before building the new one
            cache = try ScaledConversion(for: frame, descriptor: descriptor, to: target)
        }
        let converted = try cache!.run(frame)
        return withExtendedLifetime(converted) {
            hasAlpha ? overWhite(rgba64: converted.frame) : packedRGB24(converted.frame, pool: pool)
        }
    }

    static func rgbImage(from frame: UnsafeMutablePointer<AVFrame>, codecID: AVCodecID) throws(FFmpegCallError) -> RGBImage {
        let format = AVPixelFormat(rawValue: frame.pointee.format)
        guard frame.pointee.width > 0, frame.pointee.height > 0, let descriptor = av_pix_fmt_desc_get(format) else {
            throw FFmpegCallError(function: "av_pix_fmt_desc_get", code: streamd_averror_invaliddata())
        }
        if codecID == AV_CODEC_ID_MJPEG, format == AV_PIX_FMT_YUVA444P, alphaIsOpaque(frame) {
            return convertFoldedYCCK(frame)
        }
        if isDirectlyReadable(descriptor) {
            return readDirectly(frame, descriptor: descriptor)
        }
        if descriptor.pointee.flags & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0 {
            return try compositeOverWhite(frame, descriptor: descriptor)
        }
        return try convert(frame, descriptor: descriptor)
    }

    // MARK: - Direct path (RGB, gray, palette)

    /// Integer RGB, gray (with or without alpha) and palette formats up to 16 bits per sample, in system memory.
    static func isDirectlyReadable(_ descriptor: UnsafePointer<AVPixFmtDescriptor>) -> Bool {
        let flags = descriptor.pointee.flags
        if flags & UInt64(AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_FLOAT) != 0 { return false }
        let isRGB = flags & UInt64(AV_PIX_FMT_FLAG_RGB) != 0
        let isPalette = flags & UInt64(AV_PIX_FMT_FLAG_PAL) != 0
        let isGray = !isRGB && !isPalette && descriptor.pointee.nb_components <= 2
        guard isRGB || isPalette || isGray else { return false }
        let components = Int(descriptor.pointee.nb_components)
        return withUnsafeBytes(of: descriptor.pointee.comp) { raw in
            let comps = raw.bindMemory(to: AVComponentDescriptor.self)
            return (0..<components).allSatisfy { comps[$0].depth >= 1 && comps[$0].depth <= 16 }
        }
    }

    /// Reads every sample at its own depth and rounds to 8 bits once, compositing alpha over white.
    private static func readDirectly(_ frame: UnsafeMutablePointer<AVFrame>,
                                     descriptor: UnsafePointer<AVPixFmtDescriptor>) -> RGBImage {
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        let flags = descriptor.pointee.flags
        let isPalette = flags & UInt64(AV_PIX_FMT_FLAG_PAL) != 0
        let isRGB = flags & UInt64(AV_PIX_FMT_FLAG_RGB) != 0
        let hasAlpha = flags & UInt64(AV_PIX_FMT_FLAG_ALPHA) != 0 && !isPalette
        let components = Int(descriptor.pointee.nb_components)
        // Component order in the descriptor: R, G, B(, A) for RGB formats; Y(, A) for gray; the index for
        // palette formats.
        let depths: [Int] = withUnsafeBytes(of: descriptor.pointee.comp) { raw in
            let comps = raw.bindMemory(to: AVComponentDescriptor.self)
            return (0..<components).map { Int(comps[$0].depth) }
        }
        let colourChannels = isRGB ? [0, 1, 2] : [0, 0, 0]
        let alphaChannel = isRGB ? 3 : 1
        var planes: [UnsafePointer<UInt8>?] = withUnsafeBytes(of: frame.pointee.data) { raw in
            raw.bindMemory(to: UnsafeMutablePointer<UInt8>?.self).map { UnsafePointer($0) }
        }
        var strides: [Int32] = withUnsafeBytes(of: frame.pointee.linesize) { raw in Array(raw.bindMemory(to: Int32.self)) }

        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var line = [[UInt32]](repeating: [UInt32](repeating: 0, count: width), count: components)
        // Palette formats: data[1] holds 256 native-endian 32-bit entries, 0xAARRGGBB; blend each entry once.
        var palette = [UInt8](repeating: 0, count: isPalette ? 256 * 3 : 0)
        if isPalette, let table = planes[1] {
            for index in 0..<256 {
                let entry = UnsafeRawPointer(table).load(fromByteOffset: index * 4, as: UInt32.self)
                let alpha = Double(entry >> 24) / 255
                palette[index * 3] = overWhite(Double((entry >> 16) & 0xFF) / 255, alpha)
                palette[index * 3 + 1] = overWhite(Double((entry >> 8) & 0xFF) / 255, alpha)
                palette[index * 3 + 2] = overWhite(Double(entry & 0xFF) / 255, alpha)
            }
        }
        let scale = depths.map { 1 / Double((1 << $0) - 1) }
        for y in 0..<height {
            for c in 0..<components {
                line[c].withUnsafeMutableBytes { dst in
                    av_read_image_line2(dst.baseAddress, &planes, &strides, descriptor, 0, Int32(y), Int32(c),
                                        Int32(width), 0, 4)
                }
            }
            for x in 0..<width {
                let o = (y * width + x) * 3
                if isPalette {
                    let index = Int(line[0][x] & 0xFF) * 3
                    pixels[o] = palette[index]; pixels[o + 1] = palette[index + 1]; pixels[o + 2] = palette[index + 2]
                    continue
                }
                let alpha = hasAlpha ? Double(line[alphaChannel][x]) * scale[alphaChannel] : 1
                for i in 0..<3 {
                    let c = colourChannels[i]
                    pixels[o + i] = overWhite(Double(line[c][x]) * scale[c], alpha)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// A colour sample in 0...1 with coverage `alpha` over white, rounded to 8 bits.
    @inline(__always)
    private static func overWhite(_ value: Double, _ alpha: Double) -> UInt8 {
        UInt8((255 * (value * alpha + (1 - alpha))).rounded())
    }

    // MARK: - libswscale paths

    /// `frame` converted by libswscale into a new frame of `dstFormat` at the same size.
    private static func scaled(_ frame: UnsafeMutablePointer<AVFrame>, descriptor: UnsafePointer<AVPixFmtDescriptor>,
                               to dstFormat: AVPixelFormat) throws(FFmpegCallError) -> Frame {
        try ScaledConversion(for: frame, descriptor: descriptor, to: dstFormat).run(frame)
    }

    private static func convert(_ frame: UnsafeMutablePointer<AVFrame>,
                                descriptor: UnsafePointer<AVPixFmtDescriptor>) throws(FFmpegCallError) -> RGBImage {
        let rgb = try scaled(frame, descriptor: descriptor, to: AV_PIX_FMT_RGB24)
        return packedRGB24(rgb.frame)
    }

    /// YUV with alpha (lossy WebP with alpha, yuva JPEGs): libswscale to 16-bit RGBA, then the blend over white.
    private static func compositeOverWhite(_ frame: UnsafeMutablePointer<AVFrame>,
                                           descriptor: UnsafePointer<AVPixFmtDescriptor>) throws(FFmpegCallError) -> RGBImage {
        let rgba = try scaled(frame, descriptor: descriptor, to: AV_PIX_FMT_RGBA64LE)
        // The owner must outlive the read: its deinit frees the frame.
        return withExtendedLifetime(rgba) { overWhite(rgba64: rgba.frame) }
    }

    /// A 16-bit RGBA frame blended over white into 8-bit RGB.
    private static func overWhite(rgba64 rgba: UnsafeMutablePointer<AVFrame>) -> RGBImage {
        let width = Int(rgba.pointee.width), height = Int(rgba.pointee.height)
        let stride = Int(rgba.pointee.linesize.0)
        guard let base = rgba.pointee.data.0 else { return RGBImage(width: width, height: height, fill: 255) }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<height {
                let row = UnsafeRawPointer(base + y * stride)
                for x in 0..<width {
                    // RGBA64LE: four little-endian 16-bit samples per pixel.
                    func sample(_ i: Int) -> UInt64 { UInt64(UInt16(littleEndian: row.loadUnaligned(fromByteOffset: (x * 4 + i) * 2, as: UInt16.self))) }
                    let alpha = sample(3)
                    for c in 0..<3 {
                        // value16 = (colour·α + 65535·(65535−α)) / 65535, then to 8 bits, both rounded.
                        let blended = (sample(c) * alpha + 65535 * (65535 - alpha) + 32767) / 65535
                        dst[(y * width + x) * 3 + c] = UInt8((blended * 255 + 32767) / 65535)
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The rows of an RGB24 frame without the padding FFmpeg adds to each line.
    static func packedRGB24(_ frame: UnsafeMutablePointer<AVFrame>, pool: FramePool? = nil) -> RGBImage {
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        let stride = Int(frame.pointee.linesize.0)
        var pixels = pool?.take(count: width * height * 3) ?? [UInt8](repeating: 0, count: width * height * 3)
        if let base = frame.pointee.data.0 {
            pixels.withUnsafeMutableBytes { dst in
                for y in 0..<height {
                    (dst.baseAddress! + y * width * 3).copyMemory(from: base + y * stride, byteCount: width * 3)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The plain-range twin of a deprecated full-range `yuvj*` format, or nil if `format` is not one.
    static func plainFormat(forJ format: AVPixelFormat) -> AVPixelFormat? {
        switch format {
        case AV_PIX_FMT_YUVJ420P: AV_PIX_FMT_YUV420P
        case AV_PIX_FMT_YUVJ422P: AV_PIX_FMT_YUV422P
        case AV_PIX_FMT_YUVJ444P: AV_PIX_FMT_YUV444P
        case AV_PIX_FMT_YUVJ440P: AV_PIX_FMT_YUV440P
        case AV_PIX_FMT_YUVJ411P: AV_PIX_FMT_YUV411P
        default: nil
        }
    }

    // MARK: - Adobe YCCK (CMYK JPEG)

    /// Whether every alpha sample of a yuva444p frame is 255.
    private static func alphaIsOpaque(_ frame: UnsafeMutablePointer<AVFrame>) -> Bool {
        guard let alpha = frame.pointee.data.3 else { return false }
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        let stride = Int(frame.pointee.linesize.3)
        for y in 0..<height {
            let row = alpha + y * stride
            for x in 0..<width where row[x] != 255 { return false }
        }
        return true
    }

    /// CMYK JPEGs written by Adobe software store YCCK (transform 2): YCbCr of the inverted CMY plus an
    /// inverted K. FFmpeg 5.1's mjpeg decoder folds K into the YCbCr planes itself and returns yuva444p with
    /// alpha 255 (full range, BT.601): Y' = (255−Y)·K/255 and C' = (128−C)·K/255 + 128. That is the right
    /// colour model — the same naive (no ICC profile) CMYK→RGB that libjpeg+Pillow give — but it computes
    /// `x·257 >> 16`, which truncates instead of rounding: every plane comes out on average 0.5 too low,
    /// and the YCbCr→RGB matrix amplifies that to about −1.2 levels in red and −1.3 in blue (measured on
    /// style/matta.jpg against Pillow 13: mean R,B off by −1.21, −1.29).
    ///
    /// The fix: a truncated value v stands for the interval [v, v+1), so convert from its centre v + 0.5, in
    /// floating point, with the JFIF full-range BT.601 matrix. On matta.jpg this takes the mean error against
    /// Pillow from (−1.21, −0.12, −1.29) to (−0.01, −0.14, +0.08) and the mean absolute difference from 0.98
    /// to 0.49 levels. The four-component plain-CMYK case (Adobe transform 0) comes back as gbrap with the
    /// same truncation but is already RGB, where no correction can do better than ±0.5.
    static func convertFoldedYCCK(_ frame: UnsafeMutablePointer<AVFrame>) -> RGBImage {
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        let planes = (frame.pointee.data.0!, frame.pointee.data.1!, frame.pointee.data.2!)
        let strides = (Int(frame.pointee.linesize.0), Int(frame.pointee.linesize.1), Int(frame.pointee.linesize.2))
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        @inline(__always) func clamp8(_ v: Float) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
        pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<height {
                let yRow = planes.0 + y * strides.0, cbRow = planes.1 + y * strides.1, crRow = planes.2 + y * strides.2
                for x in 0..<width {
                    let luma = Float(yRow[x]) + 0.5
                    let cb = Float(cbRow[x]) + 0.5 - 128
                    let cr = Float(crRow[x]) + 0.5 - 128
                    let i = (y * width + x) * 3
                    dst[i] = clamp8(luma + 1.402 * cr)
                    dst[i + 1] = clamp8(luma - 0.344136 * cb - 0.714136 * cr)
                    dst[i + 2] = clamp8(luma + 1.772 * cb)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}

/// One libswscale set-up for frames of one shape: the scaler, configured with the frame's matrix, range and
/// chroma siting, plus the output frame and a scratch reference to the input, all reused by `run`.
///
/// Still pictures build one per picture; `VideoReader` keeps one for the whole stream (see
/// `FrameConversion.rgbImage(from:codecID:cache:)`). Not thread-safe: one owner.
final class ScaledConversion {
    /// Everything about a source frame that the scaler was configured for.
    struct Key: Equatable {
        var width: Int32, height: Int32, format: Int32, colorspace: UInt32, range: UInt32, chroma: UInt32
        var dstFormat: Int32

        init(frame: UnsafeMutablePointer<AVFrame>, descriptor: UnsafePointer<AVPixFmtDescriptor>,
             dstFormat: AVPixelFormat) {
            width = frame.pointee.width; height = frame.pointee.height; format = frame.pointee.format
            colorspace = frame.pointee.colorspace.rawValue; range = frame.pointee.color_range.rawValue
            chroma = frame.pointee.chroma_location.rawValue; self.dstFormat = dstFormat.rawValue
        }
    }

    let key: Key
    private let scaler: Scaler
    /// The format swscale was told the source has: the plain twin of a yuvj* format.
    private let srcFormat: AVPixelFormat
    private let output: Frame
    private let source: Frame

    init(for frame: UnsafeMutablePointer<AVFrame>, descriptor: UnsafePointer<AVPixFmtDescriptor>,
         to dstFormat: AVPixelFormat) throws(FFmpegCallError) {
        key = Key(frame: frame, descriptor: descriptor, dstFormat: dstFormat)
        let width = frame.pointee.width, height = frame.pointee.height
        var srcFormat = AVPixelFormat(rawValue: frame.pointee.format)
        let flags = descriptor.pointee.flags
        let isYUV = flags & UInt64(AV_PIX_FMT_FLAG_RGB) == 0 && flags & UInt64(AV_PIX_FMT_FLAG_PAL) == 0
            && descriptor.pointee.nb_components >= 3
        // The deprecated yuvj* formats only say "full range"; hand swscale the plain format plus an explicit
        // range, which is what it does internally anyway, minus its deprecation warning.
        var fullRange = frame.pointee.color_range == AVCOL_RANGE_JPEG
        if let plain = FrameConversion.plainFormat(forJ: srcFormat) {
            srcFormat = plain
            fullRange = frame.pointee.color_range != AVCOL_RANGE_MPEG
        }
        self.srcFormat = srcFormat
        // Where the subsampled chroma sits matters when it is interpolated back to full size: JPEG centres it
        // between luma samples (the mjpeg decoder says so in chroma_location), MPEG video puts it on the left.
        var chromaPosition: (x: Int32, y: Int32)?
        if descriptor.pointee.log2_chroma_w + descriptor.pointee.log2_chroma_h > 0,
           frame.pointee.chroma_location != AVCHROMA_LOC_UNSPECIFIED {
            var x: Int32 = 0, y: Int32 = 0
            if avcodec_enum_to_chroma_pos(&x, &y, frame.pointee.chroma_location) == 0 { chromaPosition = (x, y) }
        }
        guard let scaler = Scaler(srcWidth: width, srcHeight: height, srcFormat: srcFormat,
                                  dstWidth: width, dstHeight: height, dstFormat: dstFormat,
                                  flags: FrameConversion.conversionFlags, srcChromaPosition: chromaPosition, noDither: true)
        else { throw FFmpegCallError(function: "sws_init_context", code: streamd_averror(EINVAL)) }
        self.scaler = scaler
        if isYUV {
            // sws_getCoefficients takes AVColorSpace values (SWS_CS_* share them) and falls back to BT.601
            // for "unspecified", which is right for JPEG, WebP and untagged video alike.
            let srcMatrix = sws_getCoefficients(Int32(frame.pointee.colorspace.rawValue))
            let dstMatrix = sws_getCoefficients(SWS_CS_DEFAULT)
            // Gray and RGB sources are left alone: swscale already treats gray as full range, and setting a
            // range on them would turn gray 255 into 255·255/219.
            _ = sws_setColorspaceDetails(scaler.pointer, srcMatrix, fullRange ? 1 : 0, dstMatrix, 1, 0, 1 << 16, 1 << 16)
        }
        guard let output = Frame(), let source = Frame() else {
            throw FFmpegCallError(function: "av_frame_alloc", code: streamd_averror(ENOMEM))
        }
        output.frame.pointee.width = width
        output.frame.pointee.height = height
        output.frame.pointee.format = dstFormat.rawValue
        let result = av_frame_get_buffer(output.frame, 0)
        guard result >= 0 else { throw FFmpegCallError(function: "av_frame_get_buffer", code: result) }
        self.output = output
        self.source = source
    }

    /// Converts `frame` (which must match `key`) into the reused output frame and returns it; the result is
    /// valid until the next call.
    func run(_ frame: UnsafeMutablePointer<AVFrame>) throws(FFmpegCallError) -> Frame {
        // sws_scale_frame needs the source frame's format to match the scaler's; for yuvj* we told swscale the
        // plain twin (identical memory layout), so relabel a shallow reference instead of touching the decoder's.
        let refResult = av_frame_ref(source.frame, frame)
        guard refResult >= 0 else { throw FFmpegCallError(function: "av_frame_ref", code: refResult) }
        defer { av_frame_unref(source.frame) }
        source.frame.pointee.format = srcFormat.rawValue
        let scaleResult = sws_scale_frame(scaler.pointer, output.frame, source.frame)
        guard scaleResult >= 0 else { throw FFmpegCallError(function: "sws_scale_frame", code: scaleResult) }
        return output
    }
}
