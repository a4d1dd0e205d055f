import CFFmpeg
public import Decode
import FFmpegSupport
public import Pipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encodes `VideoFrame`s into a video file (MP4, MOV, Matroska, WebM, AVI) or a PNG sequence with libavcodec
/// and libavformat.
///
/// A blocking API for one dedicated encode thread: `write` converts each RGB picture to the encoder's YUV
/// format, encodes it and muxes whatever packets come out; `finish` drains the encoder, writes the trailer and
/// only then moves the file into place. Until then everything goes to a hidden temporary file in the same
/// directory (`.name.pid.random.tmp`), so a failed, aborted or abandoned encode never leaves a truncated video
/// at `path`, and an existing file there stays intact until the new one is complete.
///
/// Timestamps are the frames' own, rescaled to the encoder's time base: variable frame rate survives. Nothing
/// is duplicated or dropped to force a constant rate, except in AVI, which has no timestamps at all — there the
/// time base is one frame period and each frame is placed on the nearest tick.
///
/// Errors: after any failure thrown by FFmpeg (encoder, muxer, disk) the writer is aborted — its temporary file
/// is removed and every later call throws. A frame of the wrong size is the caller's mistake and leaves the
/// writer usable. Every FFmpeg object is owned by one of the classes in `OutputOwners.swift` (and FFmpegSupport's `CodecOwners.swift`) and freed exactly
/// once when the writer is finished, aborted or deinitialised.
///
/// One owner at a time: the writer may be created on one thread and moved to the encode thread (hence
/// `@unchecked Sendable`), but it must never be used from two threads at once.
public final class VideoWriter: @unchecked Sendable {
    /// The final file.
    public let path: String
    public let settings: VideoEncodeSettings
    public let container: VideoEncodeSettings.Container
    /// The encoder actually used (the settings' or the container's default).
    public let codecName: String
    /// The coded picture size: the input size, or one larger in a direction where it was odd and the pixel
    /// format subsamples chroma (see `VideoEncodeSettings.OddSizePolicy.pad`).
    public let codedWidth: Int
    public let codedHeight: Int
    /// The coded pixel format's FFmpeg name (differs from the settings' only under `.fullChroma`).
    public let pixelFormatName: String
    /// Frames accepted by `write`.
    public private(set) var framesWritten = 0
    /// The kinds of the streams carried over from the passthrough demuxer, in output order ("audio", "subtitle").
    public let passthroughKinds: [MediaKind]
    /// One line for each stream of the passthrough demuxer left out because the container cannot carry it
    /// (known after `init`), and for damage that ended the passthrough streams early (known after `finish`).
    public var passthroughWarnings: [String] { passthrough?.warnings ?? lastPassthroughWarnings }

    private enum State { case open, finished, aborted }

    /// Container tags of an input that describe its encoding, not its content: not carried over.
    static let staleTags: Set<String> = ["major_brand", "minor_version", "compatible_brands", "encoder", "ENCODER", "DURATION"]

    private let temporary: Temporary
    private var output: OutputFormatContext?
    private var encoder: PictureEncoder?
    private let streamIndex: Int32
    private let encoderTimeBase: AVRational
    /// One frame period in encoder ticks (at least 1): the duration of frames that bring none.
    private let framePeriod: Int64
    /// Fixed quantiser × FF_QP2LAMBDA for encoders without CRF (mpegvideo takes it per picture), or 0.
    private let frameQuality: Int32
    private var state = State.open
    private var lastPts: Int64?
    private var lastDuration: Int64 = 0
    /// Frame durations by pts, so packets (which libx264 and others return without a duration) get their
    /// frame's duration: Matroska and MP4 use the last packet's duration for the file's length.
    private var durations: [Int64: Int64] = [:]
    /// Audio and subtitles from the input, interleaved with the video as it is written.
    private var passthrough: StreamPassthrough?
    private var lastPassthroughWarnings: [String] = []
    /// Seconds: the first written frame's start and the last one's end (the window the passthrough keeps).
    private var videoStart: Double?
    private var videoEnd: Double?
    /// `startsAtZero`: the first frame's pts in encoder ticks, subtracted from every frame's.
    private var ptsOffset: Int64?

