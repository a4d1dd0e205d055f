import Foundation
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// The schema: turns the (layered) YAML tree into `ServeConfig`, reporting every problem to the reader.
struct ConfigDecoder {
    let r: NodeReader

    init(_ reader: NodeReader) { r = reader }

    func decode(_ root: Node) -> ServeConfig? {
        let top = ConfigPath()
        guard let f = r.fields(root, top, known: ["server", "pipelines"]) else { return nil }
        let server = f["server"].map { decodeServer($0, top + "server") } ?? ServerConfig()
        var pipelines: [PipelineConfig] = []
        if let node = f["pipelines"], let entries = r.namedEntries(node, top + "pipelines", what: "pipeline names to pipelines") {
            if entries.isEmpty { r.report(top + "pipelines", node, "at least one pipeline is needed") }
            for (name, keyNode, value) in entries {
                let path = top + "pipelines" + name
                guard Self.isValidName(name) else {
                    r.report(path, keyNode, "pipeline names are 1-64 lower-case letters, digits, '-' and '_', starting with a letter or digit (they appear in URLs and metrics)")
                    continue
                }
                if let p = decodePipeline(name, value, path) { pipelines.append(p) }
            }
            checkDistinctTargets(pipelines)
            checkDistinctCameras(pipelines)
        } else if f["pipelines"] == nil {
            r.report(top + "pipelines", nil, "missing: at least one pipeline is needed")
        }
        return ServeConfig(server: server ?? ServerConfig(), pipelines: pipelines)
    }

