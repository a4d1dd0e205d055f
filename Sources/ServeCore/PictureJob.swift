package import Decode
package import Encode
import Foundation
package import Live
package import Pipeline
import Stylize

/// One `POST /v1/stylize`: the query's choices, checked before any work is done.
package struct PictureRequest: Sendable {
    package var model: String
    /// A painting known to the service (`POST /v1/styles`), by id: the style of a network that takes any painting.
    package var styleImage: String?
    package var style: Int?
    /// A style chosen by name (`style=wave`), resolved against the model once it is known.
    package var styleName: String?
    package var strength: Float = 1
    package var preserveColor = false
    /// The result's longer side at most this (the picture is shrunk first; stylizing cost grows with pixels).
    package var maxSize = 1024
    package var format = ImageEncoder.Format.jpeg

    package static let maxSizeRange = 64...2048

    /// Reads `model`, `style`, `strength`, `preserve_color`, `max_size` and `format` (jpeg or png).
    /// - Throws: `PictureJobError.badRequest` naming the parameter.
    package static func parse(_ query: [String: String]) throws(PictureJobError) -> PictureRequest {
        let known: Set<String> = ["model", "style", "style_image", "strength", "preserve_color", "max_size", "format"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw .badRequest("unknown parameter '\(unknown)' (expected \(known.sorted().joined(separator: ", ")))")
        }
        let styleImage = query["style_image"]
        if let id = styleImage, id.isEmpty || id.count > 64 { throw .badRequest("style_image must be a painting's id from POST /v1/styles") }
        // With a painting and no model: the built-in arbitrary-style network.
        guard let model = query["model"] ?? styleImage.map({ _ in BuiltinModels.arbitraryName }), !model.isEmpty else {
            throw .badRequest("the model parameter is missing (?model=NAME, see GET /v1/models)")
        }
        var request = PictureRequest(model: model)
        request.styleImage = styleImage
        if let s = query["style"] {
            if let v = Int(s) {
                guard v >= 0 else { throw .badRequest("style must be a style index (0, 1, …) or a style's name, got '\(s)'") }
                request.style = v
            } else {
                guard !s.isEmpty else { throw .badRequest("style must be a style index (0, 1, …) or a style's name, got ''") }
                request.styleName = s
            }
        }
        if let s = query["strength"] {
            guard let v = Float(s), v.isFinite, (0...1).contains(v) else { throw .badRequest("strength must be between 0 and 1, got '\(s)'") }
            request.strength = v
        }
        if let s = query["preserve_color"] {
            switch s.lowercased() {
            case "true", "1": request.preserveColor = true
            case "false", "0": request.preserveColor = false
            default: throw .badRequest("preserve_color must be true or false, got '\(s)'")
            }
        }
        if let s = query["max_size"] {
            guard let v = Int(s), maxSizeRange.contains(v) else {
                throw .badRequest("max_size must be a whole number from \(maxSizeRange.lowerBound) to \(maxSizeRange.upperBound), got '\(s)'")
            }
            request.maxSize = v
        }
        if let s = query["format"] {
            guard let f = ImageEncoder.Format(extension: s) else { throw .badRequest("format must be jpeg or png, got '\(s)'") }
            request.format = f
        }
        return request
    }
}

/// Why a picture was not stylized; `status` is the HTTP answer.
package struct PictureJobError: Error, CustomStringConvertible {
    package var status: Int
    package var description: String

    package init(status: Int, description: String) { self.status = status; self.description = description }

    package static func badRequest(_ message: String) -> PictureJobError { PictureJobError(status: 400, description: message) }
}

/// Stylizes one uploaded picture. Blocking (FFmpeg and BLAS): runs on a dedicated thread, behind `JobSlots`.
package enum PictureJob {
    package static func run(_ upload: [UInt8], _ request: PictureRequest, catalog: ModelCatalog,
                    embeddings: StyleEmbeddings) throws -> (bytes: [UInt8], width: Int, height: Int) {
        let (entry, model): (ModelCatalog.Entry, StyleModel)
        do { (entry, model) = try catalog.model(named: request.model) } catch {
            throw PictureJobError(status: error.code == .notFound ? 404 : 400, description: error.description)
        }
        var weights: [Float]?
        do { weights = try StyleChoice(name: request.styleName, index: request.style, mix: nil).weights(styleNames: entry.styles) } catch {
            throw PictureJobError(status: 400, description: "model '\(entry.name)': \(error.description)")
        }
        var painting: StyleEmbeddings.Painting?
        switch (entry.takesPainting, request.styleImage) {
        case (true, let id?):
            guard request.style == nil, request.styleName == nil else {
                throw PictureJobError.badRequest("style chooses among a model's trained styles; model '\(entry.name)' takes a painting (style_image)")
            }
            guard let known = embeddings.painting(id: id) else {
                throw PictureJobError(status: 404, description: "no painting '\(id)' is known: upload it first (POST /v1/styles)")
            }
            painting = known
        case (true, nil):
            throw PictureJobError.badRequest("model '\(entry.name)' takes any painting as its style: give style_image=ID (POST /v1/styles uploads one)")
        case (false, _?):
            throw PictureJobError.badRequest("model '\(entry.name)' cannot take a painting as its style (style_image needs a network such as 'arbitrary')")
        case (false, nil):
            break
        }
        var picture = try decode(upload)
        let (width, height) = StylizeSize.fit(width: picture.width, height: picture.height, maxSide: request.maxSize)
        if width != picture.width || height != picture.height {
            picture = try ImageDecoder.resize(picture, width: width, height: height)
        }
        var strength = request.strength
        if let painting {
            // A still picture: the painting's embedding moved towards the photo's own, as `streamd image` does.
            weights = painting.embedding
            if strength < 1 {
                let own = try embeddings.embedding(of: picture)
                weights = try StylePredictor.weakened(painting.embedding, towards: own, strength: strength)
                strength = 1
            }
        }
        let stylized: RGBImage
        do {
            let stylizer = try Stylizer(model: model, threads: 1)
            stylized = try stylizer.stylize(picture, options: StyleOptions(styleWeights: weights, strength: strength,
                                                                          preserveColor: request.preserveColor))
        } catch {
            throw PictureJobError(status: 500, description: "model '\(request.model)' failed: \(error)")
        }
        let quality = request.format == .jpeg ? 92 : nil
        return (try ImageEncoder.encoded(stylized, as: request.format, quality: quality), width, height)
    }

    /// The upload decoded by content (`ImageDecoder.decode(upload:)`), its refusals as HTTP answers.
    package static func decode(_ upload: [UInt8]) throws -> RGBImage {
        do { return try ImageDecoder.decode(upload: upload) } catch let e as ImageDecoder.UploadError {
            throw PictureJobError(status: e.httpStatus, description: e.description)
        }
    }
}

extension ImageDecoder.UploadError {
    package var httpStatus: Int {
        switch self {
        case .empty: 400
        case .notAPicture: 415
        case .tooManyPixels: 413
        }
    }
}

/// The size a picture is stylized at: the longer side at most `maxSide`, aspect kept, both sides at least 16.
package enum StylizeSize {
    /// At most `maxSide` on the longer side, at least 16 on the shorter (the smallest picture a network takes).
    package static func fit(width: Int, height: Int, maxSide: Int) -> (Int, Int) {
        FitSize.shrunk(width: width, height: height, maxSide: maxSide, minimum: 16)
    }
}
