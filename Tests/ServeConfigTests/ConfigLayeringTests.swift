import ServeConfig
import XCTest

final class ConfigLayeringTests: XCTestCase {
    func load(_ yaml: String, environment: [String: String] = [:], overrides: [String] = []) throws -> ServeConfig {
        try ConfigLoader.parse(yaml: yaml, fileName: "streamd.yml", baseDirectory: "/etc/streamd",
                               environment: environment, overrides: overrides)
    }

    func testDefaultsFillWhatTheFileLeavesOut() throws {
        let c = try load("pipelines:\n" + cam1)
        XCTAssertEqual(c.server.listen, "127.0.0.1", "the API binds to loopback unless configured otherwise")
        XCTAssertEqual(c.server.port, 8480)
        XCTAssertNil(c.server.token)
        XCTAssertEqual(c.server.headerTimeout, .seconds(10))
        XCTAssertEqual(c.server.bodyTimeout, .seconds(30))
        XCTAssertEqual(c.server.idleTimeout, .seconds(60))
        XCTAssertEqual(c.server.maxConnections, 256)
        XCTAssertEqual(c.server.ui, .open, "the page's read-only views open without the token unless locked")
        XCTAssertEqual(c.server.stylizeJobs, 1)
        XCTAssertEqual(c.server.stylizeQueue, 2)
        XCTAssertEqual(c.server.stylizeMaxBytes, 16 << 20)
        XCTAssertEqual(c.pipelines.map(\.name), ["cam1"])
        let p = c.pipelines[0]
        guard case .url(let source) = p.source else { return XCTFail("\(p.source)") }
        XCTAssertEqual(source.kind, .rtsp)
        XCTAssertEqual(source.rtspTransport, .tcp, "RTSP over TCP by default")
        XCTAssertEqual(p.style.strength, 1)
        XCTAssertEqual(p.maxLatency, .milliseconds(500))
        XCTAssertEqual(p.outputs, [OutputConfig(target: .push(url: "rtmp://127.0.0.1/live/cam1", protocol: .rtmp),
                                                encoder: EncoderConfig(codec: .h264, bitrate: 2_000_000, gop: 50, preset: "veryfast", tune: "zerolatency"))])
    }

    func testFileValuesAreTyped() throws {
        let c = try load("""
        server: {listen: "::1", port: 9000, token_file: secrets/token, model_dirs: [models, /opt/models]}
        pipelines:
          webcam:
            source: {device: /dev/video0, size: 1280x720, framerate: 30, input_format: MJPEG}
            model: ./models/mosaic.safetensors
            style_mix: {3: 0.25, 1: 0.75}
            preserve_color: yes
            workers: 2
            max_latency: 250ms
            outputs:
              - {hls: hls/webcam, segment_length: 1.5s, list_size: 4, bitrate: 2500k, gop: 30}
              - {record: /srv/rec/webcam.mkv, rotate_every: 1h, rotate_size: 2GiB, codec: hevc, tune: none}
        """)
        XCTAssertEqual(c.server.listen, "::1")
        XCTAssertEqual(c.server.tokenFile, "/etc/streamd/secrets/token", "relative paths are taken from the file's directory")
        XCTAssertEqual(c.server.modelDirs, ["/etc/streamd/models", "/opt/models"])
        let p = c.pipelines[0]
        XCTAssertEqual(p.source, .device(DeviceSource(path: "/dev/video0", width: 1280, height: 720, frameRate: 30, inputFormat: .mjpeg)))
        XCTAssertEqual(p.style.model, "/etc/streamd/models/mosaic.safetensors")
        XCTAssertEqual(p.style.styleMix, [StyleWeight(index: 1, weight: 0.75), StyleWeight(index: 3, weight: 0.25)])
        XCTAssertTrue(p.style.preserveColor)
        XCTAssertEqual(p.workers, 2)
        XCTAssertEqual(p.maxLatency, .milliseconds(250))
        XCTAssertEqual(p.outputs[0].target, .hls(directory: "/etc/streamd/hls/webcam", segmentLength: .milliseconds(1500), listSize: 4))
        XCTAssertEqual(p.outputs[0].encoder.bitrate, 2_500_000)
        XCTAssertEqual(p.outputs[0].encoder.gop, 30)
        XCTAssertEqual(p.outputs[1].target, .record(path: "/srv/rec/webcam.mkv", rotateEvery: .seconds(3600), rotateSize: 2 << 30))
        XCTAssertEqual(p.outputs[1].encoder.codec, .hevc)
        XCTAssertNil(p.outputs[1].encoder.tune)
    }

