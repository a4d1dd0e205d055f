import Crypto
package import Foundation
package import ServeCore
import Pipeline
package import Hummingbird
package import Live
import NIOCore
package import Prometheus
package import ServeConfig

/// The HTTP API: health, readiness, Prometheus metrics, pipeline status, and (with the bearer token) live
/// style switches, start/stop and reload. Mutating handlers hand blocking work to dedicated threads.
package enum ServeAPI {
    /// Request bodies larger than this are refused (413).
    package static let maxBody = 16 * 1024

    package static func router(service: LiveService, registry: PrometheusCollectorRegistry, token: APIToken, web: WebRoutes) -> Router<BasicRequestContext> {
        let router = Router()
        // First: middleware wraps only the routes added after it.
        router.add(middleware: JSONErrorMiddleware())
        web.add(to: router)
        WebRTCRoutes.add(to: router, service: service, token: token, web: web)
        router.get("/healthz") { _, _ in json(["status": "ok"]) }
        router.get("/readyz") { _, _ -> Response in
            service.isReady ? json(["status": "ready"]) : json(["status": "starting"], status: .serviceUnavailable)
        }
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: registry.emitToString())))
        }
        router.get("/v1/pipelines") { request, _ -> Response in
            if let denied = web.authorizeRead(request) { return denied }
            struct List: Encodable { var pipelines: [PipelineDTO] }
            return json(List(pipelines: service.names.map { describe(service, $0) }))
        }
        router.get("/v1/pipelines/:name") { request, context -> Response in
            if let denied = web.authorizeRead(request) { return denied }
            let name = context.parameters.get("name") ?? ""
            guard service.names.contains(name) else { return unknownPipeline(service, name) }
            return json(describe(service, name))
        }
        // Which pipelines this replica runs, and where the others run (`serve --shard`).
        router.get("/v1/shard") { request, _ -> Response in
            if let denied = web.authorizeRead(request) { return denied }
            struct ShardDTO: Encodable { var index: Int; var count: Int; var owned: [String]; var elsewhere: [String: Int] }
            return json(ShardDTO(index: service.shard.index, count: service.shard.count, owned: service.names, elsewhere: service.elsewhere))
        }
        router.post("/v1/pipelines/:name/style") { request, context -> Response in
            if let denied = authorize(request, token: token.current) { return denied }
            let name = context.parameters.get("name") ?? ""
            guard let pipeline = service.pipeline(name) else { return unknownPipeline(service, name) }
            let change: StyleChange
            if request.headers[.contentType]?.lowercased().hasPrefix("image/") == true {
                // A painting as the body: kept by the service like `POST /v1/styles`, then applied.
                do { change = StyleChange(styleImage: try await web.addPainting(request).id) } catch let e as PictureJobError {
                    return error(HTTPResponse.Status(code: e.status), oneLine(e))
                }
            } else {
                let body = try await request.body.collect(upTo: maxBody)
                do { change = try parseStyle(Data(buffer: body)) } catch let e as StyleError { return error(.badRequest, e.description) }
            }
            do {
                let snapshot = try await onThread("style-switch") { try pipeline.setStyle(change) }
                return json(PipelineDTO(snapshot))
            } catch let e as StyleError {
                return error(.badRequest, e.description)
            }
        }
        router.post("/v1/pipelines/:name/start") { request, context -> Response in
            if let denied = authorize(request, token: token.current) { return denied }
            let name = context.parameters.get("name") ?? ""
            do {
                guard try await onThread("api-start", { try service.start(name) }) else {
                    return unknownPipeline(service, name)
                }
            } catch let failure {
                return error(.conflict, "pipeline '\(name)' cannot start: \(failure)")
            }
            return json(describe(service, name))
        }
        router.post("/v1/pipelines/:name/stop") { request, context -> Response in
            if let denied = authorize(request, token: token.current) { return denied }
            let name = context.parameters.get("name") ?? ""
            guard try await onThread("api-stop", { service.stop(name) }) else {
                return unknownPipeline(service, name)
            }
            return json(describe(service, name))
        }
        router.post("/v1/reload") { request, _ -> Response in
            if let denied = authorize(request, token: token.current) { return denied }
            do {
                let result = try await onThread("api-reload") { try service.reload() }
                return json(["restarted": result.restarted, "started": result.started, "stopped": result.stopped,
                             "unchanged": result.unchanged])
            } catch let errors as ConfigErrors {
                return error(.badRequest, errors.issues.map { "\($0)" }.joined(separator: "; "))
            }
        }
        return router
    }

    /// 401 unless the request carries `Authorization: Bearer <token>`; compared in constant time (both sides
    /// hashed, so neither the content nor the length leaks through timing). No token configured: every
    /// mutating request is refused.
    package static func authorize(_ request: Request, token: String?) -> Response? {
        guard let token else { return error(.unauthorized, "no API token is configured (server.token, token_file or STREAMD_SERVER_TOKEN): mutating endpoints are disabled") }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        let given = header.hasPrefix(prefix) ? String(header.dropFirst(prefix.count)) : ""
        let a = SHA256.hash(data: Data(given.utf8)), b = SHA256.hash(data: Data(token.utf8))
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        guard difference == 0, !given.isEmpty else {
            var response = error(.unauthorized, "missing or wrong bearer token")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return nil
    }

    /// A JSON value with booleans kept apart from numbers (JSONDecoder does not turn 1 into true).
    package enum JSONValue: Decodable {
        case bool(Bool), number(Double), string(String), object([String: JSONValue]), other

        package init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
            else { self = .other }
        }
    }

    /// The style body: {"model": "udnie", "style": "wave" | "style_index": 3 | "style_mix": {"3": 0.5} | "style_image": "ID", "strength": 0.8, "preserve_color": true,
    /// "smoothing": 0.5 | {"strength": 0.5, "mode": "still"}}.
    package static func parseStyle(_ data: Data) throws -> StyleChange {
        guard let root = try? JSONDecoder().decode(JSONValue.self, from: data), case .object(let body) = root else {
            throw StyleError("the body must be a JSON object")
        }
        let known: Set<String> = ["model", "style", "style_index", "style_mix", "style_image", "strength", "preserve_color", "smoothing"]
        if let unknown = body.keys.sorted().first(where: { !known.contains($0) }) {
            throw StyleError("unknown key '\(unknown)' (expected \(known.sorted().joined(separator: ", ")))")
        }
        guard !body.isEmpty else { throw StyleError("the body changes nothing: give at least one of \(known.sorted().joined(separator: ", "))") }
        var change = StyleChange()
        if let v = body["model"] {
            guard case .string(let s) = v, !s.isEmpty else { throw StyleError("model must be a non-empty string") }
            change.model = s
        }
        if let v = body["style"] {
            guard case .string(let s) = v, !s.isEmpty else { throw StyleError("style must be a style name (a non-empty string)") }
            change.styleName = s
        }
        if let v = body["style_index"] {
            guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e6 else { throw StyleError("style_index must be an integer") }
            change.styleIndex = Int(n)
        }
        if let v = body["style_mix"] {
            guard case .object(let mix) = v, !mix.isEmpty else { throw StyleError("style_mix must be an object of index: weight") }
            change.styleMix = try mix.map { key, value in
                guard let index = Int(key) else { throw StyleError("style_mix key '\(key)' is not a style index") }
                guard case .number(let w) = value else { throw StyleError("style_mix weight for \(key) must be a number") }
                return StyleWeight(index: index, weight: w)
            }.sorted { $0.index < $1.index }
        }
        if let v = body["style_image"] {
            guard case .string(let s) = v, !s.isEmpty, s.count <= 64 else { throw StyleError("style_image must be a painting's id from POST /v1/styles") }
            change.styleImage = s
        }
        if let v = body["strength"] {
            guard case .number(let n) = v else { throw StyleError("strength must be a number between 0 and 1") }
            change.strength = n
        }
        if let v = body["preserve_color"] {
            guard case .bool(let b) = v else { throw StyleError("preserve_color must be true or false") }
            change.preserveColor = b
        }
        if let v = body["smoothing"] { change.smoothing = try parseSmoothing(v) }
        return change
    }

    /// `smoothing` as in the configuration file: a strength, or an object of strength (default
    /// `SmoothingConfig.defaultStrength`) and mode.
    package static func parseSmoothing(_ value: JSONValue) throws -> SmoothingConfig {
        let modes = SmoothingConfig.Mode.allCases.map(\.rawValue).joined(separator: ", ")
        func strength(_ v: JSONValue, key: String) throws -> Double {
            guard case .number(let n) = v, n.isFinite, n >= 0, n <= 1 else { throw StyleError("\(key) must be a number between 0 and 1") }
            return n
        }
        switch value {
        case .number:
            return SmoothingConfig(strength: try strength(value, key: "smoothing"))
        case .object(let fields):
            if let unknown = fields.keys.sorted().first(where: { $0 != "strength" && $0 != "mode" }) {
                throw StyleError("unknown key 'smoothing.\(unknown)' (expected mode, strength)")
            }
            var config = SmoothingConfig(strength: SmoothingConfig.defaultStrength)
            if let v = fields["strength"] { config.strength = try strength(v, key: "smoothing.strength") }
            if let v = fields["mode"] {
                guard case .string(let name) = v, let mode = SmoothingConfig.Mode(rawValue: name) else {
                    throw StyleError("smoothing.mode must be one of \(modes)")
                }
                config.mode = mode
            }
            return config
        default:
            throw StyleError("smoothing must be a strength between 0 and 1 or an object of strength and mode (\(modes))")
        }
    }

    package static func describe(_ service: LiveService, _ name: String) -> PipelineDTO {
        if let pipeline = service.pipeline(name), service.failure(name) == nil || pipeline.isRunning {
            var dto = PipelineDTO(pipeline.snapshot)
            dto.webrtc = .init(players: pipeline.viewers.count, publishing: pipeline.publisher.map(\.hasPublisher))
            return dto
        }
        return PipelineDTO(failed: name, error: service.failure(name) ?? "not started")
    }

    /// JSON of an `Encodable` answer, keys sorted.
    package static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    package static func json(_ value: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// 404 for a pipeline this replica does not run, saying which shard does when another one does.
    package static func unknownPipeline(_ service: LiveService, _ name: String) -> Response {
        if let owner = service.elsewhere[name] {
            return error(.notFound, "pipeline '\(name)' runs on shard \(owner)/\(service.shard.count), not on this one (\(service.shard))")
        }
        return error(.notFound, "no pipeline named '\(name)'")
    }

    package static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["error": message], status: status)
    }
}

