internal import CWebRTC
import Foundation
import Pipeline

/// Process-wide WebRTC settings (the `server:` section's `webrtc_*` keys).
public struct WebRTCSettings: Sendable, Equatable {
    /// The only addresses ICE offers as host candidates (empty: every interface). Tests use 127.0.0.1 so no
    /// packet leaves the machine; a server behind one public interface names it.
    public var iceAddresses: [String]
    /// Players (WHEP) per pipeline at once; each costs an H.264 encode.
    public var maxViewers: Int
    /// The players' H.264 bitrate, kbit/s.
    public var bitrateKbps: Int
    /// How long ICE gathering may take before the answer goes out with the candidates found so far.
    public var gatherTimeout: Duration
    /// A session that has not connected this long after its answer is closed.
    public var connectTimeout: Duration
    /// A publisher (WHIP) that sends nothing this long has vanished; its session is closed.
    public var publisherSilence: Duration

    public init(iceAddresses: [String] = [], maxViewers: Int = 4, bitrateKbps: Int = 1500, gatherTimeout: Duration = .seconds(3),
                connectTimeout: Duration = .seconds(15), publisherSilence: Duration = .seconds(5)) {
        self.iceAddresses = iceAddresses; self.maxViewers = maxViewers; self.bitrateKbps = bitrateKbps
        self.gatherTimeout = gatherTimeout; self.connectTimeout = connectTimeout; self.publisherSilence = publisherSilence
    }
}

/// One answered peer connection (webrtcbin in a GStreamer pipeline of the caller's description). The C session
/// is closed exactly once: by `close()` or, failing that, when the last reference goes.
final class WebRTCPeer: @unchecked Sendable {
    let id: String
    let answer: String
    let created = ContinuousClock.now
    private let lock = NSCondition()
    private var session: OpaquePointer?
    /// Readers inside `pull`'s wait; `close` waits for them (each wait is bounded) before freeing the session.
    private var pulling = 0
    /// Where `pullAudio` copies each block first (100 ms of stereo; made once, used under the lock).
    private var scratch = [Int16](repeating: 0, count: 4800 * AudioTrack.channels)

    /// Blocks for up to the gathering timeout (call it on a dedicated thread).
    init(launch: String, settings: WebRTCSettings, offer: SDPOffer, receiveVideo: String? = nil, receiveAudio: String? = nil) throws(WebRTCError) {
        var answerText: UnsafeMutablePointer<CChar>?
        var error = [CChar](repeating: 0, count: 512)
        var badOffer: Int32 = 0
        let timeout = Int32(clamping: settings.gatherTimeout.nanoseconds / 1_000_000)
        let opened = sd_webrtc_open(launch, settings.iceAddresses.joined(separator: ","), receiveVideo, receiveAudio, offer.text,
                                    timeout, &answerText, &badOffer, &error, error.count)
        guard let opened, let answerText else {
            let why = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw badOffer != 0 ? .malformedOffer(why) : .failed(why)
        }
        session = opened
        answer = String(cString: answerText)
        sd_webrtc_free_string(answerText)
        id = UUID().uuidString.lowercased()
    }

    deinit { close() }

    enum Status: Equatable { case connecting, connected, ended(String) }

    var status: Status {
        lock.withLock {
            guard let session else { return .ended("closed") }
            var error = [CChar](repeating: 0, count: 512)
            switch sd_webrtc_status_of(session, &error, error.count) {
            case SD_WEBRTC_CONNECTED: return .connected
            case SD_WEBRTC_ENDED: return .ended(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            default: return .connecting
            }
        }
    }

    /// Buffers received from the peer so far (a publisher that stops sending stops this count).
    var received: UInt64 { lock.withLock { session.map { sd_webrtc_received($0) } ?? 0 } }

    /// Hands one picture (rows `stride` bytes apart) to the pipeline's appsrc (copied; the caller keeps its buffer).
    func push(_ image: RGBImage, stride: Int) {
        lock.withLock {
            guard let session else { return }
            image.pixels.withUnsafeBufferPointer { pixels in
                _ = sd_webrtc_push_rgb(session, pixels.baseAddress, Int32(image.width), Int32(image.height), stride)
            }
        }
    }

    /// Hands a block of interleaved 48 kHz stereo samples to the pipeline's audio appsrc (copied).
    func push(audio samples: [Int16]) {
        lock.withLock {
            guard let session else { return }
            samples.withUnsafeBufferPointer { pcm in
                _ = sd_webrtc_push_audio(session, pcm.baseAddress, Int32(pcm.count / AudioTrack.channels))
            }
        }
    }

    /// The decoded audio waiting in the pipeline's audio appsink, without waiting: each block with its age (how
    /// long ago its timestamp was on the pipeline clock; nil when unknown).
    func pullAudio() -> [(samples: [Int16], age: Duration?)] {
        lock.withLock {
            guard let session else { return [] }
            var blocks: [(samples: [Int16], age: Duration?)] = []
            let channels = AudioTrack.channels, capacity = Int32(scratch.count / channels)
            while blocks.count < 64 {
                var frames: Int32 = 0
                var age: Int64 = -1
                let got = scratch.withUnsafeMutableBufferPointer { sd_webrtc_pull_audio(session, $0.baseAddress, capacity, &frames, &age) }
                guard got == 1 else { break }
                blocks.append((Array(scratch.prefix(Int(frames) * channels)), age >= 0 ? .nanoseconds(age) : nil))
            }
            return blocks
        }
    }

    /// The next decoded picture from the pipeline's appsink, copied into `into` (resized as needed), waiting up to
    /// `timeout`: its size and age (as for audio), or nil when none came.
    func pull(timeout: Duration, into pixels: inout [UInt8]) -> (width: Int, height: Int, age: Duration?)? {
        // Not under the lock for the wait (pushes and status go on meanwhile); counted, so `close` waits for it.
        guard let session = lock.withLock({ () -> OpaquePointer? in
            if self.session != nil { pulling += 1 }
            return self.session
        }) else { return nil }
        defer { lock.withLock { pulling -= 1; lock.broadcast() } }
        var rgb: UnsafePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var stride = 0
        var sample: UnsafeMutableRawPointer?
        var age: Int64 = -1
        let got = sd_webrtc_pull_rgb(session, Int32(clamping: timeout.nanoseconds / 1_000_000), &rgb, &width, &height, &stride, &age, &sample)
        defer { sd_webrtc_release(sample) }
        guard got == 1, let rgb else { return nil }
        let w = Int(width), h = Int(height), row = w * 3
        if pixels.count != row * h { pixels = [UInt8](repeating: 0, count: row * h) }
        pixels.withUnsafeMutableBufferPointer { out in
            for y in 0..<h { (out.baseAddress! + y * row).update(from: rgb + y * stride, count: row) }
        }
        return (w, h, age >= 0 ? .nanoseconds(age) : nil)
    }

    func close() {
        let closing: OpaquePointer? = lock.withLock {
            let s = session
            session = nil
            while pulling > 0 { lock.wait() }
            return s
        }
        if let closing { sd_webrtc_close(closing) }
    }
}