    /// Opens the encoder and the muxer and creates the temporary file; writes the container header.
    ///
    /// `passthrough`, a `Demuxer` on the input (keeping the kinds wanted, e.g. audio and subtitles), supplies
    /// the other streams: each is copied when the container accepts its codec, audio otherwise re-encoded (AAC,
    /// Opus for WebM), anything else left out with a line in `passthroughWarnings`. Their packets are read as
    /// the video is written and kept for the span of the written video, timestamps unchanged. The input's
    /// container metadata is copied too (`settings.metadata` wins). Ignored for PNG sequences.
    ///
    /// `path` picks the output: a file whose extension names the container (`.mp4`/`.m4v`, `.mov`, `.mkv`,
    /// `.webm`, `.avi`), an existing directory (PNG pictures `%06d.png` in it), or a `.png` name with one
    /// printf-style frame number (`frames/f_%04d.png`).
    ///
    /// - Throws: `MediaError` naming `path`: `.unsupportedFormat` for an extension that names no container or an
    ///   encoder that does not exist or does not fit the container; `.invalidArgument` for a size, rate, pixel
    ///   format, preset or option the encoder rejects (and odd sizes under `.refuse`); `.unwritable` when the
    ///   directory does not accept the temporary file; `.encodeFailed` when FFmpeg cannot open the encoder or
    ///   write the header. Nothing is left on disk when `init` throws.
    public init(path: String, settings: VideoEncodeSettings, passthrough demuxer: Demuxer? = nil) throws {
        self.path = path
        self.settings = settings
        try Self.check(settings, path: path)
        let (container, sequence) = try Self.destination(of: path)
        self.container = container
        let codecName = settings.codec ?? container.defaultCodec
        self.codecName = codecName
        let (codec, muxer) = try Self.encoder(named: codecName, for: container, path: path)
        let (pixelFormat, width, height) = try Self.codedPicture(settings, container: container, codec: codec, codecName: codecName, path: path)
        let pixelFormatName = String(cString: av_get_pix_fmt_name(pixelFormat))
        self.pixelFormatName = pixelFormatName
        self.codedWidth = width
        self.codedHeight = height
        let (timeBase, period) = Self.timeBase(settings, container: container, codec: codec)
        self.encoderTimeBase = timeBase
        self.framePeriod = max(1, av_rescale_q(1, period, timeBase))

        // The temporary file (or directory, for pictures): reserved exclusively so a concurrent writer never
        // shares it. From here on any failure must remove it.
        let temporary = try sequence.map { try Temporary.directory(for: $0.directory, path: path) }
            ?? Temporary.file(for: path)
        self.temporary = temporary
        var committed = false
        defer { if !committed { temporary.remove() } }
        let url = sequence.map { temporary.path + "/" + $0.pattern } ?? temporary.path

        let output: OutputFormatContext
        do {
            output = try OutputFormatContext(formatName: container.muxerName, url: url)
        } catch {
            throw MediaError(.encodeFailed, path: path, "cannot set up the \(container.rawValue) muxer: \(error.text)",
                             detail: error.detail)
        }
        // Size, time base and colour as every encoder of streamd gets them (`PictureEncoder`, `ColourPolicy`).
        let encoder: PictureEncoder
        do {
            encoder = try PictureEncoder(codec: codec, codedWidth: width, codedHeight: height, pixelFormat: pixelFormat,
                                         timeBase: timeBase, frameRate: AVRational(num: period.den, den: period.num),
                                         threads: settings.threads, globalHeader: muxer.pointee.flags & AVFMT_GLOBALHEADER != 0)
        } catch {
            throw MediaError(.encodeFailed, path: path, "out of memory setting up \(codecName)", detail: error.detail)
        }
        let context = encoder.context
        let (options, quality) = try Self.rateControl(settings, codec: codec, codecName: codecName, context: context, path: path)
        self.frameQuality = quality
        do {
            try encoder.open(options: options)
        } catch where error.function == "avcodec_open2" {
            throw MediaError(error.code == streamd_averror(EINVAL) ? .invalidArgument : .encodeFailed, path: path,
                             "cannot open the \(codecName) encoder with these settings: \(error.text)", detail: error.detail)
        } catch {
            throw MediaError(.encodeFailed, path: path, "cannot prepare \(pixelFormatName) pictures for \(codecName): \(error.text)",
                             detail: error.detail)
        }
        if let unknown = options.keys.first {
            throw MediaError(.invalidArgument, path: path, "\(codecName) has no option '\(unknown)'")
        }

        // The stream, the container metadata, the file, the header.
        let formatContext = output.context
        guard let stream = avformat_new_stream(formatContext, nil) else {
            throw MediaError(.encodeFailed, path: path, "out of memory adding a stream")
        }
        stream.pointee.time_base = timeBase
        stream.pointee.avg_frame_rate = context.pointee.framerate
        for (key, value) in settings.videoStreamMetadata.sorted(by: { $0.key < $1.key }) {
            av_dict_set(&stream.pointee.metadata, key, value, 0)
        }
        var result = avcodec_parameters_from_context(stream.pointee.codecpar, context)
        guard result >= 0 else {
            throw MediaError(.encodeFailed, path: path, "cannot describe the stream: \(ffmpegErrorText(result))")
        }
        var passthrough: StreamPassthrough?
        if let demuxer, container != .pngSequence {
            // Tags that describe the old file's encoding, not its content, are not carried over.
            for (key, value) in demuxer.metadata.sorted(by: { $0.key < $1.key }) where !Self.staleTags.contains(key) {
                av_dict_set(&formatContext.pointee.metadata, key, value, 0)
            }
            passthrough = try StreamPassthrough(demuxer: demuxer, output: formatContext, container: container, path: path)
        }
        self.passthroughKinds = passthrough?.outputKinds ?? []
        self.lastPassthroughWarnings = passthrough?.warnings ?? []
        self.passthrough = passthrough.flatMap { $0.isEmpty ? nil : $0 }
        for (key, value) in settings.metadata.sorted(by: { $0.key < $1.key }) {
            av_dict_set(&formatContext.pointee.metadata, key, value, 0)
        }
        if muxer.pointee.flags & AVFMT_NOFILE == 0 {   // image2 opens one file per picture itself
            result = RealtimePolicyGuard.containRealtimePolicies { avio_open(&formatContext.pointee.pb, url, AVIO_FLAG_WRITE) }
            guard result >= 0 else {
                throw MediaError(.unwritable, path: path, "cannot open a file for writing: \(ffmpegErrorText(result))")
            }
        }
        let headerOptions = OptionDictionary()
        if settings.faststart && container.supportsFaststart { headerOptions.set("movflags", "+faststart") }
        result = avformat_write_header(formatContext, &headerOptions.pointer)
        guard result >= 0 else {
            throw MediaError(.encodeFailed, path: path,
                             "cannot write the \(container.rawValue) header: \(ffmpegErrorText(result))")
        }

        self.output = output
        self.encoder = encoder
        self.streamIndex = stream.pointee.index
        committed = true
    }

