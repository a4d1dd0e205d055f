import Foundation
import Pipeline
package import Live
import Logging
package import ServeConfig
import ServiceLifecycle
package import Systemd

/// Every pipeline of the service: starts them, restarts the changed ones on reload, drains them on shutdown,
/// and tells systemd (READY, WATCHDOG while frames flow, STOPPING). The API talks to the data plane only
/// through this object and the pipelines' thread-safe methods.
package final class LiveService: Service, @unchecked Sendable {
    package let configFile: String
    package let overrides: [String]
    private let logger: Logger
    private let environment: LiveEnvironment
    private let notifier: SystemdNotifier?
    private let token: APIToken
    private let lock = NSLock()
    /// Serializes everything that starts or stops pipelines (API start/stop, SIGHUP and API reload, start-up and
    /// shutdown): each acts on the state the previous one left, so no two runs of a pipeline can ever overlap.
    private let lifecycle = NSLock()
    /// The pipelines this replica runs of the configuration's (all of them unless `serve --shard`).
    package let shard: Shard
    /// The configuration with only this replica's pipelines.
    private var config: ServeConfig
    /// Every pipeline of the configuration file, this replica's or not, by name: its owner.
    private var owners: [String: Int] = [:]
    private var pipelines: [String: LivePipeline] = [:]
    /// Pipelines whose start failed (bad model, …), with the one-line reason.
    private var failures: [String: String] = [:]
    private var ready = false
    /// Set when shutdown begins: from then on nothing starts.
    private var shuttingDown = false
    /// Told once when shutdown begins (long-lived API work, such as previews and queued uploads, ends then).
    private var shutdownHandlers: [@Sendable () -> Void] = []

    package init(configFile: String, overrides: [String], config: ServeConfig, environment: LiveEnvironment, token: APIToken,
         notifier: SystemdNotifier?, shard: Shard = .whole) {
        self.token = token
        self.configFile = configFile
        self.overrides = overrides
        self.shard = shard
        self.config = config
        (self.config, self.owners) = Self.owned(config, by: shard)
        self.environment = environment
        self.logger = environment.logger
        self.notifier = notifier
    }

    package var names: [String] { lock.withLock { config.pipelines.map(\.name) } }
    /// Pipelines of the configuration that other replicas run, with their owner.
    package var elsewhere: [String: Int] { lock.withLock { owners.filter { $0.value != shard.index } } }

    /// `config` with only `shard`'s pipelines, and the owner of every pipeline.
    private static func owned(_ config: ServeConfig, by shard: Shard) -> (ServeConfig, [String: Int]) {
        let owners = Dictionary(uniqueKeysWithValues: config.pipelines.map { ($0.name, Shard.owner(of: $0.name, count: shard.count)) })
        var mine = config
        mine.pipelines = config.pipelines.filter { owners[$0.name] == shard.index }
        return (mine, owners)
    }
    package var isReady: Bool { lock.withLock { ready } }
    package func pipeline(_ name: String) -> LivePipeline? { lock.withLock { pipelines[name] } }
    package func failure(_ name: String) -> String? { lock.withLock { failures[name] } }
    package var isShuttingDown: Bool { lock.withLock { shuttingDown } }

    /// Runs `handler` when shutdown begins (at once if it has).
    package func onShutdown(_ handler: @escaping @Sendable () -> Void) {
        let now: Bool = lock.withLock {
            if shuttingDown { return true }
            shutdownHandlers.append(handler)
            return false
        }
        if now { handler() }
    }

    /// Builds and starts one pipeline; a failure is logged and kept, never stops the others.
    private func launch(_ pipelineConfig: PipelineConfig) {
        do {
            let pipeline = try LivePipeline(config: pipelineConfig, environment: environment)
            try pipeline.start()
            lock.withLock {
                pipelines[pipelineConfig.name] = pipeline
                failures[pipelineConfig.name] = nil
            }
            logger.info("pipeline started", metadata: ["pipeline.name": .string(pipelineConfig.name)])
        } catch {
            lock.withLock { failures[pipelineConfig.name] = "\(error)" }
            logger.error("pipeline \(pipelineConfig.name) cannot start: \(error)")
        }
    }

    /// Refused because the service is shutting down.
    package struct ShuttingDown: Error, CustomStringConvertible {
        package var description: String { "the service is shutting down" }
    }

    /// Starts a stopped pipeline, or builds one from the configuration whose start failed earlier. False when no
    /// pipeline has that name. Starting one that runs does nothing.
    package func start(_ name: String) throws -> Bool {
        lifecycle.lock(); defer { lifecycle.unlock() }
        guard !lock.withLock({ shuttingDown }) else { throw ShuttingDown() }
        if let existing = pipeline(name) {
            try existing.start()
            return true
        }
        guard let p = lock.withLock({ config.pipelines.first { $0.name == name } }) else { return false }
        let pipeline = try LivePipeline(config: p, environment: environment)
        try pipeline.start()
        lock.withLock { pipelines[name] = pipeline; failures[name] = nil }
        return true
    }

    /// Stops one pipeline (draining it like SIGTERM). False when no pipeline has that name.
    package func stop(_ name: String) -> Bool {
        lifecycle.lock(); defer { lifecycle.unlock() }
        guard let pipeline = pipeline(name) else { return names.contains(name) }
        pipeline.stop()
        return true
    }

    package func startAll() {
        lifecycle.lock(); defer { lifecycle.unlock() }
        guard !lock.withLock({ shuttingDown }) else { return }
        for p in lock.withLock({ config.pipelines }) { launch(p) }
        lock.withLock { ready = true }
        try? notifier?.ready()
        try? notifier?.status("\(lock.withLock { pipelines.count }) of \(names.count) pipeline(s) running")
    }

    /// Re-reads the file: pipelines whose settings changed restart, new ones start, removed ones stop,
    /// unchanged ones keep running untouched. Returns what happened, by name.
    package func reload() throws -> (restarted: [String], started: [String], stopped: [String], unchanged: [String]) {
        // One reload at a time, never beside a start or stop (SIGHUP and the API may race).
        lifecycle.lock()
        defer { lifecycle.unlock() }
        guard !lock.withLock({ shuttingDown }) else { throw ShuttingDown() }
        let (fresh, freshOwners) = Self.owned(try ConfigLoader.load(file: configFile, overrides: overrides), by: shard)
        try? notifier?.reloading()
        defer { try? notifier?.ready() }
        let old = lock.withLock { config }
        applyServerChanges(from: old.server, to: fresh.server)
        var restarted: [String] = [], started: [String] = [], stopped: [String] = [], unchanged: [String] = []
        let freshByName = Dictionary(uniqueKeysWithValues: fresh.pipelines.map { ($0.name, $0) })
        for p in old.pipelines where freshByName[p.name] == nil {
            pipeline(p.name)?.stop()
            lock.withLock { pipelines[p.name] = nil; failures[p.name] = nil }
            stopped.append(p.name)
        }
        lock.withLock { var next = old; next.pipelines = fresh.pipelines; config = next; owners = freshOwners }
        for p in fresh.pipelines {
            if let previous = old.pipelines.first(where: { $0.name == p.name }) {
                if previous == p && (pipeline(p.name) != nil) {
                    unchanged.append(p.name)
                    continue
                }
                // Build the new one first (model loaded) so a bad change keeps the old one running.
                let replacement: LivePipeline
                do {
                    replacement = try LivePipeline(config: p, environment: environment)
                } catch {
                    lock.withLock { failures[p.name] = "\(error)" }
                    logger.error("pipeline \(p.name) keeps its old settings: the new ones cannot start: \(error)")
                    unchanged.append(p.name)
                    continue
                }
                pipeline(p.name)?.stop()
                do {
                    try replacement.start()
                    lock.withLock { pipelines[p.name] = replacement; failures[p.name] = nil }
                } catch {
                    lock.withLock { pipelines[p.name] = nil; failures[p.name] = "\(error)" }
                    logger.error("pipeline \(p.name) cannot start: \(error)")
                }
                restarted.append(p.name)
            } else {
                launch(p)
                started.append(p.name)
            }
        }
        logger.info("reloaded \(configFile): restarted [\(restarted.joined(separator: ", "))], started [\(started.joined(separator: ", "))], stopped [\(stopped.joined(separator: ", "))], unchanged [\(unchanged.joined(separator: ", "))]")
        return (restarted, started, stopped, unchanged)
    }

    /// The token (inline, from the environment or re-read from its file) takes effect at once; the other
    /// `server:` settings shape the listener (its timeouts and connection limit included), the model lookup and
    /// the loggers built at start-up, so a change there is reported, key by key, as waiting for the next restart.
    private func applyServerChanges(from old: ServerConfig, to fresh: ServerConfig) {
        do {
            let next = try APIToken.resolve(fresh)
            if next != token.current {
                token.replace(with: next)
                logger.notice(next == nil ? "API token removed: mutating endpoints answer 401" : "API token replaced")
            }
        } catch {
            logger.error("keeping the current API token: \(error)")
        }
        let later = [("listen", old.listen != fresh.listen), ("port", old.port != fresh.port),
                     ("model_dirs", old.modelDirs != fresh.modelDirs), ("log_level", old.logLevel != fresh.logLevel),
                     ("header_timeout", old.headerTimeout != fresh.headerTimeout), ("body_timeout", old.bodyTimeout != fresh.bodyTimeout),
                     ("idle_timeout", old.idleTimeout != fresh.idleTimeout), ("max_connections", old.maxConnections != fresh.maxConnections),
                     ("ui", old.ui != fresh.ui), ("stylize_jobs", old.stylizeJobs != fresh.stylizeJobs),
                     ("stylize_queue", old.stylizeQueue != fresh.stylizeQueue),
                     ("stylize_max_bytes", old.stylizeMaxBytes != fresh.stylizeMaxBytes)]
            .filter(\.1).map { "server.\($0.0)" }
        if !later.isEmpty { logger.warning("\(later.joined(separator: ", ")) changed: takes effect at the next restart") }
    }

    /// Graceful: every pipeline drains in parallel, recordings are finalized. Waits for every pipeline's stop,
    /// which is bounded (its drain `timeout`, then a hard stop of at most 10 s more), so the process never exits
    /// while a recording is being finalized. Nothing starts afterwards.
    package func stopAll(timeout: Duration = .seconds(15)) {
        let handlers: [@Sendable () -> Void] = lock.withLock {
            shuttingDown = true
            defer { shutdownHandlers = [] }
            return shutdownHandlers
        }
        for handler in handlers { handler() }
        lifecycle.lock(); defer { lifecycle.unlock() }
        try? notifier?.stopping()
        let all = lock.withLock { Array(pipelines.values) }
        let group = DispatchGroup()
        for p in all {
            group.enter()
            let thread = Thread { p.stop(timeout: timeout); group.leave() }
            thread.name = "stop-\(p.config.name)"
            thread.start()
        }
        group.wait()
        logger.info("all pipelines stopped")
    }

    /// Whether the watchdog should be fed: some pipeline delivered frames within `window`, or none is configured.
    /// When every pipeline failed to start (or none delivers), there is no ping, so systemd restarts the service.
    package func isHealthy(within window: Duration) -> Bool {
        let (all, configured) = lock.withLock { (Array(pipelines.values), config.pipelines.count) }
        return configured == 0 || all.contains { $0.isFlowing(within: window) }
    }

    package func run() async throws {
        try await onThread("start-pipelines") { self.startAll() }
        // Watchdog pings only while some pipeline delivers frames (or nothing is configured to run).
        let interval = notifier?.watchdogInterval.map { $0 / 2 } ?? .seconds(1)
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if notifier?.watchdogInterval != nil, isHealthy(within: interval * 2) {
                    try? notifier?.watchdog()
                }
            }
        } onGracefulShutdown: {
            self.logger.info("shutting down: draining pipelines")
        }
        _ = try? await onThread("stop-pipelines") { self.stopAll() }
    }
}
