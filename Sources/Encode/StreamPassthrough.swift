import CFFmpeg
import Decode
import FFmpegSupport
import Pipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Carries the streams of the input that are not the stylized video (audio, subtitles) into a `VideoWriter`'s
/// muxer, from a `Demuxer` opened on the same input.
///
/// Per stream, decided before the header is written: copied untouched when the container accepts the codec;
/// audio the container cannot carry is re-encoded (Opus for WebM, AAC otherwise), text subtitles converted
/// (mov_text for MP4/MOV, SubRip for Matroska, WebVTT for WebM); other subtitles (bitmaps, or any in AVI), data
/// and attachments are dropped (with a warning for subtitles and audio, in `warnings`).
///
/// Timing follows the video: packets are kept from the first written video frame to the end of the last one
/// (an audio packet is kept when its middle falls inside, a subtitle when it overlaps), and their timestamps
/// are shifted exactly as the writer shifts the video's (not at all, or to start at zero under
/// `startsAtZero`), so the streams stay in sync after `--start`. Packets are read as the video is written, so
/// the muxer interleaves them with a small buffer.
/// Used only from the writer's thread; every FFmpeg object is owned by a class that frees it once.
final class StreamPassthrough {
    private enum Route {
        case copy(output: Int32)
        case transcode(AudioTranscoder)
        case subtitles(SubtitleTranscoder)
    }

    private let demuxer: Demuxer
    private let path: String
    private var routes: [Int: Route] = [:]
    private var streams: [Int: MediaStream] = [:]
    /// One line per stream left out.
    private(set) var warnings: [String] = []
    /// A packet read but not yet due.
    private var pending: MediaPacket?
    private var endOfInput = false
    /// Seconds: the first video frame's start, once known.
    private var windowStart: Double?
    /// Seconds subtracted from every timestamp (the video's shift to start at zero).
    private var shift = 0.0
    /// Streams with a packet the muxer refused (warned about once).
    private var skippedPacket: Set<Int> = []
    /// The kinds of the streams added to the output, in order ("audio", "subtitle").
    private(set) var outputKinds: [MediaKind] = []

    /// Adds an output stream for each stream of `demuxer` the container can carry (copied or re-encoded).
    /// Call before `avformat_write_header`.
    init(demuxer: Demuxer, output: UnsafeMutablePointer<AVFormatContext>, container: VideoEncodeSettings.Container,
         path: String) throws {
        self.demuxer = demuxer
        self.path = path
        let muxer = output.pointee.oformat!
        for stream in demuxer.streams where stream.kind == .audio || stream.kind == .subtitle {
            let id = stream.codecParameters.pointee.codec_id
            let label = "\(stream.kind) stream \(stream.index) (\(stream.codecName))"
            if id == AV_CODEC_ID_NONE {
                warnings.append("\(demuxer.path): dropping \(label): unknown codec")
                continue
            }
            if avformat_query_codec(muxer, id, FF_COMPLIANCE_NORMAL) == 1 {
                guard let out = avformat_new_stream(output, nil) else {
                    throw MediaError(.encodeFailed, path: path, "out of memory adding a stream")
                }
                let result = avcodec_parameters_copy(out.pointee.codecpar, stream.codecParameters)
                guard result >= 0 else {
                    throw MediaError(.encodeFailed, path: path, "cannot copy \(label): \(ffmpegErrorText(result))")
                }
                // The input's tag (an AVI FourCC, an MP4 sample entry) may mean nothing here; let the muxer choose.
                out.pointee.codecpar.pointee.codec_tag = 0
                out.pointee.time_base = AVRational(num: Int32(clamping: stream.timeBase.numerator),
                                                   den: Int32(clamping: stream.timeBase.denominator))
                Self.copyTags(stream, to: out)
                routes[stream.index] = .copy(output: out.pointee.index)
            } else if stream.kind == .audio {
                let target = container == .webm ? "libopus" : "aac"
                let transcoder: AudioTranscoder?
                do {
                    transcoder = try AudioTranscoder(stream: stream, encoderName: target, output: output, path: path,
                                                     inputPath: demuxer.path)
                } catch let error as MediaError {
                    // A stream that is not the video is never a reason to fail (the transcoder adds its output
                    // stream last, so the muxer has none for it).
                    warnings.append("\(demuxer.path): dropping \(label): \(error.cause)")
                    continue
                }
                guard let transcoder else {
                    warnings.append("\(demuxer.path): dropping \(label): a .\(container.rawValue) file cannot carry it and \(target) is not available")
                    continue
                }
                Self.copyTags(stream, to: output.pointee.streams[Int(transcoder.outputIndex)]!)
                routes[stream.index] = .transcode(transcoder)
            } else {
                let converter: SubtitleTranscoder?
                do {
                    converter = try SubtitleTranscoder(stream: stream, container: container, output: output, path: path,
                                                       inputPath: demuxer.path)
                } catch let error as MediaError {
                    warnings.append("\(demuxer.path): dropping \(label): \(error.cause)")
                    continue
                }
                guard let converter else {
                    warnings.append("\(demuxer.path): dropping \(label): a .\(container.rawValue) file cannot carry it")
                    continue
                }
                Self.copyTags(stream, to: output.pointee.streams[Int(converter.outputIndex)]!)
                routes[stream.index] = .subtitles(converter)
            }
            streams[stream.index] = stream
            outputKinds.append(stream.kind)
        }
    }

