import Logging
import NIOCore
import NIOHTTP1
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension MetricsServer {
    /// What one client, or many, may take from the endpoint. The defaults suit a Prometheus scraper
    /// and a health probe or two; `[metrics]` in the configuration file overrides them.
    public struct Limits: Sendable, Equatable {
        /// Open connections at most; one more is accepted and closed at once. Lowered at start to
        /// what ``fileDescriptorCeiling(softLimit:)`` leaves (`max_connections`).
        public var maxConnections = 64
        /// A connection on which nothing progresses for this long is closed: no request head or end
        /// received and no response written. Covers idle keep-alive connections, requests sent
        /// slowly and clients that stop reading their responses (`idle_timeout_seconds`).
        public var idleTimeout: Duration = .seconds(30)
        /// Requests received on one connection and not yet answered; past it the connection is
        /// closed (`max_pipelined_requests`).
        public var maxPipelinedRequests = 16
        /// Request line plus headers, in bytes; larger gets 400 and the connection closed
        /// (`max_header_bytes`).
        public var maxHeaderBytes = 8 * 1024
        /// Request body, in bytes (read and discarded); larger gets 413 and the connection closed
        /// (`max_body_bytes`).
        public var maxBodyBytes = 64 * 1024

        public init() {}

        /// The connection cap to use under a soft `RLIMIT_NOFILE` of `softLimit` (nil: unlimited):
        /// half of the descriptors, at least 64, stay for the replication connection, Redis,
        /// checkpoint files and the rest of the daemon, so a crowd of HTTP clients cannot starve them.
        public static func fileDescriptorCeiling(softLimit: Int?) -> (ceiling: Int?, reserve: Int) {
            guard let softLimit else { return (nil, 0) }
            let reserve = max(64, softLimit / 2)
            return (max(1, softLimit - reserve), reserve)
        }

        /// The soft `RLIMIT_NOFILE` of this process, or nil when it is unlimited or unknown.
        public static func openFileSoftLimit() -> Int? {
            var limit = rlimit()
            #if canImport(Glibc)
            let rc = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            #else
            let rc = getrlimit(RLIMIT_NOFILE, &limit)
            #endif
            guard rc == 0, limit.rlim_cur != rlim_t.max, limit.rlim_cur < rlim_t(Int.max) else { return nil }
            return Int(limit.rlim_cur)
        }
    }
}

/// Counts a server's open connections against its cap (shared by the accept path and every
/// connection's close).
final class MetricsConnectionGate: Sendable {
    let maximum: Int
    private let open = Atomic<Int>(0)
    private let rejected = Atomic<Int>(0)
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// Takes a slot, or returns false when all `maximum` are taken.
    func tryEnter() -> Bool {
        var n = open.load(ordering: .relaxed)
        while n < maximum {
            let (exchanged, original) = open.compareExchange(expected: n, desired: n + 1, ordering: .relaxed)
            if exchanged { return true }
            n = original
        }
        rejected.add(1, ordering: .relaxed)
        return false
    }

    func leave() {
        open.subtract(1, ordering: .relaxed)
    }

    var openConnections: Int { open.load(ordering: .relaxed) }
    var rejectedConnections: Int { rejected.load(ordering: .relaxed) }

    /// A warning at most once a minute while connections are being turned away.
    func warnRejected(_ logger: Logger) {
        let now = ContinuousClock.now
        let due = lastWarning.withLock { last -> Bool in
            if let l = last, now - l < .seconds(60) { return false }
            last = now
            return true
        }
        if due {
            logger.warning(
                "metrics server: connection limit reached, closing new connections",
                metadata: ["max_connections": "\(maximum)", "rejected_total": "\(rejectedConnections)"])
        }
    }
}

/// Closes a connection over the cap as soon as it is active (nothing is read from it).
final class MetricsRejectConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Sits between the HTTP decoder and NIO's `HTTPServerPipelineHandler`, which queues pipelined
/// requests while one is being answered: counts requests received and not yet answered, and closes
/// the connection when a client has more than `maximum` of them in flight.
final class MetricsPipelinedRequestLimiter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let maximum: Int
    private var outstanding = 0
    private var closing = false

    init(maximum: Int) {
        self.maximum = maximum
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        if case .head = unwrapInboundIn(data) {
            outstanding += 1
            if outstanding > maximum {
                closing = true
                context.close(promise: nil)
                return
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { outstanding = max(0, outstanding - 1) }
        context.write(data, promise: promise)
    }
}
