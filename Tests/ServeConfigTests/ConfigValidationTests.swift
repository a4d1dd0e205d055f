import ServeConfig
import XCTest

/// A minimal valid pipeline, indented to sit under `pipelines:`.
let cam1 = """
  cam1:
    source:
      url: rtsp://127.0.0.1:8554/cam
    model: udnie
    outputs:
      - url: rtmp://127.0.0.1/live/cam1
"""

/// The one-line problems `yaml` has, as `config check` prints them (without the `streamd: ` prefix).
func problems(_ yaml: String, environment: [String: String] = [:], overrides: [String] = []) -> [String] {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, fileName: "streamd.yml", baseDirectory: "/etc/streamd",
                                   environment: environment, overrides: overrides)
        return []
    } catch let e as ConfigErrors {
        return e.issues.map(\.description)
    } catch {
        return ["unexpected error type: \(error)"]
    }
}

final class ConfigValidationTests: XCTestCase {
    /// Asserts `yaml` has exactly one problem and that it is `expected` (the whole line).
    func assertProblem(_ yaml: String, _ expected: String, environment: [String: String] = [:], overrides: [String] = [],
                       file: StaticString = #filePath, line: UInt = #line) {
        let found = problems(yaml, environment: environment, overrides: overrides)
        XCTAssertEqual(found, [expected], file: file, line: line)
    }

    func testUnsupportedOutputSchemeNamesKeyLineAndAlternatives() {
        assertProblem("""
        pipelines:
          cam1:
            source: {url: rtsp://127.0.0.1/cam}
            model: udnie
            outputs:
              - url: ftp://example.com/out
        """, "streamd.yml:6:14: pipelines.cam1.outputs[0].url: unsupported scheme 'ftp' (expected rtmp, rtsp, srt, udp)")
    }

    func testUnknownKeyGetsSuggestion() {
        assertProblem("pipelines:\n" + cam1 + "\n    stength: 0.5\n",
                      "streamd.yml:8:5: pipelines.cam1.stength: unknown key (did you mean 'strength'?)")
    }

    func testUnknownKeyWithoutCloseMatchListsKnownKeys() {
        assertProblem("pipelines:\n" + cam1 + "\nserver:\n  colour: red\n",
                      "streamd.yml:9:3: server.colour: unknown key (expected one of listen, port, token, token_file, model_dirs, log_level, header_timeout, body_timeout, idle_timeout, max_connections, ui, stylize_jobs, stylize_queue, stylize_max_bytes, webrtc_addresses, webrtc_viewers, webrtc_bitrate)")
    }

    func testUnknownTopLevelKey() {
        assertProblem("pipeline:\n" + cam1 + "\npipelines:\n" + cam1,
                      "streamd.yml:1:1: pipeline: unknown key (did you mean 'pipelines'?)")
    }

