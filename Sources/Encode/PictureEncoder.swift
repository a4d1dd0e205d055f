import CFFmpeg
import FFmpegSupport
import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// The one colour rule of every video streamd encodes, file or live: limited-range YUV, BT.709 for HD (either
/// side at least 1280×720) and BT.601 (SMPTE 170M) below, which is what players assume for untagged video of
/// that size, and tagged, so none has to guess; 4:2:0 chroma co-sited with the left luma column (the MPEG-2,
/// H.264, HEVC and VP9 convention). RGB formats (PNG) carry no tags. The encoder's tags, each picture's tags
/// and the RGB→YUV matrix all come from here, so they cannot disagree.
struct ColourPolicy: Equatable {
    let isRGB: Bool
    let highDefinition: Bool
    let subsampled: Bool

    init(pixelFormat: AVPixelFormat, width: Int, height: Int) {
        let descriptor = av_pix_fmt_desc_get(pixelFormat)
        isRGB = descriptor.map { $0.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB) != 0 } ?? false
        highDefinition = width >= 1280 || height >= 720
        subsampled = descriptor.map { $0.pointee.log2_chroma_w > 0 || $0.pointee.log2_chroma_h > 0 } ?? false
    }

    func tag(_ context: UnsafeMutablePointer<AVCodecContext>) {
        guard !isRGB else { return }
        context.pointee.color_range = AVCOL_RANGE_MPEG
        context.pointee.color_primaries = highDefinition ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M
        context.pointee.color_trc = highDefinition ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M
        context.pointee.colorspace = highDefinition ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M
        if subsampled { context.pointee.chroma_sample_location = AVCHROMA_LOC_LEFT }
    }

    /// Full-range RGB in, limited-range YUV out, with this policy's matrix and chroma siting.
    func scaler(width: Int, height: Int, to pixelFormat: AVPixelFormat) -> Scaler? {
        guard let scaler = Scaler(width: Int32(width), height: Int32(height), srcFormat: AV_PIX_FMT_RGB24, dstFormat: pixelFormat,
                                  flags: SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP,
                                  dstChromaPosition: subsampled ? (0, 128) : nil) else { return nil }
        if !isRGB {
            let coefficients = sws_getCoefficients(highDefinition ? SWS_CS_ITU709 : SWS_CS_ITU601)
            _ = sws_setColorspaceDetails(scaler.pointer, coefficients, 1, coefficients, 0, 0, 1 << 16, 1 << 16)
        }
        return scaler
    }
}

/// The one encoder core under the file writer (`VideoWriter`) and the live output (`StreamOutput`): the codec
/// context with the size, time base and colour every encoder gets, the RGB → coded-format conversion (edge
/// pixels repeated when the coded size is larger than the picture), and FFmpeg's send/receive loop (a frame
/// refused with EAGAIN sent again once the packets are taken; flushing at the end). What each front end adds
/// is its own: rate control and options before `open`, and what happens to each packet (the muxer).
///
/// Not thread-safe: used by its owner on one thread.
final class PictureEncoder {
    let codec: CodecContext
    var context: UnsafeMutablePointer<AVCodecContext> { codec.context }
    /// The size pictures are encoded at (even where 4:2:0 needs it); pictures may be smaller by the padding.
    let codedWidth: Int, codedHeight: Int
    let pixelFormat: AVPixelFormat
    let colour: ColourPolicy
    private let frame: Frame
    private let packet: Packet
    private var scaler: Scaler?
    /// Scratch for edge-padded pictures (odd sizes only), reused across frames.
    private var padded: [UInt8] = []

