import CoreMetrics
import Encode
import Foundation
import Logging
import Pipeline
import ServeConfig

/// One output of a pipeline: an encoder and a muxer, opened at the first frame (when the size is known),
/// reopened with capped back-off when the peer goes away, and, for recordings, rotated into finalized files.
/// A failing output never stops the pipeline or the other outputs; frames it misses while reconnecting are
/// counted as its drops. Used only by the pipeline's encode thread.
final class OutputSink {
    typealias State = OutputState

    let config: OutputConfig
    let name: String
    private let logger: Logger
    /// Interrupts this output's blocking I/O; the pipeline trips it on a hard stop.
    let interrupt: IOInterrupt
    private let timeout: Duration
    private let counters: LiveMetrics.OutputInstruments
    private var output: StreamOutput?
    /// The virtual camera, for a `camera:` output (instead of an encoder).
    private var camera: (any CameraSink)?
    /// Recording: the file being written (a hidden temporary name) and where it goes when finalized.
    private var segment: (temporary: String, final: String, started: ContinuousClock.Instant)?
    private var sessionStart: Int64?
    private var backoff = Backoff()
    /// UDP and SRT outputs send frames at their own rate (see `FramePacer`); nil for the others.
    private var pacer: FramePacer?
    private var retryAt: ContinuousClock.Instant?
    private(set) var state = State.idle {
        didSet { counters.connected.record(state == .connected ? 1 : 0) }
    }
    private(set) var lastError: String?
    private(set) var framesWritten = 0
    private(set) var reconnects = 0
    /// Finalized recordings, oldest first.
    private(set) var finishedFiles: [String] = []
    /// The pipeline's sound (nil: it has none): read up to each picture, so file and stream outputs carry it.
    private let audio: AudioTrack.Reader?

    init(config: OutputConfig, pipeline: String, logger: Logger, interrupt: IOInterrupt, timeout: Duration, metrics: LiveMetrics,
         audio: AudioTrack.Reader? = nil) {
        self.config = config
        self.audio = audio
        name = config.target.name
        if case .push(_, let proto) = config.target, proto == .udp || proto == .srt { pacer = FramePacer() }
        var logger = logger
        logger[metadataKey: "output"] = .string(name)
        self.logger = logger
        self.interrupt = interrupt
        self.timeout = timeout
        counters = metrics.output(name)
    }

    /// Pushed to a peer over the network (as opposed to files on this machine: recordings, HLS).
    var isNetwork: Bool {
        if case .push = config.target { return true }
        return false
    }

    /// Encodes one frame shown at `micros` (pipeline clock). Never throws: failures become reconnects.
    func write(_ image: RGBImage, micros: Int64, frameRate: Int) {
        let now = ContinuousClock.now
        // Read even while closed, so sound from before a (re)open is not written after it.
        let sound = audio?.take(upTo: micros) ?? []
        switch config.target {
        case .camera, .loopback: return show(image, frameRate: frameRate, now: now)
        default: break
        }
        if output == nil {
            if let retryAt, now < retryAt { return }
            open(width: image.width, height: image.height, frameRate: frameRate, micros: micros)
            guard output != nil else { return }
        }
        if case .record(_, let every, let size, _) = config.target, let current = segment, let output {
            let tooOld = every.map { now - current.started >= $0 } ?? false
            let tooBig = size.map { output.bytesWritten >= $0 } ?? false
            if tooOld || tooBig {
                close(finalize: true)
                open(width: image.width, height: image.height, frameRate: frameRate, micros: micros)
                guard self.output != nil else { return }
            }
        }
        guard let output, let start = sessionStart else { return }
        if var pacer = self.pacer {
            let wait = pacer.delay(micros: micros, now: .now)
            self.pacer = pacer
            if wait > .zero { Thread.sleep(forTimeInterval: wait.inSeconds) }
        }
        do {
            try output.write(audio: sound, shift: start, through: micros)
            try output.write(image, micros: micros - start)
            framesWritten += 1
            counters.frames.increment()
        } catch {
            fail("\(error)")
        }
    }

    /// A `camera:` output: the picture to the PipeWire node or the v4l2loopback device, opened at the first
    /// picture (its size is the camera's) and reopened, with back-off, after a failure or when the size changes.
    private func show(_ image: RGBImage, frameRate: Int, now: ContinuousClock.Instant) {
        if let current = camera, !current.fits(image) { close(finalize: false) }
        if camera == nil {
            if let retryAt, now < retryAt { return }
            do {
                if case .loopback(let device) = config.target {
                    camera = try LoopbackCamera(path: device, width: image.width, height: image.height)
                } else if case .camera(let node) = config.target {
                    camera = try PipeWireCamera(name: node, width: image.width, height: image.height, frameRate: frameRate)
                }
                markConnected()
            } catch {
                return fail("\(error)")
            }
        }
        do {
            try camera?.write(image)
            framesWritten += 1
            counters.frames.increment()
        } catch {
            fail("\(error)")
        }
    }