    func testEnvironmentOverridesFileAndFlagsOverrideEnvironment() throws {
        let yaml = "server: {port: 9000, listen: 127.0.0.1, header_timeout: 5s, max_connections: 32}\npipelines:\n" + cam1
        XCTAssertEqual(try load(yaml).server.port, 9000)
        let env = ["STREAMD_SERVER_PORT": "9100", "STREAMD_SERVER_TOKEN": "0123456789abcdef0123",
                   "STREAMD_SERVER_MODEL_DIRS": "/a:/b", "STREAMD_MODELS": "/not/config", "STREAMD_SHARED_DIR": "/x",
                   "STREAMD_SERVER_IDLE_TIMEOUT": "1.5m", "STREAMD_SERVER_MAX_CONNECTIONS": "64", "STREAMD_SERVER_UI": "locked"]
        let fromEnv = try load(yaml, environment: env)
        XCTAssertEqual(fromEnv.server.port, 9100)
        XCTAssertEqual(fromEnv.server.listen, "127.0.0.1", "keys not in the environment keep the file's value")
        XCTAssertEqual(fromEnv.server.token, "0123456789abcdef0123")
        XCTAssertEqual(fromEnv.server.modelDirs, ["/a", "/b"])
        XCTAssertEqual(fromEnv.server.idleTimeout, .seconds(90))
        XCTAssertEqual(fromEnv.server.maxConnections, 64)
        XCTAssertEqual(fromEnv.server.ui, .locked)
        XCTAssertEqual(fromEnv.server.headerTimeout, .seconds(5), "the file's timeout stays when the environment has none")
        let fromFlag = try load(yaml, environment: env, overrides: ["server.port=9200", "server.body_timeout=750ms",
                                                                    "pipelines.cam1.strength=0.25",
                                                                    "pipelines.cam1.outputs[0].bitrate=4M"])
        XCTAssertEqual(fromFlag.server.port, 9200)
        XCTAssertEqual(fromFlag.server.bodyTimeout, .milliseconds(750))
        XCTAssertEqual(fromFlag.server.maxConnections, 64)
        XCTAssertEqual(fromFlag.pipelines[0].style.strength, 0.25)
        XCTAssertEqual(fromFlag.pipelines[0].outputs[0].encoder.bitrate, 4_000_000)
        // A token from the environment conflicts with a token_file in the file: both are "set".
        XCTAssertEqual(problems("server: {token_file: /etc/streamd/token}\npipelines:\n" + cam1,
                                environment: ["STREAMD_SERVER_TOKEN": "0123456789abcdef0123"]),
                       ["streamd.yml:1:22: server.token_file: token and token_file are exclusive: set one"])
    }

    func testBadLayerValuesNameTheirOrigin() {
        let yaml = "pipelines:\n" + cam1
        XCTAssertEqual(problems(yaml, environment: ["STREAMD_SERVER_PORT": "http"]),
                       ["environment STREAMD_SERVER_PORT: server.port: expected a whole number, got 'http'"])
        XCTAssertEqual(problems(yaml, environment: ["STREAMD_SERVER_PROT": "80"]),
                       ["environment STREAMD_SERVER_PROT: unknown setting (did you mean STREAMD_SERVER_PORT?)"])
        XCTAssertEqual(problems(yaml, overrides: ["pipelines.cam1.strength=2"]),
                       ["--set pipelines.cam1.strength=2: pipelines.cam1.strength: must be between 0.0 and 1.0, got 2.0"])
        XCTAssertEqual(problems(yaml, overrides: ["pipelines.cam1.outputs[3].bitrate=4M"]),
                       ["--set pipelines.cam1.outputs[3].bitrate=4M: pipelines.cam1.outputs[3].bitrate: no item [3] (the list has 1)"])
        XCTAssertEqual(problems(yaml, overrides: ["port"]),
                       ["--set port: expected KEY=VALUE with a key path such as server.port or pipelines.cam1.outputs[0].bitrate"])
        XCTAssertEqual(problems(yaml, overrides: ["pipelines.cam1.stregth=0.5"]),
                       ["--set pipelines.cam1.stregth=0.5: pipelines.cam1.stregth: unknown key (did you mean 'strength'?)"])
    }

    func testLoadReportsUnreadableFilesByName() {
        let missing = "/nonexistent/streamd.yml"
        XCTAssertThrowsError(try ConfigLoader.load(file: missing, environment: [:])) { error in
            XCTAssertEqual("\(error)", "/nonexistent/streamd.yml: no such file")
        }
        XCTAssertThrowsError(try ConfigLoader.load(file: NSTemporaryDirectory(), environment: [:])) { error in
            XCTAssertTrue("\(error)".hasSuffix(": is a directory, not a config file"), "\(error)")
        }
    }
}
