import CFFmpeg
public import Decode
import FFmpegSupport
import Pipeline

#if canImport(Glibc)
import Glibc
#endif

/// The container tags a segment file carries, so that a join can tell its index and its input.
public enum SegmentTags {
    /// "INDEX/COUNT". (Upper case: Matroska's convention, which its muxer applies to every tag anyway.)
    public static let segment = "STREAMD_SEGMENT"
    /// `SegmentPlan.fingerprint` of the input.
    public static let source = "STREAMD_SOURCE"
}

/// What a join wrote.
public struct JoinReport: Sendable, Equatable {
    public var frames: Int
    /// From the first frame's start to the last one's end.
    public var seconds: Double
    /// One line for each stream of the input left out (as a transcode would warn).
    public var warnings: [String]
}

/// Joins the segments of a segment-parallel transcode into the final file: the video packets copied from the
/// segments in order (no re-encoding, so no seam can come from the join itself), the audio, subtitles and
/// container tags taken once from the input over the whole span (so there is no gap or priming at the joins),
/// exactly as a one-process transcode carries them. Every segment of the plan must be there once, of this
/// input, with the frames the plan gives it and the same coding; each starts where the one before it ended. The
/// output appears complete or not at all (a temporary file renamed into place).
public enum SegmentJoin {
    /// - Throws: `MediaError` naming the segment or the output: a segment missing, twice, of another input or
    ///   plan, coded differently, with frames missing or out of place; the output not writable.
    public static func join(input: String, output: String, segments paths: [String], plan: SegmentPlan) throws -> JoinReport {
        let ext = ImageEncoder.fileExtension(of: output)
        guard let container = VideoEncodeSettings.Container(extension: ext), container != .pngSequence else {
            throw MediaError(.unsupportedFormat, path: output, "cannot write video with extension '.\(ext)' (use .mp4, .mov, .mkv, .webm or .avi)")
        }
        let segments = try ordered(paths, plan: plan)
        let (temporary, fd) = try AtomicFile.createTemporary(beside: output)
        close(fd)
        var committed = false
        defer { if !committed { unlink(temporary) } }
        let report = try write(segments, input: input, to: temporary, container: container, plan: plan, output: output)
        guard rename(temporary, output) == 0 else {
            throw MediaError(.unwritable, path: output, "cannot move the joined video into place: \(AtomicFile.systemError(errno))")
        }
        committed = true
        return report
    }

    /// The segments in plan order, each opened, every index present exactly once.
    private static func ordered(_ paths: [String], plan: SegmentPlan) throws -> [(path: String, demuxer: Demuxer, stream: MediaStream)] {
        var byIndex: [Int: (path: String, demuxer: Demuxer, stream: MediaStream)] = [:]
        for path in paths {
            let demuxer = try Demuxer(path: path, keep: [.video])
            guard let source = demuxer.metadata[SegmentTags.source], let tag = demuxer.metadata[SegmentTags.segment],
                  let spec = try? SegmentPlan.parse(tag) else {
                throw MediaError(.invalidArgument, path: path, "is not a segment written by `streamd transcode --segment`")
            }
            guard source == plan.fingerprint else {
                throw MediaError(.invalidArgument, path: path, "is a segment of another input (\(source)), not of this one (\(plan.fingerprint))")
            }
            guard spec.count == plan.count else {
                throw MediaError(.invalidArgument, path: path, "is segment \(tag) of a plan of \(spec.count), not of \(plan.count)")
            }
            if let other = byIndex[spec.index] {
                throw MediaError(.invalidArgument, path: path, "is segment \(tag) again (also \(other.path))")
            }
            let videos = demuxer.streams.filter { $0.kind == .video }
            guard videos.count == 1, let stream = videos.first else {
                throw MediaError(.invalidArgument, path: path, "has \(videos.count) video streams, a segment has one")
            }
            byIndex[spec.index] = (path, demuxer, stream)
        }
        let missing = (0..<plan.count).filter { byIndex[$0] == nil }
        guard missing.isEmpty else {
            let names = missing.map { "\($0)/\(plan.count)" }.joined(separator: ", ")
            throw MediaError(.invalidArgument, path: paths.first ?? "", "segment\(missing.count > 1 ? "s" : "") \(names) \(missing.count > 1 ? "are" : "is") missing")
        }
        let segments = (0..<plan.count).map { byIndex[$0]! }
        let first = segments[0].stream.codecParameters.pointee
        for segment in segments.dropFirst() {
            let p = segment.stream.codecParameters.pointee
            guard p.codec_id == first.codec_id, p.width == first.width, p.height == first.height, p.format == first.format else {
                throw MediaError(.invalidArgument, path: segment.path,
                                 "is coded as \(segment.stream.codecName) \(p.width)x\(p.height), the first segment as \(segments[0].stream.codecName) \(first.width)x\(first.height)")
            }
        }
        return segments
    }

