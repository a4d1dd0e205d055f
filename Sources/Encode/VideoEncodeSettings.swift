public import Pipeline

/// How to encode and mux a video file: everything `VideoWriter` needs before the first frame arrives.
///
/// Only `width`, `height` and `frameRate` are required; every other field has a default that gives a playable,
/// good-looking file (H.264 CRF 23 in MP4, VP9 CRF 31 in WebM, MPEG-4 Part 2 at quantiser 3 in AVI).
public struct VideoEncodeSettings: Sendable, Equatable {
    /// The container, chosen from the output file's extension.
    public enum Container: String, Sendable, CaseIterable {
        case mp4, mov, mkv, webm, avi
        /// One PNG file per frame (FFmpeg's image2 muxer), for a path that is a directory (`%06d.png` inside
        /// it) or a file name with a printf-style frame number (`frames/f_%04d.png`). Numbering starts at 1,
        /// as with `ffmpeg -i in.mp4 %06d.png`. Timestamps are not stored.
        case pngSequence

        /// The container an extension names (case-insensitive), or nil.
        public init?(extension ext: String) {
            switch ext.lowercased() {
            case "mp4", "m4v": self = .mp4
            case "mov": self = .mov
            case "mkv": self = .mkv
            case "webm": self = .webm
            case "avi": self = .avi
            default: return nil   // .png alone is a sequence only with a pattern or a directory: VideoWriter decides
            }
        }

        /// FFmpeg's muxer name.
        var muxerName: String {
            switch self {
            case .mp4: "mp4"
            case .mov: "mov"
            case .mkv: "matroska"
            case .webm: "webm"
            case .avi: "avi"
            case .pngSequence: "image2"
            }
        }

        /// The encoder used when the settings name none: H.264 plays everywhere; WebM only allows VP8/VP9/AV1;
        /// AVI players expect MPEG-4 Part 2 far more than H.264 (which AVI carries badly, with no B-frame pts).
        public var defaultCodec: String {
            switch self {
            case .mp4, .mov, .mkv: "libx264"
            case .webm: "libvpx-vp9"
            case .avi: "mpeg4"
            case .pngSequence: "png"
            }
        }

        /// MP4 and MOV keep their index (`moov`) in a separate atom that can go first.
        var supportsFaststart: Bool { self == .mp4 || self == .mov }

        /// Limited-range 4:2:0 for video, which every player decodes; RGB for PNG, which is lossless.
        public var defaultPixelFormat: String { self == .pngSequence ? "rgb24" : "yuv420p" }
    }

    /// What to do when the picture has an odd width or height and the pixel format subsamples chroma (4:2:0
    /// needs both even, 4:2:2 an even width): the codecs cannot code half a chroma sample.
    public enum OddSizePolicy: String, Sendable {
        /// Repeat the last column and/or row so the coded picture is even (161×97 becomes 162×98). The
        /// default: the picture stays intact and 4:2:0 stays playable everywhere; the file is one pixel
        /// larger than the input, which is what ffmpeg users get with `pad=ceil(iw/2)*2:ceil(ih/2)*2`.
        case pad
        /// Throw `invalidArgument` in `init`, for callers that must keep the exact size and format.
        case refuse
        /// Switch to full-resolution chroma (yuv444p), keeping the exact size. Fewer players decode it
        /// (H.264 High 4:4:4 Predictive, VP9 profile 1).
        case fullChroma
    }

    /// The input picture size; every frame given to `write` must have this size.
    public var width: Int
    public var height: Int
    /// The nominal frame rate: stored as the stream's average rate and used for frames without a pts or
    /// duration. Timestamps themselves come from the frames (variable frame rate is kept).
    public var frameRate: Rational
    /// The time base the frames' pts are in when they arrive (usually the decoder's stream time base).
    /// Frames carrying another time base are rescaled from their own.
    public var timeBase: Rational
    /// FFmpeg encoder name (`libx264`, `libx265`, `libvpx-vp9`, `libaom-av1`, `libsvtav1`, `mpeg4`, …);
    /// nil means the container's default.
    public var codec: String?
    /// Constant-quality factor in the encoder's own scale (x264/x265 0...51, VP9/AV1 0...63). For encoders
    /// without CRF (mpeg4, mjpeg, mpeg2video) it maps linearly onto their fixed quantiser 1...31 as if it were
    /// on the 0...51 scale. nil: the encoder's default (CRF 23 for x264, 31 for VP9, quantiser 3 for mpeg4).
    public var crf: Int?
    /// Encoder speed preset (x264/x265 `ultrafast`…`veryslow`, SVT-AV1 `0`…`13`); for libvpx and libaom, a
    /// number sets `cpu-used`. nil: the encoder's default, except libvpx-vp9 which gets `cpu-used` 4 (its
    /// default, 1, is an order of magnitude slower with little gain for stylized video).
    public var preset: String?
    /// Target bit rate in bits per second. With `crf` on libvpx it becomes a cap (constrained quality).
    public var bitrate: Int?
    /// FFmpeg pixel format name of the coded picture; nil: the container's default (`yuv420p` for video —
    /// limited-range YUV is what players expect —, `rgb24` for PNG sequences).
    public var pixelFormat: String?
    public var oddSizePolicy: OddSizePolicy
    /// MP4/MOV only: move the index to the front after writing (one extra pass over the file) so playback
    /// over HTTP can start before the whole file is downloaded. Ignored for other containers.
    public var faststart: Bool
    /// Container metadata (`title`, `comment`, `artist`, `encoder`…). MP4/MOV keep only the keys the format
    /// knows (title, comment, artist, album, date, …) — the muxer drops the rest; Matroska keeps any key.
    public var metadata: [String: String]
    /// Encoder threads; 0 lets the encoder choose (one per core).
    public var threads: Int
    /// Further private encoder options by name (`tune` = `film`, `x264-params` = …, `row-mt` = `1`), applied
    /// last. An option the encoder does not know is an error naming it.
    public var codecOptions: [String: String]
    /// Shift every timestamp — the video's and the passthrough streams' alike — so the first frame is at 0.
    /// For a clip cut from the middle of a file (`--start`), which would otherwise begin with a gap.
    public var startsAtZero = false
    /// Tags of the video stream itself (`language`, `title`), e.g. the input video stream's.
    public var videoStreamMetadata: [String: String] = [:]

    public init(width: Int, height: Int, frameRate: Rational, timeBase: Rational? = nil, codec: String? = nil,
                crf: Int? = nil, preset: String? = nil, bitrate: Int? = nil, pixelFormat: String? = nil,
                oddSizePolicy: OddSizePolicy = .pad, faststart: Bool = true, metadata: [String: String] = [:],
                threads: Int = 0, codecOptions: [String: String] = [:]) {
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.timeBase = timeBase ?? Rational(frameRate.denominator, frameRate.numerator)
        self.codec = codec
        self.crf = crf
        self.preset = preset
        self.bitrate = bitrate
        self.pixelFormat = pixelFormat
        self.oddSizePolicy = oddSizePolicy
        self.faststart = faststart
        self.metadata = metadata
        self.threads = threads
        self.codecOptions = codecOptions
    }
}
