import CFFmpeg

// One final class per FFmpeg object: the class owns the pointer and frees it in `deinit`, so every object is
// freed exactly once on every path, including thrown errors. They are internal: public signatures never
// mention a C type. None of them is shared between threads; each decode call builds and drops its own.

/// The text FFmpeg gives for an error code ("Invalid data found when processing input").
func ffmpegErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 128)
    return buffer.withUnsafeMutableBufferPointer { buf in
        _ = streamd_err2str(code, buf.baseAddress, buf.count)
        return String(cString: buf.baseAddress!)
    }
}

/// An opened input (`AVFormatContext` from `avformat_open_input`), closed with `avformat_close_input`.
final class InputContext {
    private(set) var pointer: UnsafeMutablePointer<AVFormatContext>?

    /// Opens `url`, letting libavformat probe the format from the name and the first bytes.
    init(url: String) throws(FFmpegCallError) {
        var context: UnsafeMutablePointer<AVFormatContext>?
        let result = avformat_open_input(&context, url, nil, nil)
        // On failure avformat_open_input frees the context itself and sets it to NULL.
        guard result >= 0, let context else { throw FFmpegCallError(function: "avformat_open_input", code: result) }
        pointer = context
    }

    var context: UnsafeMutablePointer<AVFormatContext> { pointer! }

    deinit { avformat_close_input(&pointer) }
}

/// A codec context from `avcodec_alloc_context3`, freed with `avcodec_free_context`.
final class CodecContext {
    private(set) var pointer: UnsafeMutablePointer<AVCodecContext>?

    init?(codec: UnsafePointer<AVCodec>) {
        guard let context = avcodec_alloc_context3(codec) else { return nil }
        pointer = context
    }

    var context: UnsafeMutablePointer<AVCodecContext> { pointer! }

    deinit { avcodec_free_context(&pointer) }
}

/// An `AVFrame` from `av_frame_alloc`, freed (with its buffers) by `av_frame_free`.
final class Frame {
    private(set) var pointer: UnsafeMutablePointer<AVFrame>?

    init?() {
        guard let frame = av_frame_alloc() else { return nil }
        pointer = frame
    }

    var frame: UnsafeMutablePointer<AVFrame> { pointer! }

    deinit { av_frame_free(&pointer) }
}

/// An `AVPacket` from `av_packet_alloc`, freed by `av_packet_free`.
final class Packet {
    private(set) var pointer: UnsafeMutablePointer<AVPacket>?

    init?() {
        guard let packet = av_packet_alloc() else { return nil }
        pointer = packet
    }

    var packet: UnsafeMutablePointer<AVPacket> { pointer! }

    deinit { av_packet_free(&pointer) }
}

/// A configured `SwsContext`, freed by `sws_freeContext`.
final class Scaler {
    let pointer: OpaquePointer

    /// Builds a scaler with the options API rather than `sws_getContext`, because some options (dithering,
    /// chroma siting) can only be set before `sws_init_context`. `srcChromaPosition` is where the chroma
    /// samples of a subsampled source sit, in swscale's 1/256-luma-sample units (JPEG: centred, 128/128);
    /// nil leaves swscale's default.
    init?(srcWidth: Int32, srcHeight: Int32, srcFormat: AVPixelFormat,
          dstWidth: Int32, dstHeight: Int32, dstFormat: AVPixelFormat, flags: Int32,
          srcChromaPosition: (x: Int32, y: Int32)? = nil) {
        guard let context = sws_alloc_context() else { return nil }
        let raw = UnsafeMutableRawPointer(context)
        var ok = true
        ok = ok && av_opt_set_int(raw, "srcw", Int64(srcWidth), 0) >= 0
        ok = ok && av_opt_set_int(raw, "srch", Int64(srcHeight), 0) >= 0
        ok = ok && av_opt_set_int(raw, "src_format", Int64(srcFormat.rawValue), 0) >= 0
        ok = ok && av_opt_set_int(raw, "dstw", Int64(dstWidth), 0) >= 0
        ok = ok && av_opt_set_int(raw, "dsth", Int64(dstHeight), 0) >= 0
        ok = ok && av_opt_set_int(raw, "dst_format", Int64(dstFormat.rawValue), 0) >= 0
        ok = ok && av_opt_set_int(raw, "sws_flags", Int64(flags), 0) >= 0
        // No dithering: reducing 16-bit PNGs to 8 bits must round each sample, not add a pattern, so a
        // 16-bit file made from 8-bit data decodes back to exactly that data.
        ok = ok && av_opt_set(raw, "sws_dither", "none", 0) >= 0
        if let position = srcChromaPosition {
            ok = ok && av_opt_set_int(raw, "src_h_chr_pos", Int64(position.x), 0) >= 0
            ok = ok && av_opt_set_int(raw, "src_v_chr_pos", Int64(position.y), 0) >= 0
        }
        guard ok, sws_init_context(context, nil, nil) >= 0 else {
            sws_freeContext(context)
            return nil
        }
        pointer = context
    }

    deinit { sws_freeContext(pointer) }
}

/// A failed FFmpeg call: which function and what it returned. Turned into a `MediaError` by the caller,
/// which knows the path and what was being attempted.
struct FFmpegCallError: Error {
    var function: String
    var code: Int32

    var text: String { ffmpegErrorText(code) }
    var detail: String { "\(function) returned \(code) (\(text))" }
}

/// A copy of a stream's `AVCodecParameters` (from `avcodec_parameters_alloc`), freed by
/// `avcodec_parameters_free`. A copy, not the demuxer's own, so it outlives the input it came from.
final class CodecParameters {
    private(set) var pointer: UnsafeMutablePointer<AVCodecParameters>?

    init?(copying source: UnsafePointer<AVCodecParameters>) {
        guard let parameters = avcodec_parameters_alloc() else { return nil }
        guard avcodec_parameters_copy(parameters, source) >= 0 else {
            var doomed: UnsafeMutablePointer<AVCodecParameters>? = parameters
            avcodec_parameters_free(&doomed)
            return nil
        }
        pointer = parameters
    }

    var parameters: UnsafeMutablePointer<AVCodecParameters> { pointer! }

    deinit { avcodec_parameters_free(&pointer) }
}
