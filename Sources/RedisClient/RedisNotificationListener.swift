import ReconcilerCore
import ConcurrencyKit
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - RedisNotificationListener

/// Reports changed keys from a Redis server, over two connections of its own: a *subscriber*
/// (`SUBSCRIBE __redis__:invalidate`, plus `PSUBSCRIBE __keyspace@<db>__:<prefix>*` for keyspace
/// events) and a *tracking* connection whose `CLIENT TRACKING ... REDIRECT` points at the
/// subscriber. The tracking state lives and dies with the tracking connection, which is why the
/// listener owns it rather than borrowing the caller's command connection.
///
/// `start` connects and subscribes on the calling thread (so configuration and AUTH errors are
/// thrown there), then a dedicated thread runs a blocking `poll(2)` loop over both sockets and a
/// wake-up pipe; `stop()` wakes it and joins it. When a connection breaks (e.g. Redis restarts)
/// the loop reports `.disconnected`, reconnects with `reconnectPolicy` (backoff with jitter),
/// subscribes again and reports `.reconnected`: the caller should then sweep.
///
/// Notifications are delivered on the listener's thread, in order. A slow callback holds up the
/// loop, and Redis then buffers for the subscriber up to its `client-output-buffer-limit pubsub`
/// (32 MB by default) before it drops the connection, which surfaces as `.disconnected`.
public final class RedisNotificationListener: Sendable {
    public let configuration: RedisConfiguration
    public let source: RedisNotificationSource
    public let reconnectPolicy: RedisRetryPolicy
    private let logger: Logger
    private let state = Mutex<State>(.idle)

    private enum State {
        case idle
        case starting
        case running(Worker, JoinableThread)
        case done
    }

    /// - Parameters:
    ///   - reconnectPolicy: how hard to try after a disconnect; the default never gives up.
    ///   - logger: receives a warning per disconnect and an info line per reconnect.
    public init(
        configuration: RedisConfiguration,
        source: RedisNotificationSource,
        reconnectPolicy: RedisRetryPolicy = .forever,
        logger: Logger = Logger(
            label: "binlog-reconciler.redis.notifications",
            factory: { _ in SwiftLogNoOpLogHandler() }
        )
    ) {
        self.configuration = configuration
        self.source = source
        self.reconnectPolicy = reconnectPolicy
        self.logger = logger
    }

    deinit { stop() }

    /// Connects, subscribes, then delivers notifications to `handler` on a dedicated thread until
    /// `stop()`. The last call is always `.stopped`. A listener starts once.
    /// - Throws: connection/AUTH errors, `.server` (e.g. an ACL user without `CLIENT`/`SUBSCRIBE`),
    ///   `.notConfigured` (keyspace events off and `configureServer` false).
    public func start(_ handler: @escaping @Sendable (RedisNotification) -> Void) throws(RedisError) {
        let canStart = state.withLock { s -> Bool in
            guard case .idle = s else { return false }
            s = .starting
            return true
        }
        precondition(canStart, "RedisNotificationListener.start called twice")
        let worker: Worker
        let thread: JoinableThread
        do {
            worker = try Worker(
                configuration: configuration,
                source: source,
                policy: reconnectPolicy,
                logger: logger,
                handler: handler
            )
            try worker.connect()
            thread = try Self.startThread(worker)
        } catch {
            state.withLock { $0 = .idle }
            throw error
        }
        let stoppedMeanwhile = state.withLock { s -> Bool in
            guard case .starting = s else { return true }
            s = .running(worker, thread)
            return false
        }
        if stoppedMeanwhile {
            worker.requestStop()
            thread.join()
        }
    }

    private static func startThread(_ worker: Worker) throws(RedisError) -> JoinableThread {
        do {
            return try JoinableThread(name: "redis-notifications") { worker.run() }
        } catch {
            throw RedisError(.connectionFailed, "cannot start the notification thread: \(String(cString: strerror(error.code)))")
        }
    }

