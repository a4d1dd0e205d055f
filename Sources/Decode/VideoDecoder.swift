import CFFmpeg
import FFmpegSupport
import Pipeline

/// What a reader's input answers when the decoder asks for a packet.
enum PacketRead {
    /// The packet buffer holds the next packet (of any stream: the decoder keeps only its own).
    case packet
    /// The input has ended (or ended early, the reader has said why): the decoder hands out what it holds.
    case endOfInput
    /// Stop now, without draining (a live source that is being stopped).
    case stop
}

/// What to do with a decoded picture, decided from its timestamps before it is converted.
enum PictureVerdict {
    case keep
    /// Decoded because the decoder needed it, not returned (before a seek target).
    case skip
    /// The reader's window has ended: the stream ends here.
    case end
}

/// The reader side of the decoder core: where packets come from, which pictures are wanted, where damage is
/// reported. `VideoReader` (files: damage is a warning) and `StreamReader` (live: a lost source reconnects)
/// answer differently; the loop that asks is `VideoDecoder`'s alone.
protocol PacketSource: AnyObject {
    /// Reads the next packet into `packet`, waiting as the input needs; throws when the input is lost.
    func readPacket(into packet: UnsafeMutablePointer<AVPacket>) throws -> PacketRead
    /// Every decoded picture's timestamps (stream time base), before it is converted.
    func verdict(pts: Int64?, duration: Int64?) -> PictureVerdict
    /// Data the decoder could not use (a damaged frame or packet, a packet the demuxer marked corrupt).
    func damaged(_ what: String)
}

extension PacketSource {
    func verdict(pts: Int64?, duration: Int64?) -> PictureVerdict { .keep }
}

/// A decoded picture: upright RGB, with its timestamps in the stream's time base.
struct DecodedPicture {
    var pts: Int64?
    /// From the packet, else one frame at the stream's frame rate, else nil.
    var duration: Int64?
    var image: RGBImage
}

/// The one decoder core under the file and live readers: picks the video stream, opens its decoder, and runs
/// FFmpeg's send/receive loop (a packet refused with EAGAIN kept and sent again, never dropped; end of input
/// drained; damaged data bounded), then converts each picture to RGB and turns it upright by the stream's
/// display matrix. Written once so that rotation, colour conversion and the error limits cannot drift apart
/// between `transcode` and `serve` (they did: a phone's rotated clip came out sideways from one of them).
///
/// Not thread-safe: used by its reader on the reader's thread.
final class VideoDecoder {
    /// Why the stream ended.
    enum End {
        /// The decoder handed out everything (end of input, drained).
        case stream
        /// The reader's window ended (`PictureVerdict.end`).
        case window
        /// More than `maxDamagedInARow` damaged frames in a row.
        case tooDamaged
    }

    /// Damaged frames in a row after which decoding stops (a decoder stuck on an error would otherwise spin).
    static let maxDamagedInARow = 64

    let streamIndex: Int32
    let stream: UnsafeMutablePointer<AVStream>
    let codecName: String
    let orientation: StreamOrientation
    let timeBase: AVRational
    /// FFmpeg's best guess of the frame rate (0/1 when unknown).
    let frameRate: AVRational
    /// The first pts of the stream (0 when unknown).
    let streamStart: Int64
    /// Set once the stream has ended.
    private(set) var end: End?

    /// Names the input in errors.
    private let source: String
    private let codec: CodecContext
    private let packet: Packet
    private let frame: Frame
    private let codecID: AVCodecID
    private var conversion: ScaledConversion?
    private var packetPending = false
    private var draining = false
    private var damagedInARow = 0

