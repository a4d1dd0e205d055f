package import CFFmpeg

// One final class per FFmpeg object: the class owns the pointer and frees it in `deinit`, so every object is
// freed exactly once on every path, including thrown errors. Shared by Decode and Encode with `package`
// access: visible inside streamd's own modules, never in a public signature. None of them is shared between
// threads; each has one owner at a time.

/// The text FFmpeg gives for an error code ("Invalid data found when processing input").
package func ffmpegErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 128)
    return buffer.withUnsafeMutableBufferPointer { buf in
        _ = streamd_err2str(code, buf.baseAddress, buf.count)
        return String(cString: buf.baseAddress!)
    }
}

/// A failed FFmpeg call: which function and what it returned. Turned into a `MediaError` by the caller,
/// which knows the path and what was being attempted.
package struct FFmpegCallError: Error {
    package var function: String
    package var code: Int32

    package init(function: String, code: Int32) {
        self.function = function
        self.code = code
    }

    package var text: String { ffmpegErrorText(code) }
    package var detail: String { "\(function) returned \(code) (\(text))" }
}

/// A codec context from `avcodec_alloc_context3`, freed with `avcodec_free_context`.
package final class CodecContext {
    package private(set) var pointer: UnsafeMutablePointer<AVCodecContext>?

    package init?(codec: UnsafePointer<AVCodec>) {
        guard let context = avcodec_alloc_context3(codec) else { return nil }
        pointer = context
    }

    package var context: UnsafeMutablePointer<AVCodecContext> { pointer! }

    deinit { avcodec_free_context(&pointer) }
}

/// An `AVFrame` from `av_frame_alloc`, freed (with its buffers) by `av_frame_free`.
package final class Frame {
    package private(set) var pointer: UnsafeMutablePointer<AVFrame>?

    package init?() {
        guard let frame = av_frame_alloc() else { return nil }
        pointer = frame
    }

    package var frame: UnsafeMutablePointer<AVFrame> { pointer! }

    deinit { av_frame_free(&pointer) }
}

/// An `AVPacket` from `av_packet_alloc`, freed by `av_packet_free`.
package final class Packet {
    package private(set) var pointer: UnsafeMutablePointer<AVPacket>?

    package init?() {
        guard let packet = av_packet_alloc() else { return nil }
        pointer = packet
    }

    package var packet: UnsafeMutablePointer<AVPacket> { pointer! }

    deinit { av_packet_free(&pointer) }
}

/// A configured `SwsContext`, freed by `sws_freeContext`.
package final class Scaler {
    package let pointer: OpaquePointer

    /// Builds a scaler with the options API rather than `sws_getContext`, because some options (dithering,
    /// chroma siting) can only be set before `sws_init_context`. Chroma positions are where the chroma
    /// samples of a subsampled picture sit, in swscale's 1/256-luma-sample units (JPEG: centred, 128/128);
    /// nil leaves swscale's default. `noDither` rounds each sample instead of adding a pattern (decoding
    /// 16-bit PNGs made from 8-bit data must give back exactly that data).
    package init?(srcWidth: Int32, srcHeight: Int32, srcFormat: AVPixelFormat,
                  dstWidth: Int32, dstHeight: Int32, dstFormat: AVPixelFormat, flags: Int32,
                  srcChromaPosition: (x: Int32, y: Int32)? = nil, dstChromaPosition: (x: Int32, y: Int32)? = nil,
                  noDither: Bool = false) {
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
        if noDither { ok = ok && av_opt_set(raw, "sws_dither", "none", 0) >= 0 }
        if let position = srcChromaPosition {
            ok = ok && av_opt_set_int(raw, "src_h_chr_pos", Int64(position.x), 0) >= 0
            ok = ok && av_opt_set_int(raw, "src_v_chr_pos", Int64(position.y), 0) >= 0
        }
        if let position = dstChromaPosition {
            ok = ok && av_opt_set_int(raw, "dst_h_chr_pos", Int64(position.x), 0) >= 0
            ok = ok && av_opt_set_int(raw, "dst_v_chr_pos", Int64(position.y), 0) >= 0
        }
        guard ok, sws_init_context(context, nil, nil) >= 0 else {
            sws_freeContext(context)
            return nil
        }
        pointer = context
    }

    /// A same-size format converter.
    package convenience init?(width: Int32, height: Int32, srcFormat: AVPixelFormat, dstFormat: AVPixelFormat,
                              flags: Int32, dstChromaPosition: (x: Int32, y: Int32)? = nil) {
        self.init(srcWidth: width, srcHeight: height, srcFormat: srcFormat, dstWidth: width, dstHeight: height,
                  dstFormat: dstFormat, flags: flags, dstChromaPosition: dstChromaPosition)
    }

    deinit { sws_freeContext(pointer) }
}

/// A resampler (`SwrContext` from `swr_alloc_set_opts2`, initialised), freed by `swr_free`.
package final class Resampler {
    package private(set) var pointer: OpaquePointer?

    /// Converts `input` samples to `output`'s format, layout and rate; nil with the FFmpeg code on failure.
    package init(inLayout: UnsafeMutablePointer<AVChannelLayout>, inFormat: AVSampleFormat, inRate: Int32,
                 outLayout: UnsafeMutablePointer<AVChannelLayout>, outFormat: AVSampleFormat, outRate: Int32) throws(FFmpegCallError) {
        var context: OpaquePointer?
        var result = swr_alloc_set_opts2(&context, outLayout, outFormat, outRate, inLayout, inFormat, inRate, 0, nil)
        guard result >= 0, context != nil else {
            swr_free(&context)
            throw FFmpegCallError(function: "swr_alloc_set_opts2", code: result < 0 ? result : streamd_averror(ENOMEM))
        }
        result = swr_init(context)
        guard result >= 0 else {
            swr_free(&context)
            throw FFmpegCallError(function: "swr_init", code: result)
        }
        pointer = context
    }

    package var context: OpaquePointer { pointer! }

    deinit { swr_free(&pointer) }
}

/// An `AVChannelLayout` value whose allocations (custom orders only) `av_channel_layout_uninit` releases.
package final class ChannelLayout {
    package var layout = AVChannelLayout()

    /// A copy of `source`; an unspecified order (AVI, some WAV) becomes the default layout for its count.
    package init(copying source: UnsafePointer<AVChannelLayout>) {
        if source.pointee.order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check(source) == 0 {
            av_channel_layout_default(&layout, max(1, source.pointee.nb_channels))
        } else if av_channel_layout_copy(&layout, source) < 0 {
            av_channel_layout_default(&layout, max(1, source.pointee.nb_channels))
        }
    }

    /// The default layout for `channels` (mono, stereo, 5.1…).
    package init(channels: Int32) {
        av_channel_layout_default(&layout, channels)
    }

    deinit { av_channel_layout_uninit(&layout) }
}
