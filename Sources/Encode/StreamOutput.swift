import CFFmpeg
import FFmpegSupport
public import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// Live encoder settings: x264/x265 with a bounded GOP, `tune=zerolatency` by default, constant frame rate.
public struct LiveEncodeSettings: Sendable, Equatable {
    public var width: Int, height: Int
    public var frameRate: Int
    /// "libx264" or "libx265".
    public var encoder: String
    public var bitrate: Int
    public var gop: Int
    public var preset: String
    /// nil: no tune.
    public var tune: String?

    public init(width: Int, height: Int, frameRate: Int, encoder: String = "libx264", bitrate: Int = 2_000_000,
                gop: Int = 50, preset: String = "veryfast", tune: String? = "zerolatency") {
        self.width = width; self.height = height; self.frameRate = frameRate; self.encoder = encoder
        self.bitrate = bitrate; self.gop = gop; self.preset = preset; self.tune = tune
    }
}

/// Encodes RGB pictures and muxes them to a URL or a file: RTMP (flv), RTSP push (TCP), SRT and UDP (MPEG-TS),
/// an HLS playlist, or a recording (mp4, mkv, mov, ts). Timestamps are given by the caller in microseconds
/// and must increase (a timestamp that does not is moved one tick forward).
///
/// With `audio`, the output also carries a stereo 48 kHz AAC track: the sound the caller hands over beside the
/// pictures (`write(audio:through:)`), and silence where it has none, so the muxer never waits for sound.
///
/// Network writes are bounded: `rw_timeout`/`timeout` options and an interrupt callback tied to `interrupt`,
/// so a dead peer makes `write` throw (the caller reconnects) instead of blocking forever. One owner on one
/// thread; every FFmpeg object is freed exactly once by its owner class.
public final class StreamOutput: @unchecked Sendable {
    public let url: String
    public let format: String
    public private(set) var framesWritten = 0
    /// Bytes the muxer has written so far (files only; 0 for network outputs).
    public var bytesWritten: Int64 {
        guard let output, let pb = output.context.pointee.pb else { return 0 }
        return avio_tell(pb)
    }

    private var output: OutputFormatContext?
    private var encoder: PictureEncoder?
    private let streamIndex: Int32
    private let timeBase = AVRational(num: 1, den: 1_000_000)
    private let settings: LiveEncodeSettings
    private let interrupt: IOInterrupt
    private let timeout: Duration
    private let interruptBox: Unmanaged<IOInterrupt>
    private var lastPts: Int64?
    /// One tick of the container's time base in microseconds (FLV counts milliseconds): consecutive frames
    /// are at least this far apart, so no two share a timestamp after the muxer rescales them.
    private var minimumStep: Int64 = 1
    private var finished = false
    /// The AAC track, when the output has sound.
    private var audio: AudioFrameEncoder?
    private var audioIndex: Int32 = -1
    /// Sound may arrive this much after the picture it goes with before silence takes its place.
    static let audioLag: Int64 = 250_000
    /// The longest gap in the sound filled with silence, in seconds; a longer one is a jump.
    static let maxSilence: Int64 = 10
    /// The planes a block of sound is split into for the encoder, reused.
    private var left: [Float] = [], right: [Float] = []