    /// Opens the best video stream of `format` (whose stream information has been read). `frameThreads`:
    /// each of `threads` threads decodes a whole frame (a file: throughput; it adds a frame of delay per
    /// thread), otherwise FFmpeg's default threading (a live source: latency). Other streams are discarded at
    /// the demuxer.
    ///
    /// - Throws: `MediaError` naming `source`: `.unsupportedFormat` (no video stream, no decoder for it),
    ///   `.decodeFailed` (the decoder would not open).
    init(format: UnsafeMutablePointer<AVFormatContext>, source: String, threads: Int, frameThreads: Bool, autorotate: Bool) throws {
        self.source = source
        let streams = Self.streamSummaries(format)
        guard streams.contains(where: { $0.kind == .video }) else {
            let found = streams.isEmpty ? "no streams" : streams.map(\.description).joined(separator: ", ")
            throw MediaError(.unsupportedFormat, path: source, "has no video stream (\(found))")
        }
        var decoderPointer: UnsafePointer<AVCodec>?
        let found = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoderPointer, 0)
        guard found >= 0, let decoderPointer, let stream = format.pointee.streams[Int(found)] else {
            let names = streams.filter { $0.kind == .video }.map(\.codecName).joined(separator: ", ")
            throw MediaError(.unsupportedFormat, path: source, "no decoder for its video codec (\(names))",
                             detail: "av_find_best_stream returned \(found) (\(ffmpegErrorText(found)))")
        }
        let codecName = String(cString: decoderPointer.pointee.name)
        guard let codec = CodecContext(codec: decoderPointer), let packet = Packet(), let frame = Frame() else {
            throw MediaError(.decodeFailed, path: source, "out of memory", detail: "FFmpeg allocation failed")
        }
        var result = avcodec_parameters_to_context(codec.context, stream.pointee.codecpar)
        guard result >= 0 else {
            throw MediaError(.decodeFailed, path: source, "cannot set up the \(codecName) decoder (\(ffmpegErrorText(result)))",
                             detail: "avcodec_parameters_to_context returned \(result)")
        }
        if frameThreads {
            codec.context.pointee.thread_count = Int32(max(0, threads))
            codec.context.pointee.thread_type = FF_THREAD_FRAME
        } else {
            codec.context.pointee.thread_count = Int32(max(1, threads))
        }
        codec.context.pointee.pkt_timebase = stream.pointee.time_base
        result = openCodec(codec.context, decoderPointer, nil)
        guard result >= 0 else {
            throw MediaError(.decodeFailed, path: source, "cannot open the \(codecName) decoder (\(ffmpegErrorText(result)))",
                             detail: "avcodec_open2 returned \(result)")
        }
        // Ask the demuxer to drop everything but the chosen stream; most packets of the others are then never
        // read. It is a request (the AVI and MP4 demuxers still return some), so `next` filters too.
        for i in 0..<Int(format.pointee.nb_streams) where i != Int(found) {
            format.pointee.streams[i]?.pointee.discard = AVDISCARD_ALL
        }
        self.codec = codec
        self.packet = packet
        self.frame = frame
        self.codecName = codecName
        self.codecID = codec.context.pointee.codec_id
        self.streamIndex = found
        self.stream = stream
        self.timeBase = stream.pointee.time_base
        self.frameRate = av_guess_frame_rate(format, stream, nil)
        self.orientation = StreamOrientation(stream: stream, autorotate: autorotate)
        let nopts = streamd_nopts_value()
        self.streamStart = stream.pointee.start_time != nopts ? stream.pointee.start_time : 0
    }

    /// The next picture, or nil when the stream has ended (`end` says why) or the source said stop.
    ///
    /// - Throws: what the source throws (a lost input), or `MediaError(.decodeFailed)` for a picture that cannot
    ///   be converted to RGB.
    func next(from source: some PacketSource, pool: FramePool?) throws -> DecodedPicture? {
        let context = codec.context, pkt = packet.packet, decoded = frame.frame
        while end == nil {
            let received = avcodec_receive_frame(context, decoded)
            if received >= 0 {
                damagedInARow = 0
                defer { av_frame_unref(decoded) }
                let (pts, duration) = timestamps(of: decoded)
                switch source.verdict(pts: pts, duration: duration) {
                case .skip: continue
                case .end: end = .window; return nil
                case .keep: return DecodedPicture(pts: pts, duration: duration, image: try picture(decoded, pool: pool))
                }
            }
            if received == streamd_averror_eof() {
                end = .stream
                break
            }
            if received != streamd_averror_eagain() {
                // A frame that failed to decode; the decoder goes on with the next one. While draining, ask
                // again (bounded); otherwise feed it.
                source.damaged("damaged data: \(ffmpegErrorText(received))")
                damagedInARow += 1
                if damagedInARow > Self.maxDamagedInARow {
                    end = .tooDamaged
                    break
                }
                if draining { continue }
            } else {
                damagedInARow = 0
            }
            // The decoder wants input. EAGAIN while draining cannot happen with a working decoder: do not spin.
            if draining {
                end = .stream
                break
            }
            if !packetPending {
                switch try source.readPacket(into: pkt) {
                case .stop:
                    return nil
                case .endOfInput:
                    // Flush: the decoder still holds the last frames (frame threads and B-frame delay).
                    _ = avcodec_send_packet(context, nil)
                    draining = true
                    continue
                case .packet:
                    break
                }
                guard pkt.pointee.stream_index == streamIndex else {
                    av_packet_unref(pkt)
                    continue
                }
                if pkt.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
                    // The demuxer knows the packet is incomplete (a cut MP4's last sample); the decoder will
                    // conceal what it can, but the picture may be damaged.
                    source.damaged("corrupt packet\(describe(pts: pkt.pointee.pts))")
                }
            }
            let sent = avcodec_send_packet(context, pkt)
            if sent == streamd_averror_eagain() {
                // The decoder has frames to hand out first: keep the packet for the next turn.
                packetPending = true
                continue
            }
            packetPending = false
            av_packet_unref(pkt)
            if sent < 0 { source.damaged("damaged packet: \(ffmpegErrorText(sent))") }
        }
        return nil
    }

    /// Forgets everything buffered (after a seek): the next packet starts a new stream.
    func flush() {
        avcodec_flush_buffers(codec.context)
        if packetPending { av_packet_unref(packet.packet) }
        packetPending = false
        draining = false
        damagedInARow = 0
        end = nil
    }

    /// Gives back every buffer the decoder, its frame and its packet hold. A camera's packets point into the
    /// device's mmap'ed buffers: they must go back while the device is still open.
    func releaseBuffers() {
        av_frame_unref(frame.frame)
        av_packet_unref(packet.packet)
        avcodec_flush_buffers(codec.context)
    }

    /// " at 1.23 s" for a message, or nothing when the timestamp is unknown.
    func describe(pts: Int64) -> String {
        guard pts != streamd_nopts_value(), timeBase.den > 0 else { return "" }
        let seconds = Double(pts - streamStart) * Double(timeBase.num) / Double(timeBase.den)
        return " at \((seconds * 100).rounded() / 100) s"
    }

    private func timestamps(of decoded: UnsafeMutablePointer<AVFrame>) -> (pts: Int64?, duration: Int64?) {
        let nopts = streamd_nopts_value()
        let bestEffort = decoded.pointee.best_effort_timestamp
        let pts: Int64? = bestEffort != nopts ? bestEffort : (decoded.pointee.pts != nopts ? decoded.pointee.pts : nil)
        var duration: Int64? = decoded.pointee.pkt_duration > 0 ? decoded.pointee.pkt_duration : nil
        if duration == nil, frameRate.num > 0, frameRate.den > 0 {
            duration = av_rescale_q(1, AVRational(num: frameRate.den, den: frameRate.num), timeBase)
        }
        return (pts, duration)
    }

    private func picture(_ decoded: UnsafeMutablePointer<AVFrame>, pool: FramePool?) throws -> RGBImage {
        let image: RGBImage
        do {
            image = try FrameConversion.rgbImage(from: decoded, codecID: codecID, cache: &conversion, pool: pool)
        } catch {
            let format = av_get_pix_fmt_name(AVPixelFormat(rawValue: decoded.pointee.format)).map { String(cString: $0) } ?? "unknown"
            throw MediaError(.decodeFailed, path: source, "cannot convert a \(format) frame to RGB (\(error.text))", detail: error.detail)
        }
        return orientation.upright(image, of: decoded, pool: pool)
    }

    static func streamSummaries(_ format: UnsafeMutablePointer<AVFormatContext>) -> [VideoInfo.Stream] {
        (0..<Int(format.pointee.nb_streams)).compactMap { i in
            guard let stream = format.pointee.streams[i], let par = stream.pointee.codecpar else { return nil }
            let kind = MediaKind(par.pointee.codec_type)
            let codec = avcodec_get_name(par.pointee.codec_id).map { String(cString: $0) } ?? "none"
            return VideoInfo.Stream(index: i, kind: kind, codecName: codec)
        }
    }
}
