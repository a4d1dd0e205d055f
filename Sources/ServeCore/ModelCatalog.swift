import Encode
import Foundation
package import Pipeline
package import Stylize

/// Why the catalog cannot give what was asked (the API maps `code` to a status).
package struct CatalogError: Error, CustomStringConvertible {
    package enum Code { case notFound, badStyle, unusable }
    package var code: Code
    package var description: String
    package init(_ code: Code, _ description: String) { self.code = code; self.description = description }
}

/// The style models of `server.model_dirs`, after the built-in `default` (unless a directory has its own), as
/// the web page and `POST /v1/stylize` see them: by name only (a request can name a model an operator put
/// there, never a path), each with its styles and a thumbnail.
///
/// Listing needs each model's style names, which only loading tells, so what was learnt is kept per file (and
/// re-learnt when the file changes). A few loaded models are kept too: thumbnails of a 26-style model and a
/// series of uploads would otherwise re-read the same weights every time. Everything here blocks (file reads,
/// model loading, stylizing): call it from a dedicated thread.
package final class ModelCatalog: @unchecked Sendable {
    package struct Entry: Sendable {
        package var name: String
        package var format: String
        /// Style names of a multi-style model; empty for a single-style one.
        package var styles: [String]
        /// Why the model cannot be used (it does not load), if it cannot.
        package var error: String?
        /// It takes any painting as its style (`POST /v1/styles`), not trained styles.
        package var takesPainting = false
        fileprivate var path: String
        fileprivate var stamp: Date?
    }

    private let directories: [String]
    private let lock = NSLock()
    // Guarded by `lock`.
    private var entries: [String: Entry] = [:]
    private var loaded: [(path: String, stamp: Date?, model: StyleModel)] = []
    private var thumbnails: [String: [UInt8]] = [:]
    /// Thumbnails are made one at a time (a page asks for all of them at once).
    private let thumbnailWork = NSLock()
    /// The last thumbnail session, kept while one model's styles are drawn one after another (guarded by `thumbnailWork`).
    private var thumbnailStylizer: (key: String, stylizer: Stylizer)?

    /// Loaded models kept at once (an ml5 model is about 7 MB of weights).
    package static let keptModels = 3
    /// The thumbnail cache's bound (a JPEG of about 6 KB each).
    package static let keptThumbnails = 512

    package init(directories: [String]) { self.directories = directories }

    /// Every style model in the directories, in the library's order (the built-in model first; a name found
    /// twice is the first one).
    /// The VGG19 loss network is a model file but no style: it is left out.
    package func list() -> [Entry] {
        ModelLibrary(directories: directories).list().filter { $0.format != .vgg19 }.map { describe($0.name, path: $0.path, format: $0.format) }
    }

    /// The model called `name` and what the catalog knows of it.
    package func model(named name: String) throws(CatalogError) -> (Entry, StyleModel) {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw CatalogError(.notFound, "'\(name)' is not a model name (give a name from GET /v1/models)")
        }
        guard let found = ModelLibrary(directories: directories).list().first(where: { $0.name == name && $0.format != .vgg19 }) else {
            throw CatalogError(.notFound, "no model named '\(name)' in the model directories")
        }
        let stamp = Self.stamp(found.path)
        if let kept = lock.withLock({ loaded.first { $0.path == found.path && $0.stamp == stamp } }) {
            return (describe(name, path: found.path, format: found.format), kept.model)
        }
        let model: StyleModel
        do { model = try ModelLoader.load(path: found.path) } catch {
            throw CatalogError(.unusable, "model '\(name)' cannot be loaded: \(error)")
        }
        let entry = Entry(name: name, format: found.format.rawValue, styles: model.info.styleNames, error: nil,
                          takesPainting: model.info.styleEmbeddingSize != nil, path: found.path, stamp: stamp)
        lock.withLock {
            entries[found.path] = entry
            loaded.removeAll { $0.path == found.path }
            loaded.append((found.path, stamp, model))
            if loaded.count > Self.keptModels { loaded.removeFirst() }
        }
        return (entry, model)
    }

    /// A small JPEG of `ThumbnailPicture` in this style, made once per model file and style and then kept.
    package func thumbnail(model name: String, style: Int?) throws -> [UInt8] {
        let (entry, model) = try model(named: name)
        if entry.takesPainting {
            throw CatalogError(.badStyle, "model '\(name)' takes any painting as its style: its pictures are the paintings' (GET /v1/styles/ID/thumbnail)")
        }
        let modelKey = "\(entry.path)|\(entry.stamp?.timeIntervalSince1970 ?? 0)"
        let key = "\(modelKey)|\(style ?? -1)"
        if let cached = lock.withLock({ thumbnails[key] }) { return cached }
        let weights: [Float]?
        do { weights = try StyleChoice(name: nil, index: style, mix: nil).weights(styleNames: entry.styles) } catch {
            throw CatalogError(.badStyle, "model '\(name)': \(error.description)")
        }
        thumbnailWork.lock(); defer { thumbnailWork.unlock() }
        if let cached = lock.withLock({ thumbnails[key] }) { return cached }
        let stylizer: Stylizer
        if let kept = thumbnailStylizer, kept.key == modelKey {
            stylizer = kept.stylizer
        } else {
            do { stylizer = try Stylizer(model: model, threads: 1) } catch {
                throw CatalogError(.unusable, "model '\(name)' cannot run: \(error)")
            }
            thumbnailStylizer = (modelKey, stylizer)
        }
        let picture: RGBImage
        do { picture = try stylizer.stylize(ThumbnailPicture.image, options: StyleOptions(styleWeights: weights)) } catch {
            throw CatalogError(.unusable, "model '\(name)' cannot run: \(error)")
        }
        let jpeg = try ImageEncoder.encoded(picture, as: .jpeg, quality: 85)
        lock.withLock {
            if thumbnails.count >= Self.keptThumbnails { thumbnails.removeAll() }
            thumbnails[key] = jpeg
        }
        return jpeg
    }

    /// What is known of one model file, loading it only if it is new or changed since it was last seen.
    private func describe(_ name: String, path: String, format: ModelLoader.Format) -> Entry {
        let stamp = Self.stamp(path)
        if let known = lock.withLock({ entries[path] }), known.stamp == stamp, known.name == name { return known }
        var entry = Entry(name: name, format: format.rawValue, styles: [], error: nil, path: path, stamp: stamp)
        do {
            let info = try ModelLoader.load(path: path).info
            entry.styles = info.styleNames
            entry.takesPainting = info.styleEmbeddingSize != nil
        } catch { entry.error = "\(error)" }
        lock.withLock { entries[path] = entry }
        return entry
    }

    /// The file's (or an ml5 folder's manifest's) modification time: a replaced model is noticed.
    private static func stamp(_ path: String) -> Date? {
        let manifest = (path as NSString).appendingPathComponent("manifest.json")
        let file = FileManager.default.fileExists(atPath: manifest) ? manifest : path
        return (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date
    }
}

