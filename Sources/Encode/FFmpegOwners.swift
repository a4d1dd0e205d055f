import CFFmpeg

// One final class per FFmpeg object, freeing it exactly once in `deinit` (see Decode/FFmpegOwners.swift).
// These are a small duplicate of Decode's: `Encode` does not depend on `Decode`, and an internal type cannot be
// shared across modules without exposing the C types in a public signature.

/// The text FFmpeg gives for an error code.
func ffmpegErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 128)
    return buffer.withUnsafeMutableBufferPointer { buf in
        _ = streamd_err2str(code, buf.baseAddress, buf.count)
        return String(cString: buf.baseAddress!)
    }
}

/// A failed FFmpeg call: which function and what it returned.
struct FFmpegCallError: Error {
    var function: String
    var code: Int32

    var text: String { ffmpegErrorText(code) }
    var detail: String { "\(function) returned \(code) (\(text))" }
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

/// A same-size format converter (`SwsContext`), freed by `sws_freeContext`.
final class Scaler {
    let pointer: OpaquePointer

    /// Built with the options API because chroma siting must be set before `sws_init_context`.
    /// `dstChromaPosition` is where subsampled output chroma sits, in 1/256 luma samples (JPEG: 128/128).
    init?(width: Int32, height: Int32, srcFormat: AVPixelFormat, dstFormat: AVPixelFormat, flags: Int32,
          dstChromaPosition: (x: Int32, y: Int32)? = nil) {
        guard let context = sws_alloc_context() else { return nil }
        let raw = UnsafeMutableRawPointer(context)
        var ok = true
        ok = ok && av_opt_set_int(raw, "srcw", Int64(width), 0) >= 0
        ok = ok && av_opt_set_int(raw, "srch", Int64(height), 0) >= 0
        ok = ok && av_opt_set_int(raw, "src_format", Int64(srcFormat.rawValue), 0) >= 0
        ok = ok && av_opt_set_int(raw, "dstw", Int64(width), 0) >= 0
        ok = ok && av_opt_set_int(raw, "dsth", Int64(height), 0) >= 0
        ok = ok && av_opt_set_int(raw, "dst_format", Int64(dstFormat.rawValue), 0) >= 0
        ok = ok && av_opt_set_int(raw, "sws_flags", Int64(flags), 0) >= 0
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

    deinit { sws_freeContext(pointer) }
}

/// An output `AVFormatContext` from `avformat_alloc_output_context2`. `deinit` closes its file (if the muxer
/// opened one through `avio_open`) and then frees it, so an abandoned writer releases both exactly once.
final class OutputFormatContext {
    private(set) var pointer: UnsafeMutablePointer<AVFormatContext>?

    /// Allocates a muxer context for `formatName` writing to `url`; nil with the FFmpeg code on failure.
    init(formatName: String, url: String) throws(FFmpegCallError) {
        var context: UnsafeMutablePointer<AVFormatContext>?
        let result = avformat_alloc_output_context2(&context, nil, formatName, url)
        guard result >= 0, let context else {
            throw FFmpegCallError(function: "avformat_alloc_output_context2", code: result < 0 ? result : streamd_averror(ENOMEM))
        }
        pointer = context
    }

    var context: UnsafeMutablePointer<AVFormatContext> { pointer! }

    /// Closes the output file if it is open; safe to call more than once (`avio_closep` clears `pb`).
    /// Returns the close result so `finish` can report a failed final flush.
    @discardableResult
    func closeFile() -> Int32 {
        guard let context = pointer, context.pointee.pb != nil,
              context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 else { return 0 }
        return avio_closep(&context.pointee.pb)
    }

    deinit {
        closeFile()
        avformat_free_context(pointer)
    }
}

/// An `AVDictionary` of options, freed by `av_dict_free`. FFmpeg calls take `&pointer` and consume the entries
/// they recognise, so what remains after a call are the options nobody understood. (Not named `Dictionary`: that would shadow
/// Swift's own inside this module.)
final class OptionDictionary {
    var pointer: OpaquePointer?

    init() {}

    func set(_ key: String, _ value: String) {
        av_dict_set(&pointer, key, value, 0)
    }

    var count: Int { Int(av_dict_count(pointer)) }

    /// The keys still in the dictionary.
    var keys: [String] {
        var keys: [String] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let next = av_dict_get(pointer, "", entry, AV_DICT_IGNORE_SUFFIX) {
            keys.append(String(cString: next.pointee.key))
            entry = next
        }
        return keys
    }

    deinit { av_dict_free(&pointer) }
}