    private static func write(_ segments: [(path: String, demuxer: Demuxer, stream: MediaStream)], input: String, to url: String,
                              container: VideoEncodeSettings.Container, plan: SegmentPlan, output path: String) throws -> JoinReport {
        let output: OutputFormatContext
        do { output = try OutputFormatContext(formatName: container.muxerName, url: url) } catch {
            throw MediaError(.encodeFailed, path: path, "cannot set up the \(container.rawValue) muxer: \(error.text)")
        }
        let format = output.context
        guard let video = avformat_new_stream(format, nil), avcodec_parameters_copy(video.pointee.codecpar, segments[0].stream.codecParameters) >= 0 else {
            throw MediaError(.encodeFailed, path: path, "out of memory adding the video stream")
        }
        video.pointee.codecpar.pointee.codec_tag = 0
        // Timestamps in the input's own time base (the plan's): a segment's container may count in another
        // (Matroska in milliseconds), and the one-process transcode keeps the input's.
        let planBase = AVRational(num: Int32(clamping: plan.timeBase.numerator), den: Int32(clamping: plan.timeBase.denominator))
        video.pointee.time_base = planBase
        // The input's tags and its audio and subtitles, once, as a one-process transcode carries them.
        let passthrough: StreamPassthrough?
        do {
            let demuxer = try Demuxer(path: input, keep: [.audio, .subtitle])
            for (key, value) in demuxer.metadata.sorted(by: { $0.key < $1.key }) where !VideoWriter.staleTags.contains(key) {
                av_dict_set(&format.pointee.metadata, key, value, 0)
            }
            let carried = try StreamPassthrough(demuxer: demuxer, output: format, container: container, path: path)
            passthrough = carried.isEmpty ? nil : carried
        }
        if format.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
            let opened = avio_open(&format.pointee.pb, url, AVIO_FLAG_WRITE)
            guard opened >= 0 else { throw MediaError(.unwritable, path: path, "cannot open a file for writing: \(ffmpegErrorText(opened))") }
        }
        let headerOptions = OptionDictionary()
        if container.supportsFaststart { headerOptions.set("movflags", "+faststart") }
        var result = avformat_write_header(format, &headerOptions.pointer)
        guard result >= 0 else { throw MediaError(.encodeFailed, path: path, "cannot write the \(container.rawValue) header: \(ffmpegErrorText(result))") }

        let tick = plan.timeBase.doubleValue
        var frames = 0, lastDTS: Int64?, videoStart: Double?, videoEnd = 0.0
        for (k, segment) in segments.enumerated() {
            let planned = plan.segments[k]
            var count = 0, firstPTS: Int64?
            let base = AVRational(num: Int32(clamping: segment.stream.timeBase.numerator), den: Int32(clamping: segment.stream.timeBase.denominator))
            while let packet = try segment.demuxer.readPacket() {
                guard packet.streamIndex == segment.stream.index else { continue }
                guard let segmentPTS = packet.pts else {
                    throw MediaError(.invalidArgument, path: segment.path, "packet \(count) has no timestamp")
                }
                let pkt = packet.avPacket
                av_packet_rescale_ts(pkt, base, planBase)
                let pts = av_rescale_q(segmentPTS, base, planBase)
                guard plan.contains(planned, pts: pts) else {
                    throw MediaError(.invalidArgument, path: segment.path,
                                     "has a frame at \(rounded(Double(pts) * tick)) s, outside its part of the plan")
                }
                if firstPTS == nil {
                    firstPTS = pts
                    // Each segment begins at its first frame of the plan, where the one before ended: with its
                    // frame count checked below, no frame is missing or doubled at a join.
                    if let start = planned.start, pts != start {
                        throw MediaError(.invalidArgument, path: segment.path,
                                         "starts at \(rounded(Double(pts) * tick)) s, the plan at \(rounded(Double(start) * tick)) s: frames are missing at the join")
                    }
                }
                count += 1
                let duration = pkt.pointee.duration > 0 ? pkt.pointee.duration : plan.frameDuration
                let start = Double(pts) * tick
                videoStart = videoStart ?? start
                videoEnd = max(videoEnd, Double(pts + duration) * tick)
                try passthrough?.write(until: videoEnd, videoStart: videoStart!, shift: 0, to: format)
                // Segments are coded without B-frames (decode order is presentation order): decode times only
                // need to rise across the joins.
                if let lastDTS, pkt.pointee.dts != streamd_nopts_value(), pkt.pointee.dts <= lastDTS { pkt.pointee.dts = lastDTS + 1 }
                if pkt.pointee.dts != streamd_nopts_value(), pkt.pointee.dts > pts { pkt.pointee.dts = pts }
                lastDTS = pkt.pointee.dts
                pkt.pointee.stream_index = video.pointee.index
                pkt.pointee.pos = -1
                av_packet_rescale_ts(pkt, planBase, video.pointee.time_base)
                result = av_interleaved_write_frame(format, pkt)
                guard result >= 0 else { throw MediaError(.unwritable, path: path, "cannot write: \(ffmpegErrorText(result))") }
            }
            guard count == planned.frames else {
                throw MediaError(.invalidArgument, path: segment.path, "has \(count) frames, the plan gives segment \(k)/\(plan.count) \(planned.frames)")
            }
            frames += count
        }
        try passthrough?.finish(at: videoEnd, output: format)
        result = av_write_trailer(format)
        guard result >= 0 else { throw MediaError(.unwritable, path: path, "cannot finish the file: \(ffmpegErrorText(result))") }
        let closed = output.closeFile()
        guard closed >= 0 else { throw MediaError(.unwritable, path: path, "cannot finish writing: \(ffmpegErrorText(closed))") }
        return JoinReport(frames: frames, seconds: videoEnd - (videoStart ?? 0), warnings: passthrough?.warnings ?? [])
    }

    private static func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
}
