import CFFmpeg
import FFmpegSupport
public import Pipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a video file holds, read once when it is opened.
public struct VideoInfo: Sendable, Equatable {
    /// One stream of the container, for `streamd info`-style summaries.
    public struct Stream: Sendable, Equatable, CustomStringConvertible {
        public var index: Int
        public var kind: MediaKind
        /// FFmpeg's codec name ("h264", "aac"), "none" when FFmpeg does not know the codec.
        public var codecName: String

        public var description: String { "#\(index) \(kind) \(codecName)" }
    }

    /// Index of the video stream the reader decodes.
    public var streamIndex: Int
    public var codecName: String
    /// Size of the decoded pictures as stored.
    public var codedWidth: Int
    public var codedHeight: Int
    /// Size of the frames `nextFrame` returns: the coded size, swapped for a 90° or 270° rotation.
    public var displayWidth: Int
    public var displayHeight: Int
    /// Clockwise rotation in degrees (0, 90, 180, 270) applied to show the picture upright. A stream whose
    /// display matrix says "rotate -90" (FFmpeg's counter-clockwise convention, what ffprobe prints) is 90 here.
    public var rotation: Int
    /// Whether the display matrix also mirrors the picture (rare; phones do not write it).
    public var mirrored: Bool
    /// Frame rate as FFmpeg guesses it from the container and codec (29.97 is 30000/1001).
    public var frameRate: Rational
    /// The time base of `VideoFrame.pts`.
    public var timeBase: Rational
    /// Length of the video stream (or the file, if the stream does not say) in seconds, when known.
    public var durationSeconds: Double?
    /// The container's frame count, or duration × frame rate when it has none. An estimate: the first
    /// frames of a stream that starts without a key frame do not decode.
    public var estimatedFrameCount: Int?
    /// The decoder's pixel format ("yuv420p", "yuv420p10le"), as the stream declares it.
    public var pixelFormat: String
    /// "tv" (limited), "pc" (full) or "unknown".
    public var colorRange: String
    /// "bt709", "bt470bg", "bt2020nc", … or "unknown" (then BT.601 is used, as FFmpeg does).
    public var colorSpace: String
    public var hasAudio: Bool
    public var streams: [Stream]
}

/// Options for `VideoReader`.
public struct VideoReaderOptions: Sendable, Equatable {
    /// Decoder threads: 0 lets FFmpeg choose (one per core plus one). The default is 2: on a small machine the
    /// stylize workers need the cores more than the decoder does.
    public var threadCount: Int
    /// Skip to this many seconds from the start of the file before the first frame (`--start`).
    public var start: Double?
    /// Stop after this many seconds of video (`--duration`), counted from `start`.
    public var duration: Double?
    /// Turn frames upright according to the stream's display matrix (as `ffmpeg` does by default).
    public var autorotate: Bool
    /// Pictures per second of an image-sequence input (`ImageSequence`); pictures carry no timing of their own.
    public var sequenceFrameRate: Rational

    public init(threadCount: Int = 2, start: Double? = nil, duration: Double? = nil, autorotate: Bool = true,
                sequenceFrameRate: Rational = Rational(25, 1)) {
        self.threadCount = threadCount
        self.start = start
        self.duration = duration
        self.autorotate = autorotate
        self.sequenceFrameRate = sequenceFrameRate
    }
}

/// Decodes the best video stream of a file into upright RGB frames, one call at a time.
///
/// Blocking: use it from a dedicated decode thread, not from Swift's cooperative pool. It owns its FFmpeg
/// objects (format context, codec context, one packet, one frame, one scaler), reuses them for every frame
/// and frees each exactly once when the reader goes away. It is `@unchecked Sendable` only so it can be moved
/// to that thread: one owner at a time, never used from two threads at once.
///
/// Damage is not fatal: packets that fail to decode and a file that ends early are recorded in `warnings` and
/// the frames that do decode are returned. Streams other than the chosen video stream are skipped.
public final class VideoReader: @unchecked Sendable {
    public let path: String
    public let info: VideoInfo
    /// Things that went wrong without stopping decoding (corrupt packets, a file cut short), one line each,
    /// oldest first, at most `maxWarnings` plus a final count of the rest.
    public private(set) var warnings: [String] = []

