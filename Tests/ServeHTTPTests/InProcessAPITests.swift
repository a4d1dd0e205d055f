import Foundation
import Hummingbird
import HummingbirdTesting
import Live
import Logging
import NIOCore
import Prometheus
import ServeConfig
import ServeCore
import ServeHTTP
import TestSupport
import XCTest

/// The HTTP API in-process, on Hummingbird's testing router: no server process, no socket. The service's one
/// pipeline is never started; the answers are the real ones (the model catalogue, a real picture stylized by the
/// engine).
final class InProcessAPITests: XCTestCase {
    static let token = "in-process-token-0123456789"

    func withAPI(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let dir = try TempDir("in-process-api")
        let path = dir.file("streamd.yml")
        try """
        server:
          listen: 127.0.0.1
          port: 8480
          token: "\(Self.token)"
          model_dirs:
            - \(try SharedData.path("models/ml5"))
        pipelines:
          cam:
            source:
              url: \(try SharedData.path("media/video/carphone_h264_176x144.mp4"))
            outputs:
              - record: \(dir.file("rec/cam.mp4"))
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(file: path, environment: [:])
        let registry = PrometheusCollectorRegistry()
        let environment = LiveEnvironment(modelDirectories: config.server.modelDirs, logger: Logger(label: "test"),
                                          metrics: PrometheusMetricsFactory(registry: registry))
        let token = APIToken(try APIToken.resolve(config.server))
        let service = LiveService(configFile: path, overrides: [], config: config, environment: environment, token: token, notifier: nil)
        let web = WebRoutes(service: service, token: token, server: config.server, embeddings: environment.embeddings)
        let app = Application(router: ServeAPI.router(service: service, registry: registry, token: token, web: web))
        try await app.test(.router) { client in try await body(client) }
    }

    func testAnswersInProcess() async throws {
        try await withAPI { client in
            try await client.execute(uri: "/healthz", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(String(buffer: r.body), #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/v1/pipelines", method: .get) { r in
                let list = (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["pipelines"] as? [[String: Any]]
                XCTAssertEqual(list?.compactMap { $0["name"] as? String }, ["cam"], String(buffer: r.body))
            }
            try await client.execute(uri: "/v1/models", method: .get) { r in
                XCTAssertEqual(r.status, .ok)
                let models = (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["models"] as? [[String: Any]] ?? []
                XCTAssertEqual(Array(models.compactMap { $0["name"] as? String }.prefix(3)), ["default", "arbitrary", "arbitrary-fast"])
            }
            // Mutations need the token; an unknown pipeline is a JSON 404.
            try await client.execute(uri: "/v1/pipelines/nope/style", method: .post, body: ByteBuffer(string: "{}")) { r in
                XCTAssertEqual(r.status, .unauthorized)
            }
            try await client.execute(uri: "/v1/pipelines/nope/style", method: .post, headers: [.authorization: "Bearer \(Self.token)"],
                                     body: ByteBuffer(string: "{}")) { r in
                XCTAssertEqual(r.status, .notFound)
                XCTAssertTrue(String(buffer: r.body).contains("no pipeline named 'nope'"), String(buffer: r.body))
            }
            // A real picture through the engine: the built-in model's wave style.
            let photo = try runFFmpeg(["-i", try SharedData.path("media/images/content/face.jpg"), "-vf", "scale=96:-2", "-frames:v", "1",
                                       "-f", "image2pipe", "-c:v", "mjpeg", "-"])
            try await client.execute(uri: "/v1/stylize?model=default&style=wave&max_size=64", method: .post,
                                     headers: [.authorization: "Bearer \(Self.token)", .contentType: "image/jpeg"],
                                     body: ByteBuffer(bytes: photo)) { r in
                XCTAssertEqual(r.status, .ok, String(buffer: r.body))
                XCTAssertEqual(r.headers[.contentType], "image/jpeg")
                XCTAssertEqual(Array(Data(buffer: r.body).prefix(2)), [0xFF, 0xD8])
            }
            try await client.execute(uri: "/v1/stylize?model=default&style=7", method: .post,
                                     headers: [.authorization: "Bearer \(Self.token)", .contentType: "image/jpeg"],
                                     body: ByteBuffer(bytes: photo)) { r in
                XCTAssertEqual(r.status, .badRequest)
                XCTAssertTrue(String(buffer: r.body).contains("style 7 does not exist: the model has styles 0 to 3"), String(buffer: r.body))
            }
        }
    }
}