    // MARK: - Setting up, step by step

    /// The size, frame rate and time base make sense.
    private static func check(_ settings: VideoEncodeSettings, path: String) throws {
        guard settings.width > 0, settings.height > 0 else {
            throw MediaError(.invalidArgument, path: path, "video size \(settings.width)x\(settings.height) is empty")
        }
        guard settings.frameRate.numerator > 0, settings.frameRate.denominator > 0 else {
            throw MediaError(.invalidArgument, path: path, "frame rate \(settings.frameRate) is not positive")
        }
        guard settings.timeBase.numerator > 0, settings.timeBase.denominator > 0 else {
            throw MediaError(.invalidArgument, path: path, "time base \(settings.timeBase) is not positive")
        }
    }

    /// The container `path` names, and for a PNG sequence the directory the pictures go to and the file-name
    /// pattern.
    private static func destination(of path: String) throws -> (VideoEncodeSettings.Container, (directory: String, pattern: String)?) {
        let ext = ImageEncoder.fileExtension(of: path)
        if isDirectory(path) { return (.pngSequence, (path, "%06d.png")) }
        if ext.lowercased() == "png", AtomicFile.split(path).name.contains("%") {
            let (directory, name) = AtomicFile.split(path)
            var buffer = [CChar](repeating: 0, count: 4096)
            guard av_get_frame_filename2(&buffer, Int32(buffer.count), name, 1, 0) >= 0 else {
                throw MediaError(.invalidArgument, path: path, "'\(name)' needs exactly one frame number such as %06d")
            }
            return (.pngSequence, (directory, name))
        }
        if let named = VideoEncodeSettings.Container(extension: ext) { return (named, nil) }
        let problem = ext.isEmpty ? "no file extension to choose the video container by" : "cannot write video with extension '.\(ext)'"
        throw MediaError(.unsupportedFormat, path: path,
                         "\(problem) (use .mp4, .mov, .mkv, .webm, .avi, or a directory or %06d.png pattern for pictures)")
    }