    private let input: InputContext
    private let codec: CodecContext
    private let packet: Packet
    private let frame: Frame
    private var conversion: ScaledConversion?
    private let streamIndex: Int32
    private let codecID: AVCodecID
    private let timeBase: AVRational
    /// How frames are turned upright (the stream's display matrix, or a frame's own).
    private let orientation: StreamOrientation
    /// First pts (stream time base) of the file, subtracted from `start` and `seek` targets.
    private let streamStart: Int64
    /// Frames before this pts are decoded (the decoder needs them) but not returned: after a seek.
    private var dropBefore: Int64?
    /// Frames at or after this pts end the stream: `duration`.
    private var stopAt: Int64?

    private var sequence = 0
    private var packetPending = false
    private var draining = false
    private var finished = false
    private var lastEnd: Int64?
    private var suppressedWarnings = 0
    private var consecutiveErrors = 0
    private static let maxWarnings = 20

    /// Opens `path` and its decoder.
    ///
    /// - Throws: `MediaError` naming `path`: `.fileNotFound`, `.unreadable`, `.unsupportedFormat` (not a media
    ///   file, no video stream, no decoder for the codec), `.decodeFailed` (the decoder would not open) or
    ///   `.invalidArgument` (a `start` past the end, a `duration` that is not positive).
    public init(path: String, options: VideoReaderOptions = VideoReaderOptions()) throws {
        self.path = path
        let sequence = ImageSequence(path: path)
        if let sequence {
            guard !sequence.files(limit: 1).isEmpty else {
                throw MediaError(.fileNotFound, path: path, "no files match this image-sequence pattern")
            }
            guard options.sequenceFrameRate.numerator > 0, options.sequenceFrameRate.denominator > 0 else {
                throw MediaError(.invalidArgument, path: path, "frame rate \(options.sequenceFrameRate) is not positive")
            }
        } else {
            try Self.checkInputFile(path)
        }
        let input: InputContext
        do {
            if let sequence {
                // image2 expands the pattern itself; a "file:" prefix would become part of the glob.
                input = try InputContext(url: path, format: "image2",
                                         options: sequence.demuxerOptions(frameRate: options.sequenceFrameRate))
            } else {
                // "file:" so that a path with a colon in it is never taken for a protocol.
                input = try InputContext(url: "file:" + path)
            }
        } catch {
            throw Self.openError(path: path, error)
        }
        let format = input.context
        var result = avformat_find_stream_info(format, nil)
        guard result >= 0 else {
            throw MediaError(.unsupportedFormat, path: path, "cannot read stream information (\(ffmpegErrorText(result)))",
                             detail: "avformat_find_stream_info returned \(result)")
        }
        let streams = Self.streamSummaries(format)
        guard streams.contains(where: { $0.kind == .video }) else {
            let found = streams.isEmpty ? "no streams" : streams.map(\.description).joined(separator: ", ")
            throw MediaError(.unsupportedFormat, path: path, "has no video stream (\(found))")
        }
        var decoderPointer: UnsafePointer<AVCodec>?
        let found = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoderPointer, 0)
        guard found >= 0, let decoderPointer, let stream = format.pointee.streams[Int(found)] else {
            let names = streams.filter { $0.kind == .video }.map(\.codecName).joined(separator: ", ")
            throw MediaError(.unsupportedFormat, path: path, "no decoder for its video codec (\(names))",
                             detail: "av_find_best_stream returned \(found) (\(ffmpegErrorText(found)))")
        }
        let codecName = String(cString: decoderPointer.pointee.name)
        guard let codec = CodecContext(codec: decoderPointer), let packet = Packet(), let frame = Frame() else {
            throw MediaError(.decodeFailed, path: path, "out of memory", detail: "FFmpeg allocation failed")
        }
        result = avcodec_parameters_to_context(codec.context, stream.pointee.codecpar)
        guard result >= 0 else {
            throw MediaError(.decodeFailed, path: path, "cannot set up the \(codecName) decoder (\(ffmpegErrorText(result)))",
                             detail: "avcodec_parameters_to_context returned \(result)")
        }
        // Frame threads: each thread decodes a whole frame, which is what every codec here supports and what
        // keeps output order; slice threading helps only streams encoded with many slices.
        codec.context.pointee.thread_count = Int32(max(0, options.threadCount))
        codec.context.pointee.thread_type = FF_THREAD_FRAME
        codec.context.pointee.pkt_timebase = stream.pointee.time_base
        result = openCodec(codec.context, decoderPointer, nil)
        guard result >= 0 else {
            throw MediaError(.decodeFailed, path: path, "cannot open the \(codecName) decoder (\(ffmpegErrorText(result)))",
                             detail: "avcodec_open2 returned \(result)")
        }

