import BinlogFold
import BinlogParser
import Foundation
import Logging

/// The live sidecar: bootstrap (or resume), tail the binlog into the shadow maps, and reconcile
/// Redis against them — on every change, on Redis notifications, and in sweeps.
///
/// Three threads share the state under one mutex: the binlog tail (blocking libmariadb reads),
/// the reconcile loop (scheduled Redis reads, verdicts, reports, repairs, sweeps), and the Redis
/// notification listener; a fourth polls the source's position for the caught-up gate.
public final class ReconcilerDaemon: @unchecked Sendable {
    public struct Options: Sendable {
        /// Discard saved state and bootstrap again.
        public var rebootstrap = false
        /// `check`: stop at the current end of the binlog, sweep, decide, and return.
        public var checkOnce = false
        /// Give up on `check` after this many seconds.
        public var checkTimeoutSeconds: Double = 120
        public init() {}
    }

    /// What `check` found.
    public struct Outcome: Sendable {
        public var divergencesOpen: Int
        public var divergencesReported: Int
        public var keysChecked: Int
    }

    public let configuration: ReconcilerConfiguration
    public let options: Options
    let logger: Logger
    let sink: ReportSink
    let lock = MutexLock()

    // Shared, under `lock`.
    var state: ShadowState
    var engine: VerdictEngine
    var lastEventEnd: BinlogCoordinates?
    var inTransaction = false
    var sourcePosition: BinlogCoordinates?
    var sourcePolledAt = 0.0
    var wasCaughtUp = false
    /// The next catch-up ends with a full sweep (set at start and after every reconnect).
    var catchUpSweepNeeded = true
    var sweepRequested = true
    var stopping = false
    var tailFinished = false
    var fatalError: String?
    var keysChecked = 0
    /// A Redis flush or restart being answered (see ReconcilerDaemon+Redis.swift).
    var incident: RedisIncident?
    var redisRunID: String?
    var listener: RedisNotificationListener?
    var keyspaceOffWarned = false
    /// Commit timestamp (Unix seconds) of the last applied transaction, for seconds-behind.
    var lastCommitTimestamp: UInt32 = 0
    /// Reads of the reconcile loop: one quick retry, then the loop moves on (the watchdog
    /// notices an outage and a sweep follows when Redis answers).
    static let readRetry = RedisRetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(50), maxDelay: .milliseconds(100))

    var stream: ReplicationStream?
    /// Per watch, whether each key column is an integer column (information_schema at start; nil
    /// when unknown): how Redis key names are read back into row keys.
    var keyIntegerColumns: [[Bool]?] = []
    /// The source as seen at start: its flavour (from its version string), `@@server_id` and, for
    /// MySQL, `@@server_uuid`. Recorded in every checkpoint.
    var sourceIdentity = CheckpointSource(flavour: .mariadb, serverID: 0)
    /// Set when a MySQL checkpoint is resumed by its executed GTID set (gtid_mode=ON): every
    /// (re)connection of the tail then starts with COM_BINLOG_DUMP_GTID from the current set.
    var resumeByMySQLGTID = false
    /// Called on the binlog tail thread after each committed transaction was applied to the
    /// shadow maps, with the monotonic time of the application (tests and benchmarks; set before
    /// ``run()``).
    public var onApplied: (@Sendable (CommittedTransaction, Double) -> Void)?
    /// Prometheus series and health, served on [metrics] listen.
    public let metrics = ReconcilerMetrics()
    public let health: HealthState
    var metricsServer: MetricsServer?

    public init(configuration: ReconcilerConfiguration, options: Options, sink: ReportSink, logger: Logger) {
        self.configuration = configuration
        self.options = options
        self.sink = sink
        self.logger = logger
        health = HealthState(heartbeatPeriod: .milliseconds(Int64(configuration.source.heartbeatSeconds * 1000)))
        state = ShadowState(watchCount: configuration.watches.count, position: BinlogCoordinates(file: "", position: 4))
        let watches = configuration.watches
        let wall = Date().timeIntervalSince1970 - monotonicSeconds()
        engine = VerdictEngine(
            watchNames: watches.map(\.name),
            tolerances: watches.map { .init(lead: $0.leadSeconds, lag: $0.lagSeconds, confirm: $0.confirmSeconds, missingIsNormal: $0.missingIsNormal) },
            wallOffset: wall,
            redisKey: { w, k in watches[w].target.keyTemplate.render(k) })
    }

    /// Asks every loop to stop (SIGTERM/SIGINT); a blocked binlog read is interrupted.
    public func requestShutdown() {
        // The stream is read under the lock the tail loop sets it under; a stream set after this
        // sees `stopping` there and is interrupted by the tail loop itself.
        lock.withLock { () -> ReplicationStream? in
            stopping = true
            return stream
        }?.interrupt()
    }

    var isStopping: Bool { lock.withLock { stopping } }

    // MARK: - Run

    /// Runs until shutdown (or, with `checkOnce`, until every key is decided).
    public func run() throws -> Outcome {
        let sourceConfig = try configuration.source.replicationConfiguration()
        let sql = try SQLConnection(configuration: sourceConfig)
        logger.info("connected to the source", metadata: ["server": "\(sql.serverVersion)", "endpoint": "\(sourceConfig.endpoint)"])
        sourceIdentity = try Self.identify(sql)
        keyIntegerColumns = configuration.watches.map { w in
            (try? Bootstrap.schema(sql, database: w.database, table: w.table)).flatMap { $0 }.map { schema in w.keyColumns.map { schema.isInteger($0) } }
        }
        var store: CheckpointStore?
        if let dir = configuration.checkpoint.directory, !options.checkOnce {
            store = try CheckpointStore(directory: dir, keep: configuration.checkpoint.keep)
        }
        var resumed = false
        if let store, !options.rebootstrap {
            resumed = try resumeFromCheckpoint(store, sql: sql)
        } else if options.rebootstrap {
            logger.notice("--rebootstrap: discarding saved state and reading the tables again")
        }
        if !resumed {
            let bootStart = monotonicSeconds()
            let boot = try Bootstrap.run(sql, watches: configuration.watches, logger: logger)
            lock.withLock { state = boot }
            logger.info("bootstrapped from a consistent snapshot", metadata: [
                "position": "\(boot.position)", "gtid": "\(boot.gtid)", "keys": "\(boot.maps.map(\.count).reduce(0, +))",
                "seconds": "\(Int((monotonicSeconds() - bootStart) * 1000)) ms",
            ])
            if let store { writeCheckpoint(store) }
        }

        let redisConfig = try configuration.redis.redisConfiguration()
        let redis = try RedisConnection(configuration: redisConfig)
        switch configuration.redis.notifications {
        case .tracking:
            let l = try startNotifications()
            lock.withLock { listener = l }
            logger.info("Redis notifications: client-side tracking (BCAST), flushes announced")
        case .keyspace:
            checkKeyspaceEvents(redis, reconnected: false)
        case .off:
            logger.notice("Redis notifications are off (notifications = \"off\"): Redis-side changes are seen only in sweeps; restarts and flushes by the watchdog")
        }
        var watchdog: RedisWatchdog?
        if !options.checkOnce {
            let w = RedisWatchdog(
                configuration: redisConfig,
                onConnect: { [weak self] conn, reconnected in self?.checkKeyspaceEvents(conn, reconnected: reconnected) },
                handler: { [weak self] event in self?.handleWatchdog(event) })
            w.start()
            watchdog = w
        }
        if let name = configuration.reconcile.reportStream {
            let writer = ReportStreamWriter(
                configuration: redisConfig, stream: name, maxLength: configuration.reconcile.reportStreamMaxLength,
                queueCapacity: configuration.reconcile.reportStreamQueue, logger: logger)
            sink.attach(stream: writer)
            logger.info("report records are also appended to a Redis Stream", metadata: ["stream": "\(name)", "maxlen": "~\(configuration.reconcile.reportStreamMaxLength)"])
        }
        defer { sink.detachStream() }
        if let listen = configuration.metrics.listen, !options.checkOnce {
            let parts = listen.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { throw ConfigurationError("[metrics] listen must be host:port, got \(listen)") }
            let server = MetricsServer(metrics: metrics, health: health, logger: logger, limits: configuration.metrics.limits)
            try server.start(host: String(parts[0]), port: port)
            metricsServer = server
            logger.info("serving /metrics and /health", metadata: ["address": "\(parts[0]):\(server.boundPort ?? port)"])
        }
        defer { metricsServer?.stop() }

        let tail = Thread { [self] in self.tailLoop(sourceConfig) }
        tail.name = "binlog-tail"
        tail.start()
        let poller = Thread { [self] in self.pollSource(sourceConfig) }
        poller.name = "source-poller"
        poller.start()

        var checkpointer: Thread?
        if let store {
            let t = Thread { [self] in self.checkpointLoop(store) }
            t.name = "checkpoint"
            t.start()
            checkpointer = t
        }
        defer {
            requestShutdown()
            watchdog?.stop()
            lock.withLock { () -> RedisNotificationListener? in defer { listener = nil }; return listener }?.stop()
            // The final checkpoint once the tail has stopped applying.
            if let store {
                while !lock.withLock({ tailFinished }) { Thread.sleep(forTimeInterval: 0.02) }
                while checkpointer?.isExecuting == true { Thread.sleep(forTimeInterval: 0.02) }
                writeCheckpoint(store)
                logger.notice("final checkpoint written", metadata: ["position": "\(lock.withLock { state.position })"])
            }
        }
        return try reconcileLoop(redis)
    }

    // MARK: - Binlog tail

    func tailLoop(_ config: SourceConfiguration) {
        var assembler = TransactionAssembler(watches: configuration.watches) { db, table in
            let conn = try SQLConnection(configuration: config)
            return try Bootstrap.schema(conn, database: db, table: table)?.names
        }
        let log = logger
        assembler.onWarning = { message, details in
            log.warning("\(message)", metadata: details.mapValues { Logger.MetadataValue.string($0) })
        }
        // Where to open, when to back off and when to stop: `TailPlan` decides; this loop opens,
        // reads, applies and logs.
        var plan = TailPlan(resumeByMySQLGTID: resumeByMySQLGTID)
        var lostSince: Double?
        /// Carries out a decision other than tailing; false ends the tail.
        func carryOut(_ d: TailPlan.Decision, error: (any Error)?, from start: BinlogCoordinates, gtid: GTIDState) -> Bool {
            switch d {
            case .proceed, .followNewServer:
                return true
            case .reopenByGTID(let reason, let serverID):
                assembler.abandonTransaction()
                var metadata: Logger.Metadata = ["position": "\(start)", "gtid": "\(gtid)"]
                if let serverID { metadata["server_id"] = "\(serverID)" }
                logger.warning("\(reason); resuming by GTID", metadata: metadata)
                return true
            case .backOff(let seconds, let attempt):
                assembler.abandonTransaction()
                if lostSince == nil { lostSince = monotonicSeconds() }
                let delay = seconds * Double.random(in: 0.5...1.0)
                logger.warning("binlog connection lost; reconnecting from the last commit", metadata: [
                    "error": "\(error.map { "\($0)" } ?? "?")", "retry_in": "\(Int(delay * 1000)) ms", "attempt": "\(attempt)",
                    "from": "\(lock.withLock { state.position })",
                ])
                lock.withLock { wasCaughtUp = false; catchUpSweepNeeded = true }
                Thread.sleep(forTimeInterval: delay)
                return true
            case .finish:
                return false
            case .stop(let message):
                logger.critical("binlog tail stopped", metadata: ["error": "\(message)"])
                lock.withLock { fatalError = message }
                return false
            }
        }
        tail: while !isStopping {
            let (start, gtid) = lock.withLock { (state.position, state.gtid) }
            var streamOptions = ReplicationStream.Options()
            streamOptions.stopAtEnd = options.checkOnce
            let point = plan.startPoint(position: start, gtid: gtid)
            let s: ReplicationStream
            do throws(ReplicationError) {
                s = try ReplicationStream(configuration: config, start: point, options: streamOptions, logger: logger)
            } catch {
                if carryOut(plan.openFailed(error, position: start, gtid: gtid, stopping: isStopping), error: error, from: start, gtid: gtid) { continue }
                break
            }
            let known = lock.withLock { sourceIdentity }
            let attempts = plan.attempt
            switch plan.opened(serverID: s.sourceServerID, knownServerID: known.serverID, flavor: s.flavor, position: start, gtid: gtid) {
            case .proceed:
                break
            case .followNewServer(let previous, let now):
                let identity = (try? SQLConnection(configuration: config)).flatMap { try? Self.identify($0) }
                    ?? CheckpointSource(flavour: known.flavour, serverID: now)
                lock.withLock { sourceIdentity = identity }
                logger.notice("the source is another server now; following it by GTID", metadata: [
                    "server_id": "\(previous) → \(now)", "gtid": "\(gtid)",
                ])
            case let other:
                s.close()
                if carryOut(other, error: nil, from: start, gtid: gtid) { continue }
                break tail
            }
            if lock.withLock({ () -> Bool in stream = s; return stopping }) { s.interrupt() }
            logger.info("tailing the binlog", metadata: ["from": "\(point)", "source_server_id": "\(s.sourceServerID)"])
            if let since = lostSince {
                metrics.recordReconnect(.source)
                logger.notice("reconnected to the source", metadata: [
                    "from": "\(point)", "attempts": "\(attempts)", "down_ms": "\(Int((monotonicSeconds() - since) * 1000))",
                ])
                lostSince = nil
            }
            do {
                // One event source: each event decoded once and located (file, end); the events
                // inside a TRANSACTION_PAYLOAD (MySQL 8.0.20+ binlog_transaction_compression), XID
                // included, each at the payload's end, the last of them reaching it.
                var decoder = BinlogEventDecoder()
                decoder.checksumBeforeFormatDescription = s.checksumAlgorithm
                var events = BinlogEventSource(provider: StreamRawEvents(stream: s), decoder: decoder)
                // A decoding error keeps its type (`BinlogDecodingError`: file, offset, event) up to
                // the plan, which stops the tail with it.
                while let e = try events.next() {
                    if e.inPayload == nil { health.recordBinlogEvent() }
                    try apply(e.event, end: BinlogCoordinates(file: e.file, position: e.end), inFile: e.reachesEnd, assembler: &assembler)
                    if isStopping && !events.isInsidePayload { break }
                }
                if options.checkOnce { break }
            } catch {
                let now = lock.withLock { state.position }
                if carryOut(plan.streamFailed(error, position: now, gtid: gtid, stopping: isStopping), error: error, from: now, gtid: gtid) { continue }
                break
            }
        }
        lock.withLock {
            tailFinished = true
            stream = nil
        }
    }

    /// One decoded event through the fold, under the lock; the engine hears of committed changes
    /// and of the values XA transactions hold while prepared.
    func apply(_ event: BinlogEvent, end: BinlogCoordinates, inFile: Bool, assembler: inout TransactionAssembler) throws {
        let now = monotonicSeconds()
        let committed = try lock.withLock { () -> CommittedTransaction? in
            if inFile { lastEventEnd = end }
            let tx = try assembler.consume(event, end: end, state: &state)
            if let tx {
                if !tx.changes.isEmpty { engine.noteCommit(tx, at: now) }
                switch tx.xa {
                case .prepared(let xid, let changes)?: engine.noteHeld(xid: xid, changes: changes)
                case .committed(let xid)?: engine.releaseHeld(xid: xid, at: now)
                case .rolledBack(let xid)?: engine.releaseHeld(xid: xid, at: now, rolledBack: true)
                case nil: break
                }
                if tx.timestamp > 0 { lastCommitTimestamp = tx.timestamp }
            }
            inTransaction = assembler.isInTransaction
            return tx
        }
        if let tx = committed {
            onApplied?(tx, monotonicSeconds())
            let lag = tx.timestamp > 0 ? max(0, Date().timeIntervalSince1970 - Double(tx.timestamp)) : nil
            metrics.recordTransactionApplied(events: 1, rows: tx.changes.count, applyLag: lag)
            metrics.setBinlogPosition(tx.end)
        }
    }

    /// Polls the source's binlog position: the caught-up gate compares it with what was applied.
    func pollSource(_ config: SourceConfiguration) {
        var conn: SQLConnection?
        while !isStopping {
            do {
                if conn == nil { conn = try SQLConnection(configuration: config) }
                if let c = conn, let row = try c.query(c.flavor.binlogStatusStatement(version: c.serverVersion)).first, let f = row[0] ?? nil, let p = row[1] ?? nil, let pos = UInt64(p) {
                    let now = monotonicSeconds()
                    lock.withLock {
                        sourcePosition = BinlogCoordinates(file: f, position: pos)
                        sourcePolledAt = now
                    }
                }
            } catch {
                conn = nil
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Caught up: everything up to the source's position, observed less than 0.5 s ago, applied.
    func isCaughtUp(now: Double) -> Bool {
        guard let src = sourcePosition, now - sourcePolledAt < 0.5, let seen = lastEventEnd, !inTransaction else {
            return tailFinished && fatalError == nil && options.checkOnce
        }
        return !(seen < src)
    }

    // MARK: - Reconcile loop

    func reconcileLoop(_ redis: RedisConnection) throws -> Outcome {
        let started = monotonicSeconds()
        var nextSweep = 0.0
        var quietSince: Double?
        var behindSince: Double?
        var redisRetryAt = 0.0
        var redisDown = false
        var nextMetrics = 0.0
        while true {
            let now = monotonicSeconds()
            let (due, caught, stop, fatal, finished) = lock.withLock {
                (engine.takeDueReads(now: now), isCaughtUp(now: now), stopping, fatalError, tailFinished)
            }
            if let fatal { throw ApplyError(fatal) }
            if stop { break }
            if caught && !lock.withLock({ wasCaughtUp }) {
                // Catching up after a bootstrap, a resume or a reconnect ends with a full sweep; so
                // does a lag long enough to matter. Blips under a steady write load (the source's
                // position polled a moment before our apply) need none: their reads were deferred.
                let longLag = behindSince.map { now - $0 >= 1.0 } ?? false
                let sweepNow = lock.withLock { () -> Bool in
                    wasCaughtUp = true
                    let s = catchUpSweepNeeded || longLag
                    catchUpSweepNeeded = false
                    if s { sweepRequested = true }
                    return s
                }
                if sweepNow {
                    logger.info("caught up with the source", metadata: ["position": "\(lock.withLock { state.position })"])
                }
                behindSince = nil
            }
            if !caught && lock.withLock({ wasCaughtUp }) && !finished {
                lock.withLock { wasCaughtUp = false }
                behindSince = now
            }
            var usedRedis = false
            do {
                if !due.isEmpty {
                    if caught && now >= redisRetryAt {
                        usedRedis = true
                        for trigger in [VerdictEngine.ReadTrigger.change, .notification, .confirm] {
                            let keys = due.filter { $0.trigger == trigger }.map { ($0.watch, $0.key) }
                            if !keys.isEmpty { _ = try read(keys, redis: redis, trigger: trigger.metricsTrigger) }
                        }
                    } else if !caught {
                        // Reads are taken only while caught up: the ones due while behind wait for it.
                        lock.withLock { engine.reschedule(due, at: now + 0.02) }
                    } else {
                        // Redis is being retried: the sweep that follows covers these keys.
                        lock.withLock { sweepRequested = true }
                    }
                }
                if caught && now >= redisRetryAt && (lock.withLock({ sweepRequested }) || now >= nextSweep) {
                    lock.withLock { sweepRequested = false }
                    usedRedis = true
                    let sweepStart = monotonicSeconds()
                    let (checked, missing) = try sweep(redis)
                    writeIncidentSummary(sweepStartedAt: sweepStart, keysChecked: checked, missing: missing)
                    // `check` sweeps once; the daemon sweeps every interval.
                    nextSweep = options.checkOnce ? .infinity : monotonicSeconds() + configuration.reconcile.sweepIntervalSeconds
                }
                if redisDown && usedRedis {
                    redisDown = false
                    health.setRedisReachable(true)
                    logger.notice("Redis answers the reconciler again")
                }
            } catch let e as RedisError where e.isRetryable && !options.checkOnce {
                // Redis is down or restarting: keep applying the binlog, retry shortly. Reads
                // missed meanwhile are covered by the sweep that follows.
                metrics.recordRedisError()
                health.setRedisReachable(false)
                lock.withLock { sweepRequested = true }
                redisRetryAt = monotonicSeconds() + 0.2
                if !redisDown {
                    redisDown = true
                    logger.warning("Redis read failed; retrying every 200 ms (the binlog is still applied)", metadata: ["error": "\(e)"])
                }
            }
            let records = lock.withLock {
                engine.decide(now: monotonicSeconds(), current: { w, k in state.maps[w][k] }, position: state.position, gtid: state.gtid.description)
            }
            for r in records {
                if r.event == .divergence { metrics.recordDivergenceOpened(kind: r.kind) }
                sink.write(r)
            }
            if configuration.reconcile.repair && caught && monotonicSeconds() >= redisRetryAt {
                repairPass(redis)
            }
            if now >= nextMetrics {
                nextMetrics = now + 0.5
                updateMetrics(now: now, caught: caught)
            }
            if options.checkOnce {
                let repairing = configuration.reconcile.repair
                let idle = lock.withLock { engine.pendingReads == 0 && finished && wasCaughtUp && (!repairing || engine.repairableCount == 0) }
                let maxWindow = configuration.watches.map { $0.leadSeconds + $0.lagSeconds + $0.confirmSeconds }.max() ?? 4
                if idle {
                    if quietSince == nil { quietSince = now }
                    if let q = quietSince, now - q > maxWindow + 0.5 { break }
                } else {
                    quietSince = nil
                }
                if now - started > options.checkTimeoutSeconds {
                    throw ApplyError("check did not finish within \(Int(options.checkTimeoutSeconds)) s")
                }
            }
            let next = lock.withLock { engine.nextReadAt } ?? (now + 0.01)
            let wait = max(0.001, min(0.01, next - monotonicSeconds()))
            Thread.sleep(forTimeInterval: wait)
        }
        let open = lock.withLock { engine.openDivergences.count }
        return Outcome(divergencesOpen: open, divergencesReported: sink.count(.divergence), keysChecked: lock.withLock { keysChecked })
    }

    /// The gauges computed from state (every half second) and the lead/lag samples.
    func updateMetrics(now: Double, caught: Bool) {
        let watches = configuration.watches
        let (tracked, suspects, open, samples, lastTS, xaCount, xaOldest) = lock.withLock {
            (watches.indices.map { engine.trackedKeys(watch: $0) }, engine.suspects, engine.openDivergences, engine.drainLeadSamples(), lastCommitTimestamp,
             state.heldXA.count, state.heldXA.oldestTimestamp)
        }
        metrics.setXAPrepared(count: xaCount, oldestSeconds: xaOldest.map { max(0, Date().timeIntervalSince1970 - Double($0)) } ?? 0)
        for (w, watch) in watches.enumerated() {
            metrics.setKeysTracked(tracked[w], watch: watch.name)
            for kind in DivergenceKind.allForMetrics {
                metrics.setOpenDivergences(open.filter { $0.watch == watch.name && $0.kind == kind }.count, watch: watch.name, kind: kind)
            }
        }
        metrics.setSuspects(suspects)
        for s in samples { metrics.recordRedisLead(seconds: s) }
        let behind = caught || lastTS == 0 ? 0 : max(0, Date().timeIntervalSince1970 - Double(lastTS))
        metrics.setSecondsBehindSource(behind)
    }

    /// Reads keys from Redis (pipelined) and feeds the observations to the engine.
    /// - Returns: how many of them were missing in Redis while their row exists.
    @discardableResult
    func read(_ keys: [(watch: Int, key: ShadowKey)], redis: RedisConnection, trigger: ReconcilerMetrics.ReadTrigger) throws -> Int {
        let watches = configuration.watches
        var missingRows = 0
        for (w, watch) in watches.enumerated() {
            let mine = keys.filter { $0.watch == w }.map(\.key)
            guard !mine.isEmpty else { continue }
            let at = monotonicSeconds()
            let values: [String?]
            switch watch.target {
            case .string(let t):
                values = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.mget(keys: mine.map { t.render($0) }, batchSize: configuration.reconcile.sweepBatch) }
            case .hash(let k, let f):
                values = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.hmget(mine.map { RedisHashField(key: k.render($0), field: f.render($0)) }, batchSize: configuration.reconcile.sweepBatch) }
            }
            // MGET answers nil for a key of another type: ask TYPE for those.
            var results: [RedisObservation] = values.map { $0.map(RedisObservation.value) ?? .missing }
            let nilIndexes = results.indices.filter { results[$0] == .missing }
            if !nilIndexes.isEmpty, case .string(let t) = watch.target {
                let types = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.types(nilIndexes.map { t.render(mine[$0]) }) }
                for (n, i) in nilIndexes.enumerated() where types[n] != .none { results[i] = .wrongType }
            }
            lock.withLock {
                for (i, k) in mine.enumerated() {
                    let current = state.maps[w][k]
                    if results[i] == .missing && current != nil { missingRows += 1 }
                    engine.observe(watch: w, key: k, result: results[i], at: at, current: current)
                }
                keysChecked += mine.count
            }
            metrics.recordReads(mine.count, trigger: trigger)
        }
        return missingRows
    }

    /// A full pipelined sweep of every watched key (the backstop that catches what events miss).
    /// - Returns: the keys read, and how many were missing in Redis while their row exists.
    @discardableResult
    func sweep(_ redis: RedisConnection) throws -> (checked: Int, missing: Int) {
        let started = monotonicSeconds()
        var total = 0
        var missing = 0
        for w in configuration.watches.indices {
            let keys: [ShadowKey] = lock.withLock {
                var out: [ShadowKey] = []
                out.reserveCapacity(state.maps[w].count)
                state.maps[w].forEach { k, _ in out.append(k) }
                return out
            }
            var i = 0
            let batch = max(1000, configuration.reconcile.sweepBatch * 8)
            while i < keys.count {
                let slice = Array(keys[i..<min(keys.count, i + batch)])
                missing += try read(slice.map { (w, $0) }, redis: redis, trigger: .sweep)
                i += batch
            }
            total += keys.count
            if configuration.watches[w].scanOrphans {
                let t = configuration.watches[w].target.keyTemplate
                let found = try redis.withRetry { conn throws(RedisError) in try conn.scanAll(pattern: t.scanPattern) }
                let integers = keyIntegerColumns[w]
                // A name is an orphan only when no row key that renders to it has a row. One that
                // several row keys render to (a separator inside a text column, or unknown column
                // types) is reported under its first reading and never written or deleted.
                var ambiguous: [ShadowKey] = []
                // Names are read back outside the lock; only the lookups hold it.
                let keyCount = configuration.watches[w].keyColumns.count
                let readings = found.map { t.candidates($0, integerColumns: integers, keyColumnCount: keyCount) }.filter { !$0.isEmpty }
                let orphans: [ShadowKey] = lock.withLock {
                    readings.compactMap { candidates -> ShadowKey? in
                        guard let first = candidates.first, !candidates.contains(where: { state.maps[w][$0] != nil }) else { return nil }
                        if candidates.count > 1 {
                            ambiguous.append(first)
                            engine.markReportOnly(watch: w, key: first)
                        }
                        return first
                    }
                }
                if !orphans.isEmpty {
                    logger.info("orphan scan: Redis keys without a row", metadata: ["watch": "\(configuration.watches[w].name)", "keys": "\(orphans.count)"])
                    if !ambiguous.isEmpty {
                        logger.warning("orphan scan: Redis keys that several row keys could render to; reported, never repaired", metadata: [
                            "watch": "\(configuration.watches[w].name)", "keys": "\(ambiguous.count)", "example": "\(t.render(ambiguous[0]))",
                        ])
                    }
                    try read(orphans.map { (w, $0) }, redis: redis, trigger: .sweep)
                }
            }
        }
        let secs = monotonicSeconds() - started
        metrics.recordSweep(keys: total, duration: .nanoseconds(Int64(secs * 1e9)))
        logger.debug("sweep", metadata: ["keys": "\(total)", "ms": "\(Int(secs * 1000))"])
        return (total, missing)
    }

    // MARK: - Repair

    /// The tail fell behind during a repair pass: the pass ends, the candidates stay.
    struct RepairPaused: Error {}

    private var repairTokens = 1.0
    private var repairRefilledAt = monotonicSeconds()
    private var repairLimitLoggedAt = -Double.infinity

    /// Repairs what the rate limit allows of the open divergences whose latest decided read still
    /// disagrees (new ones, ones restored from a checkpoint, ones skipped earlier). Called only
    /// while the tail is caught up. A repair that cannot run now stays a candidate.
    func repairPass(_ redis: RedisConnection) {
        let rate = configuration.reconcile.repairPerSecond
        let now = monotonicSeconds()
        // A bucket of at least one token, so a rate below 1/s repairs one key every 1/rate s.
        repairTokens = min(max(1, rate), repairTokens + (now - repairRefilledAt) * rate)
        repairRefilledAt = now
        let (candidates, waiting) = lock.withLock { (engine.repairCandidates(limit: Int(repairTokens)), engine.repairableCount) }
        if waiting > candidates.count && now - repairLimitLoggedAt >= 10 {
            repairLimitLoggedAt = now
            logger.warning("repair rate limit reached; the rest are repaired later", metadata: ["waiting": "\(waiting - candidates.count)", "repair_per_second": "\(rate)"])
        }
        for c in candidates {
            do {
                if try repair(c, redis: redis) { repairTokens -= 1 }
            } catch is RepairPaused {
                return
            } catch {
                metrics.recordRepair(.failed)
                metrics.recordRedisError()
                logger.warning("repair failed", metadata: ["key": "\(c.record.redisKey)", "error": "\(error)"])
                return
            }
        }
    }

    /// Writes the shadow value of a divergent row key with compare-and-set against the Redis
    /// reading the verdict was made on, only while caught up and when the key is quiet on the
    /// binlog side. The Redis key is rendered from the row key; a row the shadow map does not hold
    /// (looked up by that row key) is the only case that deletes. Returns whether it used a token.
    func repair(_ c: (watch: Int, key: ShadowKey, redis: RedisObservation, record: ReportRecord), redis: RedisConnection) throws -> Bool {
        let watch = configuration.watches[c.watch]
        let now = monotonicSeconds()
        let (quiet, expected, caught) = lock.withLock {
            (engine.isQuiet(watch: c.watch, key: c.key, from: now - watch.lagSeconds - watch.leadSeconds, to: now), state.maps[c.watch][c.key], isCaughtUp(now: now))
        }
        guard caught else { throw RepairPaused() }
        guard quiet else {
            // It changed in the binlog: its next inconsistent decided read makes it a candidate
            // again (so the others are not starved behind it).
            lock.withLock { engine.repairDeferred(watch: c.watch, key: c.key) }
            return false
        }
        let observed: String?
        switch c.redis {
        case .value(let v): observed = v
        case .missing: observed = nil
        case .wrongType:
            // Not a value compare-and-set can replace: left to a person.
            lock.withLock { engine.repairDeferred(watch: c.watch, key: c.key) }
            logger.warning("not repaired: the Redis key holds another type", metadata: ["key": "\(c.record.redisKey)"])
            return false
        }
        let target = expected?.redisText
        let redisKey = watch.target.keyTemplate.render(c.key)
        if configuration.reconcile.repairDryRun {
            lock.withLock { engine.repairDeferred(watch: c.watch, key: c.key) }
            logger.notice("dry run: would repair", metadata: ["key": "\(redisKey)", "from": "\(observed ?? "nil")", "to": "\(target ?? "nil (delete)")"])
            return true
        }
        let wrote: Bool
        switch watch.target {
        case .string:
            wrote = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.compareAndSet(key: redisKey, expected: observed, new: target) }
        case .hash(_, let f):
            wrote = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.compareAndSetHashField(key: redisKey, field: f.render(c.key), expected: observed, new: target) }
        }
        guard wrote else {
            lock.withLock { engine.repairDeferred(watch: c.watch, key: c.key) }
            metrics.recordRepair(.conflict)
            logger.info("repair skipped: Redis changed since it was read", metadata: ["key": "\(redisKey)"])
            return true
        }
        metrics.recordRepair(.repaired)
        let closed = lock.withLock { engine.repaired(watch: c.watch, key: c.key) }
        var record = closed ?? c.record
        record.event = .repaired
        record.expected = target
        record.redis = observed
        record.detectedAt = Date().timeIntervalSince1970
        sink.write(record)
        return true
    }

    // MARK: - Notifications

    func startNotifications() throws -> RedisNotificationListener? {
        let mode = configuration.redis.notifications
        guard mode != .off else { return nil }
        let prefixes = configuration.watches.map { w -> String in
            if case .literal(let s)? = w.target.keyTemplate.parts.first { return s }
            return ""
        }
        let source: RedisNotificationSource
        let hashEvents = configuration.watches.contains { if case .hash = $0.target { true } else { false } }
        switch mode {
        case .tracking: source = .tracking(prefixes: prefixes)
        case .keyspace:
            source = .keyspaceEvents(prefix: prefixes.count == 1 ? prefixes[0] : "", configureServer: configuration.redis.enableKeyspaceEvents, hashEvents: hashEvents)
        case .off: return nil
        }
        let listener = RedisNotificationListener(configuration: try configuration.redis.redisConfiguration(), source: source, logger: logger)
        let watches = configuration.watches
        try listener.start { [weak self] n in
            guard let self else { return }
            let now = monotonicSeconds()
            switch n {
            case .keys(let names):
                let integers = self.keyIntegerColumns
                // Names are read back outside the lock; only the lookups hold it.
                var readings: [(watch: Int, candidates: [ShadowKey])] = []
                for name in names {
                    for (w, watch) in watches.enumerated() {
                        let c = watch.target.keyTemplate.candidates(name, integerColumns: integers[w], keyColumnCount: watch.keyColumns.count)
                        if !c.isEmpty { readings.append((w, c)) }
                    }
                }
                guard !readings.isEmpty else { return }
                self.lock.withLock {
                    for (w, candidates) in readings {
                        // The row keys that render to this name and have a row; else the only
                        // reading (a key written without a row); an ambiguous name without a row
                        // is left to the orphan scan.
                        let rows = candidates.filter { self.state.maps[w][$0] != nil }
                        for k in rows.isEmpty && candidates.count == 1 ? candidates : rows {
                            self.engine.noteNotification(watch: w, key: k, at: now)
                        }
                    }
                }
            case .flushed:
                let new = self.lock.withLock { self.noteIncidentLocked(.flush) { $0.runID = self.redisRunID } }
                if new { self.logger.warning("Redis announced a flush (FLUSHALL/FLUSHDB); sweeping every key") }
            case .reconnected:
                // Changes made while the listener was away were not notified.
                self.metrics.recordReconnect(.redis)
                self.lock.withLock { self.sweepRequested = true }
            case .disconnected(let e):
                self.metrics.recordRedisError()
                self.logger.warning("Redis notification connection lost", metadata: ["error": "\(e)"])
            case .stopped(let e):
                if let e {
                    self.lock.withLock { if self.listener === listener { self.listener = nil } }
                    self.logger.warning("Redis notifications stopped; Redis-side changes are seen only in sweeps until they are back", metadata: ["error": "\(e)"])
                }
            }
        }
        return listener
    }
}

extension RedisSettings {
    public func redisConfiguration() throws(ConfigurationError) -> RedisConfiguration {
        let endpoint: RedisConfiguration.Endpoint = socket.map { .unixSocket(path: $0) } ?? .tcp(host: host, port: port)
        return RedisConfiguration(
            endpoint: endpoint, username: username, password: password.value, database: database,
            connectTimeout: .milliseconds(Int64(connectTimeoutSeconds * 1000)), commandTimeout: .milliseconds(Int64(commandTimeoutSeconds * 1000)))
    }
}
