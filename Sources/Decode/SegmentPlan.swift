public import Pipeline
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a video is cut into segments that separate processes (or machines) transcode in parallel, derived from
/// the file alone so that every worker that reads the same input derives the same plan.
///
/// Boundaries are presentation times of frames of the video stream that `VideoReader` decodes: near each of the
/// N−1 even cuts of the video's length, the nearest key frame within half a segment (a segment then starts
/// where the input can be decoded from, and scene cuts, where encoders put key frames, are where smoothing
/// starts over anyway), else the nearest frame. Segment i holds the frames whose timestamps fall in
/// [start, end); the first segment has no lower bound and the last no upper one, so every frame belongs to
/// exactly one segment. Reading the packets' timestamps costs no decoding.
public struct SegmentPlan: Sendable, Equatable, Codable {
    public struct Segment: Sendable, Equatable, Codable {
        public var index: Int
        /// Presentation timestamps in `timeBase`: the first frame of the segment, and the first frame after it
        /// (nil: to the end).
        public var start: Int64?
        public var end: Int64?
        /// The number of frames in it.
        public var frames: Int
    }

    public let timeBase: Rational
    /// The usual distance between frames (the median), in `timeBase`: the length of a frame whose packet gives none.
    public let frameDuration: Int64
    public let segments: [Segment]
    /// The first frame's timestamp.
    public let firstPTS: Int64
    /// The video's stream index, the one `VideoReader` decodes.
    public let streamIndex: Int
    /// Identifies the input's video (its frame count, stream, time base, first and last timestamps): a segment
    /// records it, and a join refuses segments of another input.
    public let fingerprint: String
    /// The input's size in bytes when the plan was made: a plan file read later (`load`) is checked against it.
    public let inputBytes: Int64

    public var count: Int { segments.count }

    /// How many segments: a number, or as many as segments of about a length (in seconds) make.
    public enum Division: Sendable {
        case count(Int)
        case length(seconds: Double)
    }

    /// The plan of `count` segments of the video at `path`.
    ///
    /// - Throws: `MediaError` naming `path` when it cannot be read or has fewer frames than segments.
    public init(path: String, count: Int) throws {
        try self.init(path: path, division: .count(count))
    }

    /// The plan of the video at `path` cut as `division` says; for `.length`, the video's length divided by it,
    /// rounded up (at most one segment per frame).
    public init(path: String, division: Division) throws {
        if case .count(let count) = division, count < 1 {
            throw MediaError(.invalidArgument, path: path, "the segment count must be at least 1, got \(count)")
        }
        if case .length(let seconds) = division, !(seconds > 0) {
            throw MediaError(.invalidArgument, path: path, "the segment length must be a positive number of seconds, got \(seconds)")
        }
        let info = try VideoReader(path: path).info
        let demuxer = try Demuxer(path: path, keep: [.video])
        var frames: [(pts: Int64, key: Bool)] = []
        var lastDuration: Int64 = 0
        while let packet = try demuxer.readPacket() {
            guard packet.streamIndex == info.streamIndex, let pts = packet.pts ?? packet.dts else { continue }
            frames.append((pts, packet.isKeyframe))
            lastDuration = packet.duration
        }
        frames.sort { $0.pts < $1.pts }
        guard !frames.isEmpty else { throw MediaError(.invalidArgument, path: path, "has no video frames to plan") }
        let count: Int
        switch division {
        case .count(let n): count = n
        case .length(let seconds):
            let span = Double(frames.last!.pts + max(lastDuration, 1) - frames.first!.pts) * info.timeBase.doubleValue
            count = min(frames.count, max(1, Int((span / seconds).rounded(.up))))
        }
        guard frames.count >= count else {
            throw MediaError(.invalidArgument, path: path, "has \(frames.count) frames, too few for \(count) segments")
        }
        let first = frames.first!.pts, last = frames.last!.pts
        let length = Double(last + max(lastDuration, 1) - first)
        var cuts: [Int] = []   // indices into `frames` where segments 1…count−1 start
        for k in 1..<count {
            let target = Double(first) + length * Double(k) / Double(count)
            let nearest = Self.nearest(frames.indices, to: target, in: frames)
            let keys = frames.indices.filter { frames[$0].key && abs(Double(frames[$0].pts) - target) <= length / Double(count) / 2 }
            var cut = keys.isEmpty ? nearest : Self.nearest(keys, to: target, in: frames)
            // Strictly after the previous cut, and leaving a frame for every segment still to come.
            cut = min(max(cut, (cuts.last ?? 0) + 1), frames.count - (count - k))
            cuts.append(cut)
        }
        let bounds = [0] + cuts + [frames.count]
        segments = (0..<count).map { i in
            Segment(index: i, start: i == 0 ? nil : frames[bounds[i]].pts, end: i == count - 1 ? nil : frames[bounds[i + 1]].pts,
                    frames: bounds[i + 1] - bounds[i])
        }
        timeBase = info.timeBase
        firstPTS = first
        let steps = zip(frames.dropFirst(), frames).map { $0.pts - $1.pts }.sorted()
        frameDuration = steps.isEmpty ? max(lastDuration, 1) : max(steps[steps.count / 2], 1)
        streamIndex = info.streamIndex
        fingerprint = "\(frames.count) frames, stream \(info.streamIndex), time base \(info.timeBase), \(first)…\(last)"
        inputBytes = Self.size(of: path)
    }

