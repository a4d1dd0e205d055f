import CFFmpeg
import FFmpegSupport
public import Pipeline

/// Writes an `RGBImage` as PNG or JPEG with libavcodec's encoders, choosing the format from the extension.
///
/// The picture is encoded in memory and then written to a temporary file beside the target, which is renamed
/// over it only when everything succeeded: a failed or interrupted write never leaves a half-written picture
/// at `path`, and an existing file there stays intact until the new one is complete.
public enum ImageEncoder {
    /// The file formats `write` produces.
    public enum Format: Sendable, Equatable {
        case png
        case jpeg

        /// The format an extension names (case-insensitive), or nil.
        public init?(extension ext: String) {
            switch ext.lowercased() {
            case "png": self = .png
            case "jpg", "jpeg": self = .jpeg
            default: return nil
            }
        }
    }

    /// JPEG quality at or above which chroma is kept at full resolution (4:4:4); below it, 4:2:0 halves the
    /// file size for a loss the eye rarely notices. Stylized pictures are full of saturated colour edges,
    /// where 4:2:0 shows most, so "high quality" should mean no chroma subsampling.
    public static let fullChromaQuality = 90

    /// Writes `image` to `path` as PNG (`.png`) or JPEG (`.jpg`, `.jpeg`).
    ///
    /// - Parameter quality: JPEG quality 1...100 (100 best), mapped linearly onto FFmpeg's quantiser scale
    ///   31...1 (`-q:v`); nil means quantiser 2, FFmpeg's customary "visually lossless" setting (about quality
    ///   97). 90 and above also keep full-resolution chroma. PNG is lossless and ignores it.
    /// - Throws: `MediaError` naming `path`: `.unsupportedFormat` for another extension, `.invalidArgument`
    ///   for a quality outside 1...100, `.unwritable` when the file cannot be created or moved into place,
    ///   `.encodeFailed` if libavcodec fails.
    public static func write(_ image: RGBImage, to path: String, quality: Int? = nil) throws {
        let ext = fileExtension(of: path)
        guard let format = Format(extension: ext) else {
            let problem = ext.isEmpty ? "no file extension to choose the picture format by"
                                      : "cannot write pictures with extension '.\(ext)'"
            throw MediaError(.unsupportedFormat, path: path, "\(problem) (use .png, .jpg or .jpeg)")
        }
        if let quality, !(1...100).contains(quality) {
            throw MediaError(.invalidArgument, path: path, "JPEG quality \(quality) is outside 1...100")
        }
        let bytes: [UInt8]
        do {
            bytes = try encode(image, as: format, quality: quality)
        } catch {
            throw MediaError(.encodeFailed, path: path, "cannot encode \(format == .png ? "PNG" : "JPEG"): \(error.text)",
                             detail: error.detail)
        }
        try AtomicFile.write(bytes, to: path)
    }

    /// The encoded file contents. Separate from `write` so callers (and tests) can encode without a file.
    public static func encoded(_ image: RGBImage, as format: Format, quality: Int? = nil) throws -> [UInt8] {
        if let quality, !(1...100).contains(quality) {
            throw MediaError(.invalidArgument, path: nil, "JPEG quality \(quality) is outside 1...100")
        }
        do {
            return try encode(image, as: format, quality: quality)
        } catch {
            throw MediaError(.encodeFailed, path: nil, "cannot encode \(format == .png ? "PNG" : "JPEG"): \(error.text)",
                             detail: error.detail)
        }
    }

    /// FFmpeg's quantiser (1 best … 31 worst) for a quality 1...100, or 2 when none is given.
    static func quantiser(forQuality quality: Int?) -> Int32 {
        guard let quality else { return 2 }
        return Int32(1 + ((100 - quality) * 30 + 49) / 99)
    }

    // MARK: - Encoding

