/// The errors of reading and writing pictures and video: a code for programs, a one-line message for people,
/// and a separate detail for the debug log.
///
/// It lives in `Pipeline` (which knows nothing of FFmpeg) so that `Decode` and `Encode` share one error type
/// and callers can `catch let error as MediaError` without caring which side failed. The message is
/// "<path>: <cause>" so the command line can print it as it is; the FFmpeg function and its raw return code
/// go into `detail`, which is for logs, not for people (GStreamer's split of user text and debug text).
public struct MediaError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// Nothing exists at the path.
        case fileNotFound
        /// Something exists but cannot be read as a file (a directory, no permission, an I/O error).
        case unreadable
        /// The bytes are not a picture format we decode, or the extension names no format we write.
        case unsupportedFormat
        /// The format was recognised but no picture could be decoded (corrupt, truncated before any
        /// picture data, empty).
        case decodeFailed
        /// The encoder refused the picture or failed.
        case encodeFailed
        /// The output file (or its temporary sibling) cannot be created, written or renamed into place.
        case unwritable
        /// A caller-supplied value is out of range (a size of zero, a quality outside 1...100).
        case invalidArgument
    }

    public var code: Code
    /// The file the error is about, if any.
    public var path: String?
    /// The cause in words, without the path: "not a picture FFmpeg can read (Invalid data found when processing input)".
    public var cause: String
    /// For the debug log: which call failed and its raw return value. Not shown to people.
    public var detail: String?

    public init(_ code: Code, path: String?, _ cause: String, detail: String? = nil) {
        self.code = code
        self.path = path
        self.cause = cause
        self.detail = detail
    }

    /// One line for people: "<path>: <cause>", or just the cause when no file is involved.
    public var message: String {
        guard let path else { return cause }
        return "\(path): \(cause)"
    }

    public var description: String { message }
}