    /// `start(_:)` as an `AsyncStream`, which finishes after `.stopped`. Ending the iteration
    /// (or cancelling its task) stops the listener. The buffer is unbounded by default.
    public func start(
        bufferingPolicy: AsyncStream<RedisNotification>.Continuation.BufferingPolicy = .unbounded
    ) throws(RedisError) -> AsyncStream<RedisNotification> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: RedisNotification.self,
            bufferingPolicy: bufferingPolicy
        )
        try start { notification in
            continuation.yield(notification)
            if case .stopped = notification { continuation.finish() }
        }
        continuation.onTermination = { [weak self] _ in self?.requestStop() }
        return stream
    }

    /// Stops the loop, closes both connections and waits for the thread to end (unless called
    /// from the listener's own thread, e.g. from the handler). Idempotent.
    public func stop() {
        let running = state.withLock { s -> (Worker, JoinableThread)? in
            switch s {
            case .running(let w, let t):
                s = .done
                return (w, t)
            case .starting:
                s = .done  // start() sees it and stops the thread it made
                return nil
            case .idle, .done:
                return nil
            }
        }
        guard let (worker, thread) = running else { return }
        worker.requestStop()
        thread.join()  // returns at once on the listener's own thread (the thread is then detached)
    }

    /// Asks the loop to end without waiting for it.
    private func requestStop() {
        state.withLock { s in
            if case .running(let w, _) = s { w.requestStop() }
        }
    }
}

// MARK: - Worker

/// The loop's state. Touched by the starting thread until the loop thread is created, then only
/// by that thread (except `requestStop`, which is atomic plus a pipe write).
///
/// `@unchecked Sendable`: a wrapper of C handles (the two hiredis connections and the wake-up
/// pipe's descriptors), used by one thread at a time as described above.
private final class Worker: @unchecked Sendable {
    let configuration: RedisConfiguration
    let source: RedisNotificationSource
    let policy: RedisRetryPolicy
    let logger: Logger
    let handler: @Sendable (RedisNotification) -> Void
    let stopRequested = Atomic<Bool>(false)
    let wakeRead: Int32
    let wakeWrite: Int32
    var subscriber: RedisConnection?
    var tracker: RedisConnection?
    /// `__keyspace@<db>__:`, stripped from keyspace channel names.
    let keyspaceChannelPrefix: [UInt8]

    static let invalidateChannel = "__redis__:invalidate"
    /// Flush an accumulated `.keys` batch at this size even if more messages are buffered.
    static let maxBatch = 4096