/// Every error the server answers is `{"error": "one line"}`, as the README promises, including those thrown out
/// of handlers, which Hummingbird would otherwise answer with an empty body (a body over `ServeAPI.maxBody`: 413)
/// or its own shape (an unknown route: 404).
package struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch is NIOTooManyBytesError {
            var response = ServeAPI.error(.contentTooLarge, "the request body is over the \(ServeAPI.maxBody / 1024) KiB limit")
            // The rest of the body is not wanted: close instead of reading it until the body deadline.
            response.headers[.connection] = "close"
            return response
        } catch let error as any HTTPResponseError {
            let httpError = error as? HTTPError
            let message = httpError?.body
                ?? (error.status == .notFound ? "no endpoint \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            var response = ServeAPI.error(error.status, oneLine(message))
            // Headers the error asks for (Allow, WWW-Authenticate, …), but not ones describing its own body.
            for field in httpError?.headers ?? [:] where field.name != .contentType && field.name != .contentLength {
                response.headers.append(field)
            }
            return response
        } catch {
            context.logger.warning("\(request.method) \(request.uri.path) failed: \(oneLine(error))")
            return ServeAPI.error(.internalServerError, "internal error: \(oneLine(error))")
        }
    }
}

/// A pipeline as `GET /v1/pipelines[/NAME]` shows it: the API's JSON keys in one place, made from the live
/// pipeline's `PipelineSnapshot` (a pipeline that failed to start shows its name, state and error only).
package struct PipelineDTO: Encodable {
    package struct Frames: Encodable {
        package var `in`: Int, stylized: Int, out: Int, dropped: Int
    }
    package struct Painting: Encodable {
        package var id: String, label: String
    }
    package struct Smoothing: Encodable {
        package var strength: Double, mode: String
    }
    package struct Style: Encodable {
        package var model: String
        package var style: String?
        package var styleIndex: Int?
        package var styleMix: [String: Double]?
        package var styleImage: Painting?
        package var strength: Double
        package var preserveColor: Bool
        package var smoothing: Smoothing
        package var generation: Int
        package enum CodingKeys: String, CodingKey {
            case model, style, styleIndex = "style_index", styleMix = "style_mix", styleImage = "style_image", strength
            case preserveColor = "preserve_color", smoothing, generation
        }
    }
    package struct Output: Encodable {
        package var name: String, state: String, framesWritten: Int, reconnects: Int, recordings: [String], lastError: String?
        package enum CodingKeys: String, CodingKey {
            case name, state, framesWritten = "frames_written", reconnects, recordings, lastError = "last_error"
        }
    }

    package var name: String
    package var state: String
    package var startedAt: Double?
    package var source: String?
    package var frames: Frames?
    package var sourceReconnects: Int?
    package var sound: String?
    package var fps: Double?
    package var style: Style?
    package var outputs: [Output]?
    package var lastError: String?
    package var latencyMs: Double?
    /// WebRTC sessions now: players (WHEP), and for a `whip:` pipeline whether a publisher sends.
    package var webrtc: WebRTC?

    package struct WebRTC: Encodable {
        package var players: Int
        package var publishing: Bool?
    }

    package enum CodingKeys: String, CodingKey {
        case name, state, startedAt = "started_at", source, frames, sourceReconnects = "source_reconnects", sound, fps, style, outputs
        case lastError = "last_error", latencyMs = "latency_ms", webrtc
    }

    package init(_ s: PipelineSnapshot) {
        name = s.name
        state = s.state.rawValue
        startedAt = s.startedAt
        source = s.source
        frames = Frames(in: s.framesIn, stylized: s.framesStylized, out: s.framesOut, dropped: s.framesDropped)
        sourceReconnects = s.sourceReconnects
        sound = s.sound
        fps = (s.fps * 100).rounded() / 100
        style = Style(model: s.style.model, style: s.style.styleName, styleIndex: s.style.styleIndex, styleMix: s.style.styleMix,
                      styleImage: s.style.styleImage.map { Painting(id: $0.id, label: $0.label) }, strength: s.style.strength,
                      preserveColor: s.style.preserveColor,
                      smoothing: Smoothing(strength: s.style.smoothing.strength, mode: s.style.smoothing.mode), generation: s.style.generation)
        outputs = s.outputs.map {
            Output(name: $0.name, state: $0.state.rawValue, framesWritten: $0.framesWritten, reconnects: $0.reconnects, recordings: $0.recordings,
                   lastError: $0.lastError)
        }
        lastError = s.lastError
        latencyMs = s.latencyMs.map { ($0 * 10).rounded() / 10 }
    }

    package init(failed name: String, error: String) {
        self.name = name
        state = PipelineState.failed.rawValue
        lastError = error
    }
}