    /// The encoder called `codecName` and the container's muxer, when the container can carry what it produces.
    private static func encoder(named codecName: String, for container: VideoEncodeSettings.Container,
                                path: String) throws -> (UnsafePointer<AVCodec>, UnsafePointer<AVOutputFormat>) {
        guard let codec = avcodec_find_encoder_by_name(codecName), codec.pointee.type == AVMEDIA_TYPE_VIDEO else {
            throw MediaError(.unsupportedFormat, path: path, "no video encoder named '\(codecName)' in this FFmpeg")
        }
        guard let muxer = av_guess_format(container.muxerName, nil, nil) else {
            throw MediaError(.unsupportedFormat, path: path, "this FFmpeg has no \(container.rawValue) muxer")
        }
        if avformat_query_codec(muxer, codec.pointee.id, FF_COMPLIANCE_NORMAL) == 0 {
            throw MediaError(.unsupportedFormat, path: path,
                             "\(container == .pngSequence ? "a PNG sequence" : "a .\(container.rawValue) file") cannot carry \(codecName) video")
        }
        return (codec, muxer)
    }

    /// The coded pixel format and size: the requested format (or the container's), an odd side padded, refused
    /// or kept at full chroma as `oddSizePolicy` says, and a format the encoder takes.
    private static func codedPicture(_ settings: VideoEncodeSettings, container: VideoEncodeSettings.Container, codec: UnsafePointer<AVCodec>,
                                     codecName: String, path: String) throws -> (AVPixelFormat, Int, Int) {
        let requestedFormat = settings.pixelFormat ?? container.defaultPixelFormat
        var pixelFormat = av_get_pix_fmt(requestedFormat)
        guard pixelFormat != AV_PIX_FMT_NONE else {
            throw MediaError(.invalidArgument, path: path, "unknown pixel format '\(requestedFormat)'")
        }
        var width = settings.width, height = settings.height
        if let descriptor = av_pix_fmt_desc_get(pixelFormat) {
            let oddWidth = width % 2 == 1 && descriptor.pointee.log2_chroma_w > 0
            let oddHeight = height % 2 == 1 && descriptor.pointee.log2_chroma_h > 0
            if oddWidth || oddHeight {
                switch settings.oddSizePolicy {
                case .pad:
                    if oddWidth { width += 1 }
                    if oddHeight { height += 1 }
                case .refuse:
                    throw MediaError(.invalidArgument, path: path,
                                     "\(requestedFormat) needs an even \(oddWidth ? "width" : "height"), the video is \(settings.width)x\(settings.height)")
                case .fullChroma:
                    pixelFormat = AV_PIX_FMT_YUV444P
                }
            }
        }
        if let supported = codec.pointee.pix_fmts {
            var formats: [AVPixelFormat] = []
            var index = 0
            while supported[index] != AV_PIX_FMT_NONE { formats.append(supported[index]); index += 1 }
            guard formats.contains(pixelFormat) else {
                let names = formats.prefix(8).map { String(cString: av_get_pix_fmt_name($0)) }.joined(separator: ", ")
                throw MediaError(.invalidArgument, path: path,
                                 "\(codecName) cannot encode pixel format \(String(cString: av_get_pix_fmt_name(pixelFormat))) (it takes \(names))")
            }
        }
        return (pixelFormat, width, height)
    }

