/// The daemon's configuration as typed values: what `streamd config check` validates and what the service
/// runs. Built by `ConfigLoader` from defaults, the YAML file, `STREAMD_SERVER_*` environment variables and
/// `--set KEY=VALUE` flags, in that order of precedence (later wins). Relative paths in the file are resolved
/// against the file's directory.
public struct ServeConfig: Sendable, Equatable {
    public var server: ServerConfig
    /// In the order of the file.
    public var pipelines: [PipelineConfig]
}

/// The HTTP API and process-wide settings (`server:`).
public struct ServerConfig: Sendable, Equatable {
    /// IP address the API listens on; loopback unless configured otherwise.
    public var listen = "127.0.0.1"
    public var port = 8480
    /// Bearer token for mutating endpoints, given inline (`token`) …
    public var token: String?
    /// … or read from a file at start-up and at every reload (`token_file`); the two are exclusive.
    public var tokenFile: String?
    /// Directories models are looked up in, first to last, and the only ones the API may read.
    public var modelDirs: [String] = []
    /// swift-log level name.
    public var logLevel = "info"
    /// A connection must deliver a complete request head this soon after it opens (or after the first byte of
    /// a later request on a kept-alive connection), or it is closed: a client dripping headers cannot hold it.
    public var headerTimeout: Duration = .seconds(10)
    /// A request's body must be complete this soon after its head, however steadily it trickles in.
    public var bodyTimeout: Duration = .seconds(30)
    /// A kept-alive connection with no request in progress is closed after this long.
    public var idleTimeout: Duration = .seconds(60)
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    public var maxConnections = 256
    /// Who may see the web page's data (pipelines, previews, models, thumbnails) without the token.
    public var ui = UIAccess.open
    /// Pictures `POST /v1/stylize` works on at once; more wait (up to `stylizeQueue`), beyond that 429.
    public var stylizeJobs = 1
    /// Requests to `POST /v1/stylize` that may wait for a free job slot before the next one gets 429.
    public var stylizeQueue = 2
    /// The largest upload `POST /v1/stylize` reads (413 beyond it).
    public var stylizeMaxBytes = 16 << 20
    /// WebRTC: the only addresses ICE offers as host candidates (empty: every interface).
    public var webrtcAddresses: [String] = []
    /// WebRTC players (WHEP) per pipeline at once.
    public var webrtcViewers = 4
    /// The WebRTC players' H.264 bitrate in kbit/s.
    public var webrtcBitrate = 1500

    /// `server.ui`: the web page at `/` and the read-only views it uses.
    public enum UIAccess: String, Sendable, CaseIterable {
        /// The page, status, previews, model list and thumbnails answer without a token (changes still need it).
        case open
        /// The page loads (it has nothing secret) but every view it reads needs the token, status included.
        case locked
        /// No page: `/` answers 404; the API behaves as without the page.
        case off
    }

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

/// One named pipeline: a source, a model and one or more outputs.
public struct PipelineConfig: Sendable, Equatable {
    public var name: String
    public var source: SourceConfig
    public var style: StyleConfig
    /// Stylize workers (frames in flight); nil means the number of cores.
    public var workers: Int?
    /// Compute threads per worker.
    public var threads = 1
    /// Frames older than this (source time to output) are dropped instead of building delay.
    public var maxLatency: Duration = .milliseconds(500)
    public var outputs: [OutputConfig]
}

/// Where frames come from: a URL or file FFmpeg opens, a V4L2 camera, or a WebRTC publisher (`url: "whip:"`,
/// published to `POST /v1/pipelines/NAME/whip`).
public enum SourceConfig: Sendable, Equatable {
    case url(URLSource)
    case device(DeviceSource)
    case whip
}

public struct URLSource: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case rtsp, rtsps, rtmp, rtmps, srt, udp, http, https, file
    }
    public enum RTSPTransport: String, Sendable, CaseIterable {
        case tcp, udp
    }

    /// The URL as written (a file path is made absolute).
    public var url: String
    public var kind: Kind
    /// Only for rtsp(s); TCP unless set.
    public var rtspTransport: RTSPTransport = .tcp
    /// Only for files: start over at the end.
    public var loop = false
    /// Network read timeout (connect and every read) before the source counts as lost.
    public var timeout: Duration = .seconds(10)
    /// Carry the source's sound to the outputs (when it has an audio stream); `audio: false` leaves it out.
    public var audio = true
}

public struct DeviceSource: Sendable, Equatable {
    public enum InputFormat: String, Sendable, CaseIterable {
        case mjpeg, yuyv
    }

    /// `/dev/videoN` (or a stable `/dev/v4l/by-id/…` link).
    public var path: String
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    public var inputFormat: InputFormat?

    public init(path: String, width: Int? = nil, height: Int? = nil, frameRate: Double? = nil, inputFormat: InputFormat? = nil) {
        self.path = path
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.inputFormat = inputFormat
    }
}

