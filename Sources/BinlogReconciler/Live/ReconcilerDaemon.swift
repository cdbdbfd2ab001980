import BinlogFold
import BinlogParser
import ConcurrencyKit
import Foundation
import Logging
import Synchronization

/// The live sidecar: bootstrap (or resume), tail the binlog into the shadow maps, and reconcile
/// Redis against them — on every change, on Redis notifications, and in sweeps.
///
/// The parts, each on its own thread, share one ``LiveState`` behind one mutex (``LiveShared``):
/// the ``BinlogTail`` (blocking libmariadb reads; its reconnect / resume / GTID-fallback rules
/// are the pure ``TailPlan``) and its source poller, the ``Reconciler`` (its loop runs on the
/// caller's thread: scheduled Redis reads, verdicts, reports, repairs, sweeps), the Redis
/// notification listener and watchdog, and the checkpointer. This class starts them, joins them
/// and writes the final checkpoint.
public final class ReconcilerDaemon: Sendable {
    public struct Options: Sendable {
        /// Discard saved state and bootstrap again.
        public var rebootstrap = false
        /// `check`: stop at the current end of the binlog, sweep, decide, and return.
        public var checkOnce = false
        /// Give up on `check` after this many seconds.
        public var checkTimeoutSeconds: Double = 120
        /// Show the sweep's progress on stderr (`check` on a terminal).
        public var showProgress = false
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
    /// The state the threads share.
    let shared: LiveShared
    /// Prometheus series and health, served on [metrics] listen.
    public let metrics = ReconcilerMetrics()
    public let health: HealthState
    private let hooks = Mutex<Hooks>(Hooks())

    private struct Hooks {
        var onApplied: (@Sendable (CommittedTransaction, Double) -> Void)?
        var metricsServer: MetricsServer?
    }

    /// Called on the binlog tail thread after each committed transaction was applied to the
    /// shadow maps, with the monotonic time of the application (tests and benchmarks; set before
    /// ``run()``).
    public var onApplied: (@Sendable (CommittedTransaction, Double) -> Void)? {
        get { hooks.withLock { $0.onApplied } }
        set { hooks.withLock { $0.onApplied = newValue } }
    }

    /// The server of /metrics and /health while ``run()`` serves them.
    var metricsServer: MetricsServer? { hooks.withLock { $0.metricsServer } }

    public init(configuration: ReconcilerConfiguration, options: Options, sink: ReportSink, logger: Logger) {
        self.configuration = configuration
        self.options = options
        self.sink = sink
        self.logger = logger
        health = HealthState(heartbeatPeriod: .milliseconds(Int64(configuration.source.heartbeatSeconds * 1000)))
        let watches = configuration.watches
        let wall = Date().timeIntervalSince1970 - monotonicSeconds()
        let engine = VerdictEngine(
            watchNames: watches.map(\.name),
            tolerances: watches.map { .init(lead: $0.leadSeconds, lag: $0.lagSeconds, confirm: $0.confirmSeconds, missingIsNormal: $0.missingIsNormal) },
            wallOffset: wall,
            redisKey: { w, k in watches[w].target.keyTemplate.render(k) })
        shared = LiveShared(LiveState(shadow: ShadowState(watchCount: watches.count, position: BinlogCoordinates(file: "", position: 4)), engine: engine))
    }

    /// Asks every loop to stop (SIGTERM/SIGINT); a blocked binlog read is interrupted.
    public func requestShutdown() {
        // The handle is read under the lock the tail sets it under; a stream opened after this
        // sees `stopping` there and is interrupted by the tail itself.
        shared.withLock { s -> ReplicationStream.InterruptHandle? in
            s.stopping = true
            return s.streamInterrupt
        }?.interrupt()
    }

    // MARK: - Run