    /// The time base the encoder counts in, and one frame period. The input's, so pts pass through unchanged,
    /// except where the format cannot represent it: AVI stores no timestamps (a packet per tick, so the tick must
    /// be one frame period), and MPEG-4 Part 2 limits the denominator to 16 bits.
    private static func timeBase(_ settings: VideoEncodeSettings, container: VideoEncodeSettings.Container,
                                 codec: UnsafePointer<AVCodec>) -> (timeBase: AVRational, period: AVRational) {
        let input = AVRational(num: Int32(clamping: settings.timeBase.numerator), den: Int32(clamping: settings.timeBase.denominator))
        let period = AVRational(num: Int32(clamping: settings.frameRate.denominator), den: Int32(clamping: settings.frameRate.numerator))
        let usePeriod = container == .avi || (codec.pointee.id == AV_CODEC_ID_MPEG4 && input.den > 65535)
        return (usePeriod ? period : input, period)
    }

    /// Rate control and speed, as private options where the encoder has them: the options to open it with, and
    /// a fixed quantiser × FF_QP2LAMBDA for encoders without CRF (or 0).
    private static func rateControl(_ settings: VideoEncodeSettings, codec: UnsafePointer<AVCodec>, codecName: String,
                                    context: UnsafeMutablePointer<AVCodecContext>, path: String) throws -> (OptionDictionary, Int32) {
        if let bitrate = settings.bitrate {
            guard bitrate > 0 else { throw MediaError(.invalidArgument, path: path, "bit rate \(bitrate) is not positive") }
            context.pointee.bit_rate = Int64(bitrate)
        }
        let options = OptionDictionary()
        var quality: Int32 = 0
        if hasPrivateOption(codec, "crf") {
            if let crf = settings.crf {
                options.set("crf", String(crf))
            } else if codec.pointee.id == AV_CODEC_ID_VP9 && settings.bitrate == nil {
                // Without a target libvpx falls back to a low fixed bit rate; constant quality is what we want.
                options.set("crf", "31")
            }
            if codec.pointee.id == AV_CODEC_ID_VP9 || codec.pointee.id == AV_CODEC_ID_VP8, settings.bitrate == nil {
                context.pointee.bit_rate = 0   // CRF alone: constant quality, not constrained
            }
        } else if settings.crf != nil || settings.bitrate == nil {
            // mpeg4, mjpeg, mpeg2video: a fixed quantiser. CRF maps 0...51 → 1...31; default 3.
            let q = settings.crf.map { Int32(min(31, max(1, 1 + ($0 * 30 + 25) / 51))) } ?? 3
            quality = q * FF_QP2LAMBDA
            context.pointee.flags |= AV_CODEC_FLAG_QSCALE
            context.pointee.global_quality = quality
        }
        if let preset = settings.preset {
            if hasPrivateOption(codec, "preset") {
                options.set("preset", preset)
            } else if hasPrivateOption(codec, "cpu-used"), Int(preset) != nil {
                options.set("cpu-used", preset)
            } else {
                throw MediaError(.invalidArgument, path: path, "\(codecName) has no preset '\(preset)'")
            }
        } else if codec.pointee.id == AV_CODEC_ID_VP9 {
            options.set("cpu-used", "4")
        }
        if codec.pointee.id == AV_CODEC_ID_VP9 { options.set("row-mt", "1") }
        for (key, value) in settings.codecOptions.sorted(by: { $0.key < $1.key }) { options.set(key, value) }
        if codecName == "libx265" {
            // x265 prints a page of statistics to stderr itself, bypassing av_log; our errors carry what matters.
            let params = settings.codecOptions["x265-params"] ?? ""
            if !params.contains("log-level") {
                options.set("x265-params", params.isEmpty ? "log-level=error" : params + ":log-level=error")
            }
        }
        return (options, quality)
    }

    deinit {
        if state != .finished { discard() }
    }