    static func isValidName(_ name: String) -> Bool {
        guard (1...64).contains(name.count), let first = name.unicodeScalars.first else { return false }
        let allowed = { (c: Unicode.Scalar) in ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_" }
        return name.unicodeScalars.allSatisfy(allowed) && first != "-" && first != "_"
    }

    // MARK: server

    func decodeServer(_ node: Node, _ path: ConfigPath) -> ServerConfig? {
        guard let f = r.fields(node, path, known: ServerKeys.all) else { return nil }
        var s = ServerConfig()
        if let n = f["listen"], let v = r.string(n, path + "listen") {
            if Self.isIPAddress(v) { s.listen = v } else {
                r.report(path + "listen", n, "'\(v)' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or ::)")
            }
        }
        if let n = f["port"], let v = r.int(n, path + "port", 1...65535) { s.port = v }
        if let n = f["token"], let v = r.string(n, path + "token") {
            if v.count < 16 { r.report(path + "token", n, "too short: use at least 16 characters (e.g. `openssl rand -hex 32`)") }
            else { s.token = v }
        }
        if let n = f["token_file"], let v = r.string(n, path + "token_file") { s.tokenFile = r.resolvePath(v) }
        if f.has("token") && f.has("token_file") {
            r.report(path + "token_file", f["token_file"], "token and token_file are exclusive: set one")
        }
        if let n = f["model_dirs"], let items = r.list(n, path + "model_dirs") {
            s.modelDirs = items.enumerated().compactMap { i, item in r.string(item, path + "model_dirs" + i).map(r.resolvePath) }
        }
        if let n = f["log_level"], let v = r.choice(n, path + "log_level", ServerConfig.logLevels) { s.logLevel = v }
        if let v = httpTimeout(f, "header_timeout", path) { s.headerTimeout = v }
        if let v = httpTimeout(f, "body_timeout", path) { s.bodyTimeout = v }
        if let v = httpTimeout(f, "idle_timeout", path) { s.idleTimeout = v }
        if let n = f["max_connections"], let v = r.int(n, path + "max_connections", 1...65_536) { s.maxConnections = v }
        if let n = f["ui"], let v = r.choice(n, path + "ui", ServerConfig.UIAccess.allCases) { s.ui = v }
        if let n = f["stylize_jobs"], let v = r.int(n, path + "stylize_jobs", 1...64) { s.stylizeJobs = v }
        if let n = f["stylize_queue"], let v = r.int(n, path + "stylize_queue", 0...1024) { s.stylizeQueue = v }
        if let n = f["stylize_max_bytes"],
           let v = r.quantity(n, path + "stylize_max_bytes", unit: "a size", example: "16MiB or 500kB") {
            // An upload is held in memory while it is decoded: 1 GiB is far beyond any photo.
            if v > 1 << 30 { r.report(path + "stylize_max_bytes", n, "must be at most 1GiB") } else { s.stylizeMaxBytes = Int(v) }
        }
        if let n = f["webrtc_addresses"], let items = r.list(n, path + "webrtc_addresses") {
            s.webrtcAddresses = items.enumerated().compactMap { i, item in
                guard let v = r.string(item, path + "webrtc_addresses" + i) else { return nil }
                guard Self.isIPAddress(v) else {
                    r.report(path + "webrtc_addresses" + i, item, "'\(v)' is not an IP address")
                    return nil
                }
                return v
            }
        }
        if let n = f["webrtc_viewers"], let v = r.int(n, path + "webrtc_viewers", 0...64) { s.webrtcViewers = v }
        if let n = f["webrtc_bitrate"], let v = r.int(n, path + "webrtc_bitrate", 100...50_000) { s.webrtcBitrate = v }
        return s
    }

    /// One of the HTTP server's timeouts: a duration of at least 100ms (shorter would cut off ordinary clients,
    /// and a value that rounds to 0 would close every connection at once).
    func httpTimeout(_ f: NodeReader.Fields, _ key: String, _ path: ConfigPath) -> Duration? {
        guard let n = f[key], let v = r.duration(n, path + key) else { return nil }
        guard v >= .milliseconds(100) else {
            r.report(path + key, n, "must be at least 100ms")
            return nil
        }
        return v
    }

    static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    // MARK: pipelines

    static let pipelineKeys = ["source", "model", "style", "style_index", "style_mix", "style_image", "strength", "preserve_color", "max_size",
                               "smoothing", "workers", "threads", "max_latency", "outputs"]

    func decodePipeline(_ name: String, _ node: Node, _ path: ConfigPath) -> PipelineConfig? {
        guard let f = r.fields(node, path, known: Self.pipelineKeys) else { return nil }
        let source: SourceConfig?
        if let n = f["source"] { source = decodeSource(n, path + "source") } else {
            r.report(path + "source", nil, "missing: every pipeline needs a source (url or device)")
            source = nil
        }

        // No `model:` means the built-in model (or a models directory's own `default`); with `style_image:`, the
        // built-in arbitrary-style network.
        var model: String? = f.has("style_image") ? StyleConfig.arbitraryModel : StyleConfig.defaultModel
        if let n = f["model"] { model = r.string(n, path + "model").map { $0.contains("/") ? r.resolvePath($0) : $0 } }
        var style = StyleConfig(model: model ?? "")
        if let n = f["style"] { style.styleName = r.string(n, path + "style") }
        if let n = f["style_index"], let v = r.int(n, path + "style_index", 0...1023) { style.styleIndex = v }
        if let n = f["style_mix"] { style.styleMix = decodeStyleMix(n, path + "style_mix") }
        if let n = f["style_image"] { style.styleImage = r.string(n, path + "style_image").map { r.resolvePath($0) } }
        let choices = ["style", "style_index", "style_mix", "style_image"].filter { f.has($0) }
        if choices.count > 1 {
            r.report(path + choices[1], f[choices[1]], "\(choices.joined(separator: " and ")) are exclusive: set one")
        }
        if let n = f["strength"], let v = r.number(n, path + "strength", 0...1) { style.strength = v }
        if let n = f["preserve_color"], let v = r.bool(n, path + "preserve_color") { style.preserveColor = v }
        if let n = f["max_size"], let v = r.int(n, path + "max_size", 16...16384) { style.maxSize = v }
        if let n = f["smoothing"], let v = decodeSmoothing(n, path + "smoothing") { style.smoothing = v }

        var workers: Int?
        if let n = f["workers"] { workers = r.int(n, path + "workers", 1...256) }
        var threads = 1
        if let n = f["threads"], let v = r.int(n, path + "threads", 1...256) { threads = v }
        var maxLatency: Duration = .milliseconds(500)
        if let n = f["max_latency"], let v = r.duration(n, path + "max_latency") { maxLatency = v }

        // No outputs is a pipeline watched only through its preview and WebRTC players.
        var outputs: [OutputConfig] = []
        if let n = f["outputs"], let items = r.list(n, path + "outputs") {
            for (i, item) in items.enumerated() {
                if let o = decodeOutput(item, path + "outputs" + i) { outputs.append(o) }
            }
        }
        guard let source, model != nil else { return nil }
        return PipelineConfig(name: name, source: source, style: style, workers: workers, threads: threads,
                              maxLatency: maxLatency, outputs: outputs)
    }

    static let smoothingKeys = ["strength", "mode"]

    /// `smoothing: 0.5` or `smoothing: {strength: 0.5, mode: still}`; a mapping without a strength means
    /// `SmoothingConfig.defaultStrength`. Anything else (`smoothing: yes`) is an error naming the key.
    func decodeSmoothing(_ node: Node, _ path: ConfigPath) -> SmoothingConfig? {
        if node.mapping == nil {
            if let text = node.scalar?.string, Double(text) == nil {
                r.report(path, node, "expected a strength from 0 to 1 or a mapping of \(Self.smoothingKeys.joined(separator: ", ")), got '\(text)'")
                return nil
            }
            return r.number(node, path, 0...1).map { SmoothingConfig(strength: $0) }
        }
        guard let f = r.fields(node, path, known: Self.smoothingKeys) else { return nil }
        var s = SmoothingConfig(strength: SmoothingConfig.defaultStrength)
        if let n = f["strength"] {
            guard let v = r.number(n, path + "strength", 0...1) else { return nil }
            s.strength = v
        }
        if let n = f["mode"] {
            guard let v = r.choice(n, path + "mode", SmoothingConfig.Mode.allCases) else { return nil }
            s.mode = v
        }
        return s
    }

    func decodeStyleMix(_ node: Node, _ path: ConfigPath) -> [StyleWeight]? {
        guard let entries = r.namedEntries(node, path, what: "style indices to weights (3: 0.5)") else { return nil }
        var mix: [StyleWeight] = []
        for (key, keyNode, value) in entries {
            guard let index = Int(key), index >= 0 else {
                r.report(path + key, keyNode, "style indices are whole numbers from 0")
                continue
            }
            if let w = r.number(value, path + key, 0...1e6) { mix.append(StyleWeight(index: index, weight: w)) }
        }
        if entries.isEmpty { r.report(path, node, "needs at least one style index and weight") }
        // As the engine sees them (Float32): 1e-300 is not zero as a Double but is as a Float.
        else if !mix.isEmpty && mix.allSatisfy({ Float($0.weight) == 0 }) { r.report(path, node, "the weights are all zero") }
        return mix.sorted { $0.index < $1.index }
    }

    // MARK: sources

    static let sourceKeys = ["url", "device", "rtsp_transport", "loop", "timeout", "audio", "size", "framerate", "input_format"]

    func decodeSource(_ node: Node, _ path: ConfigPath) -> SourceConfig? {
        guard let f = r.fields(node, path, known: Self.sourceKeys) else { return nil }
        let deviceOnly = ["size", "framerate", "input_format"]
        switch (f["url"], f["device"]) {
        case (nil, nil):
            r.report(path, node, "needs either url (a stream or file) or device (/dev/videoN)")
            return nil
        case (.some, .some):
            r.report(path + "device", f["device"], "url and device are exclusive: set one")
            return nil
        case (let n?, nil):
            guard let text = r.string(n, path + "url") else { return nil }
            for key in deviceOnly where f.has(key) { r.report(path + key, f[key], "only for device sources") }
            if text.lowercased() == "whip:" {
                for key in ["rtsp_transport", "loop", "timeout", "audio"] where f.has(key) { r.report(path + key, f[key], "not for a whip: source") }
                return .whip
            }
            guard let (kind, url) = sourceURL(text, n, path + "url") else { return nil }
            var s = URLSource(url: url, kind: kind)
            if let t = f["rtsp_transport"] {
                if kind == .rtsp || kind == .rtsps {
                    if let v = r.choice(t, path + "rtsp_transport", URLSource.RTSPTransport.allCases) { s.rtspTransport = v }
                } else { r.report(path + "rtsp_transport", t, "only for rtsp:// sources") }
            }
            if let l = f["loop"] {
                if kind == .file { s.loop = r.bool(l, path + "loop") ?? false }
                else { r.report(path + "loop", l, "only for file sources") }
            }
            if let t = f["timeout"], let v = r.duration(t, path + "timeout") {
                if kind == .file { r.report(path + "timeout", t, "only for network sources") } else { s.timeout = v }
            }
            if let a = f["audio"], let v = r.bool(a, path + "audio") { s.audio = v }
            return .url(s)
        case (nil, let n?):
            guard let device = r.string(n, path + "device") else { return nil }
            for key in ["rtsp_transport", "loop", "timeout", "audio"] where f.has(key) { r.report(path + key, f[key], "only for url sources") }
            guard device.hasPrefix("/dev/") else {
                r.report(path + "device", n, "'\(device)' is not a device path (expected /dev/videoN)")
                return nil
            }
            var d = DeviceSource(path: device)
            if let s = f["size"], let text = r.string(s, path + "size") {
                if let (w, h) = Self.parseSize(text) { d.width = w; d.height = h }
                else { r.report(path + "size", s, "expected WIDTHxHEIGHT such as 640x480, got '\(text)'") }
            }
            if let fr = f["framerate"], let v = r.number(fr, path + "framerate", 0.1...1000) { d.frameRate = v }
            if let fmt = f["input_format"] { d.inputFormat = r.choice(fmt, path + "input_format", DeviceSource.InputFormat.allCases) }
            return .device(d)
        }
    }

    static func parseSize(_ s: String) -> (Int, Int)? {
        let parts = s.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), (1...16384).contains(w), (1...16384).contains(h) else { return nil }
        return (w, h)
    }

