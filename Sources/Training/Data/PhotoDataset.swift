import Decode
import Foundation
public import Pipeline

/// The training photos: every JPEG, PNG, WebP or BMP under a folder (recursively, like COCO's `train2014/`),
/// in a fixed sorted order, shuffled per epoch from the seed, so a run and its resumption see the same
/// pictures in the same order.
public struct PhotoDataset: Sendable {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png", "webp", "bmp"]
    public let root: String
    public let files: [String]

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public init(root: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Problem(description: "\(root): no such directory")
        }
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw Problem(description: "\(root): cannot be read")
        }
        var files: [String] = []
        while let item = walker.nextObject() as? String {
            if Self.extensions.contains((item as NSString).pathExtension.lowercased()) {
                files.append((root as NSString).appendingPathComponent(item))
            }
        }
        guard !files.isEmpty else {
            throw Problem(description: "\(root): no JPEG, PNG, WebP or BMP pictures in this folder or below it")
        }
        self.root = root
        self.files = files.sorted()
    }

    /// The order of epoch `epoch`: a Fisher–Yates shuffle seeded by (seed, epoch).
    public func order(epoch: Int, seed: UInt64) -> [Int] {
        var random = SeededRandom(seed: seed &+ 0x5EED &* UInt64(epoch + 1))
        var order = Array(files.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(random.next() % UInt64(i + 1)))
        }
        return order
    }

    /// Where a training picture comes from in its photo: the photo scaled to `width`×`height` (its shorter side
    /// `size`, the longer in proportion), then the size×size square at (`x`, `y`).
    public struct Placement: Sendable, Equatable {
        public var width: Int, height: Int, x: Int, y: Int
        public var size: Int
    }

    /// The placement of a `size`×`size` cut in a `width`×`height` photo, its position drawn from `random`.
    public static func placement(width: Int, height: Int, size: Int, random: inout SeededRandom) -> Placement {
        let scale = Double(size) / Double(min(width, height))
        let w = max(size, Int((Double(width) * scale).rounded())), h = max(size, Int((Double(height) * scale).rounded()))
        let x = w > size ? Int(random.next() % UInt64(w - size + 1)) : 0
        let y = h > size ? Int(random.next() % UInt64(h - size + 1)) : 0
        return Placement(width: w, height: h, x: x, y: y, size: size)
    }

    /// A training picture from one photo (RGB 0…1, size×size): the shorter side scaled to `size` (the longer
    /// in proportion), then a square cut at a position drawn from `random`.
    public static func crop(_ image: RGBImage, size: Int, random: inout SeededRandom) throws -> FeatureMap {
        try crop(image, at: placement(width: image.width, height: image.height, size: size, random: &random))
    }

    public static func crop(_ image: RGBImage, at p: Placement) throws -> FeatureMap {
        FeatureMap(picture: try scaled(image, to: p).cropped(x: p.x, y: p.y, width: p.size, height: p.size))
    }

    /// The whole photo scaled as `p` scales it (what a distillation teacher paints).
    public static func scaled(_ image: RGBImage, to p: Placement) throws -> RGBImage {
        try ImageDecoder.resize(image, width: p.width, height: p.height)
    }
}

/// One training picture and where it came from, for resuming.
public struct TrainingSample: Sendable {
    public var picture: FeatureMap
    public var epoch: Int
    /// Position in the epoch's order (the next sample after a resume is `position + 1`).
    public var position: Int
    /// The photo's file and where in it the picture was cut (a teacher paints the same cut).
    public var file: String
    public var placement: PhotoDataset.Placement
}

/// The loader stage: a thread decoding and cropping photos in the dataset's seeded order into a bounded queue,
/// so the compute threads never wait for FFmpeg. Undecodable files are skipped and counted, never fatal.
public final class PhotoLoader: @unchecked Sendable {
    public let queue: BoundedQueue<TrainingSample>
    private let lock = NSLock()
    private var skippedFiles: Set<String> = []
    private var thread: Thread?

    /// Starts at `epoch`, `position` (0, 0 for a fresh run) and runs for `epochs` epochs in all.
    public init(dataset: PhotoDataset, size: Int, seed: UInt64, epochs: Int, epoch startEpoch: Int = 0, position startPosition: Int = 0,
                capacity: Int = 8) {
        queue = BoundedQueue(capacity: capacity)
        let queue = self.queue
        let thread = Thread { [weak self] in
            outer: for epoch in startEpoch..<epochs {
                let order = dataset.order(epoch: epoch, seed: seed)
                for position in (epoch == startEpoch ? startPosition : 0)..<order.count {
                    let file = dataset.files[order[position]]
                    // Each picture's crop depends only on (seed, epoch, position): resuming draws the same one.
                    var random = SeededRandom(seed: seed ^ (UInt64(epoch) << 40) ^ UInt64(position) &* 0x9E37_79B9)
                    let picture: FeatureMap, placement: PhotoDataset.Placement
                    do {
                        let photo = try ImageDecoder.decode(path: file)
                        placement = PhotoDataset.placement(width: photo.width, height: photo.height, size: size, random: &random)
                        picture = try PhotoDataset.crop(photo, at: placement)
                    } catch {
                        self?.skipped(file)
                        continue
                    }
                    let sample = TrainingSample(picture: picture, epoch: epoch, position: position, file: file, placement: placement)
                    if queue.send(sample) == .consumerGone { break outer }
                }
            }
            queue.finish()
        }
        thread.name = "photo-loader"
        self.thread = thread
        thread.start()
    }

    private func skipped(_ file: String) {
        lock.lock()
        skippedFiles.insert(file)
        lock.unlock()
    }

    /// Files that could not be decoded so far (each once, however many epochs met it).
    public var skipped: [String] {
        lock.lock()
        defer { lock.unlock() }
        return skippedFiles.sorted()
    }

    /// Stops the loader (it finishes the picture in hand).
    public func stop() { queue.cancel() }
}
