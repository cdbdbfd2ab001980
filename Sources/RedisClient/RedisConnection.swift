import ReconcilerCore
internal import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - RedisConnection

/// One blocking connection to Redis, owning a hiredis `redisContext*` (freed in `deinit`).
///
/// Not `Sendable`: one task (or thread) owns it and issues commands one after another. All I/O
/// blocks the calling thread for at most `RedisConfiguration.commandTimeout` per read or write.
///
/// After any I/O error, timeout or protocol error the context is freed and the connection is
/// *broken*: every call throws `.connectionLost` until `reconnect()` (or `withRetry`) opens a new
/// one. Server error replies do not break it.
///
/// hiredis writes with plain `write(2)`, so a peer that went away would raise SIGPIPE; the first
/// connection sets SIGPIPE to ignored unless the process installed a handler of its own.
public final class RedisConnection {
    public let configuration: RedisConfiguration
    private var context: UnsafeMutablePointer<redisContext>?
    /// Reused by the pipelined helpers (MGET/HGET sweeps) for their RESP frames.
    var frame = RESPCommandBuffer()
    /// SHA1 of each Lua script, keyed by its source, after `SCRIPT LOAD`.
    var scriptSHAs: [String: String] = [:]

    /// Connects, then sends AUTH and SELECT as configured.
    /// - Throws: `.connectionFailed`, `.timeout`, `.authenticationFailed` or `.server` (SELECT).
    public init(configuration: RedisConfiguration) throws(RedisError) {
        _ = ignoreSIGPIPEOnce
        self.configuration = configuration
        self.context = try Self.open(configuration)
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// False once the connection broke (or was closed) and until `reconnect()` succeeds.
    public var isConnected: Bool { context != nil }

    /// Closes the socket; later calls throw `.connectionLost` until `reconnect()`.
    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Drops the current socket (if any) and connects again, with AUTH and SELECT.
    public func reconnect() throws(RedisError) {
        close()
        context = try Self.open(configuration)
    }

    // MARK: - Commands

    /// Sends one command (`redisCommandArgv`, binary-safe) and waits for its reply.
    ///
    /// - Parameter args: the command name and its arguments, e.g. `["SET", key, value]`.
    /// - Returns: the reply; never `.error`.
    /// - Throws: `.server` when Redis answers with an error reply (its text is in `serverMessage`);
    ///   `.connectionLost`, `.timeout`, `.protocol` for transport problems (the connection is
    ///   then broken).
    public func command(_ args: [String]) throws(RedisError) -> RedisReply {
        try command(ArgvStorage(args))
    }

    /// Binary-safe variant of `command(_:)`: each argument is raw bytes.
    public func command(_ args: [[UInt8]]) throws(RedisError) -> RedisReply {
        try command(ArgvStorage(args))
    }

    /// Sends all commands at once (`redisAppendCommandArgv` each), then reads their replies in
    /// order (`redisGetReply`): one round trip for the lot.
    ///
    /// - Returns: one reply per command. A command that failed on the server gives an `.error`
    ///   reply in its slot (the others still ran); nothing is thrown for it.
    /// - Throws: transport errors only (the connection is then broken and partial results lost).
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        try pipeline(commands.map(ArgvStorage.init))
    }