    init(
        configuration: RedisConfiguration,
        source: RedisNotificationSource,
        policy: RedisRetryPolicy,
        logger: Logger,
        handler: @escaping @Sendable (RedisNotification) -> Void
    ) throws(RedisError) {
        self.configuration = configuration
        self.source = source
        self.policy = policy
        self.logger = logger
        self.handler = handler
        self.keyspaceChannelPrefix = Array("__keyspace@\(configuration.database)__:".utf8)
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw RedisError(
                .connectionFailed,
                "cannot create the listener's wake-up pipe: \(String(cString: strerror(errno)))"
            )
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    var stopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

    // MARK: Setup

    /// Opens both connections and subscribes (replacing any previous ones).
    func connect() throws(RedisError) {
        disconnect()
        let sub = try RedisConnection(configuration: configuration)
        sub.enableKeepAlive()
        var trackingArgs: [String] = []
        switch source {
        case .tracking(let prefixes):
            trackingArgs = ["BCAST"]
            for p in prefixes { trackingArgs += ["PREFIX", p] }
        case .keyspaceEvents(_, let configure, let hashEvents):
            try ensureKeyspaceEvents(on: sub, configure: configure, hashEvents: hashEvents)
        }
        guard case .integer(let id) = try sub.command(["CLIENT", "ID"]) else {
            throw RedisError(.protocol, "CLIENT ID at \(configuration.endpoint): expected an integer")
        }
        _ = try sub.command(["SUBSCRIBE", Self.invalidateChannel])
        if case .keyspaceEvents(let prefix, _, _) = source {
            let pattern = String(decoding: keyspaceChannelPrefix, as: UTF8.self) + prefix.replacingGlobSpecials() + "*"
            _ = try sub.command(["PSUBSCRIBE", pattern])
        }
        let trk = try RedisConnection(configuration: configuration)
        trk.enableKeepAlive()
        _ = try trk.command(["CLIENT", "TRACKING", "ON", "REDIRECT", String(id)] + trackingArgs)
        subscriber = sub
        tracker = trk
    }

    func disconnect() {
        subscriber = nil
        tracker = nil
    }

    private func ensureKeyspaceEvents(on c: RedisConnection, configure: Bool, hashEvents: Bool) throws(RedisError) {
        let current = try c.configGet("notify-keyspace-events")["notify-keyspace-events"] ?? ""
        let required = KeyspaceEventFlags.required(hashEvents: hashEvents)
        let missing = KeyspaceEventFlags.missing(current: current, required: required)
        guard !missing.isEmpty else { return }
        guard configure else {
            throw RedisError(
                .notConfigured,
                "notify-keyspace-events at \(configuration.endpoint) is \"\(current)\" but keyspace notifications"
                    + " need \"\(required)\" (missing \"\(missing)\"): run CONFIG SET notify-keyspace-events"
                    + " \(current + missing), or let the listener configure it (configureServer: true)"
            )
        }
        try c.configSet("notify-keyspace-events", current + missing)
        logger.info(
            "enabled keyspace notifications",
            metadata: ["redis.endpoint": "\(configuration.endpoint)", "notify-keyspace-events": "\(current + missing)"]
        )
    }

    // MARK: Loop

    func run() {
        var final: RedisError? = nil
        outer: while !stopping {
            do {
                try readLoop()
                break outer  // stop requested
            } catch {
                if stopping { break outer }
                disconnect()
                logger.warning(
                    "lost the notification connection; reconnecting",
                    metadata: ["redis.endpoint": "\(configuration.endpoint)", "error": "\(error)"]
                )
                handler(.disconnected(error))
                var last = error
                var attempt = 1
                while attempt <= policy.maxAttempts {
                    if !pause(policy.delay(afterAttempt: attempt)) { break outer }
                    do {
                        try connect()
                        logger.info(
                            "notifications resubscribed",
                            metadata: ["redis.endpoint": "\(configuration.endpoint)", "attempt": "\(attempt)"]
                        )
                        handler(.reconnected)
                        continue outer
                    } catch {
                        disconnect()
                        last = error
                        if !error.isRetryable { break }
                    }
                    if attempt == Int.max { break }
                    attempt += 1
                }
                final = last
                break outer
            }
        }
        disconnect()
        handler(.stopped(final))
    }

    /// Waits `d` unless a stop is requested first; returns false when stopping.
    private func pause(_ d: Duration) -> Bool {
        if stopping { return false }
        var pfd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        let ms = Int32(clamping: Int((d.seconds * 1000).rounded(.up)))
        _ = poll(&pfd, 1, ms)
        return !stopping
    }

    /// Reads and reports until a stop is requested (returns) or a connection fails (throws).
    private func readLoop() throws(RedisError) {
        guard let sub = subscriber, let trk = tracker else {
            throw RedisError(.connectionLost, "notification listener for \(configuration.endpoint) is not connected")
        }
        var keys: [String] = []
        while true {
            while let reply = try sub.bufferedReply(doing: "read notifications") {
                interpret(reply, into: &keys)
                if keys.count >= Self.maxBatch { deliver(&keys) }
            }
            deliver(&keys)
            if stopping { return }
            guard let subFD = sub.fileDescriptor, let trkFD = trk.fileDescriptor else {
                throw RedisError(.connectionLost, "notification listener for \(configuration.endpoint) lost its socket")
            }
            var fds = [
                pollfd(fd: subFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: trkFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let n = poll(&fds, nfds_t(fds.count), -1)
            if n < 0 {
                if errno == EINTR { continue }
                throw RedisError(.connectionLost, "poll on notification sockets: \(String(cString: strerror(errno)))")
            }
            if fds[2].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &sink, sink.count) > 0 {}
                if stopping { return }
            }
            if fds[1].revents != 0 {
                // The tracking connection never gets replies; readable means closed (or a stray
                // push, which is read and ignored).
                try trk.readSocket(doing: "tracking connection")
                while try trk.bufferedReply(doing: "tracking connection") != nil {}
            }
            if fds[0].revents != 0 {
                try sub.readSocket(doing: "read notifications")
            }
        }
    }

    private func deliver(_ keys: inout [String]) {
        guard !keys.isEmpty else { return }
        handler(.keys(keys))
        keys.removeAll(keepingCapacity: true)
    }

    /// `["message", "__redis__:invalidate", [keys] | nil]` and
    /// `["pmessage", pattern, "__keyspace@<db>__:<key>", event]`; anything else is ignored.
    private func interpret(_ reply: RedisReply, into keys: inout [String]) {
        guard case .array(let parts) = reply, let kind = parts.first?.bytes else { return }
        if kind.elementsEqual("message".utf8), parts.count == 3 {
            switch parts[2] {
            case .array(let names):
                for n in names { if let s = n.string { keys.append(s) } }
            case .null:
                deliver(&keys)
                handler(.flushed)
            case .bulk(let name):  // RESP2 redirection of a single key is still an array; be lenient
                keys.append(String(decoding: name, as: UTF8.self))
            default:
                break
            }
        } else if kind.elementsEqual("pmessage".utf8), parts.count == 4, case .bulk(let channel) = parts[2],
            channel.starts(with: keyspaceChannelPrefix)
        {
            keys.append(String(decoding: channel[keyspaceChannelPrefix.count...], as: UTF8.self))
        }
    }
}