/// The fixed picture every thumbnail stylizes: drawn here (sky, sun, hills, a house, a tree) rather than read
/// from a file, so the binary needs no picture beside it and no licence is involved. Shapes and smooth colour
/// ramps show what a style does to edges and flat areas alike.
package enum ThumbnailPicture {
    /// Small: a thumbnail is shown about 120 pixels wide, and each costs a stylization.
    package static let width = 128, height = 96

    package static let image: RGBImage = {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        func put(_ x: Int, _ y: Int, _ r: Double, _ g: Double, _ b: Double) {
            let i = (y * width + x) * 3
            pixels[i] = UInt8(max(0, min(255, r))); pixels[i + 1] = UInt8(max(0, min(255, g))); pixels[i + 2] = UInt8(max(0, min(255, b)))
        }
        for y in 0..<height {
            for x in 0..<width {
                // Drawn in a 160×120 design space, whatever the size.
                let fx = Double(x) * 160 / Double(width), fy = Double(y) * 120 / Double(height)
                let t = fy / 120
                // Sky: deep blue at the top to pale near the horizon.
                var c = (70 + 150 * t, 120 + 110 * t, 210 + 30 * t)
                // Sun with a soft halo.
                let sun = ((fx - 118) * (fx - 118) + (fy - 30) * (fy - 30)).squareRoot()
                if sun < 14 { c = (255, 214, 90) } else if sun < 24 { let k = (24 - sun) / 10; c = (c.0 + (255 - c.0) * k * 0.6, c.1 + (220 - c.1) * k * 0.6, c.2 * (1 - k * 0.5)) }
                // Two ranges of hills.
                let far = 72 + 10 * sin(fx / 17) + 5 * sin(fx / 7 + 1)
                let near = 88 + 8 * sin(fx / 23 + 2) + 3 * sin(fx / 5)
                if fy > far { c = (90, 140 - (fy - far), 110) }
                if fy > near { c = (60 + 0.4 * (fy - near), 150 - 0.6 * (fy - near), 60) }
                // A house: red roof, cream walls, a dark door.
                if fx >= 30 && fx < 62 && fy >= 74 && fy < 100 { c = (236, 224, 196) }
                if fy >= 58 && fy < 74 && abs(fx - 46) < (fy - 56) * 1.2 { c = (190, 48, 40) }
                if fx >= 42 && fx < 50 && fy >= 86 && fy < 100 { c = (70, 45, 30) }
                // A tree: trunk and crown.
                if fx >= 97 && fx < 101 && fy >= 80 && fy < 100 { c = (95, 60, 35) }
                if ((fx - 99) * (fx - 99) + (fy - 72) * (fy - 72)) < 130 { c = (40, 120 - 0.8 * (fy - 62), 45) }
                put(x, y, c.0, c.1, c.2)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }()
}