    /// The source kind of `text` and the URL to open (file paths made absolute).
    func sourceURL(_ text: String, _ node: Node, _ path: ConfigPath) -> (URLSource.Kind, String)? {
        guard let range = text.range(of: "://") else { return (.file, r.resolvePath(text)) }
        let scheme = text[..<range.lowerBound].lowercased()
        guard let kind = URLSource.Kind(rawValue: scheme) else {
            r.report(path, node, "unsupported scheme '\(scheme)' (expected \(URLSource.Kind.allCases.map(\.rawValue).joined(separator: ", ")) or a file path)")
            return nil
        }
        if kind == .file { return (.file, r.resolvePath(String(text[range.upperBound...]))) }
        guard checkHost(text, node, path, needsPort: kind == .udp || kind == .srt) else { return nil }
        return (kind, text)
    }

    /// Network URLs need a host (and UDP/SRT a port).
    func checkHost(_ text: String, _ node: Node, _ path: ConfigPath, needsPort: Bool) -> Bool {
        guard let c = URLComponents(string: text) else {
            r.report(path, node, "'\(text)' is not a valid URL")
            return false
        }
        guard let host = c.host, !host.isEmpty else {
            r.report(path, node, "'\(text)' has no host")
            return false
        }
        if needsPort && c.port == nil {
            r.report(path, node, "'\(text)' needs a port (\(c.scheme ?? "")://HOST:PORT)")
            return false
        }
        return true
    }

