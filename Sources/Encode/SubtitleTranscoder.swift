import CFFmpeg
import Decode
import FFmpegSupport
import Pipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Converts a text subtitle stream (SubRip, ASS, mov_text, WebVTT) into the text format a container carries
/// when it cannot carry the input's: mov_text for MP4/MOV, SubRip for Matroska, WebVTT for WebM — what
/// `ffmpeg` does by default. Each packet is decoded to an `AVSubtitle` and encoded again; its timing is the
/// packet's. Bitmap subtitles (DVD, PGS) cannot be converted this way (`init` returns nil).
final class SubtitleTranscoder {
    let outputIndex: Int32
    private let path: String
    private let inputTimeBase: AVRational
    private let decoder: CodecContext
    private let encoder: CodecContext
    private let packet: Packet
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// The text encoder for `container`, or nil when it has none.
    static func encoderName(for container: VideoEncodeSettings.Container) -> String? {
        switch container {
        case .mp4, .mov: "mov_text"
        case .mkv: "srt"
        case .webm: "webvtt"
        default: nil
        }
    }

    /// nil when the input is not a text subtitle or the container accepts no text subtitle format.
    init?(stream: MediaStream, container: VideoEncodeSettings.Container, output: UnsafeMutablePointer<AVFormatContext>,
          path: String, inputPath: String) throws {
        self.path = path
        let parameters = stream.codecParameters
        guard let name = Self.encoderName(for: container), let codec = avcodec_find_encoder_by_name(name),
              avformat_query_codec(output.pointee.oformat, codec.pointee.id, FF_COMPLIANCE_NORMAL) == 1,
              let descriptor = avcodec_descriptor_get(parameters.pointee.codec_id),
              descriptor.pointee.props & AV_CODEC_PROP_TEXT_SUB != 0,
              let decoderCodec = avcodec_find_decoder(parameters.pointee.codec_id) else { return nil }
        let label = "subtitle stream \(stream.index) (\(stream.codecName))"
        guard let encoder = CodecContext(codec: codec), let packet = Packet() else {
            throw MediaError(.encodeFailed, path: path, "out of memory setting up \(name)")
        }
        inputTimeBase = stream.avTimeBase
        let decoder = try openPassthroughDecoder(decoderCodec, stream: stream, label: label, inputPath: inputPath)
        var result: Int32
        // The text decoders describe their styles as an ASS header; the encoders start from it. The encoder's
        // context owns the copy (avcodec_free_context frees it).
        let context = encoder.context
        context.pointee.time_base = inputTimeBase
        if let header = decoder.context.pointee.subtitle_header, decoder.context.pointee.subtitle_header_size > 0 {
            let size = Int(decoder.context.pointee.subtitle_header_size)
            guard let copy = av_mallocz(size + 1)?.assumingMemoryBound(to: UInt8.self) else {
                throw MediaError(.encodeFailed, path: path, "out of memory setting up \(name)")
            }
            copy.update(from: header, count: size)
            context.pointee.subtitle_header = copy
            context.pointee.subtitle_header_size = Int32(size)
        }
        result = openCodec(context, codec, nil)
        guard result >= 0 else {
            throw MediaError(.encodeFailed, path: path, "cannot open the \(name) encoder for \(label): \(ffmpegErrorText(result))")
        }
        guard let out = avformat_new_stream(output, nil) else {
            throw MediaError(.encodeFailed, path: path, "out of memory adding a stream")
        }
        out.pointee.time_base = inputTimeBase
        result = avcodec_parameters_from_context(out.pointee.codecpar, context)
        guard result >= 0 else {
            throw MediaError(.encodeFailed, path: path, "cannot describe the \(name) stream: \(ffmpegErrorText(result))")
        }
        outputIndex = out.pointee.index
        self.decoder = decoder
        self.encoder = encoder
        self.packet = packet
    }

    /// Converts one packet; `shift` (seconds) is subtracted from its time, as for the video. A cue that does
    /// not decode or encode is skipped.
    func convert(_ mediaPacket: MediaPacket, shift: Double, output: UnsafeMutablePointer<AVFormatContext>) throws {
        let input = mediaPacket.avPacket
        var subtitle = AVSubtitle()
        var got: Int32 = 0
        let decoded = avcodec_decode_subtitle2(decoder.context, &subtitle, &got, input)
        guard decoded >= 0, got != 0 else { return }
        defer { avsubtitle_free(&subtitle) }
        guard subtitle.num_rects > 0 else { return }
        let size = buffer.withUnsafeMutableBufferPointer {
            avcodec_encode_subtitle(encoder.context, $0.baseAddress, Int32($0.count), &subtitle)
        }
        guard size > 0 else { return }
        let pkt = packet.packet
        av_packet_unref(pkt)
        var result = av_new_packet(pkt, size)
        guard result >= 0 else { throw MediaError(.encodeFailed, path: path, "out of memory for a subtitle") }
        buffer.withUnsafeBufferPointer { pkt.pointee.data.update(from: $0.baseAddress!, count: Int(size)) }
        let stream = output.pointee.streams[Int(outputIndex)]!
        let shiftTicks = Int64((shift * Double(inputTimeBase.den) / Double(inputTimeBase.num)).rounded())
        let nopts = streamd_nopts_value()
        let start = input.pointee.pts != nopts ? input.pointee.pts : input.pointee.dts
        pkt.pointee.pts = start - shiftTicks
        pkt.pointee.dts = pkt.pointee.pts
        pkt.pointee.duration = input.pointee.duration
        pkt.pointee.stream_index = outputIndex
        av_packet_rescale_ts(pkt, inputTimeBase, stream.pointee.time_base)
        result = av_interleaved_write_frame(output, pkt)
        guard result >= 0 else {
            throw MediaError(.unwritable, path: path, "cannot write the subtitles: \(ffmpegErrorText(result))",
                             detail: "av_interleaved_write_frame returned \(result)")
        }
    }
}