    private static func nearest(_ candidates: some Sequence<Int>, to target: Double, in frames: [(pts: Int64, key: Bool)]) -> Int {
        candidates.min { abs(Double(frames[$0].pts) - target) < abs(Double(frames[$1].pts) - target) }!
    }

    private static func size(of path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : -1
    }

    /// A plan written by `streamd plan` (JSON), for the input at `input`: the workers and the join then need not
    /// read the input's packets to derive it.
    ///
    /// - Throws: `MediaError` naming the plan file: unreadable, not a plan, or made for another input (its size
    ///   differs), or of another count than `count` when one is given.
    public static func load(_ path: String, input: String, count: Int? = nil) throws -> SegmentPlan {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MediaError(.fileNotFound, path: path, "cannot read the segment plan")
        }
        let plan: SegmentPlan
        do { plan = try JSONDecoder().decode(SegmentPlan.self, from: data) } catch {
            throw MediaError(.invalidArgument, path: path, "is not a segment plan written by `streamd plan`")
        }
        let bytes = size(of: input)
        guard bytes == plan.inputBytes else {
            throw MediaError(.invalidArgument, path: path, "was made for another input (\(plan.inputBytes) bytes; \(input) has \(bytes))")
        }
        if let count, count != plan.count {
            throw MediaError(.invalidArgument, path: path, "has \(plan.count) segments, not \(count)")
        }
        return plan
    }

    /// The plan as JSON, for `load`.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return [UInt8](try encoder.encode(self))
    }

    /// Whether the frame at `pts` belongs to `segment`.
    public func contains(_ segment: Segment, pts: Int64) -> Bool {
        (segment.start.map { pts >= $0 } ?? true) && (segment.end.map { pts < $0 } ?? true)
    }

    /// Seconds from the start of the stream's time line (`timeBase`) of `pts`.
    public func seconds(_ pts: Int64) -> Double { Double(pts) * timeBase.doubleValue }

    /// "I/N" as `transcode --segment` takes it: the index from 0 and the count, checked.
    public static func parse(_ text: String) throws -> (index: Int, count: Int) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw SegmentSpecError(description: "segment '\(text)' must be INDEX/COUNT, such as 0/4")
        }
        guard n >= 1 else { throw SegmentSpecError(description: "segment '\(text)': the count must be at least 1") }
        guard (0..<n).contains(i) else {
            throw SegmentSpecError(description: "segment '\(text)': the index must be from 0 to \(n - 1)")
        }
        return (i, n)
    }
}

/// A malformed `INDEX/COUNT`.
public struct SegmentSpecError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
