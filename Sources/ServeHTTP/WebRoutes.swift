import Decode
import Foundation
package import ServeCore
import Pipeline
package import Hummingbird
package import Live
import NIOCore
package import ServeConfig
import WebUI

/// What the web page needs beyond the pipeline API: the page itself, a live preview per pipeline, the models with
/// thumbnails, and stylizing an uploaded picture. Read-only views follow `server.ui`; `POST /v1/stylize` needs
/// the token like every other call that costs or changes something.
package struct WebRoutes: Sendable {
    package let service: LiveService
    package let token: APIToken
    package let access: ServerConfig.UIAccess
    package let catalog: ModelCatalog
    /// The service's paintings (`POST /v1/styles`), shared with its pipelines.
    package let embeddings: StyleEmbeddings
    package let jobs: JobSlots
    /// Thumbnails are made one at a time; a few dozen requests may wait (a page asks for all of them at once).
    package let thumbnails = JobSlots(running: 1, waiting: 64, lowersPriority: false)
    package let maxUpload: Int

    package init(service: LiveService, token: APIToken, server: ServerConfig, embeddings: StyleEmbeddings) {
        self.service = service
        self.token = token
        self.embeddings = embeddings
        access = server.ui
        catalog = ModelCatalog(directories: server.modelDirs)
        jobs = JobSlots(running: server.stylizeJobs, waiting: server.stylizeQueue)
        maxUpload = server.stylizeMaxBytes
        // Waiting uploads are refused at shutdown rather than held until the drain deadline.
        service.onShutdown { [jobs, thumbnails] in jobs.close(); thumbnails.close() }
    }

    /// 401 when `server.ui` is `locked` and the request has no valid token; nil when it may read.
    package func authorizeRead(_ request: Request) -> Response? {
        access == .locked ? ServeAPI.authorize(request, token: token.current) : nil
    }

    package func add(to router: Router<BasicRequestContext>) {
        if access != .off { addPage(router) }
        router.get("/v1/pipelines/:name/preview") { request, context -> Response in
            if let denied = authorizeRead(request) { return denied }
            let name = context.parameters.get("name") ?? ""
            guard service.names.contains(name) else { return ServeAPI.unknownPipeline(service, name) }
            return PreviewStream(service: service, pipeline: name).response()
        }
        router.get("/v1/models") { request, _ -> Response in
            if let denied = authorizeRead(request) { return denied }
            let entries = try await onThread("models-list") { catalog.list() }
            return ServeAPI.json(["models": entries.map { entry -> [String: Any] in
                var d: [String: Any] = ["name": entry.name, "format": entry.format, "styles": entry.styles,
                                        "takes_painting": entry.takesPainting]
                if let error = entry.error { d["error"] = oneLine(error) }
                return d
            }])
        }
        router.get("/v1/models/:name/thumbnail") { request, context -> Response in
            if let denied = authorizeRead(request) { return denied }
            let name = context.parameters.get("name") ?? ""
            let style: Int?
            if let s = request.uri.queryParameters["style"] {
                guard let v = Int(s), v >= 0 else { return ServeAPI.error(.badRequest, "style must be a style index (0, 1, …), got '\(s)'") }
                style = v
            } else {
                style = nil
            }
            guard let ticket = thumbnails.ticket() else {
                var response = ServeAPI.error(.serviceUnavailable, "too many thumbnails are being made: try again in a few seconds")
                response.headers[.retryAfter] = "5"
                return response
            }
            do {
                let jpeg = try await onThread("thumbnail") {
                    try ticket.run(waitingAtMost: .seconds(60)) { try catalog.thumbnail(model: name, style: style) }
                }
                return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "private, max-age=300"],
                                body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
            } catch let e as CatalogError {
                return ServeAPI.error(e.code == .notFound ? .notFound : e.code == .badStyle ? .badRequest : .unprocessableContent, oneLine(e))
            } catch let e as JobSlots.Refusal {
                return ServeAPI.error(.serviceUnavailable, e.description)
            }
        }
        router.post("/v1/stylize") { request, _ -> Response in try await stylize(request) }
        router.post("/v1/styles") { request, _ -> Response in
            if let denied = ServeAPI.authorize(request, token: token.current) { return denied }
            do {
                let painting = try await addPainting(request)
                return ServeAPI.json(Self.describe(painting), status: .created)
            } catch let e as PictureJobError {
                return e.status == 413 ? tooLarge() : ServeAPI.error(HTTPResponse.Status(code: e.status), oneLine(e))
            }
        }
        router.get("/v1/styles") { request, _ -> Response in
            if let denied = authorizeRead(request) { return denied }
            return ServeAPI.json(["styles": embeddings.all.map(Self.describe)])
        }
        router.get("/v1/styles/:id/thumbnail") { request, context -> Response in
            if let denied = authorizeRead(request) { return denied }
            let id = context.parameters.get("id") ?? ""
            guard let painting = embeddings.all.first(where: { $0.id == id }) else {
                return ServeAPI.error(.notFound, "no painting '\(id)' is known (POST /v1/styles uploads one)")
            }
            return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "private, max-age=3600"],
                            body: .init(byteBuffer: ByteBuffer(bytes: painting.thumbnail)))
        }
    }

    package static func describe(_ p: StyleEmbeddings.Painting) -> [String: Any] {
        ["id": p.id, "label": p.label, "width": p.width, "height": p.height, "thumbnail": "/v1/styles/\(p.id)/thumbnail"]
    }

    /// A painting uploaded as the body (the same limits and admission as `POST /v1/stylize`), turned into a style
    /// embedding on a dedicated thread (once per picture: `StyleEmbeddings` keeps it by content).
    /// - Throws: `PictureJobError` with the HTTP status (400 empty, 413 too large, 415 not a picture, 429/503 busy).
    package func addPainting(_ request: Request) async throws -> StyleEmbeddings.Painting {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxUpload {
            throw PictureJobError(status: 413, description: "too large")
        }
        guard let ticket = jobs.ticket() else { throw PictureJobError(status: 429, description: JobSlots.Refusal.full.description) }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: maxUpload) } catch is NIOTooManyBytesError {
            throw PictureJobError(status: 413, description: "too large")
        }
        let upload = [UInt8](buffer: body)
        let label = request.uri.queryParameters["name"].map { String($0.prefix(80)) } ?? "upload"
        do {
            return try await onThread("style-painting") {
                try ticket.run(waitingAtMost: .seconds(30)) { try embeddings.add(upload: upload, label: label) }
            }
        } catch let e as ImageDecoder.UploadError {
            throw PictureJobError(status: e.httpStatus, description: e.description)
        } catch let e as JobSlots.Refusal {
            throw PictureJobError(status: 503, description: e.description)
        }
    }

    /// `POST /v1/stylize?model=NAME[&style=I&strength=S&preserve_color=true&max_size=N&format=png]` with the
    /// picture as the body: the stylized picture (JPEG unless `format=png`), or a one-line JSON error.
    private func stylize(_ request: Request) async throws -> Response {
        if let denied = ServeAPI.authorize(request, token: token.current) { return denied }
        let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { a, _ in a })
        let choices: PictureRequest
        do { choices = try PictureRequest.parse(query) } catch { return ServeAPI.error(.badRequest, error.description) }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxUpload { return tooLarge() }
        // Admission before the body is read: a refused upload costs no memory and no time.
        guard let ticket = jobs.ticket() else {
            var response = ServeAPI.error(.tooManyRequests, JobSlots.Refusal.full.description)
            response.headers[.retryAfter] = "5"
            return response
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: maxUpload) } catch is NIOTooManyBytesError { return tooLarge() }
        guard body.readableBytes > 0 else { return ServeAPI.error(.badRequest, "the body is empty: send the picture as the request body (curl --data-binary @photo.jpg)") }
        let upload = [UInt8](buffer: body)
        let started = ContinuousClock.now
        do {
            let result = try await onThread("stylize-picture") {
                try ticket.run(waitingAtMost: .seconds(30)) { try PictureJob.run(upload, choices, catalog: catalog, embeddings: embeddings) }
            }
            let elapsed = ContinuousClock.now - started
            let ext = choices.format == .png ? "png" : "jpg"
            var response = Response(status: .ok, headers: [
                .contentType: choices.format == .png ? "image/png" : "image/jpeg",
                .contentDisposition: "inline; filename=\"stylized-\(choices.model).\(ext)\"",
                .cacheControl: "no-store",
            ], body: .init(byteBuffer: ByteBuffer(bytes: result.bytes)))
            response.headers[.init("X-Stylize-Size")!] = "\(result.width)x\(result.height)"
            response.headers[.init("X-Stylize-Milliseconds")!] = "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)"
            return response
        } catch let e as PictureJobError {
            return ServeAPI.error(HTTPResponse.Status(code: e.status), oneLine(e))
        } catch let e as JobSlots.Refusal {
            var response = ServeAPI.error(.serviceUnavailable, e.description)
            response.headers[.retryAfter] = "10"
            return response
        }
    }

    private func tooLarge() -> Response {
        var response = ServeAPI.error(.contentTooLarge, "the picture is over the \(Self.describeBytes(maxUpload)) limit (server.stylize_max_bytes)")
        // The rest of the body is not wanted: close instead of reading it until the body deadline.
        response.headers[.connection] = "close"
        return response
    }

    package static func describeBytes(_ n: Int) -> String {
        n % (1 << 20) == 0 ? "\(n >> 20) MiB" : n % 1024 == 0 ? "\(n >> 10) KiB" : "\(n)-byte"
    }

    /// The page's files, with the Content-Security-Policy that lets only them run.
    private func addPage(_ router: Router<BasicRequestContext>) {
        for (path, asset) in WebAssets.files {
            router.get(RouterPath(stringLiteral: path)) { request, _ -> Response in
                let unchanged = request.headers[.ifNoneMatch] == asset.etag
                var response = unchanged ? Response(status: .notModified)
                    : Response(status: .ok, headers: [.contentType: asset.contentType],
                               body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
                response.headers[.eTag] = asset.etag
                response.headers[.cacheControl] = "no-cache"
                response.headers[.contentSecurityPolicy] = WebAssets.contentSecurityPolicy
                response.headers[.xContentTypeOptions] = "nosniff"
                response.headers[.init("Referrer-Policy")!] = "no-referrer"
                return response
            }
        }
    }
}

