package import CFFmpeg

/// What a container stream carries, as FFmpeg classifies it.
public enum MediaKind: String, Sendable, Hashable, CaseIterable {
    case video, audio, subtitle, data, attachment, unknown

    /// FFmpeg's media type of a stream's codec parameters.
    package init(_ type: AVMediaType) {
        let name = av_get_media_type_string(type).map { String(cString: $0) } ?? "unknown"
        self = MediaKind(rawValue: name) ?? .unknown
    }
}
