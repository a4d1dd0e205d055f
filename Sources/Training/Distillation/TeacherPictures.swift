import Decode
import Foundation
public import Pipeline

/// What the student of a distillation learns: the teacher network's picture of each training photo. The teacher
/// paints the whole photo (scaled as the loader scales it, so its normalisations see the whole picture, as they
/// do on a real frame) once per photo and style; each training picture is then cut from that painting where the
/// loader cut the photo. Over many epochs the random cuts differ but the teacher runs only once per photo and
/// style. Kept in memory as 8-bit pictures (a 256×384 painting is 295 KB); the teacher is deterministic, so a
/// resumed run, which paints again, sees the same targets.
public final class TeacherPictures {
    /// The teacher's picture of a (scaled) photo in student style `style`.
    public typealias Paint = (_ photo: RGBImage, _ style: Int) throws -> RGBImage

    private let paint: Paint
    private var paintings: [String: RGBImage] = [:]

    public init(paint: @escaping Paint) { self.paint = paint }

    /// Teacher paintings made so far (each photo and style once).
    public var count: Int { paintings.count }

    /// The target of `sample` in `style`: RGB 0…1, the size of `sample.picture`.
    public func target(for sample: TrainingSample, style: Int) throws -> FeatureMap {
        let p = sample.placement
        let key = "\(style)|\(p.width)x\(p.height)|\(sample.file)"
        let painting: RGBImage
        if let known = paintings[key] {
            painting = known
        } else {
            let photo = try PhotoDataset.scaled(try ImageDecoder.decode(path: sample.file), to: p)
            painting = try paint(photo, style)
            guard painting.width == p.width, painting.height == p.height else {
                throw PhotoDataset.Problem(description: "the teacher painted \(painting.width)x\(painting.height) for a \(p.width)x\(p.height) photo")
            }
            paintings[key] = painting
        }
        return FeatureMap(picture: painting.cropped(x: p.x, y: p.y, width: p.size, height: p.size))
    }
}