    /// Encodes one frame and writes the packets the encoder has ready.
    ///
    /// The pts is the frame's, rescaled from its time base to the encoder's; a frame without one follows the
    /// previous frame by its duration. A pts that does not advance (two frames folding onto one tick after
    /// rescaling) is moved one tick past the previous frame, because encoders and muxers refuse it.
    ///
    /// - Throws: `.invalidArgument` (writer still usable) for a frame of another size or a writer that is
    ///   finished; `.encodeFailed`/`.unwritable` (writer aborted) when FFmpeg fails.
    public func write(_ videoFrame: VideoFrame) throws {
        guard state == .open, let encoder else {
            throw MediaError(.invalidArgument, path: path, "the video writer is already \(state == .finished ? "finished" : "aborted")")
        }
        let image = videoFrame.image
        guard image.width == settings.width, image.height == settings.height else {
            throw MediaError(.invalidArgument, path: path,
                             "frame \(videoFrame.sequence) is \(image.width)x\(image.height), the video is \(settings.width)x\(settings.height)")
        }
        let frameTimeBase = AVRational(num: Int32(clamping: videoFrame.timeBase.numerator),
                                       den: Int32(clamping: videoFrame.timeBase.denominator))
        let validTimeBase = frameTimeBase.num > 0 && frameTimeBase.den > 0
        var pts: Int64
        if let sourcePts = videoFrame.pts, validTimeBase {
            pts = av_rescale_q(sourcePts, frameTimeBase, encoderTimeBase)
            if settings.startsAtZero {
                let offset = ptsOffset ?? pts
                ptsOffset = offset
                pts -= offset
            }
        } else {
            pts = lastPts.map { $0 + lastDuration } ?? 0
        }
        if let lastPts, pts <= lastPts { pts = lastPts + 1 }
        var duration = framePeriod
        if let sourceDuration = videoFrame.duration, sourceDuration > 0, validTimeBase {
            duration = max(1, av_rescale_q(sourceDuration, frameTimeBase, encoderTimeBase))
        }

        do {
            durations[pts] = duration
            try encoder.encode(image, pts: pts, duration: duration, quality: frameQuality, write: muxPacket)
            if let passthrough, let output {
                // In the input's time: the passthrough streams are cut there, then shifted like the video.
                let tick = Double(encoderTimeBase.num) / Double(encoderTimeBase.den)
                let shift = Double(ptsOffset ?? 0) * tick
                let start = videoStart ?? Double(pts) * tick + shift
                videoStart = start
                videoEnd = Double(pts + duration) * tick + shift
                try passthrough.write(until: videoEnd!, videoStart: start, shift: shift, to: output.context)
            }
        } catch let error as MediaError {
            discard()
            throw error
        } catch let error as FFmpegCallError {
            discard()
            // The muxer's failures are the file's (disk full, I/O error); the rest are the encoder's.
            let writing = error.function == "av_interleaved_write_frame"
            throw MediaError(writing ? .unwritable : .encodeFailed, path: path,
                             "cannot \(writing ? "write" : "encode") frame \(videoFrame.sequence): \(error.text)",
                             detail: error.detail)
        }
        lastPts = pts
        lastDuration = duration
        framesWritten += 1
    }

    /// Drains the encoder, writes the trailer, closes the file and renames it to `path`.
    ///
    /// - Throws: `MediaError` (and the writer is aborted: nothing at `path` changes) when flushing, the trailer,
    ///   closing or the rename fails; `.invalidArgument` if the writer was already finished or aborted.
    public func finish() throws {
        guard state == .open, let encoder, let output else {
            throw MediaError(.invalidArgument, path: path, "the video writer is already \(state == .finished ? "finished" : "aborted")")
        }
        do {
            try encoder.flush(write: muxPacket)
            try passthrough?.finish(at: videoEnd, output: output.context)
            var result = av_write_trailer(output.context)
            guard result >= 0 else { throw FFmpegCallError(function: "av_write_trailer", code: result) }
            result = output.closeFile()
            guard result >= 0 else {
                throw MediaError(.unwritable, path: path, "cannot finish writing: \(ffmpegErrorText(result))")
            }
        } catch let error as MediaError {
            discard()
            throw error
        } catch let error as FFmpegCallError {
            discard()
            throw MediaError(.encodeFailed, path: path, "cannot finish the video: \(error.text)", detail: error.detail)
        }
        lastPassthroughWarnings = passthroughWarnings
        self.passthrough = nil
        self.encoder = nil
        self.output = nil
        do {
            try temporary.commit()
        } catch {
            discard()
            throw error
        }
        state = .finished
    }

    /// Stops without producing a file: frees the encoder and muxer and deletes the temporary file. Calling it
    /// again, or after `finish`, does nothing.
    public func abort() {
        if state == .open { discard() }
    }

    // MARK: - Internals

    /// Frees the FFmpeg objects (closing the file first) and removes the temporary file.
    private func discard() {
        lastPassthroughWarnings = passthroughWarnings
        passthrough = nil
        encoder = nil
        output = nil
        temporary.remove()
        state = .aborted
    }

