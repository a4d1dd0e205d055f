package import Hummingbird
import Live
import NIOCore
import Pipeline
package import ServeCore
import WebRTC

/// WHEP (play a pipeline over WebRTC) and WHIP (publish to a `whip:` pipeline) as their drafts define them: the
/// offer is `POST`ed as `application/sdp`, the answer comes back with 201 and the session's URL in `Location`,
/// and `DELETE` on that URL ends the session. Playing follows the read rules of the page's previews (open unless
/// `server.ui: locked`); publishing changes what a pipeline shows, so it needs the API token like every change.
package enum WebRTCRoutes {
    /// An SDP offer is a few kilobytes; anything far larger is not one.
    static let maxOffer = 64 * 1024

    package static func add(to router: Router<BasicRequestContext>, service: LiveService, token: APIToken, web: WebRoutes) {
        router.post("/v1/pipelines/:name/whep") { request, context -> Response in
            if let denied = web.authorizeRead(request) { return denied }
            let name = context.parameters.get("name") ?? ""
            guard let pipeline = service.pipeline(name) else { return ServeAPI.unknownPipeline(service, name) }
            return try await answer(request, path: "/v1/pipelines/\(name)/whep") { (offer: String) throws(WebRTCError) in
                try pipeline.viewers.add(offer: offer)
            }
        }
        router.delete("/v1/pipelines/:name/whep/:session") { request, context -> Response in
            if let denied = web.authorizeRead(request) { return denied }
            let name = context.parameters.get("name") ?? "", id = context.parameters.get("session") ?? ""
            guard let pipeline = service.pipeline(name), try await ended({ pipeline.viewers.remove(id) }) else {
                return ServeAPI.error(.notFound, "no WHEP session '\(id)' on pipeline '\(name)'")
            }
            return Response(status: .ok)
        }
        router.post("/v1/pipelines/:name/whip") { request, context -> Response in
            if let denied = ServeAPI.authorize(request, token: token.current) { return denied }
            let name = context.parameters.get("name") ?? ""
            guard let pipeline = service.pipeline(name) else { return ServeAPI.unknownPipeline(service, name) }
            guard let publisher = pipeline.publisher else {
                return ServeAPI.error(.conflict, "pipeline '\(name)' does not take a WHIP publisher: its source is not \"whip:\"")
            }
            return try await answer(request, path: "/v1/pipelines/\(name)/whip") { (offer: String) throws(WebRTCError) in
                try publisher.publish(offer: offer)
            }
        }
        router.delete("/v1/pipelines/:name/whip/:session") { request, context -> Response in
            if let denied = ServeAPI.authorize(request, token: token.current) { return denied }
            let name = context.parameters.get("name") ?? "", id = context.parameters.get("session") ?? ""
            guard let publisher = service.pipeline(name)?.publisher, try await ended({ publisher.remove(id) }) else {
                return ServeAPI.error(.notFound, "no WHIP session '\(id)' on pipeline '\(name)'")
            }
            return Response(status: .ok)
        }
    }

    /// Reads the offer, answers it on a dedicated thread (ICE gathering blocks), and maps the outcome to WHIP's
    /// and WHEP's statuses.
    private static func answer(_ request: Request, path: String,
                               _ make: @escaping @Sendable (String) throws(WebRTCError) -> (id: String, answer: String)) async throws -> Response {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/sdp") else {
            return ServeAPI.error(.unsupportedMediaType, "the offer must be sent as application/sdp (got '\(type)')")
        }
        let body = try await request.body.collect(upTo: maxOffer)
        let offer = String(buffer: body)
        let result: Result<(id: String, answer: String), WebRTCError> = try await onThread("webrtc-answer") {
            do throws(WebRTCError) { return .success(try make(offer)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let session):
            var headers = HTTPFields()
            headers[.contentType] = "application/sdp"
            headers[.location] = "\(path)/\(session.id)"
            return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: session.answer)))
        case .failure(let error):
            let status: HTTPResponse.Status = switch error {
            case .malformedOffer, .noVideo, .noH264: .badRequest
            case .tooManySessions: .serviceUnavailable
            case .busy: .conflict
            case .failed: .internalServerError
            }
            return ServeAPI.error(status, "\(path): \(error)")
        }
    }

    private static func ended(_ remove: @escaping @Sendable () -> Bool) async throws -> Bool {
        try await onThread("webrtc-close") { remove() }
    }
}