    /// Opens the encoder and the muxer, connects (network) or creates the file, and writes the header.
    ///
    /// - Parameters:
    ///   - format: the muxer: flv, mpegts, rtsp, hls, mp4, matroska, mov.
    ///   - muxerOptions: the muxer's private options (hls_time, hls_list_size, …).
    /// - Throws: `MediaError` naming `url` with the cause (no such encoder, connection refused, timed out).
    public init(url: String, format: String, settings: LiveEncodeSettings, muxerOptions: [(String, String)] = [],
                audio hasAudio: Bool = false, timeout: Duration = .seconds(10), interrupt: IOInterrupt) throws {
        self.url = url; self.format = format; self.settings = settings
        self.interrupt = interrupt; self.timeout = timeout
        guard settings.width > 0, settings.height > 0, settings.width % 2 == 0, settings.height % 2 == 0 else {
            throw MediaError(.invalidArgument, path: url, "video size \(settings.width)x\(settings.height) must be even and not empty")
        }
        guard let codec = avcodec_find_encoder_by_name(settings.encoder) else {
            throw MediaError(.unsupportedFormat, path: url, "no video encoder named '\(settings.encoder)' in this FFmpeg")
        }
        let box = Unmanaged.passRetained(interrupt)
        var committed = false
        defer { if !committed { box.release() } }
        let output: OutputFormatContext
        do {
            output = try OutputFormatContext(formatName: format, url: url)
        } catch {
            throw MediaError(.encodeFailed, path: url, "cannot set up the \(format) muxer: \(error.text)")
        }
        let formatContext = output.context
        formatContext.pointee.interrupt_callback = AVIOInterruptCB(callback: { opaque in
            guard let opaque else { return 0 }
            return Unmanaged<IOInterrupt>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt ? 1 : 0
        }, opaque: box.toOpaque())
        // Size, time base and colour as every encoder of streamd gets them (`PictureEncoder`, `ColourPolicy`).
        let encoder: PictureEncoder
        do {
            encoder = try PictureEncoder(codec: codec, codedWidth: settings.width, codedHeight: settings.height, pixelFormat: AV_PIX_FMT_YUV420P,
                                         timeBase: timeBase, frameRate: AVRational(num: Int32(settings.frameRate), den: 1), threads: 1,
                                         globalHeader: formatContext.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0)
        } catch {
            throw MediaError(.encodeFailed, path: url, "out of memory")
        }
        let context = encoder.context
        context.pointee.gop_size = Int32(max(1, settings.gop))
        context.pointee.max_b_frames = 0
        context.pointee.bit_rate = Int64(settings.bitrate)
        context.pointee.rc_max_rate = Int64(settings.bitrate)
        context.pointee.rc_buffer_size = Int32(clamping: settings.bitrate)
        let options = OptionDictionary()
        options.set("preset", settings.preset)
        if let tune = settings.tune { options.set("tune", tune) }
        if settings.encoder == "libx265" { options.set("x265-params", "log-level=error") }
        do {
            try encoder.open(options: options)
        } catch {
            throw MediaError(.invalidArgument, path: url, "cannot open \(settings.encoder) with these settings: \(error.text)")
        }
        guard let stream = avformat_new_stream(formatContext, nil) else { throw MediaError(.encodeFailed, path: url, "out of memory") }
        stream.pointee.time_base = timeBase
        stream.pointee.avg_frame_rate = context.pointee.framerate
        var result = avcodec_parameters_from_context(stream.pointee.codecpar, context)
        guard result >= 0 else { throw MediaError(.encodeFailed, path: url, "cannot describe the stream: \(ffmpegErrorText(result))") }
        if hasAudio {
            guard let aac = avcodec_find_encoder(AV_CODEC_ID_AAC) else {
                throw MediaError(.unsupportedFormat, path: url, "no AAC encoder in this FFmpeg")
            }
            let sound = try AudioFrameEncoder(codec: aac, rate: Int32(AudioTrack.sampleRate), format: AV_SAMPLE_FMT_FLTP,
                                              channels: Int32(AudioTrack.channels), bitRate: 128_000,
                                              globalHeader: formatContext.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0,
                                              path: url, label: "the sound")
            audioIndex = try sound.addStream(to: formatContext)
            audio = sound
        }

        let micros = String(max(1, timeout.microseconds))
        let scheme = url.contains("://") ? String(url.prefix { $0 != ":" }).lowercased() : "file"
        let protocolOptions = OptionDictionary()
        if scheme != "file" { protocolOptions.set("rw_timeout", micros) }
        if scheme == "srt" { protocolOptions.set("timeout", micros) }
        interrupt.arm(timeout)
        if formatContext.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            var callback = formatContext.pointee.interrupt_callback
            result = RealtimePolicyGuard.containRealtimePolicies {
                avio_open2(&formatContext.pointee.pb, url, AVIO_FLAG_WRITE, &callback, &protocolOptions.pointer)
            }
            guard result >= 0 else {
                throw MediaError(scheme == "file" ? .unwritable : .unreadable, path: url,
                                 "cannot \(scheme == "file" ? "create the file" : "connect"): \(Self.describe(result, timeout: timeout))")
            }
        }
        let headerOptions = OptionDictionary()
        for (key, value) in muxerOptions { headerOptions.set(key, value) }
        if format == "rtsp" {
            headerOptions.set("rtsp_transport", "tcp")
            headerOptions.set("timeout", micros)
        }
        interrupt.arm(timeout)
        result = avformat_write_header(formatContext, &headerOptions.pointer)
        guard result >= 0 else {
            throw MediaError(.unreadable, path: url, "cannot start the \(format) stream: \(Self.describe(result, timeout: timeout))")
        }
        self.output = output
        self.encoder = encoder
        self.streamIndex = stream.pointee.index
        let tick = stream.pointee.time_base
        self.minimumStep = tick.den > 0 ? max(1, (Int64(tick.num) * 1_000_000 + Int64(tick.den) - 1) / Int64(tick.den)) : 1
        self.interruptBox = box
        committed = true
    }

    deinit {
        // Closed here, explicitly and in this order, not by the order stored properties happen to be destroyed
        // in: closing the muxer may call the interrupt callback, which reads the box released last. An output
        // dropped without `finish` still gets its trailer (the RTSP muxer frees its socket only there), bounded
        // by a short deadline.
        if !finished, let output {
            interrupt.arm(min(timeout, .seconds(2)))
            av_write_trailer(output.context)
        }
        output?.closeFile()
        output = nil
        encoder = nil
        interruptBox.release()
    }

    /// Encodes `image` (the configured size) shown at `micros` and sends the packets that are ready.
    public func write(_ image: RGBImage, micros: Int64) throws {
        guard !finished, let encoder else { throw MediaError(.invalidArgument, path: url, "the output is closed") }
        guard image.width == settings.width, image.height == settings.height else {
            throw MediaError(.invalidArgument, path: url, "frame is \(image.width)x\(image.height), the output is \(settings.width)x\(settings.height)")
        }
        var pts = micros
        if let lastPts, pts < lastPts + minimumStep { pts = lastPts + minimumStep }
        do {
            try encoder.encode(image, pts: pts, write: muxPacket)
        } catch let error as FFmpegCallError {
            throw MediaError(.encodeFailed, path: url, "cannot encode: \(error.text)")
        }
        lastPts = pts
        framesWritten += 1
    }

    /// Sound up to the picture shown at `micros`: `blocks` (interleaved 48 kHz stereo, each at its own time in
    /// microseconds on the pictures' clock, less `shift`, the caller's start) go where their times put them (a
    /// gap before one is filled with silence, an overlap dropped); silence fills in to `audioLag` before
    /// `micros` where no sound came. A gap longer than `maxSilence` is a jump (the pictures stalled), not a
    /// pause: the sound before it ends there and goes on at the new time. Does nothing for an output without sound.
    public func write(audio blocks: [AudioTrack.Block], shift: Int64, through micros: Int64) throws {
        guard !finished, let audio else { return }
        let rate = Int64(AudioTrack.sampleRate), channels = AudioTrack.channels
        func samples(_ us: Int64) -> Int64 { (us - shift) * rate / 1_000_000 }
        let tolerance = rate / 50  // 20 ms of jitter is left alone
        for block in blocks {
            var start = samples(block.micros)
            if audio.nextPts == nil { audio.nextPts = max(0, min(start, samples(micros))) }
            let end = audio.nextPts! + Int64(audio.queued)
            var skip = 0
            if start - end > tolerance {
                try carry(audio, to: start)
            } else if end - start > tolerance {
                skip = Int(min(end - start, Int64(block.frames)))
                start = end
            }
            let count = block.frames - skip
            guard count > 0 else { continue }
            // AAC takes planar floats: the interleaved pairs split into a left and a right plane, kept from call
            // to call (a block is 10–20 ms; they grow only for a longer one).
            if left.count < count {
                left = [Float](repeating: 0, count: count)
                right = left
            }
            block.samples.withUnsafeBufferPointer { pcm in
                for i in 0..<count {
                    left[i] = Float(pcm[(skip + i) * channels]) / 32768
                    right[i] = Float(pcm[(skip + i) * channels + 1]) / 32768
                }
            }
            try left.withUnsafeMutableBytes { l in
                try right.withUnsafeMutableBytes { r in
                    var planes: [UnsafeMutableRawPointer?] = [l.baseAddress, r.baseAddress]
                    try planes.withUnsafeMutableBufferPointer { try audio.append($0.baseAddress!, count: Int32(count)) }
                }
            }
        }
        if audio.nextPts == nil { audio.nextPts = max(0, samples(micros - Self.audioLag)) }
        try carry(audio, to: samples(micros - Self.audioLag))
        try audio.encodeQueued(final: false, write: muxAudioPacket)
    }

    /// Carries the sound on with silence to `target` (in samples) where it ends before that; past
    /// `maxSilence`, ends it with whole frames and carries on at `target` instead.
    private func carry(_ audio: AudioFrameEncoder, to target: Int64) throws {
        let end = audio.nextPts! + Int64(audio.queued)
        guard target > end else { return }
        if target - end > Self.maxSilence * Int64(AudioTrack.sampleRate) {
            try audio.jump(to: target, write: muxAudioPacket)
        } else {
            try audio.appendSilence(Int32(target - end))
            try audio.encodeQueued(final: false, write: muxAudioPacket)
        }
    }

    /// Flushes the encoder and writes the trailer (a recording is complete and playable after this).
    public func finish() throws {
        guard !finished, let encoder, let output else { return }
        finished = true
        defer { self.encoder = nil; self.output = nil }
        var drainFailure: (any Error)?
        do {
            try encoder.flush(write: muxPacket)
            try audio?.flush(write: muxAudioPacket)
        } catch let error as FFmpegCallError {
            drainFailure = MediaError(.encodeFailed, path: url, "encoder failed: \(error.text)")
        } catch { drainFailure = error }
        audio = nil
        // The trailer is written even when draining failed: the RTSP muxer frees its socket only there, so
        // skipping it would leak one per reconnect.
        interrupt.arm(timeout)
        let result = av_write_trailer(output.context)
        let closed = output.closeFile()
        if let drainFailure { throw drainFailure }
        guard result >= 0 else { throw MediaError(.unwritable, path: url, "cannot finish the \(format) stream: \(ffmpegErrorText(result))") }
        guard closed >= 0 else { throw MediaError(.unwritable, path: url, "cannot close: \(ffmpegErrorText(closed))") }
    }

    /// Sends an encoded packet, bounded by the timeout.
    private func muxPacket(_ pkt: UnsafeMutablePointer<AVPacket>) throws {
        guard let output else { return }
        pkt.pointee.stream_index = streamIndex
        av_packet_rescale_ts(pkt, timeBase, output.context.pointee.streams[Int(streamIndex)]!.pointee.time_base)
        interrupt.arm(timeout)
        // Takes the packet's reference on success and failure alike.
        let written = av_interleaved_write_frame(output.context, pkt)
        guard written >= 0 else {
            throw MediaError(.unwritable, path: url, "cannot send: \(Self.describe(written, timeout: timeout))")
        }
    }

    /// Sends an encoded packet of sound, bounded by the timeout.
    private func muxAudioPacket(_ pkt: UnsafeMutablePointer<AVPacket>) throws {
        guard let output, let audio else { return }
        pkt.pointee.stream_index = audioIndex
        av_packet_rescale_ts(pkt, audio.context.pointee.time_base, output.context.pointee.streams[Int(audioIndex)]!.pointee.time_base)
        interrupt.arm(timeout)
        let written = av_interleaved_write_frame(output.context, pkt)
        guard written >= 0 else {
            throw MediaError(.unwritable, path: url, "cannot send the sound: \(Self.describe(written, timeout: timeout))")
        }
    }

    private static func describe(_ code: Int32, timeout: Duration) -> String {
        code == -0x54495845 ? "no progress within \(timeout) (interrupted)" : ffmpegErrorText(code)
    }
}
