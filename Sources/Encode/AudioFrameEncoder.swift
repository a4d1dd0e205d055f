import CFFmpeg
import FFmpegSupport
import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// The encoding half every audio path of streamd shares (a file's audio through `AudioTranscoder`, a live
/// pipeline's sound through `StreamOutput`): an opened AAC or Opus encoder fed exactly `frame_size` samples a
/// frame from an `AVAudioFifo`, timestamps counted in samples, packets handed to the caller's writer.
final class AudioFrameEncoder {
    let encoder: CodecContext
    let layout: ChannelLayout
    let frameSize: Int32
    /// The next encoder frame's pts, in 1/sample rate; nil until the caller places the first sample.
    var nextPts: Int64?
    private let fifo: AudioFifo
    private let frame: Frame
    private let packet: Packet
    private let path: String

    /// Opens `codec` at `rate`, in `format`, with `channels` (mono or stereo). `path` names the output in errors.
    init(codec: UnsafePointer<AVCodec>, rate: Int32, format: AVSampleFormat, channels: Int32, bitRate: Int64,
         globalHeader: Bool, path: String, label: String) throws {
        self.path = path
        guard let encoder = CodecContext(codec: codec), let frame = Frame(), let packet = Packet() else {
            throw MediaError(.encodeFailed, path: path, "out of memory setting up the audio encoder")
        }
        let layout = ChannelLayout(channels: channels)
        let context = encoder.context
        context.pointee.sample_rate = rate
        context.pointee.sample_fmt = format
        var result = av_channel_layout_copy(&context.pointee.ch_layout, &layout.layout)
        context.pointee.time_base = AVRational(num: 1, den: rate)
        context.pointee.bit_rate = bitRate
        if globalHeader { context.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        if result >= 0 { result = openCodec(context, codec, nil) }
        guard result >= 0 else {
            let name = String(cString: codec.pointee.name)
            throw MediaError(.encodeFailed, path: path, "cannot open the \(name) encoder for \(label): \(ffmpegErrorText(result))")
        }
        guard let fifo = AudioFifo(format: format, channels: channels) else {
            throw MediaError(.encodeFailed, path: path, "out of memory for audio samples")
        }
        frameSize = context.pointee.frame_size > 0 ? context.pointee.frame_size : 1024
        frame.frame.pointee.nb_samples = frameSize
        frame.frame.pointee.format = format.rawValue
        frame.frame.pointee.sample_rate = rate
        result = av_channel_layout_copy(&frame.frame.pointee.ch_layout, &layout.layout)
        if result >= 0 { result = av_frame_get_buffer(frame.frame, 0) }
        guard result >= 0 else { throw MediaError(.encodeFailed, path: path, "out of memory for audio frames") }
        self.encoder = encoder
        self.layout = layout
        self.fifo = fifo
        self.frame = frame
        self.packet = packet
    }

    var context: UnsafeMutablePointer<AVCodecContext> { encoder.context }
    var sampleRate: Int32 { encoder.context.pointee.sample_rate }
    /// Samples waiting for a whole frame.
    var queued: Int32 { fifo.size }

    /// Adds the encoder's stream to `output` (before its header is written): the stream's index.
    func addStream(to output: UnsafeMutablePointer<AVFormatContext>) throws -> Int32 {
        guard let stream = avformat_new_stream(output, nil) else {
            throw MediaError(.encodeFailed, path: path, "out of memory adding a stream")
        }
        stream.pointee.time_base = encoder.context.pointee.time_base
        let result = avcodec_parameters_from_context(stream.pointee.codecpar, encoder.context)
        guard result >= 0 else {
            throw MediaError(.encodeFailed, path: path, "cannot describe the audio stream: \(ffmpegErrorText(result))")
        }
        return stream.pointee.index
    }

    /// Queues `count` samples given as the encoder's planes (or one interleaved plane).
    func append(_ planes: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int32) throws {
        let written = av_audio_fifo_write(fifo.pointer, planes, count)
        guard written == count else { throw failure("av_audio_fifo_write", written < 0 ? written : streamd_averror(ENOMEM)) }
    }

    /// Queues `count` samples of silence.
    func appendSilence(_ count: Int32) throws {
        var remaining = count
        while remaining > 0 {
            let step = min(remaining, frameSize)
            var result = av_frame_make_writable(frame.frame)
            guard result >= 0 else { throw failure("av_frame_make_writable", result) }
            result = av_samples_set_silence(frame.frame.pointee.extended_data, 0, step, layout.layout.nb_channels,
                                            AVSampleFormat(frame.frame.pointee.format))
            guard result >= 0 else { throw failure("av_samples_set_silence", result) }
            try UnsafeMutableRawPointer(frame.frame.pointee.extended_data).withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) {
                try append($0, count: step)
            }
            remaining -= step
        }
    }