    // MARK: outputs

    static let outputKeys = ["url", "hls", "record", "camera", "segment_length", "list_size", "rotate_every", "rotate_size", "keep",
                             "codec", "bitrate", "gop", "preset", "tune"]
    static let recordExtensions = ["mp4", "mkv", "mov", "ts"]

    func decodeOutput(_ node: Node, _ path: ConfigPath) -> OutputConfig? {
        guard let f = r.fields(node, path, known: Self.outputKeys) else { return nil }
        let kinds = ["url", "hls", "record", "camera"].filter { f.has($0) }
        guard kinds.count == 1, let kind = kinds.first, let n = f[kind] else {
            if kinds.isEmpty { r.report(path, node, "needs one of url (rtmp, rtsp, srt, udp), hls (a directory), record (a file) or camera (a PipeWire camera's name)") }
            else { r.report(path + kinds[1], f[kinds[1]], "\(kinds.joined(separator: " and ")) are exclusive: one sink per output") }
            return nil
        }
        let only: [String: [String]] = ["hls": ["segment_length", "list_size"], "record": ["rotate_every", "rotate_size", "keep"]]
        for (owner, keys) in only where owner != kind {
            for key in keys where f.has(key) { r.report(path + key, f[key], "only for \(owner) outputs") }
        }

        let encoder = decodeEncoder(f, path)
        var target: OutputTarget?
        switch kind {
        case "url":
            guard let text = r.string(n, path + "url") else { break }
            let scheme = text.range(of: "://").map { text[..<$0.lowerBound].lowercased() } ?? ""
            guard let proto = OutputTarget.PushProtocol(rawValue: scheme) else {
                let what = scheme.isEmpty ? "'\(text)' is not a URL" : "unsupported scheme '\(scheme)'"
                r.report(path + "url", n, "\(what) (expected \(OutputTarget.PushProtocol.allCases.map(\.rawValue).joined(separator: ", ")))")
                break
            }
            guard checkHost(text, n, path + "url", needsPort: proto == .udp || proto == .srt) else { break }
            if proto == .rtmp, let e = encoder, e.codec != .h264 {
                r.report(path + "codec", f["codec"], "rtmp carries H.264 only (FLV); use codec: h264")
            }
            target = .push(url: text, protocol: proto)
        case "camera":
            guard let name = r.string(n, path + "camera") else { break }
            for key in ["codec", "bitrate", "gop", "preset", "tune"] where f.has(key) {
                r.report(path + key, f[key], "not for camera outputs (pictures go out uncompressed)")
            }
            if name.hasPrefix("/dev/") {
                target = .loopback(device: name)
                break
            }
            guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                r.report(path + "camera", n, "'\(name)' is not a camera name (letters, digits, '-', '_' and '.', at most 64) or a /dev/videoN device")
                break
            }
            target = .camera(name: name)
        case "hls":
            guard let dir = r.string(n, path + "hls") else { break }
            var segment: Duration = .seconds(2), listSize = 6
            if let s = f["segment_length"], let v = r.duration(s, path + "segment_length") { segment = v }
            if let s = f["list_size"], let v = r.int(s, path + "list_size", 1...1000) { listSize = v }
            target = .hls(directory: r.resolvePath(dir), segmentLength: segment, listSize: listSize)
        default:
            guard let file = r.string(n, path + "record") else { break }
            let ext = URL(fileURLWithPath: file).pathExtension.lowercased()
            guard Self.recordExtensions.contains(ext) else {
                r.report(path + "record", n, "unsupported extension '\(ext.isEmpty ? "(none)" : "." + ext)' (expected \(Self.recordExtensions.map { "." + $0 }.joined(separator: ", ")))")
                break
            }
            let every = f["rotate_every"].flatMap { r.duration($0, path + "rotate_every") }
            let size = f["rotate_size"].flatMap { r.quantity($0, path + "rotate_size", unit: "a size", example: "512MiB or 2G") }
            if let size, size < 1 << 20 { r.report(path + "rotate_size", f["rotate_size"], "at least 1MiB") }
            let keep = f["keep"].flatMap { r.int($0, path + "keep", 1...1_000_000) }
            target = .record(path: r.resolvePath(file), rotateEvery: every, rotateSize: size, keep: keep)
        }
        guard let target, let encoder else { return nil }
        return OutputConfig(target: target, encoder: encoder)
    }

    func decodeEncoder(_ f: NodeReader.Fields, _ path: ConfigPath) -> EncoderConfig? {
        var e = EncoderConfig(), ok = true
        if let n = f["codec"] { if let v = r.choice(n, path + "codec", EncoderConfig.Codec.allCases) { e.codec = v } else { ok = false } }
        if let n = f["bitrate"] {
            if let v = r.quantity(n, path + "bitrate", unit: "a bit rate", example: "2M or 2500k") {
                if v < 10_000 || v > 1_000_000_000 { r.report(path + "bitrate", n, "must be between 10k and 1G bits/s"); ok = false }
                else { e.bitrate = Int(v) }
            } else { ok = false }
        }
        if let n = f["gop"] { if let v = r.int(n, path + "gop", 1...1000) { e.gop = v } else { ok = false } }
        if let n = f["preset"] { if let v = r.choice(n, path + "preset", EncoderConfig.presets) { e.preset = v } else { ok = false } }
        if let n = f["tune"] {
            if let v = r.choice(n, path + "tune", EncoderConfig.tunes) { e.tune = v == "none" ? nil : v } else { ok = false }
        }
        return ok ? e : nil
    }

    /// A V4L2 camera streams to one reader at a time: a second pipeline on it would only ever see "busy".
    /// Stable `/dev/v4l/by-id` links are resolved, so two names for one camera are caught too.
    func checkDistinctCameras(_ pipelines: [PipelineConfig]) {
        var seen: [String: String] = [:]
        for p in pipelines {
            guard case .device(let device) = p.source else { continue }
            let key = URL(fileURLWithPath: device.path).resolvingSymlinksInPath().path
            let here = ConfigPath([.key("pipelines"), .key(p.name), .key("source"), .key("device")])
            if let first = seen[key] {
                r.report(here, nil, "the same camera as \(first) (a camera streams to one reader at a time)")
            } else {
                seen[key] = here.description
            }
        }
    }

    /// Two outputs writing the same directory or file would overwrite each other; two cameras of one name would
    /// be one camera to every reader.
    func checkDistinctTargets(_ pipelines: [PipelineConfig]) {
        var seen: [String: String] = [:]
        for p in pipelines {
            for (i, o) in p.outputs.enumerated() {
                if case .push = o.target { continue }
                let key = o.target.name
                let here = ConfigPath([.key("pipelines"), .key(p.name), .key("outputs"), .index(i)])
                if let first = seen[key] {
                    r.report(here, nil, "writes to the same place as \(first)")
                } else {
                    seen[key] = here.description
                }
            }
        }
    }
}