    /// A configured, unopened encoder: the caller adds rate control and options, then calls `open`.
    init(codec: UnsafePointer<AVCodec>, codedWidth: Int, codedHeight: Int, pixelFormat: AVPixelFormat, timeBase: AVRational,
         frameRate: AVRational, threads: Int, globalHeader: Bool) throws(FFmpegCallError) {
        guard let context = CodecContext(codec: codec), let frame = Frame(), let packet = Packet() else {
            throw FFmpegCallError(function: "avcodec_alloc_context3", code: streamd_averror(ENOMEM))
        }
        self.codec = context; self.frame = frame; self.packet = packet
        self.codedWidth = codedWidth; self.codedHeight = codedHeight; self.pixelFormat = pixelFormat
        colour = ColourPolicy(pixelFormat: pixelFormat, width: codedWidth, height: codedHeight)
        let c = context.context
        c.pointee.width = Int32(codedWidth)
        c.pointee.height = Int32(codedHeight)
        c.pointee.pix_fmt = pixelFormat
        c.pointee.time_base = timeBase
        c.pointee.framerate = frameRate
        c.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        c.pointee.thread_count = Int32(clamping: max(0, threads))
        colour.tag(c)
        if globalHeader { c.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
    }

    /// Opens the encoder with `options` (the ones it took are removed from the dictionary) and prepares the
    /// conversion and the picture buffer.
    func open(options: OptionDictionary) throws(FFmpegCallError) {
        let result = openCodec(context, context.pointee.codec, &options.pointer)
        guard result >= 0 else { throw FFmpegCallError(function: "avcodec_open2", code: result) }
        guard let scaler = colour.scaler(width: codedWidth, height: codedHeight, to: pixelFormat) else {
            throw FFmpegCallError(function: "sws_getContext", code: streamd_averror(EINVAL))
        }
        self.scaler = scaler
        let picture = frame.frame
        picture.pointee.width = Int32(codedWidth)
        picture.pointee.height = Int32(codedHeight)
        picture.pointee.format = pixelFormat.rawValue
        picture.pointee.color_range = context.pointee.color_range
        picture.pointee.color_primaries = context.pointee.color_primaries
        picture.pointee.color_trc = context.pointee.color_trc
        picture.pointee.colorspace = context.pointee.colorspace
        picture.pointee.chroma_location = context.pointee.chroma_sample_location
        let allocated = av_frame_get_buffer(picture, 0)
        guard allocated >= 0 else { throw FFmpegCallError(function: "av_frame_get_buffer", code: allocated) }
    }

    /// Encodes `image` at `pts` (encoder time base) and hands every packet that is ready to `write`.
    /// `duration` (encoder ticks) and `quality` (a fixed quantiser × FF_QP2LAMBDA) go on the picture when given.
    func encode(_ image: RGBImage, pts: Int64, duration: Int64? = nil, quality: Int32 = 0,
                write: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        let picture = frame.frame
        var result = av_frame_make_writable(picture)
        guard result >= 0 else { throw FFmpegCallError(function: "av_frame_make_writable", code: result) }
        try convert(image, into: picture)
        picture.pointee.pts = pts
        if let duration { picture.pointee.pkt_duration = duration }
        picture.pointee.pict_type = AV_PICTURE_TYPE_NONE
        if quality > 0 { picture.pointee.quality = quality }
        result = avcodec_send_frame(context, picture)
        if result == streamd_averror_eagain() {
            // The encoder wants its output taken first; then it must accept the frame.
            try drain(write)
            result = avcodec_send_frame(context, picture)
        }
        guard result >= 0 else { throw FFmpegCallError(function: "avcodec_send_frame", code: result) }
        try drain(write)
    }

    /// Flushes the encoder: every packet it still holds goes to `write`.
    func flush(write: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        let result = avcodec_send_frame(context, nil)
        guard result >= 0 || result == streamd_averror_eof() else { throw FFmpegCallError(function: "avcodec_send_frame (flush)", code: result) }
        try drain(write)
    }

    /// Takes every packet the encoder has ready. EAGAIN (needs more input) and EOF (fully flushed) are the
    /// normal ends of the loop, not errors. `write` must take the packet's reference (or unreference it).
    private func drain(_ write: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        let pkt = packet.packet
        while true {
            let result = avcodec_receive_packet(context, pkt)
            if result == streamd_averror_eagain() || result == streamd_averror_eof() { return }
            guard result >= 0 else { throw FFmpegCallError(function: "avcodec_receive_packet", code: result) }
            defer { av_packet_unref(pkt) }
            try write(pkt)
        }
    }

    /// RGB → the coded format with swscale, repeating the last column/row when the coded size is larger.
    private func convert(_ image: RGBImage, into picture: UnsafeMutablePointer<AVFrame>) throws(FFmpegCallError) {
        let result: Int32
        if codedWidth == image.width && codedHeight == image.height {
            result = image.pixels.withUnsafeBufferPointer { scale(from: $0.baseAddress!, into: picture) }
        } else {
            let rowBytes = codedWidth * 3
            if padded.count != rowBytes * codedHeight { padded = [UInt8](repeating: 0, count: rowBytes * codedHeight) }
            padded.withUnsafeMutableBufferPointer { dst in
                image.pixels.withUnsafeBufferPointer { src in
                    for y in 0..<codedHeight {
                        let sy = min(y, image.height - 1)
                        let row = dst.baseAddress! + y * rowBytes
                        row.update(from: src.baseAddress! + sy * image.width * 3, count: image.width * 3)
                        for x in image.width..<codedWidth {
                            (row + x * 3).update(from: row + (image.width - 1) * 3, count: 3)
                        }
                    }
                }
            }
            result = padded.withUnsafeBufferPointer { scale(from: $0.baseAddress!, into: picture) }
        }
        guard result == Int32(codedHeight) else {
            throw FFmpegCallError(function: "sws_scale", code: result < 0 ? result : streamd_averror(EINVAL))
        }
    }

    private func scale(from rgb: UnsafePointer<UInt8>, into picture: UnsafeMutablePointer<AVFrame>) -> Int32 {
        guard let scaler else { return -1 }
        var sourcePlanes: [UnsafePointer<UInt8>?] = [rgb, nil, nil, nil]
        var sourceStrides: [Int32] = [Int32(codedWidth * 3), 0, 0, 0]
        var planes: [UnsafeMutablePointer<UInt8>?] = [picture.pointee.data.0, picture.pointee.data.1,
                                                      picture.pointee.data.2, picture.pointee.data.3]
        var strides: [Int32] = [picture.pointee.linesize.0, picture.pointee.linesize.1,
                                picture.pointee.linesize.2, picture.pointee.linesize.3]
        return sws_scale(scaler.pointer, &sourcePlanes, &sourceStrides, 0, Int32(codedHeight), &planes, &strides)
    }
}