/// A pipeline's preview as MJPEG (`multipart/x-mixed-replace`): each part one JPEG with its `Content-Length`, so
/// a browser `<img>`, `curl` or a player shows it, and the page's script can cut parts without scanning JPEG data.
/// The stream follows the pipeline by name: after a reload or restart it continues from the new pipeline's tap.
/// It ends when the client goes (the write fails), the pipeline is removed, or the service shuts down.
package struct PreviewStream: Sendable {
    package let service: LiveService
    package let pipeline: String
    package static let boundary = "streamd-preview"
    /// How often the stream looks for a new picture (the preview itself runs at 5 frames per second).
    package static let poll = Duration.milliseconds(40)

    package func response() -> Response {
        Response(status: .ok, headers: [
            .contentType: "multipart/x-mixed-replace; boundary=\(Self.boundary)", .cacheControl: "no-store",
            .xContentTypeOptions: "nosniff",
        ], body: ResponseBody { writer in
            var tap: PreviewTap?
            var sent = 0
            defer { tap?.leave() }
            while !Task.isCancelled && !service.isShuttingDown && service.names.contains(pipeline) {
                let current = service.pipeline(pipeline)?.preview
                if current !== tap {
                    tap?.leave()
                    current?.join()
                    tap = current
                    sent = 0
                }
                if let frame = tap?.frame(after: sent) {
                    var part = ByteBuffer(string: "--\(Self.boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: \(frame.jpeg.count)\r\nX-Preview-Sequence: \(frame.sequence)\r\n\r\n")
                    part.writeBytes(frame.jpeg)
                    part.writeString("\r\n")
                    try await writer.write(part)
                    sent = frame.sequence
                }
                try await Task.sleep(for: Self.poll)
            }
            try await writer.finish(nil)
        })
    }
}
