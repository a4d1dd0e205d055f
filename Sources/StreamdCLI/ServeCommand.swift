import ArgumentParser
import Decode
import Foundation
import WebRTC
import ServeCore
import ServeHTTP
import Pipeline
import Hummingbird
import Live
import Logging
import NIOCore
import Prometheus
import ServeConfig
import ServiceLifecycle
import Systemd

/// `streamd serve --config FILE`: runs every pipeline of the file with the HTTP API until SIGTERM/SIGINT
/// (graceful: recordings finalized), reloading on SIGHUP.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the live service: every pipeline of the configuration file, with the HTTP API.",
        discussion: """
        SIGTERM or SIGINT drains the pipelines (recordings are finalized) and exits; SIGHUP (or POST /v1/reload) \
        re-reads the file and restarts only the pipelines whose settings changed. Under systemd (Type=notify) \
        it sends READY=1 once the pipelines are up, WATCHDOG=1 while frames flow, and STOPPING=1.
        """)

    @Option(name: .long, help: "The YAML configuration file (see configs/streamd.yml).")
    var config: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key, e.g. server.port=9000 (repeatable).", valueName: "KEY=VALUE"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp(
        "Run only this replica's share of the pipelines when COUNT replicas share the configuration: INDEX/COUNT, or auto/COUNT to take the index from the scheduler (JOB_COMPLETION_INDEX, a StatefulSet pod's HOSTNAME, SLURM_ARRAY_TASK_ID). Default: $STREAMD_SHARD, else all of them.",
        valueName: "index/count"))
    var shard: String?

    func run() async throws {
        let environmentVariables = ProcessInfo.processInfo.environment
        let replica: Shard
        do {
            replica = try (shard ?? environmentVariables["STREAMD_SHARD"]).map { try Shard.parse($0, environment: environmentVariables) } ?? .whole
        } catch {
            note("streamd: --\(error)")
            throw ExitCode.failure
        }
        let serveConfig: ServeConfig
        do {
            serveConfig = try ConfigLoader.load(file: config, overrides: overrides)
        } catch let errors as ConfigErrors {
            for issue in errors.issues { note("streamd: \(issue)") }
            throw ExitCode.failure
        }
        var baseLogger = Logger(label: "streamd")
        baseLogger.logLevel = Logger.Level(rawValue: serveConfig.server.logLevel) ?? .info
        let logger = baseLogger
        let token: APIToken
        do {
            token = APIToken(try APIToken.resolve(serveConfig.server))
        } catch {
            note("streamd: \(error)")
            throw ExitCode.failure
        }
        // FFmpeg's own warnings (a muxer's complaints, an RTSP session's trouble) go into the same log, rate-limited;
        // its informational chatter only with debug logging.
        var ffmpegLogger = baseLogger
        ffmpegLogger[metadataKey: "component"] = "ffmpeg"
        FFmpegLog.route(to: ffmpegLogger, level: baseLogger.logLevel <= .debug ? .info : .warning)
        if token.current == nil { logger.warning("no API token configured: mutating endpoints answer 401") }

        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Stage and end-to-end latencies of a live pipeline: tens to hundreds of milliseconds, so the buckets
        // are dense there (p50/p95 are read from them).
        factory.defaultDurationHistogramBuckets = [2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 250, 300, 350, 400, 450, 500,
                                                   600, 750, 1000, 1500, 2000, 3000, 5000, 10000].map { .milliseconds($0) }
        let server = serveConfig.server
        let environment = LiveEnvironment(modelDirectories: server.modelDirs, logger: logger, metrics: factory,
                                          webrtc: WebRTCSettings(iceAddresses: server.webrtcAddresses, maxViewers: server.webrtcViewers,
                                                                 bitrateKbps: server.webrtcBitrate))
        let service = LiveService(configFile: config, overrides: overrides, config: serveConfig,
                                  environment: environment, token: token, notifier: SystemdNotifier(), shard: replica)
        if replica.count > 1 {
            logger.notice("shard \(replica): running [\(service.names.joined(separator: ", "))] of \(serveConfig.pipelines.count) pipeline(s)")
        }
        let web = WebRoutes(service: service, token: token, server: serveConfig.server, embeddings: environment.embeddings)
        let router = ServeAPI.router(service: service, registry: registry, token: token, web: web)
        let address = serveConfig.server.listen, port = serveConfig.server.port
        let limits = HTTPLimits(serveConfig.server, metrics: HTTPLimitMetrics(factory: factory), logger: logger)
        let app = Application(
            router: router,
            server: .http1(limits: limits),
            configuration: .init(address: .hostname(address, port: port), serverName: "streamd",
                                 availableConnectionsDelegate: limits.connectionLimit),
            onServerRunning: { channel in
                // One accept per read of the listening socket: the connection limit is checked between reads,
                // so a burst accepted in one read (4 by default) could overshoot max_connections.
                do { try await channel.setOption(ChannelOptions.maxMessagesPerRead, value: 1).get() } catch {
                    logger.warning("cannot limit accepts per read (max_connections may be overshot by a burst): \(oneLine(error))")
                }
                logger.info("API listening on \(channel.localAddress.map { "\($0)" } ?? "\(address):\(port)")")
            },
            logger: logger)

        // SIGHUP: reload on a dedicated thread (stopping pipelines blocks).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangup.setEventHandler {
            let thread = Thread {
                do { _ = try service.reload() } catch { logger.error("reload failed, keeping the running pipelines: \(oneLine(error))") }
            }
            thread.start()
        }
        hangup.resume()
        defer { hangup.cancel() }

        // The API starts first and stops last, so it reports while the pipelines drain.
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: app), .init(service: service)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Draining is bounded inside (15 s per pipeline); past this the group cancels everything.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
    }
}