/// Which model and how to apply it.
public struct StyleConfig: Sendable, Equatable {
    /// The model of a pipeline without `model:`: the one built into streamd (Stylize's
    /// `BuiltinModels.defaultName`), unless a models directory holds a model of that name.
    public static let defaultModel = "default"
    /// The model of a pipeline with `style_image:` and without `model:`: streamd's real-time network for any
    /// painting (Stylize's `BuiltinModels.arbitraryFastName`); `model: arbitrary` runs Magenta's full network.
    public static let arbitraryModel = "arbitrary-fast"

    /// A model name on the search path, or a path (anything with a `/`).
    public var model: String
    /// Style of a multi-style model by its name (`style:`); exclusive with `styleIndex` and `styleMix`.
    public var styleName: String?
    /// Style of a multi-style model (0-based); exclusive with `styleMix`.
    public var styleIndex: Int?
    /// Blend of styles (index → weight, weights ≥ 0, normalised when applied), sorted by index.
    public var styleMix: [StyleWeight]?
    /// A picture file (a painting) as the style of a network that takes any painting (`style_image:`); exclusive
    /// with the three above.
    public var styleImage: String?
    public var strength: Double = 1
    public var preserveColor = false
    /// Scale frames down so the longer side is at most this many pixels before stylizing.
    public var maxSize: Int?
    /// Temporal smoothing after stylization (off unless set); switched live with the style.
    public var smoothing = SmoothingConfig()
}

/// `smoothing:` of a pipeline: a strength (`smoothing: 0.5`) or `{strength: 0.5, mode: still}`.
public struct SmoothingConfig: Sendable, Equatable {
    /// The names of the Temporal module's modes (that module is not a dependency of the configuration).
    public enum Mode: String, Sendable, CaseIterable {
        case flow, still
    }

    /// 0 (off) to 1.
    public var strength: Double
    public var mode: Mode

    /// The strength of a mapping that names only the mode (the same as `--smooth` alone).
    public static let defaultStrength = 0.5

    public init(strength: Double = 0, mode: Mode = .flow) {
        self.strength = strength
        self.mode = mode
    }
}

public struct StyleWeight: Sendable, Equatable {
    public var index: Int
    public var weight: Double

    public init(index: Int, weight: Double) {
        self.index = index
        self.weight = weight
    }
}

/// One sink and its encoder.
public struct OutputConfig: Sendable, Equatable {
    public var target: OutputTarget
    public var encoder: EncoderConfig

    public init(target: OutputTarget, encoder: EncoderConfig = EncoderConfig()) {
        self.target = target
        self.encoder = encoder
    }
}

public enum OutputTarget: Sendable, Equatable {
    /// A network push: RTMP, RTSP (TCP), SRT or UDP MPEG-TS.
    case push(url: String, protocol: PushProtocol)
    /// An HLS playlist and its segments in a directory.
    case hls(directory: String, segmentLength: Duration, listSize: Int)
    /// Recording to files; a new file starts after `rotateEvery` or at `rotateSize` bytes, whichever first.
    /// With `keep`, only the newest `keep` finished recordings of this output stay on disk.
    case record(path: String, rotateEvery: Duration?, rotateSize: Int64?, keep: Int? = nil)
    /// A virtual camera: a PipeWire video source node named `name`, which other programs list as a camera.
    case camera(name: String)
    /// A virtual camera on a v4l2loopback device (`camera: /dev/videoN`).
    case loopback(device: String)

    /// How the output is named in logs, metrics and the API.
    public var name: String {
        switch self {
        case .push(let url, _): url
        case .hls(let directory, _, _): "hls:" + directory
        case .record(let path, _, _, _): "record:" + path
        case .camera(let name): "camera:" + name
        case .loopback(let device): "camera:" + device
        }
    }

    public enum PushProtocol: String, Sendable, CaseIterable {
        case rtmp, rtsp, srt, udp
    }
}

/// Live encoder settings (x264 zerolatency unless changed).
public struct EncoderConfig: Sendable, Equatable {
    public enum Codec: String, Sendable, CaseIterable {
        case h264, hevc
    }

    public var codec: Codec = .h264
    /// Bits per second.
    public var bitrate = 2_000_000
    /// Frames between keyframes.
    public var gop = 50
    public var preset = "veryfast"
    public var tune: String? = "zerolatency"

    public init(codec: Codec = .h264, bitrate: Int = 2_000_000, gop: Int = 50, preset: String = "veryfast",
                tune: String? = "zerolatency") {
        self.codec = codec
        self.bitrate = bitrate
        self.gop = gop
        self.preset = preset
        self.tune = tune
    }

    public static let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
    public static let tunes = ["zerolatency", "film", "animation", "grain", "stillimage", "none"]
}
