import Foundation
import Hummingbird
import HummingbirdTesting
import Live
import Logging
import Prometheus
import ServeConfig
import ServeCore
import ServeHTTP
import TestSupport
import XCTest

/// `serve --shard I/N`: N replicas with one configuration run every pipeline exactly once, spread evenly; a
/// change of N moves only the pipelines that must move; each replica's API says what it runs and where the rest
/// run; a bad shard is one line.
final class ShardTests: XCTestCase {
    let names = (0..<60).map { "cam-\($0)" } + ["lobby", "parking", "stage-left", "stage-right"]

    func testReplicasRunEveryPipelineOnceAndOnlyWhatMustMoves() {
        for count in 1...4 {
            let owners = names.map { Shard.owner(of: $0, count: count) }
            for index in 0..<count {
                let mine = names.filter { Shard(index: index, count: count).owns($0) }
                XCTAssertEqual(mine, names.enumerated().filter { owners[$0.offset] == index }.map(\.element))
                // Evenly enough: 64 names over N replicas, none with less than half its share.
                XCTAssertGreaterThanOrEqual(mine.count, names.count / count / 2, "replica \(index)/\(count) runs \(mine.count)")
            }
            XCTAssertEqual(Set(owners).count, count, "every replica of \(count) runs something")
        }
        // From 3 replicas to 4, a pipeline moves only to the new replica; about a quarter move.
        let moved = names.filter { Shard.owner(of: $0, count: 3) != Shard.owner(of: $0, count: 4) }
        XCTAssertTrue(moved.allSatisfy { Shard.owner(of: $0, count: 4) == 3 }, "moved only to the new replica: \(moved)")
        print("3 → 4 replicas: \(moved.count) of \(names.count) pipelines move")
        XCTAssertGreaterThan(moved.count, names.count / 8)
        XCTAssertLessThan(moved.count, names.count / 2)
        // Fixed across builds and machines (not Swift's per-process seeded Hasher): replicas must agree.
        XCTAssertEqual(["lobby", "parking", "stage-left", "stage-right"].map { Shard.owner(of: $0, count: 3) }, [0, 0, 1, 2])
    }

    func testTheIndexComesFromTheSchedulerAndMistakesAreOneLine() throws {
        XCTAssertEqual(try Shard.parse("1/3", environment: [:]), Shard(index: 1, count: 3))
        XCTAssertEqual(try Shard.parse("auto/3", environment: ["HOSTNAME": "streamd-2"]), Shard(index: 2, count: 3))
        XCTAssertEqual(try Shard.parse("auto/4", environment: ["JOB_COMPLETION_INDEX": "3", "HOSTNAME": "x-1"]), Shard(index: 3, count: 4))
        XCTAssertEqual(try Shard.parse("auto/2", environment: ["SLURM_ARRAY_TASK_ID": "1"]), Shard(index: 1, count: 2))
        for (text, environment, message) in [("3/2", [String: String](), "the index must be from 0 to 1, got 3"),
                                             ("1/0", [:], "the count must be at least 1"), ("two", [:], "must be INDEX/COUNT"),
                                             ("auto/3", ["HOSTNAME": "streamd"], "no index in the environment"),
                                             ("auto/2", ["HOSTNAME": "streamd-5"], "the index must be from 0 to 1, got 5")] {
            XCTAssertThrowsError(try Shard.parse(text, environment: environment), text) { error in
                XCTAssertTrue("\(error)".contains(message), "\(text): \(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
    }

    func testEachReplicasAPISaysWhatItRunsAndWhereTheRestRun() async throws {
        let dir = try TempDir("shard-api")
        let path = dir.file("streamd.yml")
        let clip = try SharedData.path("media/video/carphone_h264_176x144.mp4")
        let pipelines = ["lobby", "parking", "stage-left", "stage-right", "roof", "gate"]
        try (["pipelines:"] + pipelines.flatMap { ["  \($0):", "    source:", "      url: \(clip)", "    outputs:", "      - record: \(dir.file("\($0).mp4"))"] }).joined(separator: "\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(file: path, environment: [:])
        var runs: [[String]] = []
        for index in 0..<3 {
            let environment = LiveEnvironment(modelDirectories: [], logger: Logger(label: "test"), metrics: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()))
            let token = APIToken(nil)
            let service = LiveService(configFile: path, overrides: [], config: config, environment: environment, token: token, notifier: nil,
                                      shard: Shard(index: index, count: 3))
            runs.append(service.names)
            let web = WebRoutes(service: service, token: token, server: config.server, embeddings: environment.embeddings)
            let app = Application(router: ServeAPI.router(service: service, registry: PrometheusCollectorRegistry(), token: token, web: web))
            try await app.test(.router) { client in
                try await client.execute(uri: "/v1/shard", method: .get) { r in
                    XCTAssertEqual(r.status, .ok)
                    let body = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])
                    XCTAssertEqual(body["index"] as? Int, index)
                    XCTAssertEqual(body["count"] as? Int, 3)
                    XCTAssertEqual(body["owned"] as? [String], service.names)
                    let elsewhere = body["elsewhere"] as? [String: Int] ?? [:]
                    XCTAssertEqual(Set(elsewhere.keys).union(service.names), Set(pipelines))
                    XCTAssertFalse(elsewhere.values.contains(index))
                }
                if let other = pipelines.first(where: { !service.names.contains($0) }) {
                    try await client.execute(uri: "/v1/pipelines/\(other)", method: .get) { r in
                        XCTAssertEqual(r.status, .notFound)
                        let message = (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["error"] as? String ?? ""
                        XCTAssertTrue(message.contains("runs on shard \(Shard.owner(of: other, count: 3))/3"), message)
                    }
                    // Every route that names a pipeline says where it runs: a WebRTC player is sent to its shard.
                    try await client.execute(uri: "/v1/pipelines/\(other)/whep", method: .post, headers: [.contentType: "application/sdp"],
                                             body: ByteBuffer(string: "v=0")) { r in
                        XCTAssertEqual(r.status, .notFound)
                        let message = (try JSONSerialization.jsonObject(with: Data(buffer: r.body)) as? [String: Any])?["error"] as? String ?? ""
                        XCTAssertTrue(message.contains("runs on shard \(Shard.owner(of: other, count: 3))/3"), message)
                    }
                }
            }
        }
        XCTAssertEqual(runs.flatMap { $0 }.sorted(), pipelines.sorted(), "every pipeline on exactly one replica: \(runs)")
    }
}
