import CFFmpeg
import Decode
import FFmpegSupport
import Pipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes one audio stream, converts its samples with swresample and encodes them with AAC or Opus into
/// an output stream (the encoding through `AudioFrameEncoder`), keeping the samples where the input's
/// timestamps put them.
final class AudioTranscoder {
    let outputIndex: Int32
    private let path: String
    private let inputPath: String
    private let inputTimeBase: AVRational
    private let decoder: CodecContext
    private let frames: AudioFrameEncoder
    private var resampler: Resampler?
    /// What `resampler` was built for: a change of layout, format or rate mid-stream (broadcast streams switch
    /// between stereo, mono and 5.1) rebuilds it, since a converter fed planes it does not expect reads past them.
    private var resamplerInput: (layout: ChannelLayout, format: Int32, rate: Int32)?
    private let decoded: Frame
    private var converted: Frame
    /// Seconds subtracted from the first pts (the video's shift to start at zero).
    private var shift = 0.0
    /// Packets or frames the decoder refused, and the first reason, for the caller's one warning.
    private(set) var decodeErrors = 0
    private(set) var firstDecodeError: String?
    /// Gaps filled with silence and overlaps dropped, in output samples, for the caller's warnings.
    private(set) var samplesInserted: Int64 = 0
    private(set) var samplesDropped: Int64 = 0
    /// Jumps in the timestamps longer than `maxSilence`, stepped over rather than filled, in output samples.
    private(set) var samplesSkipped: Int64 = 0
    /// Format changes that rebuilt the converter.
    private(set) var formatChanges = 0

    /// A frame whose timestamp is further than this from where the samples before it end is a gap (filled
    /// with silence) or an overlap (dropped); less is jitter and is ignored. Seconds.
    static let driftTolerance = 0.05
    /// The longest gap filled with silence, in seconds; a longer one is a jump of the stream's clock, and the
    /// audio steps over it (ends the audio before it with whole frames and goes on at the new time).
    static let maxSilence = 30.0

