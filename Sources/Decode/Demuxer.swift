package import CFFmpeg
import FFmpegSupport
public import Pipeline

/// One stream of a demuxed file, with a copy of its codec parameters, so a muxer can take the stream over
/// unchanged (audio passthrough) after the demuxer is gone.
public final class MediaStream: @unchecked Sendable {
    public let index: Int
    public let kind: MediaKind
    /// FFmpeg's codec name ("aac", "mp3"), "none" when FFmpeg does not know the codec.
    public let codecName: String
    /// The time base of the stream's packet timestamps.
    public let timeBase: Rational
    /// Audio only: samples per second and channel count (0 for other kinds).
    public let sampleRate: Int
    public let channels: Int
    /// The stream's tags (`language`, `title`, `handler_name`…).
    public let metadata: [String: String]
    /// For the encode side (same package): the parameters to copy into an output stream. Never mutated after
    /// init, which is what makes sharing the class across threads safe.
    package let codecParameters: UnsafePointer<AVCodecParameters>
    private let owner: CodecParameters

    init?(stream: UnsafeMutablePointer<AVStream>) {
        guard let par = stream.pointee.codecpar, let owner = CodecParameters(copying: par) else { return nil }
        self.owner = owner
        codecParameters = UnsafePointer(owner.parameters)
        index = Int(stream.pointee.index)
        kind = MediaKind(par.pointee.codec_type)
        codecName = avcodec_get_name(par.pointee.codec_id).map { String(cString: $0) } ?? "none"
        timeBase = Rational(Int(stream.pointee.time_base.num), Int(stream.pointee.time_base.den))
        sampleRate = par.pointee.codec_type == AVMEDIA_TYPE_AUDIO ? Int(par.pointee.sample_rate) : 0
        channels = par.pointee.codec_type == AVMEDIA_TYPE_AUDIO ? Int(par.pointee.ch_layout.nb_channels) : 0
        metadata = dictionaryEntries(stream.pointee.metadata)
    }
}

/// One compressed packet as the container stored it. It owns its `AVPacket` (whose payload is reference
/// counted by FFmpeg, so nothing is copied) and frees it in `deinit`. Moved from the demuxer to one
/// consumer, never shared: `@unchecked Sendable` only so it can cross a queue.
public final class MediaPacket: @unchecked Sendable {
    private let owner: Packet
    public let streamIndex: Int
    /// Timestamps in the stream's time base; nil when the container gave none.
    public let pts: Int64?
    public let dts: Int64?
    /// In the stream's time base; 0 when unknown.
    public let duration: Int64
    public let isKeyframe: Bool
    /// The demuxer found the packet incomplete (a cut file).
    public let isCorrupt: Bool
    /// Payload size in bytes.
    public let size: Int

    /// For the encode side (same package): the packet to hand to `av_interleaved_write_frame` after
    /// rescaling its timestamps. The muxer takes the payload reference, so use it once.
    package var avPacket: UnsafeMutablePointer<AVPacket> { owner.packet }

    init(owning packet: Packet) {
        owner = packet
        let p = packet.packet.pointee
        let nopts = streamd_nopts_value()
        streamIndex = Int(p.stream_index)
        pts = p.pts != nopts ? p.pts : nil
        dts = p.dts != nopts ? p.dts : nil
        duration = p.duration
        isKeyframe = p.flags & AV_PKT_FLAG_KEY != 0
        isCorrupt = p.flags & AV_PKT_FLAG_CORRUPT != 0
        size = Int(p.size)
    }
}

/// Packet-level access to a file: every stream's packets in file order, undecoded, for passthrough of the
/// streams that are not stylized (audio). `VideoReader` is the decoding path and skips these streams; a
/// pipeline that keeps the audio runs a `Demuxer` over the same file beside it and keeps the audio packets.
///
/// Blocking, one owner at a time, like `VideoReader`.
public final class Demuxer: @unchecked Sendable {
    public let path: String
    public let streams: [MediaStream]
    /// Length of the file in seconds, when the container says.
    public let durationSeconds: Double?
    /// The container's tags (`title`, `artist`, `comment`, `creation_time`…).
    public let metadata: [String: String]
    private let input: InputContext
    /// By stream index: whether `readPacket` returns the stream's packets.
    private let kept: [Bool]