    /// Binary-safe variant of `pipeline(_:)`.
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        try pipeline(commands.map(ArgvStorage.init))
    }

    // MARK: - Retry

    /// Runs `body`, and when it fails with a retryable error (connection refused or lost, timeout)
    /// waits with exponential backoff and jitter, reconnects and runs it again, up to
    /// `policy.maxAttempts` attempts. Non-retryable errors are thrown at once.
    ///
    /// Blocks the calling thread while it waits. Only wrap work that is safe to repeat: a
    /// command whose reply was lost may or may not have run (reads and the CAS repairs are
    /// safe; `INCRBY` is not).
    ///
    /// - Parameter onRetry: called before each pause with the error, the attempt that failed
    ///   (1-based) and the pause, e.g. to log it.
    public func withRetry<T>(
        _ policy: RedisRetryPolicy = .default,
        onRetry: ((RedisError, Int, Duration) -> Void)? = nil,
        _ body: (RedisConnection) throws(RedisError) -> T
    ) throws(RedisError) -> T {
        var attempt = 1
        while true {
            do {
                if context == nil { try reconnect() }
                return try body(self)
            } catch {
                guard error.isRetryable, attempt < policy.maxAttempts else { throw error }
                let pause = policy.delay(afterAttempt: attempt)
                onRetry?(error, attempt, pause)
                sleepFor(pause)
                attempt += 1
            }
        }
    }

    // MARK: - Internals shared with the helpers and the listener

    /// The live context, or `.connectionLost` when the connection is broken.
    func liveContext(_ what: @autoclosure () -> String) throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        guard let context else {
            throw RedisError(
                .connectionLost,
                "\(what()) at \(configuration.endpoint): the connection is closed after an earlier error; reconnect first"
            )
        }
        return context
    }

    /// Turns the context's error state into a `RedisError` and frees the context.
    func breakConnection(_ ctx: UnsafeMutablePointer<redisContext>, savedErrno: Int32, doing what: String) -> RedisError
    {
        let error = Self.contextError(
            ctx,
            savedErrno: savedErrno,
            doing: what,
            configuration: configuration,
            connecting: false
        )
        redisFree(ctx)
        if context == ctx { context = nil }
        return error
    }

    /// Reads the next reply, writing any pending output first (`redisGetReply`). The caller frees
    /// it with `freeReplyObject`.
    func nextReply(doing what: @autoclosure () -> String) throws(RedisError) -> UnsafeMutablePointer<redisReply> {
        let ctx = try liveContext(what())
        var raw: UnsafeMutableRawPointer? = nil
        if redisGetReply(ctx, &raw) != REDIS_OK {
            throw breakConnection(ctx, savedErrno: errno, doing: what())
        }
        guard let raw else { throw breakConnection(ctx, savedErrno: 0, doing: what()) }
        return raw.assumingMemoryBound(to: redisReply.self)
    }

    /// Appends a pre-formatted RESP frame to the output buffer (no I/O).
    func append(_ frame: RESPCommandBuffer, doing what: @autoclosure () -> String) throws(RedisError) {
        let ctx = try liveContext(what())
        let rc = frame.bytes.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(ctx, $0.baseAddress, $0.count) }
        }
        if rc != REDIS_OK { throw breakConnection(ctx, savedErrno: errno, doing: what()) }
    }

    /// Writes the whole output buffer (blocking).
    func flush(doing what: @autoclosure () -> String) throws(RedisError) {
        let ctx = try liveContext(what())
        var done: Int32 = 0
        repeat {
            if redisBufferWrite(ctx, &done) != REDIS_OK { throw breakConnection(ctx, savedErrno: errno, doing: what()) }
        } while done == 0
    }

    /// A reply already read from the socket and parsed, if there is one (no I/O).
    func bufferedReply(doing what: @autoclosure () -> String) throws(RedisError) -> RedisReply? {
        let ctx = try liveContext(what())
        var raw: UnsafeMutableRawPointer? = nil
        if redisGetReplyFromReader(ctx, &raw) != REDIS_OK {
            throw breakConnection(ctx, savedErrno: errno, doing: what())
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.makeReply(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// One `read(2)` into hiredis's reader (blocks unless the socket is readable).
    func readSocket(doing what: @autoclosure () -> String) throws(RedisError) {
        let ctx = try liveContext(what())
        if redisBufferRead(ctx) != REDIS_OK { throw breakConnection(ctx, savedErrno: errno, doing: what()) }
    }

    /// The socket, for `poll(2)`.
    var fileDescriptor: Int32? { context?.pointee.fd }

    /// Turns on TCP keepalive (hiredis: 15 s), so a silently dead peer is noticed.
    func enableKeepAlive() {
        if let context, case .tcp = configuration.endpoint { _ = redisEnableKeepAlive(context) }
    }

    /// Reads `count` replies and drops them (used to resynchronise a pipeline after an error).
    func discardReplies(_ count: Int, doing what: @autoclosure () -> String) throws(RedisError) {
        for _ in 0..<max(0, count) { freeReplyObject(try nextReply(doing: what())) }
    }

    /// `NAME` of a command for error messages: the first argument, uppercased; never the others.
    static func commandName(_ first: String?) -> String { (first ?? "").uppercased() }

    // MARK: - Private

    private func command(_ argv: ArgvStorage) throws(RedisError) -> RedisReply {
        let name = argv.name
        let ctx = try liveContext(name)
        let raw = argv.withArgv { argc, av, lv in redisCommandArgv(ctx, argc, av, lv) }
        guard let raw else { throw breakConnection(ctx, savedErrno: errno, doing: name) }
        defer { freeReplyObject(raw) }
        let reply = Self.makeReply(raw.assumingMemoryBound(to: redisReply.self))
        if case .error(let text) = reply { throw serverError(text, doing: name) }
        return reply
    }

    private func pipeline(_ commands: [ArgvStorage]) throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        let ctx = try liveContext("pipeline")
        for c in commands {
            let rc = c.withArgv { argc, av, lv in redisAppendCommandArgv(ctx, argc, av, lv) }
            if rc != REDIS_OK { throw breakConnection(ctx, savedErrno: errno, doing: "pipeline (\(c.name))") }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for c in commands {
            let raw = try nextReply(doing: "pipeline (\(c.name))")
            replies.append(Self.makeReply(raw))
            freeReplyObject(raw)
        }
        return replies
    }

    func serverError(_ text: String, doing what: String) -> RedisError {
        let text = configuration.redacting(text)
        return RedisError(.server, "\(what) at \(configuration.endpoint): \(text)", serverMessage: text)
    }

    static func makeReply(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let p = r.pointee
        switch p.type {
        case REDIS_REPLY_STATUS: return .status(String(decoding: rawBytes(p), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: rawBytes(p), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(p.integer)
        case REDIS_REPLY_STRING: return .bulk(Array(rawBytes(p)))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(p.elements)
            for i in 0..<p.elements { items.append(p.element[i].map(makeReply) ?? .null) }
            return .array(items)
        default: return .error("unknown hiredis reply type \(p.type)")
        }
    }

    @inline(__always)
    static func rawBytes(_ p: redisReply) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: p.str, count: p.str == nil ? 0 : p.len)
    }

    private static func open(_ cfg: RedisConfiguration) throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        let connectTV = timeval(cfg.connectTimeout)
        let made: UnsafeMutablePointer<redisContext>?
        switch cfg.endpoint {
        case .tcp(let host, let port):
            guard let p = Int32(exactly: port), (1...65535).contains(p) else {
                throw RedisError(.connectionFailed, "cannot connect to \(cfg.endpoint): invalid port")
            }
            made = redisConnectWithTimeout(host, p, connectTV)
        case .unixSocket(let path):
            made = redisConnectUnixWithTimeout(path, connectTV)
        }
        guard let ctx = made else {
            throw RedisError(.connectionFailed, "cannot connect to \(cfg.endpoint): out of memory")
        }
        let saved = errno
        if ctx.pointee.err != 0 {
            let error = contextError(ctx, savedErrno: saved, doing: "connect", configuration: cfg, connecting: true)
            redisFree(ctx)
            throw error
        }
        // hiredis 0.14 opens the socket without SOCK_CLOEXEC: keep it out of child processes.
        if ctx.pointee.fd >= 0 { _ = fcntl(ctx.pointee.fd, F_SETFD, fcntl(ctx.pointee.fd, F_GETFD) | FD_CLOEXEC) }
        // Always set it: without a command timeout, 0 means "block for ever".
        if redisSetTimeout(ctx, cfg.commandTimeout.map(timeval.init) ?? timeval(tv_sec: 0, tv_usec: 0)) != REDIS_OK {
            let error = contextError(ctx, savedErrno: errno, doing: "set timeout", configuration: cfg, connecting: true)
            redisFree(ctx)
            throw error
        }
        do {
            try authenticateAndSelect(ctx, cfg)
        } catch {
            redisFree(ctx)
            throw error
        }
        return ctx
    }

    private static func authenticateAndSelect(
        _ ctx: UnsafeMutablePointer<redisContext>,
        _ cfg: RedisConfiguration
    ) throws(RedisError) {
        if let password = cfg.password {
            var args = ["AUTH"]
            if let user = cfg.username { args.append(user) }
            args.append(password)
            let who = cfg.username.map { "user '\($0)'" } ?? "the default user"
            let reply = try handshake(ctx, args, cfg, doing: "AUTH")
            if case .error(let text) = reply {
                let text = cfg.redacting(text)
                throw RedisError(
                    .authenticationFailed,
                    "AUTH as \(who) at \(cfg.endpoint) refused: \(text)",
                    serverMessage: text
                )
            }
        } else if let user = cfg.username {
            throw RedisError(
                .authenticationFailed,
                "user '\(user)' given without a password for \(cfg.endpoint); AUTH needs both"
            )
        }
        if cfg.database != 0 {
            let reply = try handshake(ctx, ["SELECT", String(cfg.database)], cfg, doing: "SELECT")
            if case .error(let text) = reply {
                let text = cfg.redacting(text)
                throw RedisError(
                    .server,
                    "SELECT \(cfg.database) at \(cfg.endpoint): \(text)",
                    serverMessage: text
                )
            }
        }
    }

    /// A command during connection setup (no `RedisConnection` exists yet).
    private static func handshake(
        _ ctx: UnsafeMutablePointer<redisContext>,
        _ args: [String],
        _ cfg: RedisConfiguration,
        doing what: String
    ) throws(RedisError) -> RedisReply {
        let argv = ArgvStorage(args)
        guard let raw = argv.withArgv({ argc, av, lv in redisCommandArgv(ctx, argc, av, lv) }) else {
            throw contextError(ctx, savedErrno: errno, doing: what, configuration: cfg, connecting: false)
        }
        defer { freeReplyObject(raw) }
        return makeReply(raw.assumingMemoryBound(to: redisReply.self))
    }

    static func contextError(
        _ ctx: UnsafeMutablePointer<redisContext>,
        savedErrno: Int32,
        doing what: String,
        configuration cfg: RedisConfiguration,
        connecting: Bool
    ) -> RedisError {
        let text = cfg.redacting(
            withUnsafeBytes(of: ctx.pointee.errstr) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        )
        let timedOut =
            savedErrno == EAGAIN || savedErrno == EWOULDBLOCK || savedErrno == ETIMEDOUT
            || text == String(cString: strerror(EAGAIN)) || text == String(cString: strerror(ETIMEDOUT))
        switch ctx.pointee.err {
        case REDIS_ERR_IO where timedOut:
            return RedisError(.timeout, "\(what) at \(cfg.endpoint): timed out (\(text))")
        case _ where connecting:
            return RedisError(
                .connectionFailed,
                "cannot connect to \(cfg.endpoint): \(text.isEmpty ? "unknown error" : text)"
            )
        case REDIS_ERR_EOF:
            return RedisError(.connectionLost, "\(what) at \(cfg.endpoint): the server closed the connection")
        case REDIS_ERR_PROTOCOL:
            return RedisError(.protocol, "\(what) at \(cfg.endpoint): \(text)")
        case 0:
            return RedisError(.protocol, "\(what) at \(cfg.endpoint): hiredis returned no reply and no error")
        default:
            return RedisError(.connectionLost, "\(what) at \(cfg.endpoint): \(text)")
        }
    }
}

@available(*, unavailable, message: "a RedisConnection belongs to one task; open one per task")
extension RedisConnection: Sendable {}
