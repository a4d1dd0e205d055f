import Foundation
public import Pipeline

/// A pipeline's WebRTC players (WHEP): each `POST`ed offer becomes a peer connection whose GStreamer pipeline
/// encodes the stylized pictures to H.264 (x264, zero-latency tuning) and sends them over SRTP.
///
/// The pipeline's encode thread hands every picture to `offer`, which copies it into each connected player's
/// bounded appsrc queue (two pictures; a player whose encoder lags loses its oldest, never delaying the others
/// or the pipeline). When the pipeline has sound (its `AudioTrack`) and a player's offer takes Opus, the sound up
/// to each picture's time goes with it, encoded to Opus, so the player hears it in step with the stylized
/// picture. Players that ended (closed, failed, gone) or never connected are closed there and when a new
/// player comes, so their number stays within `settings.maxViewers`.
public final class WHEPViewers: @unchecked Sendable {
    public let settings: WebRTCSettings
    let pipeline: String
    /// The pipeline's sound, read in step with the pictures (nil: the pipeline has none).
    private let audio: AudioTrack.Reader?
    private let lock = NSLock()
    /// Players that were given an audio stream.
    private var hearing: Set<String> = []
    private var peers: [WebRTCPeer] = []
    /// When the players' states were last looked at (at most four times a second: it takes a lock in GStreamer).
    private var lastCheck = ContinuousClock.now
    private var connected: Set<String> = []

    public init(pipeline: String, settings: WebRTCSettings, audio: AudioTrack? = nil) {
        self.pipeline = pipeline
        self.settings = settings
        self.audio = audio?.reader()
    }

    /// Answers a player's offer: the session's id and the answer. Blocks while ICE gathers (up to the gathering
    /// timeout): call it on a dedicated thread.
    public func add(offer text: String) throws(WebRTCError) -> (id: String, answer: String) {
        let offer = try SDPOffer(text)
        let pt = try offer.requireH264()
        reap()
        guard lock.withLock({ peers.count }) < settings.maxViewers else {
            throw .tooManySessions(limit: settings.maxViewers, kind: "player")
        }
        var launch = """
            appsrc name=src is-live=true format=time do-timestamp=true max-buffers=2 leaky-type=downstream \
            ! videoconvert ! video/x-raw,format=I420 \
            ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 threads=1 bitrate=\(settings.bitrateKbps) \
            ! video/x-h264,profile=constrained-baseline \
            ! rtph264pay config-interval=-1 aggregate-mode=zero-latency pt=\(pt) \
            ! application/x-rtp,media=video,encoding-name=H264,payload=\(pt),clock-rate=90000 \
            ! webrtcbin name=webrtc bundle-policy=max-bundle
            """
        let hears = audio?.carriesSound == true && offer.opus != nil
        if hears, let opus = offer.opus {
            // Half a second of sound may wait for the encoder; older blocks are dropped.
            let format = "audio/x-raw,format=S16LE,rate=\(AudioTrack.sampleRate),channels=\(AudioTrack.channels),layout=interleaved"
            launch += """
                 appsrc name=asrc is-live=true format=time max-buffers=25 leaky-type=downstream caps="\(format)" \
                ! audioconvert ! opusenc ! rtpopuspay pt=\(opus) \
                ! application/x-rtp,media=audio,encoding-name=OPUS,payload=\(opus),clock-rate=48000 ! webrtc.
                """
        }
        let peer = try WebRTCPeer(launch: launch, settings: settings, offer: offer)
        let admitted = lock.withLock { () -> Bool in
            guard peers.count < settings.maxViewers else { return false }
            peers.append(peer)
            if hears { hearing.insert(peer.id) }
            return true
        }
        guard admitted else {
            peer.close()
            throw .tooManySessions(limit: settings.maxViewers, kind: "player")
        }
        return (peer.id, peer.answer)
    }

    /// Ends the player `id` (WHEP's `DELETE`): false if there is none.
    public func remove(_ id: String) -> Bool {
        let peer = lock.withLock { () -> WebRTCPeer? in
            guard let i = peers.firstIndex(where: { $0.id == id }) else { return nil }
            connected.remove(id)
            hearing.remove(id)
            return peers.remove(at: i)
        }
        peer?.close()
        return peer != nil
    }

    public var count: Int { lock.withLock { peers.count } }

    /// Players whose media flows.
    public var connectedCount: Int { lock.withLock { connected.count } }

    /// From the pipeline's encode thread: the picture shown at `micros` (the pipeline clock) to every connected
    /// player, with the sound up to it. Returns at once when nobody plays.
    public func offer(_ image: RGBImage, micros: Int64) {
        // Read whether or not anyone listens, so a player that comes later starts with current sound.
        let sound = audio?.take(upTo: micros) ?? []
        let now = ContinuousClock.now
        let (current, check) = lock.withLock { () -> ([WebRTCPeer], Bool) in
            let due = now - lastCheck >= .milliseconds(250)
            if due { lastCheck = now }
            return (peers, due)
        }
        guard !current.isEmpty else { return }
        if check { reap() }
        // x264 needs even sizes: an odd row or column is left out.
        var even = image
        even.width &= ~1
        even.height &= ~1
        let (live, listeners) = lock.withLock { (connected, hearing) }
        for peer in current where live.contains(peer.id) {
            if listeners.contains(peer.id) { for block in sound { peer.push(audio: block.samples) } }
            peer.push(even, stride: image.width * 3)
        }
    }

    /// Closes players that ended or never connected in time, and notes which are connected.
    func reap() {
        let current = lock.withLock { peers }
        var ended: [WebRTCPeer] = []
        var live: Set<String> = []
        for peer in current {
            switch peer.status {
            case .connected: live.insert(peer.id)
            case .ended: ended.append(peer)
            case .connecting: if ContinuousClock.now - peer.created > settings.connectTimeout { ended.append(peer) }
            }
        }
        lock.withLock {
            peers.removeAll { p in ended.contains { $0 === p } }
            for p in ended { hearing.remove(p.id) }
            connected = live
        }
        for peer in ended { peer.close() }
    }

    /// Ends every player (the pipeline stops or is replaced).
    public func closeAll() {
        let all = lock.withLock { () -> [WebRTCPeer] in
            defer { peers = []; connected = []; hearing = [] }
            return peers
        }
        for peer in all { peer.close() }
    }
}