    /// Runs until shutdown (or, with `checkOnce`, until every key is decided).
    public func run() throws -> Outcome {
        let sourceConfig = try configuration.source.replicationConfiguration()
        let sql = try SQLConnection(configuration: sourceConfig)
        logger.info("connected to the source", metadata: ["server": "\(sql.serverVersion)", "endpoint": "\(sourceConfig.endpoint)"])
        let identity = try Self.identify(sql)
        shared.withLock { $0.sourceIdentity = identity }
        let keyIntegerColumns = configuration.watches.map { w in
            (try? Bootstrap.schema(sql, database: w.database, table: w.table)).flatMap { $0 }.map { schema in w.keyColumns.map { schema.isInteger($0) } }
        }
        var store: CheckpointStore?
        if let dir = configuration.checkpoint.directory, !options.checkOnce {
            store = try CheckpointStore(directory: dir, keep: configuration.checkpoint.keep)
        }
        var resumed: Resumed?
        if let store, !options.rebootstrap {
            resumed = try resumeFromCheckpoint(store, sql: sql, source: identity)
        } else if options.rebootstrap {
            logger.notice("--rebootstrap: discarding saved state and reading the tables again")
        }
        if resumed == nil {
            let bootStart = monotonicSeconds()
            let boot = try Bootstrap.run(sql, watches: configuration.watches, logger: logger)
            let (position, gtid, keys) = (boot.position, boot.gtid, boot.maps.map(\.count).reduce(0, +))
            shared.withLock { $0.shadow = boot }
            logger.info("bootstrapped from a consistent snapshot", metadata: [
                "position": "\(position)", "gtid": "\(gtid)", "keys": "\(keys)",
                "seconds": "\(Int((monotonicSeconds() - bootStart) * 1000)) ms",
            ])
            if let store { writeCheckpoint(store) }
        }

        var redisConfig = try configuration.redis.redisConfiguration()
        let redis: RedisRoute
        defer {
            let listeners = shared.withLock { s -> [RedisNotificationListener] in defer { s.clusterListeners = [:] }; return Array(s.clusterListeners.values) }
            for l in listeners { l.stop() }
        }
        switch configuration.redis.mode {
        case .standalone:
            redis = .single(try RedisConnection(configuration: redisConfig))
        case .cluster:
            let cluster = try RedisClusterClient(seeds: try configuration.redis.clusterSeeds(), base: redisConfig)
            redis = .cluster(cluster)
            logger.info("Redis Cluster", metadata: [
                "masters": "\(cluster.masters.map { "\($0.endpoint)" }.joined(separator: " "))",
                "slots_covered": "\(cluster.topology.coveredSlotCount)",
            ])
        case .sentinel:
            let sentinel = try RedisSentinelClient(resolver: try configuration.redis.sentinelResolver(), dataBase: redisConfig)
            redisConfig.endpoint = sentinel.primary
            redis = .sentinel(sentinel)
            logger.info("Redis Sentinel", metadata: ["primary": "\(sentinel.primary)", "sentinels_agreeing": "\(sentinel.resolution.agreeing) of \(configuration.redis.sentinels.count)"])
        }
        if configuration.redis.readFrom == .replica {
            // Routine reads and sweeps go to replicas; confirmations and rechecks to the masters.
            switch redis {
            case .cluster(let c): c.replicaPool = RedisReplicaPool(base: redisConfig, readOnly: true)
            case .sentinel(let s): s.replicaPool = RedisReplicaPool(base: redisConfig, readOnly: false)
            case .single: break  // refused by the configuration reader
            }
            logger.info("Redis reads from replicas: routine reads and sweeps on replicas, confirmations on the masters", metadata: [
                "max_staleness_seconds": "\(Reconciler.replicaMaxStaleness(configuration))",
            ])
        }
        let reconciler = Reconciler(
            configuration: configuration, options: options, shared: shared, sink: sink, logger: logger, metrics: metrics, health: health,
            keyIntegerColumns: keyIntegerColumns, redisConfiguration: redisConfig)
        switch configuration.redis.notifications {
        case _ where configuration.redis.mode == .cluster:
            if case .cluster(let cluster) = redis { reconciler.syncClusterListeners(cluster) }
        case .tracking:
            let l = try reconciler.startNotifications()
            shared.withLock { $0.listener = l }
            logger.info("Redis notifications: client-side tracking (BCAST), flushes announced")
        case .keyspace:
            if case .single(let c) = redis { reconciler.checkKeyspaceEvents(c, reconnected: false) }
            if case .sentinel(let s) = redis { reconciler.checkKeyspaceEvents(s.connection, reconnected: false) }
        case .off:
            logger.notice("Redis notifications are off (notifications = \"off\"): Redis-side changes are seen only in sweeps; restarts and flushes by the watchdog")
        }
        var watchdog: RedisWatchdog?
        let makeWatchdog = { @Sendable (c: RedisConfiguration) in
            RedisWatchdog(
                configuration: c,
                onConnect: { conn, reconnected in reconciler.checkKeyspaceEvents(conn, reconnected: reconnected) },
                handler: { event in reconciler.handleWatchdog(event) })
        }
        if !options.checkOnce && configuration.redis.mode == .standalone {
            let w = makeWatchdog(redisConfig)
            w.start()
            watchdog = w
        }
        let sentinelWatchdog = options.checkOnce ? nil : SentinelWatchdogHolder(make: makeWatchdog)
        defer { sentinelWatchdog?.stop() }
        if case .sentinel(let s) = redis {
            sentinelWatchdog?.start(on: redisConfig)
            reconciler.followPrimary(s, watchdog: sentinelWatchdog)
        }
        if let name = configuration.reconcile.reportStream {
            // On a cluster, XADD on the master serving the stream key's slot, wherever it moves.
            // In Sentinel mode, on the primary the reconciler follows.
            var seeds: [RedisConfiguration.Endpoint]?
            var primary: (@Sendable () -> RedisConfiguration.Endpoint)?
            if case .cluster(let cluster) = redis { seeds = cluster.seeds }
            if case .sentinel = redis { primary = { reconciler.currentRedisConfiguration.endpoint } }
            let writer = ReportStreamWriter(
                configuration: redisConfig, clusterSeeds: seeds, primary: primary, stream: name, maxLength: configuration.reconcile.reportStreamMaxLength,
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
            hooks.withLock { $0.metricsServer = server }
            logger.info("serving /metrics and /health", metadata: ["address": "\(parts[0]):\(server.boundPort ?? port)"])
        }
        defer { hooks.withLock { h -> MetricsServer? in defer { h.metricsServer = nil }; return h.metricsServer }?.stop() }

        let tail = BinlogTail(
            configuration: configuration, source: sourceConfig, stopAtEnd: options.checkOnce, resumeByMySQLGTID: resumed?.byMySQLGTID ?? false,
            shared: shared, logger: logger, metrics: metrics, health: health, onApplied: onApplied)
        var threads: [JoinableThread] = []
        var checkpointer: JoinableThread?
        defer {
            requestShutdown()
            watchdog?.stop()
            shared.withLock { s -> RedisNotificationListener? in defer { s.listener = nil }; return s.listener }?.stop()
            // The final checkpoint once the tail has stopped applying and the checkpointer ended.
            for t in threads { t.join() }
            checkpointer?.join()
            if let store {
                writeCheckpoint(store)
                logger.notice("final checkpoint written", metadata: ["position": "\(shared.withLock { $0.shadow.position })"])
            }
        }
        threads.append(try JoinableThread(name: "binlog-tail") { tail.run() })
        threads.append(try JoinableThread(name: "source-poller") { tail.pollSource() })
        if let store {
            checkpointer = try JoinableThread(name: "checkpoint") { [self] in self.checkpointLoop(store) }
        }
        return try reconciler.run(redis)
    }
}

extension RedisSettings {
    /// The cluster's seed nodes (`nodes`).
    public func clusterSeeds() throws(ConfigurationError) -> [RedisConfiguration.Endpoint] {
        try Self.tcpEndpoints(nodes, key: "nodes")
    }

    /// `host:port` strings of `[redis] key` as TCP endpoints (checked when the file was read).
    static func tcpEndpoints(_ list: [String], key: String) throws(ConfigurationError) -> [RedisConfiguration.Endpoint] {
        try list.map { n throws(ConfigurationError) in
            guard let e = endpoint(n) else { throw ConfigurationError("[redis] \(key): \(n) is not host:port") }
            return .tcp(host: e.host, port: e.port)
        }
    }

    /// The connection settings: one server's; in cluster mode the first seed's, with the
    /// credentials and timeouts every node shares.
    public func redisConfiguration() throws(ConfigurationError) -> RedisConfiguration {
        var endpoint: RedisConfiguration.Endpoint = socket.map { .unixSocket(path: $0) } ?? .tcp(host: host, port: port)
        if mode == .cluster, let first = try clusterSeeds().first { endpoint = first }
        return RedisConfiguration(
            endpoint: endpoint, username: username, password: password.value, database: database,
            connectTimeout: .milliseconds(Int64(connectTimeoutSeconds * 1000)), commandTimeout: .milliseconds(Int64(commandTimeoutSeconds * 1000)))
    }
}