    /// Whether any stream is carried over.
    var isEmpty: Bool { routes.isEmpty }

    /// Writes the packets that end before `seconds` (the end of the video written so far). `videoStart` is the
    /// first video frame's start, which opens the window.
    /// `shift` (seconds) is subtracted from every timestamp, as the writer does for the video.
    func write(until seconds: Double, videoStart: Double, shift: Double,
               to output: UnsafeMutablePointer<AVFormatContext>) throws {
        if windowStart == nil {
            windowStart = videoStart
            self.shift = shift
        }
        guard !routes.isEmpty else { return }
        while let packet = try nextPacket() {
            // Only audio that ends inside the video written so far (whether the rest is kept depends on where
            // the video ends, which `finish` knows), and subtitles that start inside it (they overlap it).
            let (start, length) = times(packet)
            let due = streams[packet.streamIndex]?.kind == .audio ? start + length <= seconds : start < seconds
            guard due else {
                pending = packet
                return
            }
            try route(packet, start: start, length: length, end: .infinity, output: output)
        }
    }

    /// At the end of the video (`seconds`): writes what falls before it, then flushes the audio encoders.
    func finish(at seconds: Double?, output: UnsafeMutablePointer<AVFormatContext>) throws {
        if let seconds, windowStart != nil, !routes.isEmpty {
            while let packet = try nextPacket() {
                let (start, length) = times(packet)
                if start >= seconds { break }
                try route(packet, start: start, length: length, end: seconds, output: output)
            }
        }
        pending = nil
        for (index, route) in routes.sorted(by: { $0.key < $1.key }) {
            guard case .transcode(let transcoder) = route else { continue }
            try transcoder.flush(output: output)
            warnings += transcoder.report(label: "\(demuxer.path): audio stream \(index)")
        }
    }

    // MARK: - Internals

    private func nextPacket() throws -> MediaPacket? {
        if let pending {
            self.pending = nil
            return pending
        }
        guard !endOfInput else { return nil }
        do {
            while let packet = try demuxer.readPacket() {
                // Streams not routed (data, dropped subtitles) and packets without any time are skipped.
                if routes[packet.streamIndex] != nil, packet.pts != nil || packet.dts != nil { return packet }
            }
        } catch let error as MediaError {
            // Damage the demuxer cannot step over ends the audio and subtitles there, not the video.
            warnings.append("\(demuxer.path): audio and subtitles end early: \(error.cause)")
        }
        endOfInput = true
        return nil
    }

    /// A packet's start and length in seconds.
    private func times(_ packet: MediaPacket) -> (Double, Double) {
        let timeBase = streams[packet.streamIndex]!.timeBase
        let scale = Double(timeBase.numerator) / Double(timeBase.denominator)
        return (Double(packet.pts ?? packet.dts!) * scale, Double(max(0, packet.duration)) * scale)
    }

