import CFFmpeg
import FFmpegSupport

// Owners of the FFmpeg objects only the writers use, one final class each, freeing it exactly once in
// `deinit`. The common ones (codec context, frame, packet, scaler) are in FFmpegSupport.

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

/// A sample FIFO (`av_audio_fifo_alloc`), freed by `av_audio_fifo_free`.
final class AudioFifo {
    let pointer: OpaquePointer

    init?(format: AVSampleFormat, channels: Int32) {
        guard let fifo = av_audio_fifo_alloc(format, channels, 4096) else { return nil }
        pointer = fifo
    }

    var size: Int32 { av_audio_fifo_size(pointer) }

    deinit { av_audio_fifo_free(pointer) }
}
