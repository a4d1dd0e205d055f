import CFFmpeg
import FFmpegSupport
import Pipeline

/// A stretch of a live source's sound in the live pipelines' one format (`AudioTrack`'s: 48 kHz, two channels,
/// signed 16-bit, interleaved), with where its first sample lies on the source's own clock.
public struct DecodedSound: Sendable {
    /// Microseconds on the input's clock (the same clock as its pictures' timestamps); nil when the packet had
    /// no timestamp (the block then follows the one before it).
    public var micros: Int64?
    public var samples: [Int16]
}

/// Decodes the best audio stream of a live input and converts it to `AudioTrack`'s format with swresample, so a
/// live pipeline from a network stream or a file carries its sound to the outputs as a `whip:` pipeline does.
///
/// The reader hands it every packet of its stream (`decode`); the converted blocks wait in `pending` until the
/// reader's owner takes them. Damaged packets are skipped (the decoder conceals), never fatal: a live picture
/// is not lost for its sound. A change of layout, format or rate mid-stream rebuilds the converter.
final class SoundDecoder {
    let streamIndex: Int32
    /// What the stream is, for log lines ("aac, 44100 Hz, 1 channel").
    let label: String
    private let timeBase: AVRational
    private let decoder: CodecContext
    private let frame: Frame
    private var resampler: Resampler?
    private var resamplerInput: (layout: ChannelLayout, format: Int32, rate: Int32)?
    private let outLayout = ChannelLayout(channels: Int32(AudioTrack.channels))
    /// Converted blocks not taken yet; bounded (a reader whose owner never takes them keeps the last few seconds).
    private var pending: [DecodedSound] = []
    private var pendingFrames = 0

    /// The most sound kept for the owner to take, in sample frames (5 s).
    static let maxPending = AudioTrack.sampleRate * 5

    /// nil when the input has no audio stream or FFmpeg has no decoder for it (the pipeline is then silent).
    /// Made after the input's `VideoDecoder`, which marks the other streams discarded.
    init?(format: UnsafeMutablePointer<AVFormatContext>) {
        var codecPointer: UnsafePointer<AVCodec>?
        let found = av_find_best_stream(format, AVMEDIA_TYPE_AUDIO, -1, -1, &codecPointer, 0)
        guard found >= 0, let codecPointer, let stream = format.pointee.streams[Int(found)],
              let decoder = CodecContext(codec: codecPointer), let frame = Frame() else { return nil }
        var result = avcodec_parameters_to_context(decoder.context, stream.pointee.codecpar)
        if result >= 0 {
            decoder.context.pointee.pkt_timebase = stream.pointee.time_base
            result = openCodec(decoder.context, codecPointer, nil)
        }
        guard result >= 0 else { return nil }
        // The video decoder asked the demuxer to drop every other stream: this one is wanted again.
        stream.pointee.discard = AVDISCARD_DEFAULT
        streamIndex = found
        timeBase = stream.pointee.time_base
        self.decoder = decoder
        self.frame = frame
        let parameters = stream.pointee.codecpar.pointee
        let channels = parameters.ch_layout.nb_channels
        label = "\(String(cString: avcodec_get_name(parameters.codec_id))), \(parameters.sample_rate) Hz, \(channels) channel\(channels == 1 ? "" : "s")"
    }

    /// Decodes one packet of the audio stream into `pending`.
    func decode(_ packet: UnsafeMutablePointer<AVPacket>) {
        // A damaged packet is refused or decodes to nothing: the sound skips it (the decoder conceals).
        _ = avcodec_send_packet(decoder.context, packet)
        while true {
            let received = avcodec_receive_frame(decoder.context, frame.frame)
            if received == streamd_averror_eagain() || received == streamd_averror_eof() { return }
            if received < 0 { return }
            defer { av_frame_unref(frame.frame) }
            convert(frame.frame)
        }
    }

    /// The blocks decoded since the last call, oldest first.
    func take() -> [DecodedSound] {
        defer { pending.removeAll(keepingCapacity: true); pendingFrames = 0 }
        return pending
    }

    private func convert(_ decoded: UnsafeMutablePointer<AVFrame>) {
        guard decoded.pointee.sample_rate > 0, decoded.pointee.nb_samples > 0 else { return }
        let inLayout = ChannelLayout(copying: &decoded.pointee.ch_layout)
        let unchanged = resamplerInput.map {
            $0.format == decoded.pointee.format && $0.rate == decoded.pointee.sample_rate
                && av_channel_layout_compare(&$0.layout.layout, &inLayout.layout) == 0
        } ?? false
        if !unchanged {
            // A new converter: what the old one held is a few milliseconds, let go with it.
            resampler = try? Resampler(inLayout: &inLayout.layout, inFormat: AVSampleFormat(decoded.pointee.format),
                                       inRate: decoded.pointee.sample_rate, outLayout: &outLayout.layout,
                                       outFormat: AV_SAMPLE_FMT_S16, outRate: Int32(AudioTrack.sampleRate))
            resamplerInput = resampler == nil ? nil : (inLayout, decoded.pointee.format, decoded.pointee.sample_rate)
        }
        guard let resampler else { return }
        let nopts = streamd_nopts_value()
        let pts = decoded.pointee.best_effort_timestamp != nopts ? decoded.pointee.best_effort_timestamp : decoded.pointee.pts
        // The converter's delay moves the block's first output sample earlier than the frame's first input one.
        let delay = swr_get_delay(resampler.context, 1_000_000)
        let micros: Int64? = pts == nopts ? nil : av_rescale_q(pts, timeBase, AVRational(num: 1, den: 1_000_000)) - delay
        let capacity = swr_get_out_samples(resampler.context, decoded.pointee.nb_samples)
        guard capacity > 0 else { return }
        var samples = [Int16](repeating: 0, count: Int(capacity) * AudioTrack.channels)
        let count = samples.withUnsafeMutableBytes { out -> Int32 in
            var outPlane: UnsafeMutablePointer<UInt8>? = out.baseAddress?.assumingMemoryBound(to: UInt8.self)
            return withUnsafeMutablePointer(to: &outPlane) { outData in
                decoded.pointee.extended_data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { inData in
                    swr_convert(resampler.context, outData, capacity, inData, decoded.pointee.nb_samples)
                }
            }
        }
        guard count > 0 else { return }
        samples.removeSubrange(Int(count) * AudioTrack.channels..<samples.count)
        pending.append(DecodedSound(micros: micros, samples: samples))
        pendingFrames += Int(count)
        while pendingFrames > Self.maxPending, !pending.isEmpty {
            pendingFrames -= pending.removeFirst().samples.count / AudioTrack.channels
        }
    }
}
