import CFFmpeg
import FFmpegSupport
public import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// What a live reader opens and how patiently.
public struct StreamReaderOptions: Sendable, Equatable {
    /// RTSP only: "tcp" or "udp".
    public var rtspTransport: String
    /// Connect and per-read limit for network URLs; a call that takes longer fails (the source is lost).
    public var timeout: Duration
    public var threadCount: Int
    /// Decode the input's sound too (its best audio stream), for `takeSound`.
    public var sound: Bool

    public init(rtspTransport: String = "tcp", timeout: Duration = .seconds(10), threadCount: Int = 1, sound: Bool = false) {
        self.rtspTransport = rtspTransport
        self.timeout = timeout
        self.threadCount = threadCount
        self.sound = sound
    }
}

/// Decodes the video of a URL (rtsp, rtmp, srt, udp, http/HLS) or a file into RGB frames, for the live
/// pipeline. Every blocking FFmpeg call is bounded: the protocol's own timeout options are set from
/// `options.timeout`, and an interrupt callback checks `interrupt` (stop requested, or the current call past
/// its deadline), so a dead server never blocks the reading thread for longer than the timeout.
///
/// One owner at a time on one dedicated thread (`@unchecked Sendable` only to move it there). Every FFmpeg
/// object is owned by a wrapper class that frees it exactly once.
public final class StreamReader: @unchecked Sendable {
    public let url: String
    /// Frames per second as the stream announces it (0/1 when unknown).
    public let frameRate: Rational
    public let timeBase: Rational
    /// Size of the frames `nextFrame` returns: upright, as the file reader turns them (a phone's portrait clip
    /// is stored sideways with a display matrix; a camera's frames come as the driver gives them).
    public let width: Int, height: Int
    /// What the source delivers, in the names a camera's `input_format` uses: "mjpeg", "yuyv", else FFmpeg's
    /// codec name (and pixel format for raw video). A camera that cannot give the requested format or size is
    /// silently switched by the driver; the caller compares this and `width`/`height` with what it asked for.
    public let deliveredFormat: String
    /// True for segmented streams (HLS, DASH): the demuxer fetches a whole segment and hands its frames over
    /// at once, then nothing until the next one, so a live reader has to pace them itself.
    public let isSegmented: Bool

    private let input: InputContext
    private let decoder: VideoDecoder
    /// The input's sound, decoded as its packets go by (with `options.sound` and an audio stream).
    private let sound: SoundDecoder?
    private let interrupt: IOInterrupt
    private let timeout: Duration
    /// Keeps the interrupt object alive for the C callback's opaque pointer.
    private let interruptBox: Unmanaged<IOInterrupt>
    private var sequence = 0

    /// Opens `url` (a path without a scheme is a file) and its video decoder.
    ///
    /// - Throws: `MediaError` naming the URL: `.fileNotFound`, `.unreadable` (connection refused, timed out,
    ///   interrupted), `.unsupportedFormat` (no video stream, no decoder).
    public convenience init(url: String, options: StreamReaderOptions = StreamReaderOptions(), interrupt: IOInterrupt) throws {
        try self.init(url: url, demuxer: nil, demuxerOptions: [], options: options, interrupt: interrupt)
    }

    /// Opens a V4L2 camera through FFmpeg's v4l2 input (libavdevice): `size` as WIDTHxHEIGHT, `frameRate`,
    /// and `inputFormat` "mjpeg" or "yuyv" (nil: what the camera offers first).
    public convenience init(device: String, size: (width: Int, height: Int)?, frameRate: Double?, inputFormat: String?,
                            options: StreamReaderOptions = StreamReaderOptions(), interrupt: IOInterrupt) throws {
        _ = Self.registerDevices
        var demuxerOptions: [(String, String)] = []
        if let size { demuxerOptions.append(("video_size", "\(size.width)x\(size.height)")) }
        if let frameRate { demuxerOptions.append(("framerate", String(frameRate))) }
        if let inputFormat { demuxerOptions.append(("input_format", inputFormat == "yuyv" ? "yuyv422" : inputFormat)) }
        try self.init(url: device, demuxer: "v4l2", demuxerOptions: demuxerOptions, options: options, interrupt: interrupt)
    }