    func testServerValues() {
        let base = "pipelines:\n" + cam1 + "\nserver:\n"
        assertProblem(base + "  port: 70000\n", "streamd.yml:9:9: server.port: must be between 1 and 65535, got 70000")
        assertProblem(base + "  port: http\n", "streamd.yml:9:9: server.port: expected a whole number, got 'http'")
        assertProblem(base + "  listen: localhost\n",
                      "streamd.yml:9:11: server.listen: 'localhost' is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or ::)")
        assertProblem(base + "  token: abc\n",
                      "streamd.yml:9:10: server.token: too short: use at least 16 characters (e.g. `openssl rand -hex 32`)")
        assertProblem(base + "  token: 0123456789abcdef0123\n  token_file: /etc/streamd/token\n",
                      "streamd.yml:10:15: server.token_file: token and token_file are exclusive: set one")
        assertProblem(base + "  log_level: verbose\n",
                      "streamd.yml:9:14: server.log_level: unknown value 'verbose' (expected trace, debug, info, notice, warning, error, critical)")
        assertProblem(base + "  model_dirs: /var/lib/streamd/models\n",
                      "streamd.yml:9:15: server.model_dirs: expected a list, got '/var/lib/streamd/models'")
        assertProblem(base + "  header_timeout: 50ms\n", "streamd.yml:9:19: server.header_timeout: must be at least 100ms")
        assertProblem(base + "  body_timeout: soon\n",
                      "streamd.yml:9:17: server.body_timeout: expected a duration such as 500ms, 2s, 5m or 1h, got 'soon'")
        assertProblem(base + "  idle_timeout: 0s\n", "streamd.yml:9:17: server.idle_timeout: must be more than zero, got '0s'")
        assertProblem(base + "  max_connections: 0\n", "streamd.yml:9:20: server.max_connections: must be between 1 and 65536, got 0")
        assertProblem(base, "--set server.max_connections=100000: server.max_connections: must be between 1 and 65536, got 100000",
                      overrides: ["server.max_connections=100000"])
        assertProblem(base + "  ui: public\n", "streamd.yml:9:7: server.ui: unknown value 'public' (expected open, locked, off)")
        assertProblem(base + "  ui: lock\n", "streamd.yml:9:7: server.ui: unknown value 'lock' (did you mean 'locked'?)")
        assertProblem(base + "  stylize_jobs: 0\n", "streamd.yml:9:17: server.stylize_jobs: must be between 1 and 64, got 0")
        assertProblem(base + "  stylize_queue: -1\n", "streamd.yml:9:18: server.stylize_queue: must be between 0 and 1024, got -1")
        assertProblem(base + "  stylize_max_bytes: 2GiB\n", "streamd.yml:9:22: server.stylize_max_bytes: must be at most 1GiB")
        assertProblem(base + "  stylize_max_bytes: big\n",
                      "streamd.yml:9:22: server.stylize_max_bytes: expected a size such as 16MiB or 500kB, got 'big'")
    }

    func testSourceProblems() {
        func source(_ s: String) -> String {
            "pipelines:\n  cam1:\n    model: udnie\n    outputs: [{url: rtmp://127.0.0.1/live/a}]\n    source:\n" + s
        }
        assertProblem("pipelines:\n  cam1:\n    model: udnie\n    outputs: [{url: rtmp://127.0.0.1/live/a}]\n",
                      "streamd.yml: pipelines.cam1.source: missing: every pipeline needs a source (url or device)")
        assertProblem(source("      url: rtsp://h/cam\n      device: /dev/video0\n"),
                      "streamd.yml:7:15: pipelines.cam1.source.device: url and device are exclusive: set one")
        assertProblem(source("      url: /srv/clip.mp4\n      rtsp_transport: udp\n"),
                      "streamd.yml:7:23: pipelines.cam1.source.rtsp_transport: only for rtsp:// sources")
        assertProblem(source("      url: rtsp://h/cam\n      loop: true\n"),
                      "streamd.yml:7:13: pipelines.cam1.source.loop: only for file sources")
        assertProblem(source("      url: gopher://h/cam\n"),
                      "streamd.yml:6:12: pipelines.cam1.source.url: unsupported scheme 'gopher' (expected rtsp, rtsps, rtmp, rtmps, srt, udp, http, https, file or a file path)")
        assertProblem(source("      url: udp://239.0.0.1\n"),
                      "streamd.yml:6:12: pipelines.cam1.source.url: 'udp://239.0.0.1' needs a port (udp://HOST:PORT)")
        assertProblem(source("      device: /dev/video0\n      size: 640by480\n"),
                      "streamd.yml:7:13: pipelines.cam1.source.size: expected WIDTHxHEIGHT such as 640x480, got '640by480'")
        assertProblem(source("      device: /dev/video0\n      input_format: mjpg\n"),
                      "streamd.yml:7:21: pipelines.cam1.source.input_format: unknown value 'mjpg' (did you mean 'mjpeg'?)")
        assertProblem(source("      device: video0\n"),
                      "streamd.yml:6:15: pipelines.cam1.source.device: 'video0' is not a device path (expected /dev/videoN)")
        assertProblem(source("      url: rtsp://h/cam\n      framerate: 30\n"),
                      "streamd.yml:7:18: pipelines.cam1.source.framerate: only for device sources")
        assertProblem(source("      device: /dev/video0\n      audio: false\n"),
                      "streamd.yml:7:14: pipelines.cam1.source.audio: only for url sources")
        assertProblem(source("      url: rtmp://h/live/cam\n      audio: none\n"),
                      "streamd.yml:7:14: pipelines.cam1.source.audio: expected true or false, got 'none'")
        // A stream's sound is carried unless `audio: false`.
        for (line, carried) in [("", true), ("      audio: false\n", false), ("      audio: true\n", true)] {
            let parsed = try? ConfigLoader.parse(yaml: source("      url: rtmp://h/live/cam\n" + line), fileName: "streamd.yml",
                                                 baseDirectory: "/etc/streamd", environment: [:], overrides: [])
            guard case .url(let u)? = parsed?.pipelines.first?.source else { return XCTFail("not parsed: \(line)") }
            XCTAssertEqual(u.audio, carried, line)
        }
    }