    /// Keeps or drops one packet by the window, then copies or transcodes it.
    private func route(_ packet: MediaPacket, start: Double, length: Double, end: Double,
                       output: UnsafeMutablePointer<AVFormatContext>) throws {
        guard let stream = streams[packet.streamIndex], let route = routes[packet.streamIndex],
              let windowStart else { return }
        if stream.kind == .audio {
            let middle = start + length / 2
            guard middle >= windowStart, middle < end else { return }
        } else {
            guard start + max(length, 1e-6) > windowStart, start < end else { return }
        }
        switch route {
        case .copy(let index):
            let pkt = packet.avPacket
            let outStream = output.pointee.streams[Int(index)]!
            pkt.pointee.stream_index = index
            pkt.pointee.pos = -1
            av_packet_rescale_ts(pkt, AVRational(num: Int32(clamping: stream.timeBase.numerator),
                                                 den: Int32(clamping: stream.timeBase.denominator)),
                                 outStream.pointee.time_base)
            if shift != 0 {
                let ticks = ticks(shift, outStream.pointee.time_base)
                if pkt.pointee.pts != streamd_nopts_value() { pkt.pointee.pts -= ticks }
                if pkt.pointee.dts != streamd_nopts_value() { pkt.pointee.dts -= ticks }
            }
            let result = av_interleaved_write_frame(output, pkt)
            if result == streamd_averror(EINVAL) {
                // The muxer refuses this packet's timestamps (out of order in a damaged input): skip it.
                if !skippedPacket.contains(stream.index) {
                    skippedPacket.insert(stream.index)
                    warnings.append("\(demuxer.path): skipped packets of \(stream.kind) stream \(stream.index) with timestamps out of order")
                }
                return
            }
            guard result >= 0 else {
                throw MediaError(.unwritable, path: path, "cannot write \(stream.kind) stream \(stream.index): \(ffmpegErrorText(result))",
                                 detail: "av_interleaved_write_frame returned \(result)")
            }
        case .transcode(let transcoder):
            try transcoder.encode(packet, shift: shift, output: output)
        case .subtitles(let converter):
            try converter.convert(packet, shift: shift, output: output)
        }
    }

    /// `seconds` in ticks of `timeBase`, rounded.
    private func ticks(_ seconds: Double, _ timeBase: AVRational) -> Int64 {
        Int64((seconds * Double(timeBase.den) / Double(timeBase.num)).rounded())
    }

    /// Language and title (what players show), not tags that describe the old file (durations, encoder).
    private static func copyTags(_ stream: MediaStream, to out: UnsafeMutablePointer<AVStream>) {
        for key in ["language", "title", "handler_name"] {
            if let value = stream.metadata[key] { av_dict_set(&out.pointee.metadata, key, value, 0) }
        }
    }
}

extension MediaStream {
    /// The stream's time base as FFmpeg spells it.
    var avTimeBase: AVRational {
        AVRational(num: Int32(clamping: timeBase.numerator), den: Int32(clamping: timeBase.denominator))
    }
}

/// Opens `codec` as the decoder of a passed-through `stream` (audio being re-encoded, subtitles being converted).
func openPassthroughDecoder(_ codec: UnsafePointer<AVCodec>, stream: MediaStream, label: String,
                            inputPath: String) throws -> CodecContext {
    guard let decoder = CodecContext(codec: codec) else {
        throw MediaError(.decodeFailed, path: inputPath, "out of memory opening the decoder for \(label)")
    }
    var result = avcodec_parameters_to_context(decoder.context, stream.codecParameters)
    if result >= 0 {
        decoder.context.pointee.pkt_timebase = stream.avTimeBase
        result = openCodec(decoder.context, codec, nil)
    }
    guard result >= 0 else {
        throw MediaError(.decodeFailed, path: inputPath, "cannot open the decoder for \(label): \(ffmpegErrorText(result))")
    }
    return decoder
}
