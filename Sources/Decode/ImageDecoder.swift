import CFFmpeg
import Foundation
import FFmpegSupport
public import Pipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads still pictures (JPEG incl. CMYK and progressive, PNG 8/16-bit incl. gray, palette and alpha, WebP, BMP,
/// and whatever else FFmpeg's image demuxers recognise) into `RGBImage`, and resizes them.
///
/// Built on libavformat's image demuxers (`image2`, chosen by extension, and the `*_pipe` ones, chosen by
/// content), libavcodec and libswscale. The work is synchronous and blocking: call it from a thread that may
/// block, not from Swift's cooperative pool in a hot path. Each call owns its own FFmpeg objects, so calls may
/// run in parallel.
public enum ImageDecoder {
    /// Decodes the first picture in the file at `path`, upright: an EXIF orientation (exported by FFmpeg as a
    /// display matrix) is applied. Alpha is composited over white (see `FrameConversion`).
    ///
    /// A JPEG cut short after its first scan decodes to what it holds, as every JPEG viewer does (the
    /// missing part is left grey); a file in which no picture decodes at all is an error.
    ///
    /// - Throws: `MediaError` with a one-line message naming `path` and the cause.
    public static func decode(path: String) throws -> RGBImage {
        try checkInputFile(path)

        let input: InputContext
        do {
            // "file:" so that a path with a colon in it is never taken for a protocol ("http:x.jpg").
            input = try InputContext(url: "file:" + path)
        } catch {
            throw openError(path: path, error)
        }
        let format = input.context
        let demuxer = String(cString: format.pointee.iformat.pointee.name)
        guard isImageDemuxer(demuxer) else {
            throw MediaError(.unsupportedFormat, path: path, "not a still picture (FFmpeg reads it as '\(demuxer)')",
                             detail: "demuxer \(demuxer) is not an image demuxer")
        }

        var decoderPointer: UnsafePointer<AVCodec>?
        let streamIndex = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoderPointer, 0)
        guard streamIndex >= 0, let stream = format.pointee.streams[Int(streamIndex)] else {
            if streamIndex == streamd_averror_decoder_not_found() {
                throw MediaError(.unsupportedFormat, path: path, "no decoder for this kind of picture",
                                 detail: "av_find_best_stream returned \(streamIndex)")
            }
            throw MediaError(.unsupportedFormat, path: path, "contains no picture",
                             detail: "av_find_best_stream returned \(streamIndex) (\(ffmpegErrorText(streamIndex)))")
        }
        guard let decoderPointer else {
            throw MediaError(.unsupportedFormat, path: path, "no decoder for this kind of picture")
        }
        let codecName = String(cString: decoderPointer.pointee.name)
        guard let codec = CodecContext(codec: decoderPointer) else {
            throw MediaError(.decodeFailed, path: path, "out of memory", detail: "avcodec_alloc_context3 failed")
        }
        var result = avcodec_parameters_to_context(codec.context, stream.pointee.codecpar)
        guard result >= 0 else { throw decodeError(path: path, FFmpegCallError(function: "avcodec_parameters_to_context", code: result)) }
        // One picture: decoder threads would only add start-up cost. Parallelism belongs to the pipeline.
        codec.context.pointee.thread_count = 1
        result = openCodec(codec.context, decoderPointer, nil)
        guard result >= 0 else { throw decodeError(path: path, FFmpegCallError(function: "avcodec_open2 (\(codecName))", code: result)) }

        guard let packet = Packet(), let frame = Frame() else {
            throw MediaError(.decodeFailed, path: path, "out of memory", detail: "av_packet_alloc/av_frame_alloc failed")
        }
        let codecID = codec.context.pointee.codec_id

        /// Takes one decoded frame if there is one. Decode errors are remembered, not thrown: the next packet
        /// (or the flush) may still yield a picture.
        var lastError: FFmpegCallError?
        func receive() throws(FFmpegCallError) -> RGBImage? {
            let received = avcodec_receive_frame(codec.context, frame.frame)
            if received == streamd_averror_eagain() || received == streamd_averror_eof() { return nil }
            guard received >= 0 else {
                lastError = FFmpegCallError(function: "avcodec_receive_frame (\(codecName))", code: received)
                return nil
            }
            defer { av_frame_unref(frame.frame) }
            let image = try FrameConversion.rgbImage(from: frame.frame, codecID: codecID)
            return Orientation(frame: frame.frame).apply(to: image)
        }

        do {
            while true {
                let read = av_read_frame(format, packet.packet)
                if read < 0 {
                    if read != streamd_averror_eof() {
                        lastError = FFmpegCallError(function: "av_read_frame", code: read)
                    }
                    break
                }
                defer { av_packet_unref(packet.packet) }
                guard packet.packet.pointee.stream_index == streamIndex else { continue }
                let sent = avcodec_send_packet(codec.context, packet.packet)
                if sent < 0 && sent != streamd_averror_eagain() {
                    lastError = FFmpegCallError(function: "avcodec_send_packet (\(codecName))", code: sent)
                    continue
                }
                if let image = try receive() { return image }
            }
            // End of input: drain what the decoder still holds.
            _ = avcodec_send_packet(codec.context, nil)
            if let image = try receive() { return image }
        } catch {
            throw decodeError(path: path, error)
        }
        let cause = lastError.map { " (\($0.text))" } ?? ""
        throw MediaError(.decodeFailed, path: path, "no picture could be decoded\(cause)",
                         detail: lastError?.detail ?? "\(codecName): no frame before end of file")
    }

    /// Decodes a picture uploaded as bytes (an HTTP body), by content: the bytes go through a private temporary
    /// file without an extension (the demuxer is chosen by what the bytes are, never by a name a client picked),
    /// removed at once. Pictures of more than `maxPixels` are refused after decoding (a small PNG can unpack to
    /// gigabytes).
    ///
    /// - Throws: `UploadError.notAPicture` for bytes that are no still picture, `.tooManyPixels` (with the size)
    ///   for one too large, or the file system's error for the temporary file.
    public static func decode(upload: [UInt8], maxPixels: Int = uploadMaxPixels) throws -> RGBImage {
        guard !upload.isEmpty else { throw UploadError.empty }
        let fm = FileManager.default
        let directory = fm.temporaryDirectory.appendingPathComponent("streamd-upload-\(UUID().uuidString)")
        try fm.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? fm.removeItem(at: directory) }
        let file = directory.appendingPathComponent("upload")
        try Data(upload).write(to: file)
        let picture: RGBImage
        do { picture = try decode(path: file.path) } catch { throw UploadError.notAPicture }
        guard picture.width * picture.height <= maxPixels else {
            throw UploadError.tooManyPixels(width: picture.width, height: picture.height, limit: maxPixels)
        }
        return picture
    }

    /// The most pixels a picture sent to the service (a photo to stylize, a painting) may unpack to.
    public static let uploadMaxPixels = 50_000_000

    /// Why uploaded bytes were not decoded (the HTTP answers: 400, 415, 413).
    public enum UploadError: Error, Equatable, CustomStringConvertible {
        case empty
        case notAPicture
        case tooManyPixels(width: Int, height: Int, limit: Int)

        public var description: String {
            switch self {
            case .empty: "the body is empty: send the picture as the request body (curl --data-binary @photo.jpg)"
            case .notAPicture: "the body is not a picture streamd can read (JPEG, PNG, WebP, BMP, …)"
            case .tooManyPixels(let w, let h, let limit): "the picture has \(w)x\(h) pixels, more than \(limit / 1_000_000) megapixels"
            }
        }
    }

    /// `image` scaled to `width`×`height` with libswscale (see `PictureResizer`, which a stage resizing every
    /// frame keeps instead, so its scaler is built once).
    ///
    /// With a `pool`, the result's pixels come from it.
    ///
    /// - Throws: `MediaError.Code.invalidArgument` for a size of zero or beyond FFmpeg's limits.
    public static func resize(_ image: RGBImage, width: Int, height: Int, pool: FramePool? = nil) throws -> RGBImage {
        try PictureResizer().resize(image, width: width, height: height, pool: pool)
    }

    // MARK: - Helpers

    /// Demuxers that read a single picture (or an image sequence / animation): `image2` (by extension), the
    /// content-probed `*_pipe` ones (jpeg_pipe, png_pipe, webp_pipe, bmp_pipe, …) and the animated picture
    /// formats. Anything else is refused: the `tty` demuxer accepts any text file and would "decode" it as
    /// ANSI art, and a video container belongs to the video path, not here.
    static func isImageDemuxer(_ name: String) -> Bool {
        name == "image2" || name == "image2pipe" || name.hasSuffix("_pipe") || name == "gif" || name == "apng"
            || name == "webp"
    }

    /// Rejects what libavformat would report obscurely or not at all: a missing path, a directory, an empty
    /// file.
    private static func checkInputFile(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw MediaError(.fileNotFound, path: path, "no such file")
            }
            throw MediaError(.unreadable, path: path, "cannot read: \(String(cString: strerror(code)))")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw MediaError(.unreadable, path: path, "is a directory, not a picture file")
        }
        if (info.st_mode & S_IFMT) == S_IFREG && info.st_size == 0 {
            throw MediaError(.decodeFailed, path: path, "empty file")
        }
    }

    private static func openError(path: String, _ error: FFmpegCallError) -> MediaError {
        switch error.code {
        case streamd_averror(ENOENT):
            MediaError(.fileNotFound, path: path, "no such file", detail: error.detail)
        case streamd_averror_invaliddata():
            MediaError(.unsupportedFormat, path: path, "not a picture format FFmpeg can read (\(error.text))",
                       detail: error.detail)
        default:
            MediaError(.unreadable, path: path, "cannot open: \(error.text)", detail: error.detail)
        }
    }

    private static func decodeError(path: String, _ error: FFmpegCallError) -> MediaError {
        MediaError(.decodeFailed, path: path, "cannot decode: \(error.text)", detail: error.detail)
    }
}