        self.input = input
        self.codec = codec
        self.packet = packet
        self.frame = frame
        self.streamIndex = found
        self.codecID = codec.context.pointee.codec_id
        self.timeBase = stream.pointee.time_base
        let orientation = StreamOrientation(stream: stream, autorotate: options.autorotate)
        self.orientation = orientation
        let nopts = streamd_nopts_value()
        self.streamStart = stream.pointee.start_time != nopts ? stream.pointee.start_time : 0

        let par = stream.pointee.codecpar.pointee
        let codedWidth = Int(par.width), codedHeight = Int(par.height)
        let display = orientation.displaySize(width: codedWidth, height: codedHeight)
        let rate = av_guess_frame_rate(format, stream, nil)
        let tb = Rational(Int(stream.pointee.time_base.num), Int(stream.pointee.time_base.den))
        var durationSeconds: Double?
        if stream.pointee.duration != nopts, stream.pointee.duration > 0 {
            durationSeconds = Double(stream.pointee.duration) * tb.doubleValue
        } else if format.pointee.duration != nopts, format.pointee.duration > 0 {
            durationSeconds = Double(format.pointee.duration) / Double(AV_TIME_BASE)
        }
        var estimated: Int?
        if stream.pointee.nb_frames > 0 {
            estimated = Int(stream.pointee.nb_frames)
        } else if let durationSeconds, rate.den > 0, rate.num > 0 {
            estimated = Int((durationSeconds * Double(rate.num) / Double(rate.den)).rounded())
        }
        func name(_ c: UnsafePointer<CChar>?) -> String { c.map { String(cString: $0) } ?? "unknown" }
        info = VideoInfo(
            streamIndex: Int(found), codecName: codecName,
            codedWidth: codedWidth, codedHeight: codedHeight,
            displayWidth: display.width, displayHeight: display.height,
            rotation: orientation.rotation, mirrored: orientation.mirrored,
            frameRate: Rational(Int(rate.num), Int(rate.den)), timeBase: tb,
            durationSeconds: durationSeconds, estimatedFrameCount: estimated,
            pixelFormat: name(av_get_pix_fmt_name(AVPixelFormat(rawValue: par.format))),
            colorRange: name(av_color_range_name(par.color_range)),
            colorSpace: name(av_color_space_name(par.color_space)),
            hasAudio: streams.contains { $0.kind == .audio }, streams: streams)

        // Ask the demuxer to drop everything but the chosen stream; most packets of the others are then never
        // read. It is a request (the AVI and MP4 demuxers still return some), so `nextFrame` filters too.
        for i in 0..<Int(format.pointee.nb_streams) where i != Int(found) {
            format.pointee.streams[i]?.pointee.discard = AVDISCARD_ALL
        }

