import BinlogParser
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The HTTP endpoint for Prometheus and health probes, on SwiftNIO (NIOPosix + NIOHTTP1).
///
/// Routes:
/// - `GET /metrics`: 200, `text/plain; version=0.0.4; charset=utf-8`, ``ReconcilerMetrics/render(now:)``.
/// - `GET /health`: 200 `{"status":"ok"}`, or 503 `{"status":"unhealthy","reasons":[…]}` from
///   ``HealthState/check(now:)``; `application/json`.
/// - any other path: 404; another method on one of the two paths: 405 with `Allow: GET`.
///
/// Query strings are ignored; request bodies are read and discarded (never buffered); keep-alive
/// and pipelined requests are handled by NIOHTTP1, and unparsable requests get its 400.
///
/// Bounded (``Limits``): a connection is read from only while its answers can be written (the
/// next pipelined request waits in NIO's `HTTPServerPipelineHandler`, which stops reading, until
/// the socket is writable again), so a client that sends and never reads costs at most one socket
/// buffer; more than ``Limits/maxPipelinedRequests`` unanswered requests, a request head over
/// ``Limits/maxHeaderBytes`` or a body over ``Limits/maxBodyBytes`` close the connection; a
/// connection that makes no progress for ``Limits/idleTimeout`` is closed; at most
/// ``Limits/maxConnections`` are open at once (fewer when `RLIMIT_NOFILE` is low), others are
/// accepted and closed at once.
///
/// The server runs on its own one-thread event loop group, created by ``start(host:port:)`` and
/// shut down by ``stop()``, so it never runs on (or blocks) the caller's thread beyond the bind.
public final class MetricsServer: Sendable {
    /// Errors of ``start(host:port:)`` besides the socket's own.
    public enum Failure: Error, Sendable, Equatable {
        /// `start` was called on a server that is already running.
        case alreadyStarted
    }

    private struct State {
        var group: MultiThreadedEventLoopGroup?
        var channel: (any Channel)?
        var gate: MetricsConnectionGate?
    }

    private let metrics: ReconcilerMetrics
    private let health: HealthState
    private let logger: Logger
    /// As configured; ``start(host:port:)`` may lower the connection cap (``effectiveMaxConnections``).
    public let limits: Limits
    private let state = Mutex(State())

    /// - Parameters:
    ///   - metrics: Rendered for `/metrics`.
    ///   - health: Checked for `/health`.
    ///   - logger: For the listening address, the limits in force, shutdown and connection errors.
    ///   - limits: Connection, timeout and request-size caps.
    public init(metrics: ReconcilerMetrics, health: HealthState, logger: Logger, limits: Limits = Limits()) {
        self.metrics = metrics
        self.health = health
        self.logger = logger
        self.limits = limits
    }

    deinit {
        // A server dropped without stop(): release its thread without blocking the dropping thread.
        let leftover = state.withLock { s in (s.channel, s.group) }
        leftover.0?.close(promise: nil)
        leftover.1?.shutdownGracefully { _ in }
    }