    /// Flushes and finalizes (a recording becomes a playable file under its final name).
    func finish() {
        close(finalize: true)
        state = .idle
    }

    private func open(width: Int, height: Int, frameRate: Int, micros: Int64) {
        let encoder = config.encoder
        let settings = LiveEncodeSettings(width: width, height: height, frameRate: max(1, frameRate),
                                          encoder: encoder.codec == .hevc ? "libx265" : "libx264",
                                          bitrate: encoder.bitrate, gop: encoder.gop, preset: encoder.preset,
                                          tune: encoder.tune == "none" ? nil : encoder.tune)
        // A sound track when the source has sound now (silent where none comes); pictures only otherwise.
        let withSound = audio?.carriesSound ?? false
        do {
            let opened: StreamOutput
            switch config.target {
            case .push(let url, let proto):
                let format = switch proto { case .rtmp: "flv"; case .rtsp: "rtsp"; case .srt, .udp: "mpegts" }
                var target = url
                if proto == .udp && !url.contains("pkt_size") { target += (url.contains("?") ? "&" : "?") + "pkt_size=1316" }
                if proto == .srt && !url.contains("pkt_size") { target += (url.contains("?") ? "&" : "?") + "pkt_size=1316" }
                opened = try StreamOutput(url: target, format: format, settings: settings, audio: withSound,
                                          timeout: timeout, interrupt: interrupt)
            case .hls(let directory, let segmentLength, let listSize):
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let seconds = segmentLength.inSeconds
                opened = try StreamOutput(url: directory + "/index.m3u8", format: "hls", settings: settings,
                                          muxerOptions: [("hls_time", String(seconds)), ("hls_list_size", String(listSize)),
                                                         ("hls_flags", "delete_segments+independent_segments"),
                                                         ("hls_segment_filename", directory + "/segment%06d.ts")],
                                          audio: withSound, timeout: timeout, interrupt: interrupt)
            case .camera, .loopback:
                return  // `show` opens cameras
            case .record(let path, _, _, _):
                let final = Self.segmentName(path)
                let directory = (final as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let temporary = directory + "/." + (final as NSString).lastPathComponent + ".tmp"
                let ext = (path as NSString).pathExtension.lowercased()
                let format = switch ext { case "mkv": "matroska"; case "mov": "mov"; case "ts": "mpegts"; default: "mp4" }
                opened = try StreamOutput(url: temporary, format: format, settings: settings, audio: withSound,
                                          timeout: timeout, interrupt: interrupt)
                segment = (temporary, final, .now)
            }
            output = opened
            sessionStart = micros
            pacer?.reset()
            markConnected()
        } catch {
            fail("\(error)")
        }
    }

    /// The sink is open (again): the back-off starts over.
    private func markConnected() {
        if state == .reconnecting { logger.info("output reconnected") }
        state = .connected
        lastError = nil
        backoff.reset()
        retryAt = nil
    }

    private func fail(_ message: String) {
        if state != .reconnecting || lastError != message {
            logger.warning("output lost, reconnecting: \(message)")
        }
        close(finalize: true)
        lastError = message
        state = .reconnecting
        reconnects += 1
        counters.reconnects.increment()
        retryAt = .now + backoff.next()
    }

    private func close(finalize: Bool) {
        camera?.close()
        camera = nil
        guard let output else { return }
        self.output = nil
        sessionStart = nil
        do {
            if finalize { try output.finish() }
            if let segment, output.framesWritten > 0 {
                guard rename(segment.temporary, segment.final) == 0 else {
                    throw StyleError("\(segment.final): cannot move the finished recording into place: \(String(cString: strerror(errno)))")
                }
                finishedFiles.append(segment.final)
                logger.info("recording finalized: \(segment.final) (\(output.framesWritten) frames)")
                if case .record(let path, _, _, let keep?) = config.target { prune(path, keep: keep) }
            } else if let segment {
                unlink(segment.temporary)
            }
        } catch {
            if let segment { unlink(segment.temporary) }
            logger.error("\(error)")
        }
        segment = nil
    }

    /// `keep`: deletes this output's oldest finished recordings beyond the newest `keep`, including those
    /// left by earlier runs (same name pattern), so a service recording for weeks does not fill the disk.
    private func prune(_ path: String, keep: Int) {
        let directory = (path as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let ours = names.compactMap { Self.recordingOrder(of: $0, for: path) }.sorted { $0.key < $1.key }
        for old in ours.dropLast(keep) {
            let file = directory + "/" + old.name
            if unlink(file) == 0 {
                finishedFiles.removeAll { $0 == file }
                logger.info("deleted old recording (keep: \(keep)): \(file)")
            } else {
                logger.warning("\(file): cannot delete an old recording (keep: \(keep)): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// For a file this output names (`name-YYYYMMDD-HHMMSS[-N].ext`), a key that sorts oldest first.
    static func recordingOrder(of file: String, for path: String) -> (name: String, key: String)? {
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension + "-"
        let ext = "." + (path as NSString).pathExtension
        guard file.hasPrefix(stem), file.hasSuffix(ext) else { return nil }
        let middle = file.dropFirst(stem.count).dropLast(ext.count)
        let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, parts[0].count == 8, parts[1].count == 6,
              parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else { return nil }
        let counter = parts.count == 3 ? Int(parts[2]) ?? 0 : 0
        return (file, "\(parts[0])\(parts[1])-" + String(format: "%06d", counter))
    }

    /// `dir/name.mp4` → `dir/name-20261122-024512.mp4` (UTC), with a counter if that name is taken.
    static func segmentName(_ path: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stamp = formatter.string(from: Date())
        let ext = (path as NSString).pathExtension
        let base = (path as NSString).deletingPathExtension
        var candidate = "\(base)-\(stamp).\(ext)"
        var n = 1
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(base)-\(stamp)-\(n).\(ext)"
            n += 1
        }
        return candidate
    }
}

/// A stylized picture shared by every output of a pipeline; the last output done with it gives its buffer
/// back to the pool.
final class SharedPicture: @unchecked Sendable {
    let image: RGBImage
    let micros: Int64
    let frameRate: Int
    /// When the source delivered the frame (for the end-to-end latency).
    let captured: ContinuousClock.Instant
    private let lock = NSLock()
    private var holders: Int
    private let pool: FramePool

    init(image: RGBImage, micros: Int64, frameRate: Int, captured: ContinuousClock.Instant, holders: Int, pool: FramePool) {
        self.image = image; self.micros = micros; self.frameRate = frameRate; self.captured = captured
        self.holders = holders; self.pool = pool
    }

    func release() {
        lock.lock()
        holders -= 1
        let last = holders == 0
        lock.unlock()
        if last { pool.recycle(image.pixels) }
    }
}

/// One output on its own thread behind a small drop-oldest queue, so a slow or stalled peer (a network write
/// waiting out its timeout) delays only its own output, never the pipeline or the other outputs. The thread is a
/// stage of the pipeline's `StageGroup`: the group cancels the queue on a hard stop and joins the thread.
final class SinkRunner: @unchecked Sendable {
    let sink: OutputSink
    let queue = BoundedQueue<SharedPicture>(capacity: 4, policy: .dropOldest)
    private let lock = NSLock()
    private var published: PipelineSnapshot.Output
    private var knownDrops = 0

    private let metrics: LiveMetrics

    init(sink: OutputSink, metrics: LiveMetrics) {
        self.sink = sink
        self.metrics = metrics
        published = PipelineSnapshot.Output(name: sink.name, state: .idle, framesWritten: 0, reconnects: 0, lastError: nil, recordings: [])
    }

    var snapshot: PipelineSnapshot.Output { lock.lock(); defer { lock.unlock() }; return published }

    /// The output's stage body: writes pictures until the queue ends (finished or cancelled), then finalizes.
    func run() {
        while let picture = queue.receive() {
            let started = ContinuousClock.now
            let before = sink.framesWritten
            sink.write(picture.image, micros: picture.micros, frameRate: picture.frameRate)
            if sink.framesWritten > before {
                metrics.stageLatency[.encode].recordInterval(since: started)
                metrics.endToEnd.recordInterval(since: picture.captured)
            }
            picture.release()
            publish()
        }
        sink.finish()
        publish()
    }

    /// Queues a picture; an older one still waiting is dropped (and released) when the output lags.
    func send(_ picture: SharedPicture) {
        if queue.send(picture) == .consumerGone { picture.release() }
    }

    /// Pictures the queue discarded since the last call (their buffers go to ARC, not back to the pool).
    func takeDrops() -> Int {
        let total = queue.droppedCount
        defer { knownDrops = total }
        return total - knownDrops
    }

    private func publish() {
        let s = PipelineSnapshot.Output(name: sink.name, state: sink.state, framesWritten: sink.framesWritten,
                                        reconnects: sink.reconnects, lastError: sink.lastError, recordings: sink.finishedFiles)
        lock.lock(); published = s; lock.unlock()
    }
}