    /// nil when this FFmpeg has no encoder `encoderName` or the container rejects it.
    init?(stream: MediaStream, encoderName: String, output: UnsafeMutablePointer<AVFormatContext>,
          path: String, inputPath: String) throws {
        self.path = path
        self.inputPath = inputPath
        let label = "audio stream \(stream.index) (\(stream.codecName))"
        guard let codec = avcodec_find_encoder_by_name(encoderName),
              avformat_query_codec(output.pointee.oformat, codec.pointee.id, FF_COMPLIANCE_NORMAL) == 1 else { return nil }
        let parameters = stream.codecParameters
        guard let decoderCodec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw MediaError(.unsupportedFormat, path: inputPath, "no decoder for \(label)")
        }
        guard let decoded = Frame(), let converted = Frame() else {
            throw MediaError(.encodeFailed, path: path, "out of memory setting up \(encoderName)")
        }
        inputTimeBase = stream.avTimeBase
        let decoder = try openPassthroughDecoder(decoderCodec, stream: stream, label: label, inputPath: inputPath)
        // The encoder: the input's rate where the encoder takes it (Opus: 48 kHz), mono or stereo.
        let inputRate = decoder.context.pointee.sample_rate > 0 ? decoder.context.pointee.sample_rate : 48000
        var rates: [Int32] = []
        if let list = codec.pointee.supported_samplerates {
            var i = 0
            while list[i] != 0 { rates.append(list[i]); i += 1 }
        }
        let rate: Int32 = codec.pointee.id == AV_CODEC_ID_OPUS ? 48000
            : (rates.isEmpty || rates.contains(inputRate) ? inputRate : (rates.min { abs($0 - inputRate) < abs($1 - inputRate) } ?? 48000))
        var formats: [AVSampleFormat] = []
        if let list = codec.pointee.sample_fmts {
            var i = 0
            while list[i] != AV_SAMPLE_FMT_NONE { formats.append(list[i]); i += 1 }
        }
        let format = formats.contains(AV_SAMPLE_FMT_FLTP) ? AV_SAMPLE_FMT_FLTP
            : formats.contains(AV_SAMPLE_FMT_FLT) ? AV_SAMPLE_FMT_FLT : (formats.first ?? AV_SAMPLE_FMT_FLTP)
        let channels: Int32 = decoder.context.pointee.ch_layout.nb_channels <= 1 ? 1 : 2
        let frames = try AudioFrameEncoder(codec: codec, rate: rate, format: format, channels: channels,
                                           bitRate: Int64(channels) * (codec.pointee.id == AV_CODEC_ID_OPUS ? 48000 : 64000),
                                           globalHeader: output.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0,
                                           path: path, label: label)
        // The output stream last, so a failure above leaves the muxer without a stream that gets no packets.
        outputIndex = try frames.addStream(to: output)
        self.decoder = decoder
        self.frames = frames
        self.decoded = decoded
        self.converted = converted
    }

    /// Decodes one packet and encodes every whole encoder frame of samples that is ready. Damaged audio
    /// packets are skipped (the decoder conceals), as the video decoder does.
    func encode(_ mediaPacket: MediaPacket, shift: Double, output: UnsafeMutablePointer<AVFormatContext>) throws {
        self.shift = shift
        var sent = avcodec_send_packet(decoder.context, mediaPacket.avPacket)
        if sent == streamd_averror_eagain() {
            // The decoder holds frames it wants taken first; the packet goes in after them, never dropped.
            try receiveDecoded(output: output)
            sent = avcodec_send_packet(decoder.context, mediaPacket.avPacket)
        }
        if sent < 0 && sent != streamd_averror_eagain() { noteDecodeError(sent) }
        try receiveDecoded(output: output)
    }

    /// One line for each thing done to the audio that a listener might notice, prefixed with `label`.
    func report(label: String) -> [String] {
        let rate = Double(frames.context.pointee.sample_rate)
        var lines: [String] = []
        if decodeErrors > 0 {
            lines.append("\(label): skipped \(decodeErrors) damaged packet(s) or frame(s) (first: \(firstDecodeError ?? "unknown"))")
        }
        if formatChanges > 0 { lines.append("\(label): the channel layout, sample format or rate changed \(formatChanges) time(s); converted on") }
        if samplesInserted > 0 {
            lines.append("\(label): filled \((Double(samplesInserted) / rate * 100).rounded() / 100) s of gaps in its timestamps with silence")
        }
        if samplesSkipped > 0 {
            lines.append("\(label): stepped over \((Double(samplesSkipped) / rate * 100).rounded() / 100) s of jumps in its timestamps")
        }
        if samplesDropped > 0 {
            lines.append("\(label): dropped \((Double(samplesDropped) / rate * 100).rounded() / 100) s of audio overlapping in its timestamps")
        }
        return lines
    }

    private func noteDecodeError(_ code: Int32) {
        decodeErrors += 1
        if firstDecodeError == nil { firstDecodeError = ffmpegErrorText(code) }
    }

    /// At the end: drains the decoder and resampler, encodes the last short frame and drains the encoder.
    func flush(output: UnsafeMutablePointer<AVFormatContext>) throws {
        _ = avcodec_send_packet(decoder.context, nil)
        try receiveDecoded(output: output)
        if resampler != nil { try resample(nil, output: output) }
        try frames.flush(write: writer(output))
    }

    private func receiveDecoded(output: UnsafeMutablePointer<AVFormatContext>) throws {
        while true {
            let result = avcodec_receive_frame(decoder.context, decoded.frame)
            if result == streamd_averror_eagain() || result == streamd_averror_eof() { return }
            if result < 0 {   // a damaged frame: skip it, counted
                noteDecodeError(result)
                return
            }
            defer { av_frame_unref(decoded.frame) }
            try prepareResampler(for: decoded.frame, output: output)
            try align(decoded.frame, output: output)
            try resample(decoded.frame, output: output)
        }
    }

    /// The frame's start in output samples (encoder time base, shifted like the video), or nil without a pts.
    private func outputStart(of frame: UnsafeMutablePointer<AVFrame>) -> Int64? {
        let nopts = streamd_nopts_value()
        let pts = frame.pointee.best_effort_timestamp != nopts ? frame.pointee.best_effort_timestamp : frame.pointee.pts
        guard pts != nopts else { return nil }
        let rate = Double(frames.context.pointee.sample_rate)
        return av_rescale_q(pts, inputTimeBase, frames.context.pointee.time_base) - Int64((shift * rate).rounded())
    }

    /// Builds the converter for the first frame, and rebuilds it (after draining the old one into the FIFO)
    /// when the layout, sample format or rate changes.
    private func prepareResampler(for frame: UnsafeMutablePointer<AVFrame>, output: UnsafeMutablePointer<AVFormatContext>) throws {
        let inLayout = ChannelLayout(copying: &frame.pointee.ch_layout)
        if let current = resamplerInput, current.format == frame.pointee.format, current.rate == frame.pointee.sample_rate,
           av_channel_layout_compare(&current.layout.layout, &inLayout.layout) == 0 {
            return
        }
        if resampler != nil {
            try resample(nil, output: output)
            formatChanges += 1
        }
        resampler = nil
        resamplerInput = nil
        guard frame.pointee.sample_rate > 0 else {
            throw MediaError(.encodeFailed, path: path, "cannot convert the audio: a frame has no sample rate")
        }
        do {
            resampler = try Resampler(inLayout: &inLayout.layout, inFormat: AVSampleFormat(frame.pointee.format),
                                      inRate: frame.pointee.sample_rate, outLayout: &frames.layout.layout,
                                      outFormat: frames.context.pointee.sample_fmt, outRate: frames.context.pointee.sample_rate)
        } catch {
            throw MediaError(.encodeFailed, path: path, "cannot convert the audio: \(error.text)", detail: error.detail)
        }
        resamplerInput = (inLayout, frame.pointee.format, frame.pointee.sample_rate)
    }

    /// Keeps the audio where the frames' timestamps put it: the first frame sets the start; later, a gap
    /// between where the samples so far end and where this frame starts is filled with silence, and an
    /// overlap is dropped, so a hole in the input does not pull the rest of the audio out of sync.
    private func align(_ frame: UnsafeMutablePointer<AVFrame>, output: UnsafeMutablePointer<AVFormatContext>) throws {
        guard let start = outputStart(of: frame) else {
            if frames.nextPts == nil { frames.nextPts = 0 }
            return
        }
        guard let first = frames.nextPts, let resampler else {
            frames.nextPts = start
            return
        }
        let rate = Int64(frames.context.pointee.sample_rate)
        let queuedEnd = first + Int64(frames.queued) + swr_get_delay(resampler.context, rate)
        let drift = start - queuedEnd
        let tolerance = Int64(Self.driftTolerance * Double(rate))
        if drift > Int64(Self.maxSilence * Double(rate)) {
            // A jump, not a pause (a stream's clock reset, a splice): finish the audio before it with whole
            // frames, then carry on at this frame's time, which stays in sync with the picture.
            try resample(nil, output: output)
            try frames.jump(to: start, write: writer(output))
            samplesSkipped += drift
        } else if drift > tolerance {
            let fill = drift
            let inRate = Int64(frame.pointee.sample_rate)
            let result = swr_inject_silence(resampler.context, Int32(clamping: fill * inRate / rate))
            guard result >= 0 else { throw failure("swr_inject_silence", result) }
            samplesInserted += fill
        } else if drift < -tolerance {
            let result = swr_drop_output(resampler.context, Int32(clamping: -drift))
            guard result >= 0 else { throw failure("swr_drop_output", result) }
            samplesDropped += -drift
        }
    }

    /// Converts `frame` (nil: what the resampler still holds) into the FIFO and encodes whole frames.
    private func resample(_ frame: UnsafeMutablePointer<AVFrame>?, output: UnsafeMutablePointer<AVFormatContext>) throws {
        guard let resampler else { return }
        let inCount = frame?.pointee.nb_samples ?? 0
        let capacity = swr_get_out_samples(resampler.context, inCount)
        guard capacity > 0 else { return }
        let target = converted.frame
        if target.pointee.nb_samples < capacity || target.pointee.data.0 == nil {
            guard let fresh = Frame() else { throw MediaError(.encodeFailed, path: path, "out of memory for audio") }
            fresh.frame.pointee.nb_samples = capacity
            fresh.frame.pointee.format = frames.context.pointee.sample_fmt.rawValue
            fresh.frame.pointee.sample_rate = frames.context.pointee.sample_rate
            var result = av_channel_layout_copy(&fresh.frame.pointee.ch_layout, &frames.layout.layout)
            if result >= 0 { result = av_frame_get_buffer(fresh.frame, 0) }
            guard result >= 0 else { throw MediaError(.encodeFailed, path: path, "out of memory for audio") }
            converted = fresh
        }
        let out = converted.frame
        let count: Int32 = out.pointee.extended_data.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { outData in
            if let frame {
                return frame.pointee.extended_data.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { inData in
                    swr_convert(resampler.context, outData, capacity, inData, inCount)
                }
            }
            return swr_convert(resampler.context, outData, capacity, nil, 0)
        }
        guard count >= 0 else { throw failure("swr_convert", count) }
        if count > 0 {
            try UnsafeMutableRawPointer(out.pointee.extended_data).withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) {
                try frames.append($0, count: count)
            }
        }
        try frames.encodeQueued(final: false, write: writer(output))
    }

    /// Writes each encoded packet into the output stream, rescaled to its time base.
    private func writer(_ output: UnsafeMutablePointer<AVFormatContext>) -> (UnsafeMutablePointer<AVPacket>) throws -> Void {
        let stream = output.pointee.streams[Int(outputIndex)]!
        let index = outputIndex, timeBase = frames.context.pointee.time_base, path = path
        return { pkt in
            pkt.pointee.stream_index = index
            av_packet_rescale_ts(pkt, timeBase, stream.pointee.time_base)
            let result = av_interleaved_write_frame(output, pkt)
            guard result >= 0 else {
                throw MediaError(.unwritable, path: path, "cannot write the audio: \(ffmpegErrorText(result))",
                                 detail: "av_interleaved_write_frame returned \(result)")
            }
        }
    }

    private func failure(_ function: String, _ code: Int32) -> MediaError { frames.failure(function, code) }
}