    /// Opens `path`. `keep` selects the streams whose packets `readPacket` returns (by kind, e.g. ["audio"]);
    /// the others are marked for the demuxer to discard and filtered out. nil keeps all.
    ///
    /// - Throws: `MediaError` naming `path`: `.fileNotFound`, `.unreadable`, `.unsupportedFormat`.
    public init(path: String, keep kinds: Set<MediaKind>? = nil) throws {
        self.path = path
        try VideoReader.checkInputFile(path)
        do {
            input = try InputContext(url: "file:" + path)
        } catch {
            throw VideoReader.openError(path: path, error)
        }
        let format = input.context
        let result = avformat_find_stream_info(format, nil)
        guard result >= 0 else {
            throw MediaError(.unsupportedFormat, path: path, "cannot read stream information (\(ffmpegErrorText(result)))",
                             detail: "avformat_find_stream_info returned \(result)")
        }
        var streams: [MediaStream] = []
        var kept: [Bool] = []
        for i in 0..<Int(format.pointee.nb_streams) {
            guard let stream = format.pointee.streams[i], let described = MediaStream(stream: stream) else {
                throw MediaError(.decodeFailed, path: path, "out of memory", detail: "avcodec_parameters_copy failed")
            }
            let keep = kinds.map { $0.contains(described.kind) } ?? true
            if !keep { stream.pointee.discard = AVDISCARD_ALL }
            kept.append(keep)
            streams.append(described)
        }
        self.streams = streams
        self.kept = kept
        metadata = dictionaryEntries(format.pointee.metadata)
        let duration = format.pointee.duration
        durationSeconds = duration != streamd_nopts_value() && duration > 0 ? Double(duration) / Double(AV_TIME_BASE) : nil
    }

    /// Jumps to the key frame at or before `seconds` from the start of the file, for every stream, so that
    /// `readPacket` continues from there (packets before `seconds` may still come; the caller drops them).
    ///
    /// - Throws: `MediaError` if the container cannot seek.
    public func seek(to seconds: Double) throws {
        let format = input.context
        let start = format.pointee.start_time != streamd_nopts_value() ? format.pointee.start_time : 0
        let target = start + Int64((max(0, seconds) * Double(AV_TIME_BASE)).rounded())
        let result = avformat_seek_file(format, -1, Int64.min, target, target, AVSEEK_FLAG_BACKWARD)
        guard result >= 0 else {
            throw MediaError(.decodeFailed, path: path, "cannot seek to \(seconds) s (\(ffmpegErrorText(result)))",
                             detail: "avformat_seek_file returned \(result)")
        }
    }

    /// The next packet of a kept stream in file order, or nil at the end of the file.
    ///
    /// - Throws: `MediaError` for a read error other than the end of the file (an I/O error, or damage the
    ///   demuxer cannot step over).
    public func readPacket() throws -> MediaPacket? {
        guard let packet = Packet() else {
            throw MediaError(.decodeFailed, path: path, "out of memory", detail: "av_packet_alloc failed")
        }
        while true {
            let result = av_read_frame(input.context, packet.packet)
            if result == streamd_averror_eof() { return nil }
            guard result >= 0 else {
                throw MediaError(.decodeFailed, path: path, "read error: \(ffmpegErrorText(result))",
                                 detail: "av_read_frame returned \(result)")
            }
            // `discard` is a request: the AVI and MP4 demuxers of FFmpeg 5.1 still return some packets of
            // discarded streams (measured: 41 video packets from face_mpeg4_960x400.avi), so filter here too.
            let index = Int(packet.packet.pointee.stream_index)
            if kept.indices.contains(index), kept[index] { return MediaPacket(owning: packet) }
            av_packet_unref(packet.packet)
        }
    }
}

/// The entries of an `AVDictionary` (nil: none).
func dictionaryEntries(_ dictionary: OpaquePointer?) -> [String: String] {
    var entries: [String: String] = [:]
    var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
    while let next = av_dict_get(dictionary, "", entry, AV_DICT_IGNORE_SUFFIX) {
        entries[String(cString: next.pointee.key)] = String(cString: next.pointee.value)
        entry = next
    }
    return entries
}
