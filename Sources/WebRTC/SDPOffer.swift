/// What streamd needs to know of a WHIP or WHEP offer before webrtcbin sees it: whether it is SDP at all, and
/// which payload types the peer gave H.264 video and Opus audio, so the answer uses the peer's numbers.
/// webrtcbin parses and answers the offer itself; this only picks codecs and turns an unusable offer into a
/// one-line error before any pipeline is built.
public struct SDPOffer: Sendable, Equatable {
    /// The offer as received.
    public var text: String
    /// The H.264 payload type (packetization mode 1, constrained baseline preferred), if video offers one.
    public var h264: Int?
    /// The Opus payload type, if audio offers one.
    public var opus: Int?
    /// Kinds of media lines (`video`, `audio`, `application`…), in order.
    public var media: [String]

    public init(_ text: String) throws(WebRTCError) {
        self.text = text
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard lines.first?.hasPrefix("v=0") == true else { throw .malformedOffer("it does not start with v=0") }
        media = []
        var rtpmaps: [(kind: String, pt: Int, codec: String)] = []
        var fmtp: [Int: String] = [:]
        var kind = ""
        for line in lines {
            if line.hasPrefix("m=") {
                let fields = line.dropFirst(2).split(separator: " ")
                guard fields.count >= 4 else { throw .malformedOffer("bad media line '\(line)'") }
                kind = String(fields[0])
                media.append(kind)
            } else if line.hasPrefix("a=rtpmap:") {
                let rest = line.dropFirst("a=rtpmap:".count).split(separator: " ", maxSplits: 1)
                if rest.count == 2, let pt = Int(rest[0]) {
                    rtpmaps.append((kind, pt, rest[1].split(separator: "/").first.map { $0.uppercased() } ?? ""))
                }
            } else if line.hasPrefix("a=fmtp:") {
                let rest = line.dropFirst("a=fmtp:".count).split(separator: " ", maxSplits: 1)
                if rest.count == 2, let pt = Int(rest[0]) { fmtp[pt] = String(rest[1]) }
            }
        }
        guard !media.isEmpty else { throw .malformedOffer("it has no media line") }
        let h264s = rtpmaps.filter { $0.kind == "video" && $0.codec == "H264" }.map(\.pt)
        // Mode 1 is what every browser and x264's RTP payloader speak; constrained baseline decodes everywhere.
        let mode1 = h264s.filter { fmtp[$0]?.contains("packetization-mode=1") == true }
        h264 = mode1.first { fmtp[$0]?.lowercased().contains("profile-level-id=42e0") == true } ?? mode1.first
        opus = rtpmaps.first { $0.kind == "audio" && $0.codec == "OPUS" }?.pt
    }

    /// The video payload type to use, or the error that says why there is none.
    public func requireH264() throws(WebRTCError) -> Int {
        guard media.contains("video") else { throw .noVideo }
        guard let h264 else { throw .noH264 }
        return h264
    }
}

/// Why a WebRTC session could not be made; each says it in one line a person can act on.
public enum WebRTCError: Error, Equatable, CustomStringConvertible {
    case malformedOffer(String)
    case noVideo
    case noH264
    case tooManySessions(limit: Int, kind: String)
    case busy(String)
    case failed(String)

    public var description: String {
        switch self {
        case .malformedOffer(let why): "the offer is not a usable SDP description: \(why)"
        case .noVideo: "the offer has no video"
        case .noH264: "the offer's video has no H.264 (packetization-mode=1): streamd sends and receives H.264"
        case .tooManySessions(let limit, let kind): "already \(limit) \(kind) session\(limit == 1 ? "" : "s") (the limit)"
        case .busy(let why): why
        case .failed(let why): why
        }
    }
}