    /// Binds and starts serving; returns once the socket is listening (the bind is the only wait).
    ///
    /// - Parameters:
    ///   - host: The address to listen on; loopback (`127.0.0.1`) unless told otherwise. Use
    ///     `0.0.0.0` or `::` only when the endpoint should be reachable from other hosts.
    ///   - port: The TCP port; 0 picks a free one, reported by ``boundPort``.
    /// - Throws: ``Failure/alreadyStarted``, or NIO's error when the address cannot be bound.
    public func start(host: String = "127.0.0.1", port: Int) throws {
        try state.withLock { s in
            guard s.group == nil else { throw Failure.alreadyStarted }
            let softLimit = Limits.openFileSoftLimit()
            let (ceiling, reserve) = Limits.fileDescriptorCeiling(softLimit: softLimit)
            let maxConnections = min(limits.maxConnections, ceiling ?? Int.max)
            if maxConnections < limits.maxConnections {
                logger.warning(
                    "metrics server: max_connections lowered to keep file descriptors for the daemon",
                    metadata: ["configured": "\(limits.maxConnections)", "used": "\(maxConnections)",
                               "rlimit_nofile": "\(softLimit ?? -1)", "reserved": "\(reserve)"])
            }
            let gate = MetricsConnectionGate(maximum: maxConnections)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let metrics = self.metrics
            let health = self.health
            let limits = self.limits
            let logger = self.logger
            var decoderLimits = NIOHTTPDecoderLimitConfiguration()
            decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
            decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
            decoderLimits.maxHeaderFieldCount = 100
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        guard gate.tryEnter() else {
                            gate.warnRejected(logger)
                            try sync.addHandler(MetricsRejectConnectionHandler())
                            return
                        }
                        channel.closeFuture.whenComplete { _ in gate.leave() }
                        // configureHTTPServerPipeline's handlers, with the limiter between the
                        // decoder and the pipelining handler, where it sees every request.
                        try sync.addHandler(HTTPResponseEncoder())
                        try sync.addHandler(
                            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: decoderLimits)))
                        try sync.addHandler(MetricsPipelinedRequestLimiter(maximum: limits.maxPipelinedRequests))
                        try sync.addHandler(HTTPServerPipelineHandler())
                        try sync.addHandler(NIOHTTPResponseHeadersValidator())
                        try sync.addHandler(HTTPServerProtocolErrorHandler())
                        try sync.addHandler(
                            MetricsHTTPHandler(metrics: metrics, health: health, idleTimeout: limits.idleTimeout, maxBodyBytes: limits.maxBodyBytes))
                    }
                }
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // Writability flips off past 64 KiB of unsent answers; the handler then stops answering and reading.
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
            do {
                let channel = try bootstrap.bind(host: host, port: port).wait()
                s.group = group
                s.channel = channel
                s.gate = gate
                let address = channel.localAddress.map { "\($0)" } ?? "?"
                logger.info("metrics server listening", metadata: [
                    "address": "\(address)", "max_connections": "\(maxConnections)",
                    "rlimit_nofile": "\(softLimit.map(String.init) ?? "unlimited")", "fd_reserve": "\(reserve)",
                    "idle_timeout_seconds": "\(Double(limits.idleTimeout.components.seconds) + Double(limits.idleTimeout.components.attoseconds) / 1e18)", "max_pipelined_requests": "\(limits.maxPipelinedRequests)",
                    "max_header_bytes": "\(limits.maxHeaderBytes)", "max_body_bytes": "\(limits.maxBodyBytes)",
                ])
            } catch {
                try? group.syncShutdownGracefully()
                throw error
            }
        }
    }

    /// The connection cap in force (``Limits/maxConnections``, lowered under a small
    /// `RLIMIT_NOFILE`), or nil when the server is not running.
    public var effectiveMaxConnections: Int? {
        state.withLock { $0.gate?.maximum }
    }

    /// Connections open now, and connections closed at once for being over the cap since start.
    var connectionCounts: (open: Int, rejected: Int)? {
        state.withLock { s in s.gate.map { ($0.openConnections, $0.rejectedConnections) } }
    }

    /// The port the server listens on, or nil when it is not running.
    public var boundPort: Int? {
        state.withLock { $0.channel?.localAddress?.port }
    }

    /// The IP address the server listens on (`127.0.0.1` by default), or nil when it is not running.
    public var boundHost: String? {
        state.withLock { $0.channel?.localAddress?.ipAddress }
    }

    /// Stops listening, closes open connections and shuts the event loop group down, waiting for
    /// it. Idempotent. Must not be called from the server's own event loop (a request handler).
    public func stop() {
        let (channel, group) = state.withLock { s in
            defer { s = State() }
            return (s.channel, s.group)
        }
        guard let group else { return }
        do {
            try channel?.close().wait()
        } catch {
            logger.debug("metrics server: closing the listening socket", metadata: ["error": "\(error)"])
        }
        do {
            try group.syncShutdownGracefully()
        } catch {
            logger.warning("metrics server: event loop shutdown failed", metadata: ["error": "\(error)"])
        }
        logger.info("metrics server stopped")
    }
}

// MARK: - Request handling