    private static let registerDevices: Void = avdevice_register_all()

    private init(url: String, demuxer: String?, demuxerOptions: [(String, String)], options: StreamReaderOptions,
                 interrupt: IOInterrupt) throws {
        self.url = url
        self.interrupt = interrupt
        self.timeout = options.timeout
        let isFile = !url.contains("://") && demuxer == nil
        if isFile { try VideoReader.checkInputFile(url) }
        let scheme = url.split(separator: ":").first.map { String($0).lowercased() } ?? ""
        let micros = String(max(1, options.timeout.microseconds))
        var dictionary: [(String, String)] = demuxerOptions
        if !isFile && demuxer == nil {
            // rw_timeout: every protocol read/write through avio; the protocol-specific ones cover the rest.
            dictionary.append(("rw_timeout", micros))
            switch scheme {
            case "rtsp", "rtsps":
                dictionary.append(("rtsp_transport", options.rtspTransport))
                dictionary.append(("timeout", micros))   // socket I/O timeout (FFmpeg 5.1's name)
            case "udp":
                dictionary.append(("timeout", micros))
                dictionary.append(("fifo_size", "1000000"))
                dictionary.append(("overrun_nonfatal", "1"))
            case "srt":
                dictionary.append(("timeout", micros))
            case "http", "https":
                dictionary.append(("reconnect", "0"))
            default:
                break
            }
        }
        let box = Unmanaged.passRetained(interrupt)
        var committed = false
        defer { if !committed { box.release() } }
        let callback = AVIOInterruptCB(callback: { opaque in
            guard let opaque else { return 0 }
            return Unmanaged<IOInterrupt>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt ? 1 : 0
        }, opaque: box.toOpaque())
        interrupt.arm(options.timeout)
        let input: InputContext
        do {
            input = try InputContext(url: isFile ? "file:" + url : url, format: demuxer, options: dictionary, interrupt: callback,
                                     nonBlocking: demuxer == "v4l2")
        } catch {
            if interrupt.isStopped { throw MediaError(.unreadable, path: url, "interrupted while opening (stopping)") }
            if error.code == streamd_averror(ETIMEDOUT) || error.code == AVERROR_EXIT_CODE {
                throw MediaError(.unreadable, path: url, "no answer within \(options.timeout) (\(error.text))", detail: error.detail)
            }
            throw VideoReader.openError(path: url, error)
        }
        let format = input.context
        interrupt.arm(options.timeout)
        if isFile == false { format.pointee.max_analyze_duration = 2_000_000 }
        let result = avformat_find_stream_info(format, nil)
        guard result >= 0 else {
            throw MediaError(.unsupportedFormat, path: url, "cannot read stream information (\(ffmpegErrorText(result)))")
        }
        // A live source's decoder: FFmpeg's default threading, no frame threads (each adds a frame of delay).
        let decoder = try VideoDecoder(format: format, source: url, threads: options.threadCount, frameThreads: false, autorotate: true)
        let stream = decoder.stream, rate = decoder.frameRate
        self.input = input
        self.decoder = decoder
        self.sound = options.sound ? SoundDecoder(format: format) : nil
        self.frameRate = Rational(Int(rate.num), Int(rate.den))
        self.timeBase = Rational(Int(stream.pointee.time_base.num), Int(stream.pointee.time_base.den))
        (self.width, self.height) = decoder.orientation.displaySize(width: Int(stream.pointee.codecpar.pointee.width),
                                                                    height: Int(stream.pointee.codecpar.pointee.height))
        let codecpar = stream.pointee.codecpar.pointee
        if codecpar.codec_id == AV_CODEC_ID_MJPEG {
            self.deliveredFormat = "mjpeg"
        } else if codecpar.codec_id == AV_CODEC_ID_RAWVIDEO {
            let pixelFormat = AVPixelFormat(rawValue: codecpar.format)
            self.deliveredFormat = pixelFormat == AV_PIX_FMT_YUYV422 ? "yuyv" : av_get_pix_fmt_name(pixelFormat).map { String(cString: $0) } ?? "raw"
        } else {
            self.deliveredFormat = String(cString: avcodec_get_name(codecpar.codec_id))
        }
        let demuxerName = format.pointee.iformat.map { String(cString: $0.pointee.name) } ?? ""
        self.isSegmented = demuxerName.split(separator: ",").contains { $0 == "hls" || $0 == "dash" }
        self.interruptBox = box
        committed = true
    }