    func testStyleProblems() {
        let base = "pipelines:\n" + cam1 + "\n"
        assertProblem(base + "    strength: 1.5\n", "streamd.yml:8:15: pipelines.cam1.strength: must be between 0.0 and 1.0, got 1.5")
        assertProblem(base + "    style_index: 2\n    style_mix: {1: 0.5, 2: 0.5}\n",
                      "streamd.yml:9:16: pipelines.cam1.style_mix: style_index and style_mix are exclusive: set one")
        assertProblem(base + "    style_mix: {1: 0, 2: 0}\n", "streamd.yml:8:16: pipelines.cam1.style_mix: the weights are all zero")
        assertProblem(base + "    style_mix: {first: 1}\n",
                      "streamd.yml:8:17: pipelines.cam1.style_mix.first: style indices are whole numbers from 0")
        assertProblem(base + "    preserve_color: maybe\n",
                      "streamd.yml:8:21: pipelines.cam1.preserve_color: expected true or false, got 'maybe'")
        assertProblem(base + "    workers: 0\n", "streamd.yml:8:14: pipelines.cam1.workers: must be between 1 and 256, got 0")
        assertProblem(base + "    max_latency: soon\n",
                      "streamd.yml:8:18: pipelines.cam1.max_latency: expected a duration such as 500ms, 2s, 5m or 1h, got 'soon'")
        assertProblem(base + "    style: wave\n    style_index: 1\n",
                      "streamd.yml:9:18: pipelines.cam1.style_index: style and style_index are exclusive: set one")
        assertProblem(base + "    style: [wave]\n", "streamd.yml:8:12: pipelines.cam1.style: expected a string, got a list")
        assertProblem("pipelines:\n  cam1:\n    source: {url: rtsp://h/c}\n    model: \"\"\n    outputs: [{url: rtmp://h/a/b}]\n",
                      "streamd.yml:4:12: pipelines.cam1.model: must not be empty")
    }

    /// A pipeline without `model:` runs the built-in model (`default`); `style:` names one of its styles.
    func testPipelineWithoutModelUsesTheDefaultModel() throws {
        let yaml = "pipelines:\n  cam1:\n    source: {url: rtsp://h/c}\n    style: scream\n    outputs: [{url: rtmp://h/a/b}]\n"
        XCTAssertEqual(problems(yaml), [])
        let config = try ConfigLoader.parse(yaml: yaml, fileName: "streamd.yml", baseDirectory: "/etc/streamd", environment: [:], overrides: [])
        XCTAssertEqual(config.pipelines.first?.style.model, "default")
        XCTAssertEqual(config.pipelines.first?.style.styleName, "scream")
        XCTAssertNil(config.pipelines.first?.style.styleIndex)
    }

    /// `style_image:` names a painting (resolved beside the file) for the built-in arbitrary-style network when no
    /// `model:` is given; it is one more way to choose a style, so it excludes the others.
    func testStyleImageChoosesThePaintingAndTheArbitraryNetwork() throws {
        let yaml = "pipelines:\n  cam1:\n    source: {url: rtsp://h/c}\n    style_image: paintings/wave.jpg\n    outputs: [{url: rtmp://h/a/b}]\n"
        XCTAssertEqual(problems(yaml), [])
        let config = try ConfigLoader.parse(yaml: yaml, fileName: "streamd.yml", baseDirectory: "/etc/streamd", environment: [:], overrides: [])
        XCTAssertEqual(config.pipelines.first?.style.model, "arbitrary-fast")
        XCTAssertEqual(config.pipelines.first?.style.styleImage, "/etc/streamd/paintings/wave.jpg")
        let named = try ConfigLoader.parse(yaml: yaml.replacingOccurrences(of: "    style_image", with: "    model: mine\n    style_image"),
                                           fileName: "streamd.yml", baseDirectory: "/etc/streamd", environment: [:], overrides: [])
        XCTAssertEqual(named.pipelines.first?.style.model, "mine")
        assertProblem(yaml.replacingOccurrences(of: "    style_image", with: "    style: wave\n    style_image"),
                      "streamd.yml:5:18: pipelines.cam1.style_image: style and style_image are exclusive: set one")
    }