    /// Encodes frame_size samples at a time from the FIFO; with `final`, also the short rest. With
    /// `padWithSilence`, a short rest becomes a whole frame ending in silence: the encoders take a short frame
    /// only as the very last one, so this is how the audio is cut before a jump in its timestamps.
    func encodeQueued(final: Bool, padWithSilence: Bool = false, write: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        while fifo.size >= frameSize || ((final || padWithSilence) && fifo.size > 0) {
            let count = min(frameSize, fifo.size)
            let target = frame.frame
            var result = av_frame_make_writable(target)
            guard result >= 0 else { throw failure("av_frame_make_writable", result) }
            let length = padWithSilence ? frameSize : count
            target.pointee.nb_samples = length
            let read = UnsafeMutableRawPointer(target.pointee.extended_data).withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) {
                av_audio_fifo_read(fifo.pointer, $0, count)
            }
            guard read == count else { throw failure("av_audio_fifo_read", read < 0 ? read : streamd_averror(EINVAL)) }
            if length > count {
                result = av_samples_set_silence(target.pointee.extended_data, count, length - count, layout.layout.nb_channels,
                                                AVSampleFormat(target.pointee.format))
                guard result >= 0 else { throw failure("av_samples_set_silence", result) }
            }
            let pts = nextPts ?? 0
            target.pointee.pts = pts
            nextPts = pts + Int64(length)
            result = avcodec_send_frame(encoder.context, target)
            target.pointee.nb_samples = frameSize  // whole again for the next use
            guard result >= 0 else { throw failure("avcodec_send_frame", result) }
            try drain(write)
        }
    }

    /// A jump in the timestamps (a stream's clock reset, a splice, pictures that stalled): the samples queued so far
    /// end in whole frames (the rest of the last one silence), and the next sample is placed at `pts`, never
    /// before where the encoded ones end.
    func jump(to pts: Int64, write: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        try encodeQueued(final: false, padWithSilence: true, write: write)
        nextPts = max(pts, nextPts ?? pts)
    }

    /// The last short frame, then everything the encoder still holds.
    func flush(write: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        try encodeQueued(final: true, write: write)
        let result = avcodec_send_frame(encoder.context, nil)
        guard result >= 0 || result == streamd_averror_eof() else { throw failure("avcodec_send_frame (flush)", result) }
        try drain(write)
    }

    /// Packets ready, in the encoder's time base, to `write` (which takes or unreferences each).
    private func drain(_ write: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        let pkt = packet.packet
        while true {
            let result = avcodec_receive_packet(encoder.context, pkt)
            if result == streamd_averror_eagain() || result == streamd_averror_eof() { return }
            guard result >= 0 else { throw failure("avcodec_receive_packet", result) }
            try write(pkt)
        }
    }

    func failure(_ function: String, _ code: Int32) -> MediaError {
        MediaError(.encodeFailed, path: path, "cannot encode the audio: \(ffmpegErrorText(code))", detail: "\(function) returned \(code)")
    }
}
