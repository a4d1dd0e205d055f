package import HummingbirdCore
package import Logging
package import Metrics
package import NIOCore
package import NIOHTTPTypes
package import ServeConfig

/// The HTTP server's defences against clients that open connections and never finish a request (a slowloris
/// dripping header bytes, a `Content-Length` larger than the body sent, a kept-alive connection left idle):
/// per-connection deadlines and a cap on open connections, so such clients cannot hold file descriptors and
/// memory forever, and `/healthz` keeps answering while they try.
///
/// Hummingbird's own `idleTimeout` is not used: it restarts on every request part read, so a body sent one
/// small chunk at a time never trips it, and it cannot tell a dripping header from an idle connection.
package struct HTTPLimits: Sendable {
    /// Which deadline closed a connection (the `kind` label of `streamd_http_timeouts_total`).
    package enum Deadline: String, CaseIterable, Sendable {
        case header, body, idle
    }

    package let headerTimeout: TimeAmount
    package let bodyTimeout: TimeAmount
    package let idleTimeout: TimeAmount
    package let maxConnections: Int
    package let metrics: HTTPLimitMetrics
    package let logger: Logger

    package init(_ server: ServerConfig, metrics: HTTPLimitMetrics, logger: Logger) {
        headerTimeout = TimeAmount(server.headerTimeout)
        bodyTimeout = TimeAmount(server.bodyTimeout)
        idleTimeout = TimeAmount(server.idleTimeout)
        maxConnections = server.maxConnections
        self.metrics = metrics
        self.logger = logger
    }

    package func timeout(_ deadline: Deadline) -> TimeAmount {
        switch deadline {
        case .header: headerTimeout
        case .body: bodyTimeout
        case .idle: idleTimeout
        }
    }

    /// The delegate Hummingbird consults before every accept.
    package var connectionLimit: ConnectionLimit { ConnectionLimit(maximum: maxConnections, metrics: metrics, logger: logger) }
}

/// The instruments of `HTTPLimits`, created at start-up so every series is exported (at 0) before anything
/// happens; an alert can then compare against a value rather than a missing series.
package struct HTTPLimitMetrics: Sendable {
    /// `streamd_http_connections`: connections open now.
    package let openConnections: Gauge
    /// `streamd_http_connection_limit_reached_total`: how often `max_connections` were open at once (from then on
    /// new connections wait in the listen backlog until one closes).
    package let limitReached: Counter
    /// `streamd_http_timeouts_total{kind=header|body|idle}`: connections closed by a deadline.
    package let timeouts: [HTTPLimits.Deadline: Counter]

    package init(factory: any MetricsFactory) {
        openConnections = Gauge(label: "streamd_http_connections", factory: factory)
        openConnections.record(0)
        limitReached = Counter(label: "streamd_http_connection_limit_reached_total", factory: factory)
        timeouts = Dictionary(uniqueKeysWithValues: HTTPLimits.Deadline.allCases.map {
            ($0, Counter(label: "streamd_http_timeouts_total", dimensions: [("kind", $0.rawValue)], factory: factory))
        })
    }
}

/// At `maximum` open connections the server stops accepting: further clients wait in the kernel's listen
/// backlog and are served, late, once a connection closes (by its client or by a deadline), rather than being
/// refused. Hummingbird keeps one copy on the listening channel and calls it only on that channel's event loop.
package struct ConnectionLimit: AvailableConnectionsDelegate {
    package let maximum: Int
    package let metrics: HTTPLimitMetrics
    package let logger: Logger
    private var open = 0
    /// The limit is logged at most once a minute: under attack it is reached again after every close.
    private var lastWarning: ContinuousClock.Instant?

    package init(maximum: Int, metrics: HTTPLimitMetrics, logger: Logger) {
        self.maximum = maximum
        self.metrics = metrics
        self.logger = logger
    }

    package mutating func connectionOpened() {
        open += 1
        metrics.openConnections.record(open)
        guard open == maximum else { return }
        metrics.limitReached.increment()
        let now = ContinuousClock.now
        if lastWarning.map({ now - $0 >= .seconds(60) }) ?? true {
            lastWarning = now
            logger.warning("HTTP connection limit reached (server.max_connections: \(maximum)): new connections wait until one closes")
        }
    }

    package mutating func connectionClosed() {
        open -= 1
        metrics.openConnections.record(open)
    }

    package func isAcceptingNewConnections() -> Bool { open < maximum }
}