    func testOutputProblems() {
        func output(_ o: String) -> String {
            "pipelines:\n  cam1:\n    source: {url: rtsp://h/cam}\n    model: udnie\n    outputs:\n" + o
        }
        // Without outputs a pipeline is watched through its preview and WebRTC players only.
        for yaml in ["pipelines:\n  cam1:\n    source: {url: \"whip:\"}\n    model: udnie\n",
                     "pipelines:\n  cam1:\n    source: {url: \"whip:\"}\n    model: udnie\n    outputs: []\n"] {
            let parsed = try? ConfigLoader.parse(yaml: yaml, fileName: "streamd.yml", baseDirectory: "/etc/streamd", environment: [:], overrides: [])
            XCTAssertEqual(parsed?.pipelines.first?.outputs, [], yaml)
            XCTAssertEqual(parsed?.pipelines.first?.source, .whip, yaml)
        }
        assertProblem("pipelines:\n  cam1:\n    source: {url: \"whip:\", timeout: 5s}\n    model: udnie\n",
                      "streamd.yml:3:37: pipelines.cam1.source.timeout: not for a whip: source")
        assertProblem(output("      - camera: my camera\n"),
                      "streamd.yml:6:17: pipelines.cam1.outputs[0].camera: 'my camera' is not a camera name (letters, digits, '-', '_' and '.', at most 64) or a /dev/videoN device")
        assertProblem(output("      - camera: desk\n        bitrate: 1000000\n"),
                      "streamd.yml:7:18: pipelines.cam1.outputs[0].bitrate: not for camera outputs (pictures go out uncompressed)")
        assertProblem("server:\n  webrtc_addresses: [localhost]\npipelines:\n  cam1:\n    source: {url: \"whip:\"}\n    model: udnie\n",
                      "streamd.yml:2:22: server.webrtc_addresses[0]: 'localhost' is not an IP address")
        assertProblem(output("      - url: rtmp://h/live/a\n        record: /srv/a.mp4\n"),
                      "streamd.yml:7:17: pipelines.cam1.outputs[0].record: url and record are exclusive: one sink per output")
        assertProblem(output("      - record: /srv/rec/cam1.avi\n"),
                      "streamd.yml:6:17: pipelines.cam1.outputs[0].record: unsupported extension '.avi' (expected .mp4, .mkv, .mov, .ts)")
        assertProblem(output("      - record: /srv/rec/cam1.mp4\n        segment_length: 2s\n"),
                      "streamd.yml:7:25: pipelines.cam1.outputs[0].segment_length: only for hls outputs")
        assertProblem(output("      - url: rtmp://h/live/a\n        codec: hevc\n"),
                      "streamd.yml:7:16: pipelines.cam1.outputs[0].codec: rtmp carries H.264 only (FLV); use codec: h264")
        assertProblem(output("      - url: udp://127.0.0.1\n"),
                      "streamd.yml:6:14: pipelines.cam1.outputs[0].url: 'udp://127.0.0.1' needs a port (udp://HOST:PORT)")
        assertProblem(output("      - url: srt://127.0.0.1:9000\n        bitrate: fast\n"),
                      "streamd.yml:7:18: pipelines.cam1.outputs[0].bitrate: expected a bit rate such as 2M or 2500k, got 'fast'")
        assertProblem(output("      - url: srt://127.0.0.1:9000\n        preset: veryfst\n"),
                      "streamd.yml:7:17: pipelines.cam1.outputs[0].preset: unknown value 'veryfst' (did you mean 'veryfast'?)")
        assertProblem(output("      - hls: /srv/hls/cam1\n        list_size: 0\n"),
                      "streamd.yml:7:20: pipelines.cam1.outputs[0].list_size: must be between 1 and 1000, got 0")
        assertProblem(output("      - record: /srv/a.mkv\n        rotate_size: 10k\n"),
                      "streamd.yml:7:22: pipelines.cam1.outputs[0].rotate_size: at least 1MiB")
        assertProblem(output("      - record: /srv/a.mkv\n        keep: 0\n"),
                      "streamd.yml:7:15: pipelines.cam1.outputs[0].keep: must be between 1 and 1000000, got 0")
        assertProblem(output("      - hls: /srv/hls/cam1\n        keep: 3\n"),
                      "streamd.yml:7:15: pipelines.cam1.outputs[0].keep: only for record outputs")
        assertProblem(output("      - {}\n"),
                      "streamd.yml:6:9: pipelines.cam1.outputs[0]: needs one of url (rtmp, rtsp, srt, udp), hls (a directory), record (a file) or camera (a PipeWire camera's name)")
    }