    deinit {
        // A camera's packets point into the device's mmap'ed buffers, and the decoder (or a raw frame passed
        // through) may still hold one. Hand them back while the device is open, or the v4l2 input complains on
        // close and the late release hits a closed descriptor.
        decoder.releaseBuffers()
        // Closed explicitly before the box is released: closing a network input may call the interrupt
        // callback, which must not depend on the order stored properties are destroyed in.
        input.close()
        interruptBox.release()
    }

    /// The input's sound as "codec, rate, channels" when it is being decoded (`options.sound` and an audio
    /// stream FFmpeg can decode); nil otherwise.
    public var soundFormat: String? { sound?.label }

    /// The sound decoded while reading the frames so far (packets are read in the input's order, so it runs a
    /// little ahead of or behind the last frame), oldest first. The last 5 s are kept for a caller that takes
    /// them late.
    public func takeSound() -> [DecodedSound] { sound?.take() ?? [] }

    /// The next decoded frame, or nil at the end of the stream (or when the interrupt says stop). Throws
    /// `MediaError(.unreadable)` when the source is lost (read error, timeout, interrupted) and
    /// `MediaError(.decodeFailed)` when it sends nothing but damaged frames: the caller reconnects.
    public func nextFrame(pool: FramePool? = nil) throws -> VideoFrame? {
        guard let picture = try decoder.next(from: self, pool: pool) else {
            if decoder.end == .tooDamaged { throw MediaError(.decodeFailed, path: url, "too many damaged frames in a row") }
            return nil
        }
        defer { sequence += 1 }
        return VideoFrame(sequence: sequence, pts: picture.pts, timeBase: timeBase, duration: picture.duration, image: picture.image)
    }
}

extension StreamReader: PacketSource {
    /// Every read bounded by the timeout; a non-blocking source (a camera) that says "nothing yet" is polled
    /// under the same deadline, so a camera that stops delivering counts as lost after `timeout`.
    func readPacket(into packet: UnsafeMutablePointer<AVPacket>) throws -> PacketRead {
        interrupt.arm(timeout)
        while true {
            let read = av_read_frame(input.context, packet)
            if read >= 0 {
                // The sound's packets are decoded here, as they go by; the video decoder sees the rest.
                guard let sound, packet.pointee.stream_index == sound.streamIndex else { return .packet }
                sound.decode(packet)
                av_packet_unref(packet)
                continue
            }
            if read == streamd_averror_eagain() {
                if interrupt.isStopped { return .stop }
                if interrupt.shouldInterrupt { throw MediaError(.unreadable, path: url, "no frame within \(timeout)") }
                usleep(10_000)   // as FFmpeg's own tool polls a non-blocking input
                continue
            }
            if read == streamd_averror_eof() { return .endOfInput }
            if interrupt.isStopped { return .stop }
            throw MediaError(.unreadable, path: url, read == AVERROR_EXIT_CODE
                             ? "no data within \(timeout)" : "read failed: \(ffmpegErrorText(read))")
        }
    }

    /// A live source's damage is not worth a line per packet: the picture shows it, and a source that sends
    /// nothing else ends as `tooDamaged`.
    func damaged(_ what: String) {}
}

/// AVERROR_EXIT: what FFmpeg returns when the interrupt callback fired.
private let AVERROR_EXIT_CODE: Int32 = -0x54495845  // -MKTAG('E','X','I','T')