/// Told to `RequestDeadlineHandler` when bytes arrive, before the HTTP decoder sees them.
package struct RequestBytesArrived: Sendable {}

/// Sits in front of the HTTP decoder and announces every read as a `RequestBytesArrived` event, because the
/// deadline handler behind the decoder only sees whole request parts: without this it could not tell a
/// kept-alive connection that is idle from one dripping its next request's header, and the latter would be held
/// to the (longer) idle timeout instead of the header timeout.
package final class RequestBytesObserver: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireUserInboundEventTriggered(RequestBytesArrived())
        context.fireChannelRead(data)
    }
}

/// Closes a connection that misses a deadline: its request head must be complete `headerTimeout` after the
/// connection opened (or after the first byte of a later request), its body `bodyTimeout` after the head
/// (however steadily it trickles), and between requests it may sit idle for `idleTimeout`. While the server
/// computes a response there is no deadline: a slow handler (a reload loading models) is not the client's fault.
/// Deadlines are absolute, never extended by activity, so a drip of bytes cannot keep a connection alive.
/// One instance per connection, on its event loop, behind the HTTP codec. (A next request whose first bytes come
/// in the same read as the end of the previous one is held to the idle deadline instead: still bounded.)
package final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart
    package typealias OutboundIn = HTTPResponsePart
    package typealias OutboundOut = HTTPResponsePart

    private enum Phase {
        /// Waiting for a request head (header deadline).
        case head
        /// Between a head and its end (body deadline).
        case body
        /// The request was read and is being answered (no deadline).
        case answering
        /// Nothing in progress since the last response (idle deadline).
        case idle
    }

    private let limits: HTTPLimits
    private var phase = Phase.head
    /// Requests whose head was read and whose response has not ended (more than one when pipelined).
    private var unanswered = 0
    /// Bytes of the next request arrived while answering: its header deadline starts when the answer ends.
    private var nextRequestStarted = false
    private var timer: Scheduled<Void>?

    package init(limits: HTTPLimits) {
        self.limits = limits
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(.header, context) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    package func channelActive(context: ChannelHandlerContext) {
        if phase == .head { arm(.header, context) }
        context.fireChannelActive()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            phase = .body
            arm(.body, context)
        case .body:
            break
        case .end:
            // A response may already have gone out before the body ended (413): then the connection is idle.
            if unanswered > 0 {
                phase = .answering
                disarm()
            } else {
                startWaiting(context)
            }
        }
        context.fireChannelRead(data)
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered -= 1
            if unanswered == 0 && phase == .answering { startWaiting(context) }
        }
        context.write(data, promise: promise)
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is RequestBytesArrived else { return context.fireUserInboundEventTriggered(event) }
        switch phase {
        case .idle:
            phase = .head
            arm(.header, context)
        case .answering:
            nextRequestStarted = true
        case .head, .body:
            break
        }
    }

    /// After a request: the header deadline if the next one has begun, the idle deadline otherwise.
    private func startWaiting(_ context: ChannelHandlerContext) {
        phase = nextRequestStarted ? .head : .idle
        nextRequestStarted = false
        arm(phase == .head ? .header : .idle, context)
    }

    private func arm(_ deadline: HTTPLimits.Deadline, _ context: ChannelHandlerContext) {
        disarm()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: limits.timeout(deadline)) {
            self.timer = nil
            self.limits.metrics.timeouts[deadline]?.increment()
            self.limits.logger.debug("closing HTTP connection: \(deadline.rawValue) timeout",
                                     metadata: ["peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")"])
            context.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

/// Hummingbird's HTTP/1 channel with `RequestBytesObserver` in front of its HTTP decoder (Hummingbird's
/// `additionalChannelHandlers` only go behind it).
package struct DeadlineHTTP1Channel: ServerChildChannel {
    package typealias Value = HTTP1Channel.Value
    package let http1: HTTP1Channel

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(RequestBytesObserver(), position: .first)
            return value
        }
    }

    package func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with the deadlines of `limits` on every connection (the connection limit goes in the
    /// application's configuration: `limits.connectionLimit`).
    package static func http1(limits: HTTPLimits) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            DeadlineHTTP1Channel(http1: HTTP1Channel(
                responder: responder,
                configuration: .init(additionalChannelHandlers: [RequestDeadlineHandler(limits: limits)])))
        }
    }
}
