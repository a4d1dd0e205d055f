import Decode
import Foundation
public import Pipeline
public import Stylize

/// The styles an embedding-conditioned student learns (`train --any-painting`): style embeddings drawn from
/// pictures, so that the student covers the part of the embedding space that paintings fall in rather than a
/// few points of it. From each picture (the paintings given, and any other pictures, such as photos, that
/// widen the range) come
/// - the embedding of the picture as Magenta takes it (its centred square),
/// - the embeddings of `crops` random squares of it (40–80 % of its shorter side, anywhere in it), every
///   other one with its hues turned by a random angle: a detail of a painting has its own palette and strokes,
///   and a painting in other colours keeps its brushwork, so each is a point of the space near the paintings,
///   which a handful of public-domain paintings alone would cover thinly,
///
/// and then `blends` embeddings are drawn between two of those (a random pair, mixed t : 1 − t with t uniform in
/// 0.25…0.75), which is how people use the space too (`--style-blend`, a strength below 1). Everything is
/// drawn from `seed`, so a resumed run samples the same styles.
public enum TrainingEmbeddings {
    public struct Style: Sendable, Equatable {
        /// Where it came from: "wave", "wave crop 2", "wave + scream 0.31".
        public var name: String
        public var embedding: [Float]
    }

    public static func sample(pictures: [String], crops: Int, blends: Int, seed: UInt64, predictor: StylePredictor) throws -> [Style] {
        precondition(crops >= 0 && blends >= 0)
        var random = SeededRandom(seed: seed ^ 0xE3B0_C442_98FC_1C14)
        var styles: [Style] = []
        let side = StylePredictor.inputSize
        for path in pictures {
            let picture = try ImageDecoder.decode(path: path)
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            styles.append(Style(name: name, embedding: try predictor.embedding(of: try StylePicture.square(picture, size: side))))
            let shorter = min(picture.width, picture.height)
            for crop in 0..<crops {
                let s = min(shorter, max(16, Int(Float(shorter) * (0.4 + 0.4 * random.unit()))))
                let x = Int(random.next() % UInt64(picture.width - s + 1)), y = Int(random.next() % UInt64(picture.height - s + 1))
                var square = try ImageDecoder.resize(picture.cropped(x: x, y: y, width: s, height: s), width: side, height: side)
                let angle = random.unit() * 360
                if crop % 2 == 1 { square = hueRotated(square, degrees: angle) }
                styles.append(Style(name: "\(name) crop \(crop + 1)" + (crop % 2 == 1 ? String(format: " hue %+.0f", angle) : ""),
                                    embedding: try predictor.embedding(of: square)))
            }
        }
        let drawn = styles.count
        if drawn >= 2 {
            for _ in 0..<blends {
                let i = Int(random.next() % UInt64(drawn))
                var j = Int(random.next() % UInt64(drawn - 1))
                if j >= i { j += 1 }
                let t = 0.25 + 0.5 * random.unit()
                styles.append(Style(name: String(format: "%@ + %@ %.2f", styles[i].name, styles[j].name, t),
                                    embedding: try StylePredictor.blend([styles[i].embedding, styles[j].embedding], weights: [t, 1 - t])))
            }
        }
        return styles
    }

    /// `picture` with every colour turned by `degrees` about the grey axis (lightness and saturation roughly
    /// kept), clamped to 0…255.
    public static func hueRotated(_ picture: RGBImage, degrees: Float) -> RGBImage {
        let t = degrees * .pi / 180, c = cos(t), s = sin(t), a = (1 - c) / 3, b = s / Float(3).squareRoot()
        let m: [Float] = [c + a, a - b, a + b,
                          a + b, c + a, a - b,
                          a - b, a + b, c + a]
        var out = picture
        out.pixels.withUnsafeMutableBufferPointer { p in
            for i in stride(from: 0, to: p.count, by: 3) {
                let r = Float(p[i]), g = Float(p[i + 1]), bl = Float(p[i + 2])
                for k in 0..<3 {
                    p[i + k] = UInt8(max(0, min(255, (m[3 * k] * r + m[3 * k + 1] * g + m[3 * k + 2] * bl).rounded())))
                }
            }
        }
        return out
    }

    /// The pictures of a folder (its JPEG, PNG, WebP and BMP files, recursively, sorted), as `PhotoDataset` finds them.
    public static func pictures(inFolder folder: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PhotoDataset.Problem(description: "\(folder): no such directory")
        }
        return try PhotoDataset(root: folder).files
    }

    /// The style a training sample learns: drawn from (seed, epoch, position), so that every photo meets every
    /// style over the epochs (a fixed rotation would pair each photo with a few styles only) and a resumed run
    /// draws the same.
    public static func styleIndex(epoch: Int, position: Int, seed: UInt64, count: Int) -> Int {
        var random = SeededRandom(seed: seed &+ 0x51A7_E000 &+ UInt64(epoch) &* 0x1_0000_0001 &+ UInt64(position) &* 0x9E37)
        return Int(random.next() % UInt64(count))
    }
}
