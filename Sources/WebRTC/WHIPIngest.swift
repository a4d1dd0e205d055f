import Foundation
public import Pipeline

/// A pipeline's WebRTC publisher slot (WHIP, `source: {url: "whip:"}`): one publisher at a time sends H.264
/// video; its GStreamer pipeline depayloads and decodes it (libav's H.264 decoder) to RGB pictures that the
/// pipeline's source thread takes with `nextFrame`, as it would take decoded frames from a stream.
///
/// The publisher's sound, when it sends Opus, is decoded to the pipeline's `AudioTrack`, each block placed on
/// the clock the pictures are stamped with (their timestamps from the publisher keep the two in step).
///
/// A second publisher while one sends gets `busy` (WHIP's 409); a publisher that ends its session (`DELETE`),
/// whose connection fails, or that sends nothing for `settings.publisherSilence` is closed, and the slot is free
/// for the next. The source keeps running meanwhile (it waits for a publisher like a stream that reconnects).
public final class WHIPIngest: @unchecked Sendable {
    public let settings: WebRTCSettings
    /// Where the publisher's sound goes (nil: it is received and discarded).
    public let audio: AudioTrack?
    private let lock = NSLock()
    /// How long the last picture took from its timestamp to the source (jitter buffer and decoder): sound is
    /// stamped as late after its own timestamp, so that sound and picture heard and seen together stay together.
    private var pictureDelay = Duration.zero
    private var peer: WebRTCPeer?
    /// Silence detection: the received count and when it last grew.
    private var lastCount: UInt64 = 0
    private var lastGrowth = ContinuousClock.now
    /// Why the last publisher's session ended.
    private var ended: String?
    private var lastBytes = 0

    /// Why the last publisher's session ended, for the pipeline's state.
    public var lastEnd: String? { lock.withLock { ended } }

    public init(settings: WebRTCSettings, audio: AudioTrack? = nil) {
        self.settings = settings
        self.audio = audio
    }

    /// Answers a publisher's offer: the session's id and the answer. Blocks while ICE gathers: call it on a
    /// dedicated thread.
    public func publish(offer text: String) throws(WebRTCError) -> (id: String, answer: String) {
        let offer = try SDPOffer(text)
        let pt = try offer.requireH264()
        checkPublisher()
        guard lock.withLock({ peer == nil }) else { throw .busy("a publisher is already sending to this pipeline") }
        // Received video goes to `vdepay`; Opus audio to `adepay`, decoded to the track's format (without a
        // track it is received, so the offer is answered as sent, and discarded).
        var launch = """
            webrtcbin name=webrtc bundle-policy=max-bundle latency=100 \
            rtph264depay name=vdepay ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=RGB \
            ! appsink name=sink max-buffers=2 drop=true sync=false
            """
        if audio != nil && offer.opus != nil {
            launch += """
                 rtpopusdepay name=adepay ! opusdec plc=true ! audio/x-raw,channels=\(AudioTrack.channels) ! audioconvert ! audioresample \
                ! audio/x-raw,format=S16LE,rate=\(AudioTrack.sampleRate),channels=\(AudioTrack.channels),layout=interleaved \
                ! appsink name=asink max-buffers=100 drop=true sync=false
                """
        }
        let video = "application/x-rtp,media=video,encoding-name=H264,payload=\(pt),clock-rate=90000"
        let audio = offer.opus.map { "application/x-rtp,media=audio,encoding-name=OPUS,payload=\($0),clock-rate=48000" }
        let created = try WebRTCPeer(launch: launch, settings: settings, offer: offer, receiveVideo: video, receiveAudio: audio)
        let admitted = lock.withLock { () -> Bool in
            guard peer == nil else { return false }
            peer = created
            lastCount = 0
            lastGrowth = .now
            return true
        }
        guard admitted else {
            created.close()
            throw .busy("a publisher is already sending to this pipeline")
        }
        return (created.id, created.answer)
    }

    /// Ends the publisher `id` (WHIP's `DELETE`): false if it is not the current one.
    public func remove(_ id: String) -> Bool {
        let ending = lock.withLock { () -> WebRTCPeer? in
            guard let p = peer, p.id == id else { return nil }
            peer = nil
            ended = "the publisher ended its session"
            return p
        }
        ending?.close()
        return ending != nil
    }

    public var hasPublisher: Bool { lock.withLock { peer != nil } }

    /// From the source thread: the next picture, waiting up to `timeout`; nil when none came (no publisher, or it
    /// is silent). Decodes into a buffer from `pool`.
    public func nextFrame(timeout: Duration, pool: FramePool) -> RGBImage? {
        guard let current = lock.withLock({ peer }) else {
            Thread.sleep(forTimeInterval: min(timeout.inSeconds, 0.1))
            return nil
        }
        // Into a pool buffer of the last picture's size (resized only when the publisher's size changes), so the
        // graph recycles it as it does decoded frames.
        var buffer = pool.take(count: lock.withLock { lastBytes })
        let picture = current.pull(timeout: timeout, into: &buffer)
        takeAudio(from: current)
        if let (w, h, age) = picture {
            lock.withLock {
                lastBytes = w * h * 3
                if let age { pictureDelay = age }
            }
            return RGBImage(width: w, height: h, pixels: buffer)
        }
        pool.recycle(buffer)
        checkPublisher()
        return nil
    }

    /// The publisher's decoded sound so far, into the track: each block at its timestamp plus the pictures' delay.
    private func takeAudio(from peer: WebRTCPeer) {
        guard let audio else { return }
        let now = ContinuousClock.now
        let delay = lock.withLock { pictureDelay }
        for block in peer.pullAudio() {
            audio.append(block.samples, captured: now - (block.age ?? .zero) + delay)
        }
    }

    /// Closes the publisher if its connection ended, it never connected, or it went silent.
    func checkPublisher() {
        guard let current = lock.withLock({ peer }) else { return }
        let now = ContinuousClock.now
        var why: String?
        switch current.status {
        case .ended(let reason): why = "the publisher's connection ended: \(reason)"
        case .connecting: if now - current.created > settings.connectTimeout { why = "the publisher never connected" }
        case .connected: break
        }
        let count = current.received
        let silent = lock.withLock { () -> Bool in
            if count != lastCount { lastCount = count; lastGrowth = now }
            return now - lastGrowth > settings.publisherSilence && now - current.created > settings.publisherSilence
        }
        if why == nil && silent { why = "the publisher sent nothing for \(settings.publisherSilence)" }
        guard let why else { return }
        let closing = lock.withLock { () -> Bool in
            guard peer === current else { return false }
            peer = nil
            ended = why
            return true
        }
        if closing { current.close() }
    }

    /// Ends the publisher (the pipeline stops or is replaced).
    public func close() {
        let p = lock.withLock { () -> WebRTCPeer? in defer { peer = nil }; return peer }
        p?.close()
    }
}
