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
    private let decoder: VideoDecoder
    /// Frames before this pts are decoded (the decoder needs them) but not returned: after a seek.
    private var dropBefore: Int64?
    /// Frames at or after this pts end the stream: `duration`.
    private var stopAt: Int64?

    private var sequence = 0
    /// The end of the stream has been looked at (the truncation check, the warning of a stream too damaged).
    private var endReported = false
    private var lastEnd: Int64?
    private var suppressedWarnings = 0
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
        let result = avformat_find_stream_info(format, nil)
        guard result >= 0 else {
            throw MediaError(.unsupportedFormat, path: path, "cannot read stream information (\(ffmpegErrorText(result)))",
                             detail: "avformat_find_stream_info returned \(result)")
        }
        // Frame threads: each thread decodes a whole frame, which is what every codec here supports and what
        // keeps output order; slice threading helps only streams encoded with many slices.
        let decoder = try VideoDecoder(format: format, source: path, threads: options.threadCount, frameThreads: true,
                                       autorotate: options.autorotate)
        self.input = input
        self.decoder = decoder
        let stream = decoder.stream, orientation = decoder.orientation
        let nopts = streamd_nopts_value()
        let par = stream.pointee.codecpar.pointee
        let codedWidth = Int(par.width), codedHeight = Int(par.height)
        let display = orientation.displaySize(width: codedWidth, height: codedHeight)
        let rate = decoder.frameRate
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
        let streams = VideoDecoder.streamSummaries(format)
        info = VideoInfo(
            streamIndex: Int(decoder.streamIndex), codecName: decoder.codecName,
            codedWidth: codedWidth, codedHeight: codedHeight,
            displayWidth: display.width, displayHeight: display.height,
            rotation: orientation.rotation, mirrored: orientation.mirrored,
            frameRate: Rational(Int(rate.num), Int(rate.den)), timeBase: tb,
            durationSeconds: durationSeconds, estimatedFrameCount: estimated,
            pixelFormat: name(av_get_pix_fmt_name(AVPixelFormat(rawValue: par.format))),
            colorRange: name(av_color_range_name(par.color_range)),
            colorSpace: name(av_color_space_name(par.color_space)),
            hasAudio: streams.contains { $0.kind == .audio }, streams: streams)

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
            let from = dropBefore ?? decoder.streamStart
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
        guard let picture = try decoder.next(from: self, pool: pool) else {
            reportEnd()
            return nil
        }
        defer { sequence += 1 }
        return VideoFrame(sequence: sequence, pts: picture.pts, timeBase: info.timeBase, duration: picture.duration, image: picture.image)
    }

    /// Restarts decoding at `seconds` from the start of the file: the demuxer jumps to the key frame at or
    /// before it, and frames before it are decoded but not returned, so the first frame returned is the one
    /// showing at `seconds`. Sequence numbers continue; a `duration` window set at open is not moved.
    ///
    /// - Throws: `MediaError` if the container cannot seek.
    public func seek(to seconds: Double) throws {
        let target = decoder.streamStart + self.seconds(toPTS: max(0, seconds))
        let result = avformat_seek_file(input.context, decoder.streamIndex, Int64.min, target, target, AVSEEK_FLAG_BACKWARD)
        guard result >= 0 else {
            throw MediaError(.decodeFailed, path: path, "cannot seek to \(seconds) s (\(ffmpegErrorText(result)))",
                             detail: "avformat_seek_file returned \(result)")
        }
        decoder.flush()
        endReported = false
        dropBefore = target
    }

    // MARK: - End and damage

    /// Once per end: unless a `duration` window ended it, checks whether the file ended before the length its
    /// header announced, which is how a truncated file looks once the demuxer has returned what it has.
    private func reportEnd() {
        guard !endReported, let end = decoder.end else { return }
        endReported = true
        switch end {
        case .window:
            return
        case .tooDamaged:
            warn("too many decode errors in a row, stopping")
            return
        case .stream:
            break
        }
        guard stopAt == nil, let expected = info.durationSeconds else { return }
        let frameSeconds = info.frameRate.numerator > 0 ? 1 / info.frameRate.doubleValue : 0.04
        let slack = max(0.25, 3 * frameSeconds)
        let reached = lastEnd.map { Double($0 - decoder.streamStart) * info.timeBase.doubleValue } ?? 0
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

    private func seconds(toPTS seconds: Double) -> Int64 {
        let timeBase = decoder.timeBase
        guard timeBase.num > 0 else { return 0 }
        return Int64((seconds * Double(timeBase.den) / Double(timeBase.num)).rounded())
    }

    // MARK: - Opening

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

extension VideoReader: PacketSource {
    func readPacket(into packet: UnsafeMutablePointer<AVPacket>) throws -> PacketRead {
        let read = av_read_frame(input.context, packet)
        guard read < 0 else { return .packet }
        if read != streamd_averror_eof() { warn("read error, stopping early: \(ffmpegErrorText(read))") }
        return .endOfInput
    }

    /// Skips frames before a seek target and ends at the `duration` window.
    func verdict(pts: Int64?, duration: Int64?) -> PictureVerdict {
        guard let pts else { return .keep }
        // Half a frame of slack, so a target that falls inside a frame keeps that frame.
        let half = (duration ?? 0) / 2
        // Skipped frames count for the truncation check too: they were in the file.
        lastEnd = pts + (duration ?? 0)
        if let dropBefore, pts + half < dropBefore { return .skip }
        if let stopAt, pts >= stopAt { return .end }
        return .keep
    }

    func damaged(_ what: String) { warn(what) }
}
