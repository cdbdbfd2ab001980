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
    }

    private let metrics: ReconcilerMetrics
    private let health: HealthState
    private let logger: Logger
    private let state = Mutex(State())

    /// - Parameters:
    ///   - metrics: Rendered for `/metrics`.
    ///   - health: Checked for `/health`.
    ///   - logger: For the listening address, shutdown and connection errors.
    public init(metrics: ReconcilerMetrics, health: HealthState, logger: Logger) {
        self.metrics = metrics
        self.health = health
        self.logger = logger
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
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let metrics = self.metrics
            let health = self.health
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, health: health))
                    }
                }
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            do {
                let channel = try bootstrap.bind(host: host, port: port).wait()
                s.group = group
                s.channel = channel
                let address = channel.localAddress.map { "\($0)" } ?? "?"
                logger.info("metrics server listening", metadata: ["address": "\(address)"])
            } catch {
                try? group.syncShutdownGracefully()
                throw error
            }
        }
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

/// One per connection, on its event loop: answers each request at its `.end`.
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: ReconcilerMetrics
    private let health: HealthState
    /// The head of the request whose body is being discarded.
    private var head: HTTPRequestHead?

    init(metrics: ReconcilerMetrics, health: HealthState) {
        self.metrics = metrics
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let h = head else { return }
            head = nil
            var response = Self.response(for: h, metrics: metrics, health: health)
            // A response to HEAD carries no body (only 405 answers it here).
            if h.method == .HEAD { response.body = "" }
            write(response, for: h, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
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
        for request: HTTPRequestHead, context: ChannelHandlerContext
    ) {
        let body = context.channel.allocator.buffer(string: r.body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        if r.allow { headers.add(name: "Allow", value: "GET") }
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: r.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