/// One per connection, on its event loop: answers each request at its `.end`, but only while the
/// connection is writable, and closes the connection when nothing progresses for `idleTimeout`.
///
/// While an answer waits for writability, NIO's `HTTPServerPipelineHandler` (before this handler)
/// holds the next pipelined requests and stops reading the socket: that is the backpressure.
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: ReconcilerMetrics
    private let health: HealthState
    private let idleTimeout: TimeAmount
    private let maxBodyBytes: Int
    /// The head of the request whose body is being discarded.
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    /// The request got 413 before its end; the connection is closing.
    private var rejectedBody = false
    /// A request received while the connection was not writable: answered when it is.
    private var waiting: HTTPRequestHead?
    /// Last request head or end received, or response written.
    private var lastProgress = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    init(metrics: ReconcilerMetrics, health: HealthState, idleTimeout: Duration, maxBodyBytes: Int) {
        self.metrics = metrics
        self.health = health
        let c = idleTimeout.components
        self.idleTimeout = .nanoseconds(max(1, c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000))
        self.maxBodyBytes = maxBodyBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { scheduleIdleCheck(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        scheduleIdleCheck(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        waiting = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            lastProgress = .now()
            head = h
            bodyBytes = 0
        case .body(let b):
            guard let h = head, !rejectedBody else { return }
            bodyBytes += b.readableBytes
            if bodyBytes > maxBodyBytes {
                rejectedBody = true
                write((.payloadTooLarge, "text/plain; charset=utf-8", "request body too large\n", false), for: h, close: true, context: context)
            }
        case .end:
            guard let h = head else { return }
            head = nil
            guard !rejectedBody else { return }
            lastProgress = .now()
            if context.channel.isWritable {
                answer(h, context: context)
            } else {
                waiting = h
            }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let h = waiting {
            waiting = nil
            answer(h, context: context)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        guard idleCheck == nil else { return }
        lastProgress = .now()
        armIdleCheck(context: context)
    }

    private func armIdleCheck(context: ChannelHandlerContext) {
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastProgress + idleTimeout) { [self] in
            self.idleCheck = nil
            guard context.channel.isActive else { return }
            if NIODeadline.now() >= self.lastProgress + self.idleTimeout {
                context.close(promise: nil)
            } else {
                self.armIdleCheck(context: context)
            }
        }
    }

    private func answer(_ h: HTTPRequestHead, context: ChannelHandlerContext) {
        var response = Self.response(for: h, metrics: metrics, health: health)
        // A response to HEAD carries no body (only 405 answers it here).
        if h.method == .HEAD { response.body = "" }
        write(response, for: h, close: !h.isKeepAlive, context: context)
    }

    /// Status, content type and body for one request: the routing, apart from the I/O.
    static func response(
        for head: HTTPRequestHead, metrics: ReconcilerMetrics, health: HealthState
    ) -> (status: HTTPResponseStatus, contentType: String, body: String, allow: Bool) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard path == "/metrics" || path == "/health" else {
            return (.notFound, "text/plain; charset=utf-8", "not found\n", false)
        }
        guard head.method == .GET else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", "method not allowed\n", true)
        }
        if path == "/metrics" {
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics.render(), false)
        }
        let verdict = health.check()
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("status", verdict.healthy ? "ok" : "unhealthy")
        if !verdict.healthy {
            w.key("reasons")
            w.beginArray()
            for r in verdict.reasons { w.string(r) }
            w.endArray()
        }
        w.endObject()
        return (verdict.healthy ? .ok : .serviceUnavailable, "application/json", String(decoding: w.bytes, as: UTF8.self), false)
    }

    private func write(
        _ r: (status: HTTPResponseStatus, contentType: String, body: String, allow: Bool),
        for request: HTTPRequestHead, close: Bool, context: ChannelHandlerContext
    ) {
        let body = context.channel.allocator.buffer(string: r.body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        if r.allow { headers.add(name: "Allow", value: "GET") }
        if close { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: r.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        let channel = context.channel
        done.assumeIsolated().whenComplete { [self] result in
            if case .success = result { self.lastProgress = .now() }
            if close { channel.close(promise: nil) }
        }
    }
}
