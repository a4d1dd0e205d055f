import CFFmpeg
import FFmpegSupport

// Owners of the FFmpeg objects only the readers use, one final class each, freeing it exactly once in
// `deinit`. The common ones (codec context, frame, packet, scaler) are in FFmpegSupport.

/// An opened input (`AVFormatContext` from `avformat_open_input`), closed with `avformat_close_input`.
final class InputContext {
    private(set) var pointer: UnsafeMutablePointer<AVFormatContext>?

    /// Opens `url`, letting libavformat probe the format from the name and the first bytes, or with the
    /// demuxer named `format` and its private `options` (image2's `pattern_type`, `framerate`).
    /// `nonBlocking`: reads answer EAGAIN instead of waiting (a camera's VIDIOC_DQBUF would otherwise wait
    /// forever for a frame that never comes); the caller polls and applies its own deadline.
    init(url: String, format: String? = nil, options: [(String, String)] = [],
         interrupt: AVIOInterruptCB? = nil, nonBlocking: Bool = false) throws(FFmpegCallError) {
        // The demuxer is looked up before anything is allocated, so an unknown one leaks nothing.
        let demuxer = format.flatMap { av_find_input_format($0) }
        if format != nil && demuxer == nil {
            throw FFmpegCallError(function: "av_find_input_format", code: streamd_averror_demuxer_not_found())
        }
        var context: UnsafeMutablePointer<AVFormatContext>?
        if interrupt != nil || nonBlocking {
            // The callback must be in place before the protocol connects, so the context is allocated first.
            context = avformat_alloc_context()
            if let interrupt { context?.pointee.interrupt_callback = interrupt }
            if nonBlocking { context?.pointee.flags |= AVFMT_FLAG_NONBLOCK }
        }
        var dictionary: OpaquePointer?
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        let result = RealtimePolicyGuard.containRealtimePolicies { avformat_open_input(&context, url, demuxer, &dictionary) }
        // On failure avformat_open_input frees the context itself and sets it to NULL.
        guard result >= 0, let context else { throw FFmpegCallError(function: "avformat_open_input", code: result) }
        pointer = context
    }

    var context: UnsafeMutablePointer<AVFormatContext> { pointer! }

    /// Closes the input now (an owner whose interrupt callback must outlive the close calls this first);
    /// safe to call more than once.
    func close() { avformat_close_input(&pointer) }

    deinit { close() }
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