    /// Hands an encoded packet to the muxer, with its frame's duration (libx264 and others return packets
    /// without one, and Matroska and MP4 take the file's length from the last packet's).
    private func muxPacket(_ pkt: UnsafeMutablePointer<AVPacket>) throws {
        guard let output else { return }
        if pkt.pointee.duration <= 0, let duration = durations[pkt.pointee.pts] {
            pkt.pointee.duration = duration
        }
        durations[pkt.pointee.pts] = nil
        pkt.pointee.stream_index = streamIndex
        av_packet_rescale_ts(pkt, encoderTimeBase, output.context.pointee.streams[Int(streamIndex)]!.pointee.time_base)
        // Takes the packet's reference (and leaves `pkt` blank) on success and failure alike.
        let result = av_interleaved_write_frame(output.context, pkt)
        guard result >= 0 else { throw FFmpegCallError(function: "av_interleaved_write_frame", code: result) }
    }
}

/// Where the output is written until `finish` moves it into place.
///
/// A video is one hidden file beside the target, renamed over it (atomic: same directory, same file system).
/// A picture sequence is a hidden directory beside the pictures; on `commit` each picture is renamed into the
/// target directory. Each picture appears complete, but the sequence as a whole does not appear at once, and
/// pictures of an earlier run with the same names are replaced.
private struct Temporary {
    /// The temporary file or directory.
    let path: String
    /// The final file (video) or directory (pictures).
    let destination: String
    let isDirectory: Bool

    /// Creates `.<name>.<pid>.<random>.tmp` beside `path` with O_EXCL (retrying on the unlikely clash) and
    /// closes it; the muxer reopens it by name (MP4 faststart also re-reads it by name).
    static func file(for path: String) throws -> Temporary {
        let (temporary, fd) = try AtomicFile.createTemporary(beside: path)
        close(fd)
        return Temporary(path: temporary, destination: path, isDirectory: false)
    }

    /// Creates the hidden directory `.streamd-frames.<pid>.<random>.tmp` inside `directory` (mkdir is exclusive).
    static func directory(for directory: String, path: String) throws -> Temporary {
        var temporary = ""
        var made = false
        for _ in 0..<8 {
            temporary = "\(directory)/.streamd-frames.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
            made = mkdir(temporary, 0o755) == 0
            if made || errno != EEXIST { break }
        }
        guard made else {
            throw MediaError(.unwritable, path: path, "cannot create a directory in \(directory): \(AtomicFile.systemError(errno))")
        }
        return Temporary(path: temporary, destination: directory, isDirectory: true)
    }

    /// Moves the output into place; on failure the caller removes what is left.
    func commit() throws {
        guard isDirectory else {
            guard rename(path, destination) == 0 else {
                let code = errno
                if code == EISDIR || code == ENOTEMPTY || code == EEXIST {
                    throw MediaError(.unwritable, path: destination, "is a directory")
                }
                throw MediaError(.unwritable, path: destination,
                                 "cannot move the finished video into place: \(AtomicFile.systemError(code))")
            }
            return
        }
        for name in entries().sorted() {
            guard rename(path + "/" + name, destination + "/" + name) == 0 else {
                throw MediaError(.unwritable, path: destination + "/" + name,
                                 "cannot move the picture into place: \(AtomicFile.systemError(errno))")
            }
        }
        rmdir(path)
    }

    /// Deletes the temporary file, or the temporary directory and the pictures in it.
    func remove() {
        if isDirectory {
            for name in entries() { unlink(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// The names in the temporary directory, without "." and "..".
    private func entries() -> [String] {
        guard let handle = opendir(path) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// Whether the encoder has a private option `name` (looked up on its class, no instance needed).
private func hasPrivateOption(_ codec: UnsafePointer<AVCodec>, _ name: String) -> Bool {
    guard var privateClass = codec.pointee.priv_class else { return false }
    return withUnsafeMutablePointer(to: &privateClass) { pointer in
        av_opt_find(UnsafeMutableRawPointer(pointer), name, nil, 0, AV_OPT_SEARCH_FAKE_OBJ) != nil
    }
}

private func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}