        // A window outside the video is a mistake on the command line, not an empty result.
        if let start = options.start {
            guard start >= 0, start.isFinite else {
                throw MediaError(.invalidArgument, path: path, "start \(start) s is not a time in the video")
            }
            if let length = info.durationSeconds, start >= length {
                throw MediaError(.invalidArgument, path: path,
                                 "start \(start) s is past the end of the video (\((length * 100).rounded() / 100) s)")
            }
            if start > 0 { try seek(to: start) }
        }
        if let duration = options.duration, !(duration > 0) {
            throw MediaError(.invalidArgument, path: path, "duration \(duration) s is not a positive length")
        }
        if let duration = options.duration {
            let from = dropBefore ?? streamStart
            stopAt = from + seconds(toPTS: max(0, duration))
        }
    }

    /// The next decoded frame, upright RGB, or nil at the end of the stream (or of the `duration` window).
    ///
    /// `pts` is the frame's best-effort timestamp in `info.timeBase`; `sequence` counts returned frames from 0.
    /// With a `pool`, the frame's pixels come from it (give them back with `FramePool.recycle` when done), so
    /// a steady stream of frames allocates no new picture buffers.
    ///
    /// - Throws: `MediaError` only for failures that make going on pointless (out of memory, a picture that
    ///   cannot be converted); damaged data becomes a warning.
    public func nextFrame(pool: FramePool? = nil) throws -> VideoFrame? {
        let codecContext = codec.context, format = input.context
        let pkt = packet.packet, decoded = frame.frame
        while !finished {
            let received = avcodec_receive_frame(codecContext, decoded)
            if received >= 0 {
                consecutiveErrors = 0
                defer { av_frame_unref(decoded) }
                if let video = try deliver(decoded, pool: pool) { return video }
                continue
            }
            if received == streamd_averror_eof() {
                finish()
                break
            }
            if received != streamd_averror_eagain() {
                // A frame that failed to decode; the decoder goes on with the next one. While draining, ask
                // again (bounded, so a decoder stuck on an error cannot spin forever); otherwise feed it.
                warn("damaged data: \(ffmpegErrorText(received))")
                consecutiveErrors += 1
                if consecutiveErrors > 64 {
                    warn("too many decode errors in a row, stopping")
                    finish(truncationCheck: false)
                    break
                }
                if draining { continue }
            } else {
                consecutiveErrors = 0
            }
            // The decoder wants input.
            if draining {
                // EAGAIN while draining cannot happen with a working decoder; do not spin.
                finish()
                break
            }
            if !packetPending {
                let read = av_read_frame(format, pkt)
                if read < 0 {
                    if read != streamd_averror_eof() {
                        warn("read error, stopping early: \(ffmpegErrorText(read))")
                    }
                    // Flush: the decoder still holds the last frames (frame threads and B-frame delay).
                    _ = avcodec_send_packet(codecContext, nil)
                    draining = true
                    continue
                }
                guard pkt.pointee.stream_index == streamIndex else {
                    av_packet_unref(pkt)
                    continue
                }
                if pkt.pointee.flags & AV_PKT_FLAG_CORRUPT != 0 {
                    // The demuxer knows the packet is incomplete (a cut MP4's last sample); the decoder will
                    // conceal what it can, but the picture may be damaged.
                    warn("corrupt packet\(describe(pts: pkt.pointee.pts))")
                }
            }
            let sent = avcodec_send_packet(codecContext, pkt)
            if sent == streamd_averror_eagain() {
                // Cannot happen after receive said EAGAIN, but if it does, keep the packet for the next turn.
                packetPending = true
                continue
            }
            packetPending = false
            av_packet_unref(pkt)
            if sent < 0 {
                warn("damaged packet: \(ffmpegErrorText(sent))")
            }
        }
        return nil
    }

    /// Restarts decoding at `seconds` from the start of the file: the demuxer jumps to the key frame at or
    /// before it, and frames before it are decoded but not returned, so the first frame returned is the one
    /// showing at `seconds`. Sequence numbers continue; a `duration` window set at open is not moved.
    ///
    /// - Throws: `MediaError` if the container cannot seek.
    public func seek(to seconds: Double) throws {
        let target = streamStart + self.seconds(toPTS: max(0, seconds))
        let result = avformat_seek_file(input.context, streamIndex, Int64.min, target, target, AVSEEK_FLAG_BACKWARD)
        guard result >= 0 else {
            throw MediaError(.decodeFailed, path: path, "cannot seek to \(seconds) s (\(ffmpegErrorText(result)))",
                             detail: "avformat_seek_file returned \(result)")
        }
        avcodec_flush_buffers(codec.context)
        if packetPending { av_packet_unref(packet.packet) }
        packetPending = false
        draining = false
        finished = false
        dropBefore = target
    }

    // MARK: - Frames

    /// Turns a decoded frame into a `VideoFrame`, or nil if it falls before the seek target.
    private func deliver(_ decoded: UnsafeMutablePointer<AVFrame>, pool: FramePool?) throws -> VideoFrame? {
        let nopts = streamd_nopts_value()
        let bestEffort = decoded.pointee.best_effort_timestamp
        let pts: Int64? = bestEffort != nopts ? bestEffort : (decoded.pointee.pts != nopts ? decoded.pointee.pts : nil)
        var duration: Int64? = decoded.pointee.pkt_duration > 0 ? decoded.pointee.pkt_duration : nil
        if duration == nil, info.frameRate.numerator > 0, info.frameRate.denominator > 0 {
            duration = av_rescale_q(1, AVRational(num: Int32(info.frameRate.denominator), den: Int32(info.frameRate.numerator)),
                                    timeBase)
        }
        if let pts {
            // Half a frame of slack, so a target that falls inside a frame keeps that frame.
            let half = (duration ?? 0) / 2
            // Skipped frames count for the truncation check too: they were in the file.
            lastEnd = pts + (duration ?? 0)
            if let dropBefore, pts + half < dropBefore { return nil }
            if let stopAt, pts >= stopAt {
                finish(truncationCheck: false)
                return nil
            }
        }
        let image: RGBImage
        do {
            image = try FrameConversion.rgbImage(from: decoded, codecID: codecID, cache: &conversion, pool: pool)
        } catch {
            throw MediaError(.decodeFailed, path: path, "cannot convert a \(info.pixelFormat) frame to RGB (\(error.text))",
                             detail: error.detail)
        }
        let upright = orientation.upright(image, of: decoded, pool: pool)
        defer { sequence += 1 }
        return VideoFrame(sequence: sequence, pts: pts, timeBase: info.timeBase, duration: duration, image: upright)
    }

    // MARK: - End and damage

    /// Marks the end; unless a `duration` window ended it, checks whether the file ended before the length its
    /// header announced, which is how a truncated file looks once the demuxer has returned what it has.
    private func finish(truncationCheck: Bool = true) {
        guard !finished else { return }
        finished = true
        guard truncationCheck, stopAt == nil, let expected = info.durationSeconds else { return }
        let frameSeconds = info.frameRate.numerator > 0 ? 1 / info.frameRate.doubleValue : 0.04
        let slack = max(0.25, 3 * frameSeconds)
        let reached = lastEnd.map { Double($0 - streamStart) * info.timeBase.doubleValue } ?? 0
        if reached + slack < expected {
            // Hundredths are enough for people; Foundation's String(format:) is not worth importing for it.
            let got = (reached * 100).rounded() / 100, want = (expected * 100).rounded() / 100
            warn("video ends at \(got) s of \(want) s: the file is truncated or damaged (\(sequence) frames decoded)")
        }
    }

    private func warn(_ text: String) {
        if warnings.count < Self.maxWarnings {
            warnings.append("\(path): \(text)")
        } else {
            suppressedWarnings += 1
            let summary = "\(path): \(suppressedWarnings) more warning(s)"
            if warnings.count == Self.maxWarnings { warnings.append(summary) } else { warnings[Self.maxWarnings] = summary }
        }
    }

    /// " at 1.23 s" for a warning, or nothing when the timestamp is unknown.
    private func describe(pts: Int64) -> String {
        guard pts != streamd_nopts_value() else { return "" }
        let seconds = Double(pts - streamStart) * info.timeBase.doubleValue
        return " at \((seconds * 100).rounded() / 100) s"
    }

    private func seconds(toPTS seconds: Double) -> Int64 {
        guard timeBase.num > 0 else { return 0 }
        return Int64((seconds * Double(timeBase.den) / Double(timeBase.num)).rounded())
    }

    // MARK: - Opening

    static func streamSummaries(_ format: UnsafeMutablePointer<AVFormatContext>) -> [VideoInfo.Stream] {
        (0..<Int(format.pointee.nb_streams)).compactMap { i in
            guard let stream = format.pointee.streams[i], let par = stream.pointee.codecpar else { return nil }
            let kind = MediaKind(par.pointee.codec_type)
            let codec = avcodec_get_name(par.pointee.codec_id).map { String(cString: $0) } ?? "none"
            return VideoInfo.Stream(index: i, kind: kind, codecName: codec)
        }
    }

    /// Turns the common cases into clear messages before FFmpeg gives a vaguer one.
    static func checkInputFile(_ path: String) throws {
        var info = stat()
        if stat(path, &info) != 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw MediaError(.fileNotFound, path: path, "no such file") }
            throw MediaError(.unreadable, path: path, "cannot read: \(String(cString: strerror(code)))")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw MediaError(.unreadable, path: path, "is a directory, not a video file")
        }
        if (info.st_mode & S_IFMT) == S_IFREG && info.st_size == 0 {
            throw MediaError(.unsupportedFormat, path: path, "empty file")
        }
    }

    static func openError(path: String, _ error: FFmpegCallError) -> MediaError {
        switch error.code {
        case streamd_averror(ENOENT):
            MediaError(.fileNotFound, path: path, "no such file", detail: error.detail)
        case streamd_averror_invaliddata():
            MediaError(.unsupportedFormat, path: path, "not a media file FFmpeg can read (\(error.text))",
                       detail: error.detail)
        default:
            MediaError(.unreadable, path: path, "cannot open: \(error.text)", detail: error.detail)
        }
    }
}