    func testTwoOutputsWritingTheSamePlace() {
        let yaml = """
        pipelines:
          a:
            source: {url: rtsp://h/a}
            model: udnie
            outputs: [{record: /srv/rec/x.mp4}]
          b:
            source: {url: rtsp://h/b}
            model: udnie
            outputs: [{record: /srv/rec/x.mp4}]
        """
        assertProblem(yaml, "streamd.yml: pipelines.b.outputs[0]: writes to the same place as pipelines.a.outputs[0]")
    }

    func testTwoPipelinesOnOneCamera() {
        let yaml = """
        pipelines:
          a:
            source: {device: /dev/video7}
            model: udnie
            outputs: [{record: /srv/rec/a.mp4}]
          b:
            source: {device: /dev/video7, input_format: mjpeg}
            model: udnie
            outputs: [{record: /srv/rec/b.mp4}]
        """
        assertProblem(yaml, "streamd.yml: pipelines.b.source.device: the same camera as pipelines.a.source.device (a camera streams to one reader at a time)")
    }

    func testPipelineNames() {
        assertProblem("pipelines:\n" + cam1.replacingOccurrences(of: "cam1:", with: "Cam 1:"),
                      "streamd.yml:2:3: pipelines.Cam 1: pipeline names are 1-64 lower-case letters, digits, '-' and '_', starting with a letter or digit (they appear in URLs and metrics)")
        assertProblem("pipelines: {}\n", "streamd.yml:1:12: pipelines: at least one pipeline is needed")
        assertProblem("", "streamd.yml: pipelines: missing: at least one pipeline is needed")
    }

    func testEveryProblemIsReportedNotOnlyTheFirst() {
        let yaml = """
        server:
          port: 0
        pipelines:
          cam1:
            source: {url: rtsp://h/c, loop: true}
            model: udnie
            strength: 2
            outputs: [{url: ftp://h/x}]
        """
        let found = problems(yaml)
        XCTAssertEqual(found.count, 4, "\(found)")
        XCTAssertTrue(found.allSatisfy { !$0.contains("\n") })
        XCTAssertEqual(found.map { $0.split(separator: " ")[1] },
                       ["server.port:", "pipelines.cam1.source.loop:", "pipelines.cam1.strength:", "pipelines.cam1.outputs[0].url:"])
    }

    func testInvalidYAMLIsOneLineWithPosition() {
        let found = problems("pipelines:\n  cam1:\n    model: [udnie\n")
        XCTAssertEqual(found.count, 1)
        let line = found.first ?? ""
        XCTAssertTrue(line.hasPrefix("streamd.yml: invalid YAML: "), line)
        XCTAssertTrue(line.contains("line "), line)
        XCTAssertFalse(line.contains("\n"))
    }

    func testDuplicateKeysAreRejected() {
        let found = problems("pipelines:\n" + cam1 + "\n    model: mosaic\n")
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertTrue(found.first?.contains("invalid YAML") ?? false, "\(found)")
        XCTAssertTrue(found.first?.contains("model") ?? false, "the duplicated key is named: \(found)")
    }
}