    private static func encode(_ image: RGBImage, as format: Format, quality: Int?) throws(FFmpegCallError) -> [UInt8] {
        let codecID = format == .png ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG
        guard let codec = avcodec_find_encoder(codecID) else {
            throw FFmpegCallError(function: "avcodec_find_encoder", code: streamd_averror(ENOSYS))
        }
        guard let encoder = CodecContext(codec: codec), let frame = Frame(), let packet = Packet() else {
            throw FFmpegCallError(function: "av_frame_alloc", code: streamd_averror(ENOMEM))
        }
        let context = encoder.context
        context.pointee.width = Int32(image.width)
        context.pointee.height = Int32(image.height)
        context.pointee.time_base = AVRational(num: 1, den: 1)
        context.pointee.thread_count = 1

        let fullChroma = (quality ?? 100) >= fullChromaQuality
        switch format {
        case .png:
            context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        case .jpeg:
            // mjpeg in FFmpeg 5.1 takes the deprecated yuvj* formats to mean "full range", which is what
            // JFIF requires; the colour tags say the same thing explicitly.
            context.pointee.pix_fmt = fullChroma ? AV_PIX_FMT_YUVJ444P : AV_PIX_FMT_YUVJ420P
            context.pointee.color_range = AVCOL_RANGE_JPEG
            context.pointee.colorspace = AVCOL_SPC_BT470BG
            context.pointee.chroma_sample_location = AVCHROMA_LOC_CENTER
            // A fixed quantiser: AV_CODEC_FLAG_QSCALE with the quantiser given as lambda, on the context and on
            // the frame (mpegvideo takes the per-picture value from the frame). qmin defaults to 2; lower it
            // so quality 100 can reach quantiser 1.
            let q = quantiser(forQuality: quality)
            context.pointee.flags |= AV_CODEC_FLAG_QSCALE
            context.pointee.global_quality = q * FF_QP2LAMBDA
            context.pointee.qmin = 1
            context.pointee.qmax = 31
            frame.frame.pointee.quality = q * FF_QP2LAMBDA
        }
        var result = openCodec(context, codec, nil)
        guard result >= 0 else { throw FFmpegCallError(function: "avcodec_open2", code: result) }

        frame.frame.pointee.width = context.pointee.width
        frame.frame.pointee.height = context.pointee.height
        frame.frame.pointee.format = context.pointee.pix_fmt.rawValue
        frame.frame.pointee.color_range = context.pointee.color_range
        frame.frame.pointee.colorspace = context.pointee.colorspace
        frame.frame.pointee.pts = 0
        result = av_frame_get_buffer(frame.frame, 0)
        guard result >= 0 else { throw FFmpegCallError(function: "av_frame_get_buffer", code: result) }

        switch format {
        case .png: copyRGB24(image, into: frame.frame)
        case .jpeg: try convertToFullRangeYUV(image, into: frame.frame, subsampled: !fullChroma)
        }

        result = avcodec_send_frame(context, frame.frame)
        guard result >= 0 else { throw FFmpegCallError(function: "avcodec_send_frame", code: result) }
        result = avcodec_send_frame(context, nil)   // flush: one picture, then end of stream
        guard result >= 0 else { throw FFmpegCallError(function: "avcodec_send_frame (flush)", code: result) }
        var bytes: [UInt8] = []
        while true {
            result = avcodec_receive_packet(context, packet.packet)
            if result == streamd_averror_eof() { break }
            guard result >= 0 else { throw FFmpegCallError(function: "avcodec_receive_packet", code: result) }
            if let data = packet.packet.pointee.data {
                bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(packet.packet.pointee.size)))
            }
            av_packet_unref(packet.packet)
        }
        guard !bytes.isEmpty else { throw FFmpegCallError(function: "avcodec_receive_packet", code: streamd_averror_eof()) }
        return bytes
    }

    private static func copyRGB24(_ image: RGBImage, into frame: UnsafeMutablePointer<AVFrame>) {
        let rowBytes = image.width * 3
        let stride = Int(frame.pointee.linesize.0)
        let base = frame.pointee.data.0!
        image.pixels.withUnsafeBytes { src in
            for y in 0..<image.height {
                (base + y * stride).update(from: src.baseAddress!.assumingMemoryBound(to: UInt8.self) + y * rowBytes,
                                           count: rowBytes)
            }
        }
    }

    /// RGB → full-range BT.601 YCbCr (JFIF) with libswscale, chroma centred as JPEG expects when subsampled.
    private static func convertToFullRangeYUV(_ image: RGBImage, into frame: UnsafeMutablePointer<AVFrame>,
                                              subsampled: Bool) throws(FFmpegCallError) {
        // Tell swscale the plain yuv format with an explicit full output range; the frame keeps its yuvj label
        // for the encoder. Same memory layout.
        let plain = subsampled ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_YUV444P
        let flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP | SWS_BITEXACT
        guard let scaler = Scaler(width: Int32(image.width), height: Int32(image.height), srcFormat: AV_PIX_FMT_RGB24,
                                  dstFormat: plain, flags: flags, dstChromaPosition: subsampled ? (128, 128) : nil) else {
            throw FFmpegCallError(function: "sws_init_context", code: streamd_averror(EINVAL))
        }
        let bt601 = sws_getCoefficients(SWS_CS_ITU601)
        _ = sws_setColorspaceDetails(scaler.pointer, bt601, 1, bt601, 1, 0, 1 << 16, 1 << 16)
        let result = image.pixels.withUnsafeBufferPointer { src in
            var srcPlanes: [UnsafePointer<UInt8>?] = [src.baseAddress, nil, nil, nil]
            var srcStrides: [Int32] = [Int32(image.width * 3), 0, 0, 0]
            var dstPlanes: [UnsafeMutablePointer<UInt8>?] = [frame.pointee.data.0, frame.pointee.data.1, frame.pointee.data.2, nil]
            var dstStrides: [Int32] = [frame.pointee.linesize.0, frame.pointee.linesize.1, frame.pointee.linesize.2, 0]
            return sws_scale(scaler.pointer, &srcPlanes, &srcStrides, 0, Int32(image.height), &dstPlanes, &dstStrides)
        }
        guard result == Int32(image.height) else {
            throw FFmpegCallError(function: "sws_scale", code: result < 0 ? result : streamd_averror(EINVAL))
        }
    }

    /// The extension of the last path component, without the dot; empty if there is none.
    static func fileExtension(of path: String) -> String {
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }
}
