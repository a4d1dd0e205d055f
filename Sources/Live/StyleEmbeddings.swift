import Crypto
import Decode
import Encode
import Foundation
public import Pipeline
import Stylize

/// Paintings turned into styles, once each: the arbitrary-style predictor runs once per painting and its
/// embedding is kept under the SHA-256 of the picture's bytes, so the same painting uploaded twice, named in two
/// pipelines, or applied again after a `SIGHUP` reload costs nothing more. The service owns one for its whole
/// life (pipelines come and go across reloads; this does not). Bounded: the `capacity` most recently used
/// paintings are kept, each with a small thumbnail for the page. Thread-safe; the predictor itself runs one
/// painting at a time.
public final class StyleEmbeddings: @unchecked Sendable {
    public struct Painting: Sendable, Equatable {
        /// The first 16 hexadecimal digits of the SHA-256 of the picture's bytes: how the API names it.
        public var id: String
        /// Where it came from, for people: a file's name, or "upload".
        public var label: String
        public var width: Int, height: Int
        public var embedding: [Float]
        /// A JPEG of at most `thumbnailSide` pixels a side.
        public var thumbnail: [UInt8]
    }

    public static let thumbnailSide = 160

    public let capacity: Int
    private let lock = NSLock()
    private var paintings: [Painting] = []  // most recently used first
    private let predictorLock = NSLock()
    private var predictor: StylePredictor?

    public init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
    }

    /// Every painting kept, most recently used first.
    public var all: [Painting] { lock.lock(); defer { lock.unlock() }; return paintings }

    /// The painting with this id, marked as just used; nil if it is unknown or was evicted.
    public func painting(id: String) -> Painting? {
        lock.lock(); defer { lock.unlock() }
        guard let i = paintings.firstIndex(where: { $0.id == id }) else { return nil }
        let p = paintings.remove(at: i)
        paintings.insert(p, at: 0)
        return p
    }

    /// A painting from a file (a pipeline's `style_image:`). Blocking.
    /// - Throws: `StyleError` naming the file and the cause.
    public func add(path: String) throws -> Painting {
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw StyleError("style_image \(path): cannot be read (\(error.localizedDescription))")
        }
        do {
            return try add(bytes: bytes, label: URL(fileURLWithPath: path).lastPathComponent) { _ in try ImageDecoder.decode(path: path) }
        } catch let e as StyleError {
            throw e
        } catch {
            throw StyleError("style_image \(error)")
        }
    }

    /// A painting uploaded as bytes, decoded by content. Blocking.
    /// - Throws: `ImageDecoder.UploadError` for bytes that are no picture or too large one.
    public func add(upload: [UInt8], label: String = "upload") throws -> Painting {
        try add(bytes: upload, label: label) { try ImageDecoder.decode(upload: $0) }
    }

    /// The embedding of any picture (a photo's own, to weaken a painting towards it), not kept. Blocking.
    public func embedding(of picture: RGBImage) throws -> [Float] {
        let square = try StylePicture.square(picture, size: StylePredictor.inputSize)
        return try predict(square)
    }

    private func predict(_ square: RGBImage) throws -> [Float] {
        predictorLock.lock(); defer { predictorLock.unlock() }
        if predictor == nil { predictor = try StylePredictor.builtin(threads: 1) }
        return try predictor!.embedding(of: square)
    }

    private func add(bytes: [UInt8], label: String, decode: ([UInt8]) throws -> RGBImage) throws -> Painting {
        let id = SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined()
        if let known = painting(id: id) { return known }
        let picture = try decode(bytes)
        // A file's painting is held to the uploads' limit too (`decode(upload:)` checks it for those).
        let limit = ImageDecoder.uploadMaxPixels
        guard picture.width * picture.height <= limit else {
            throw ImageDecoder.UploadError.tooManyPixels(width: picture.width, height: picture.height, limit: limit)
        }
        let square = try StylePicture.square(picture, size: StylePredictor.inputSize)
        let embedding = try predict(square)
        let fitted = FitSize.shrunk(width: picture.width, height: picture.height, maxSide: Self.thumbnailSide)
        let small = fitted != (picture.width, picture.height) ? try ImageDecoder.resize(picture, width: fitted.width, height: fitted.height) : picture
        let painting = Painting(id: id, label: label, width: picture.width, height: picture.height, embedding: embedding,
                                thumbnail: try ImageEncoder.encoded(small, as: .jpeg, quality: 85))
        lock.lock(); defer { lock.unlock() }
        paintings.removeAll { $0.id == id }
        paintings.insert(painting, at: 0)
        if paintings.count > capacity { paintings.removeLast(paintings.count - capacity) }
        return painting
    }
}
