#if canImport(Glibc)
import Glibc
#endif

/// The whole file as text (invalid UTF-8 repaired), nil when it cannot be opened.
func readWholeFile(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        bytes += buf[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The whole configuration file (TOML; a commented example is in docs/configuration.md).
public struct ReconcilerConfiguration: Sendable {
    public var source = SourceSettings()
    public var redis = RedisSettings()
    public var watches: [WatchConfiguration] = []
    public var reconcile = ReconcileSettings()
    public var checkpoint = CheckpointSettings()
    public var metrics = MetricsSettings()
    public var logLevel = "info"

    public init() {}

    /// Reads and checks the file at `path`. Every error names the file, and the line and key it
    /// is about: `reconciler.toml:12: [redis] unknown key 'mode'`.
    public static func load(path: String, environment: [String: String]) throws(ConfigurationError) -> ReconcilerConfiguration {
        guard let text = readWholeFile(path) else { throw ConfigurationError("\(path): cannot read the configuration file") }
        return try parse(text, file: path, environment: environment)
    }

    /// Reads and checks configuration text. Errors start with `FILE:LINE: ` (`line LINE: ` when
    /// `file` is nil), or `FILE: ` alone for what no line holds (a missing `[[watch]]`).
    public static func parse(_ text: String, file: String? = nil, environment: [String: String]) throws(ConfigurationError) -> ReconcilerConfiguration {
        let at = Location(file: file)
        let doc: TOMLTable
        do { doc = try TOML.parse(text) } catch { throw at.error(error.line, error.message) }
        var c = ReconcilerConfiguration()
        let known: Set<String> = ["source", "redis", "watch", "reconcile", "checkpoint", "metrics", "log"]
        for k in doc.keys.sorted(by: { (doc.lines[$0] ?? 0, $0) < (doc.lines[$1] ?? 0, $1) }) where !known.contains(k) {
            throw at.error(doc.lines[k], "unknown section or key '\(k)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        /// A section: a table, or an error at the key that is something else.
        func section(_ t: TOMLTable, _ k: String, in parent: String? = nil) throws(ConfigurationError) -> TOMLTable? {
            guard let v = t[k] else { return nil }
            let name = parent.map { "\($0).\(k)" } ?? k
            guard let s = v.table else { throw at.error(t.lines[k], "\(name) must be a table ([\(name)]), got \(v.typeName)") }
            return s
        }

        let sourceTable = try section(doc, "source")
        c.source.location = at.prefix(sourceTable?.line)
        if let s = sourceTable {
            var r = Reader(s, "[source]", at)
            c.source.host = try r.string("host") ?? c.source.host
            c.source.port = try r.int("port", in: 1...65535) ?? c.source.port
            c.source.socket = try r.string("socket")
            c.source.user = try r.string("user") ?? c.source.user
            c.source.password = try Secret.read(&r, env: environment)
            if let id = try r.int("server_id", in: 1...Int(UInt32.max)) { c.source.serverID = UInt32(id) }
            c.source.heartbeatSeconds = try r.double("heartbeat_seconds", in: 0...4_294_967) ?? c.source.heartbeatSeconds
            c.source.connectTimeoutSeconds = try r.int("connect_timeout_seconds", in: 1...86400) ?? c.source.connectTimeoutSeconds
            c.source.readTimeoutSeconds = try r.int("read_timeout_seconds", in: 1...86400) ?? c.source.readTimeoutSeconds
            r.allow("tls")
            if let tls = try section(s, "tls", in: "source") {
                var t = Reader(tls, "[source.tls]", at)
                if let m = try t.string("mode") {
                    guard let mode = SourceConfiguration.SSLMode(rawValue: m) else { throw t.error("mode", "\(m) is not one of disabled, preferred, required, verify_ca, verify_identity") }
                    c.source.tlsMode = mode
                }
                c.source.tlsCA = try t.string("ca")
                c.source.tlsCert = try t.string("cert")
                c.source.tlsKey = try t.string("key")
                try t.finish()
            }
            try r.finish()
        }
        if let s = try section(doc, "redis") {
            var r = Reader(s, "[redis]", at)
            c.redis.host = try r.string("host") ?? c.redis.host
            c.redis.port = try r.int("port", in: 1...65535) ?? c.redis.port
            c.redis.socket = try r.string("socket")
            c.redis.username = try r.string("username")
            c.redis.password = try Secret.read(&r, env: environment)
            c.redis.database = try r.int("database", in: 0...Int(Int32.max)) ?? 0
            c.redis.connectTimeoutSeconds = try r.double("connect_timeout_seconds", in: 0.001...86400) ?? c.redis.connectTimeoutSeconds
            c.redis.commandTimeoutSeconds = try r.double("command_timeout_seconds", in: 0.001...86400) ?? c.redis.commandTimeoutSeconds
            if let n = try r.string("notifications") {
                guard let mode = NotificationMode(rawValue: n) else { throw r.error("notifications", "\(n) is not one of tracking, keyspace, off") }
                c.redis.notifications = mode
            }
            c.redis.enableKeyspaceEvents = try r.bool("enable_keyspace_events") ?? false
            try readTopology(&r, into: &c.redis, env: environment)
            try r.finish()
        }
        if let v = doc["watch"], v.array == nil {
            throw at.error(doc.lines["watch"], "watch must be an array of tables: write [[watch]], got \(v.typeName)")
        }
        guard let watches = doc["watch"]?.array, !watches.isEmpty else {
            throw at.error(nil, "no [[watch]]: name at least one table, key, value and Redis key to check")
        }
        /// Name and Redis target of each watch read so far, with where it was set.
        var names: [String: (watch: Int, line: Int)] = [:]
        var targets: [String: (watch: Int, line: Int)] = [:]
        for (n, w) in watches.enumerated() {
            guard let t = w.table else { throw at.error(doc.lines["watch"], "[[watch]] #\(n + 1) is not a table") }
            var r = Reader(t, "[[watch]] #\(n + 1)", at)
            guard let table = try r.string("table") else { throw r.missing("table", "table = \"db.table\" is required") }
            let parts = table.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw r.error("table", "must be db.table, got \(table)") }
            guard let keys = try r.stringOrStrings("key") else { throw r.missing("key", "key = \"id\" (or a list) is required") }
            guard !keys.isEmpty else { throw r.error("key", "names no column") }
            guard let value = try r.string("value") else { throw r.missing("value", "value = \"column\" is required") }
            let name = try r.string("name") ?? table
            let nameLine = t.lines["name"] ?? t.lines["table"] ?? t.line
            if let first = names[name] {
                throw at.error(nameLine, "[[watch]] #\(n + 1) name: \(name) is used twice (first by [[watch]] #\(first.watch + 1), line \(first.line)); give each watch its own name")
            }
            names[name] = (n, nameLine)
            func template(_ k: String, _ text: String) throws(ConfigurationError) -> RedisKeyTemplate {
                do { return try RedisKeyTemplate(text, keyColumns: keys) } catch { throw r.error(k, error.description) }
            }
            let target: RedisTarget
            let hash = try r.string("redis_hash"), field = try r.string("redis_field")
            if let tpl = try r.string("redis_key") {
                if hash != nil || field != nil {
                    throw r.error(hash != nil ? "redis_hash" : "redis_field", "give redis_key, or redis_hash and redis_field, not both")
                }
                target = .string(try template("redis_key", tpl))
            } else if let hash, let field {
                target = .hash(key: try template("redis_hash", hash), field: try template("redis_field", field))
            } else if hash != nil {
                throw r.missing("redis_field", "redis_hash needs the hash's field: redis_field = \"stock\"")
            } else if field != nil {
                throw r.missing("redis_hash", "redis_field needs the hash's key: redis_hash = \"product:{id}\"")
            } else {
                throw r.missing("redis_key", "redis_key = \"product:{id}:stock\" (or redis_hash + redis_field) is required")
            }
            let targetKey: String, targetLine: Int
            switch target {
            case .string(let k): (targetKey, targetLine) = ("redis_key \(k.source)", t.lines["redis_key"] ?? t.line)
            case .hash(let k, let f): (targetKey, targetLine) = ("redis_hash \(k.source) with redis_field \(f.source)", t.lines["redis_hash"] ?? t.line)
            }
            if let first = targets[targetKey] {
                throw at.error(targetLine, "[[watch]] #\(n + 1) \(targetKey) is also watched by [[watch]] #\(first.watch + 1) (line \(first.line)): one Redis value cannot be checked against two columns")
            }
            targets[targetKey] = (n, targetLine)
            var watch = WatchConfiguration(name: name, database: parts[0], table: parts[1], keyColumns: keys, valueColumn: value, target: target)
            watch.leadSeconds = try r.double("lead_seconds", in: 0...3600) ?? watch.leadSeconds
            watch.lagSeconds = try r.double("lag_seconds", in: 0...3600) ?? watch.lagSeconds
            watch.confirmSeconds = try r.double("confirm_seconds", in: 0...3600) ?? watch.confirmSeconds
            watch.missingIsNormal = try r.bool("missing_is_normal") ?? false
            watch.scanOrphans = try r.bool("scan_orphans") ?? false
            try r.finish()
            c.watches.append(watch)
        }
        if let s = try section(doc, "reconcile") {
            var r = Reader(s, "[reconcile]", at)
            c.reconcile.sweepIntervalSeconds = try r.double("sweep_interval_seconds", in: 0.001...86400) ?? c.reconcile.sweepIntervalSeconds
            c.reconcile.sweepBatch = try r.int("sweep_batch", in: 1...1_000_000) ?? c.reconcile.sweepBatch
            c.reconcile.sweepKeysPerSecond = try r.double("sweep_keys_per_second", in: 1...100_000_000)
            c.reconcile.repair = try r.bool("repair") ?? false
            c.reconcile.repairDryRun = try r.bool("repair_dry_run") ?? false
            if let rate = try r.double("repair_per_second") {
                guard rate > 0, rate <= 1_000_000 else {
                    throw r.rangeError("repair_per_second", "must be above 0 and at most 1000000 (a rate below 1 repairs one key every 1/rate seconds), got \(Reader.text(rate))")
                }
                c.reconcile.repairPerSecond = rate
            }
            c.reconcile.report = try r.string("report") ?? "-"
            c.reconcile.reportStream = try r.string("report_stream")
            c.reconcile.reportStreamMaxLength = try r.int("report_stream_maxlen", in: 1...Int.max) ?? c.reconcile.reportStreamMaxLength
            c.reconcile.reportStreamQueue = try r.int("report_stream_queue", in: 1...Int.max) ?? c.reconcile.reportStreamQueue
            try r.finish()
        }
        if let s = try section(doc, "checkpoint") {
            var r = Reader(s, "[checkpoint]", at)
            c.checkpoint.directory = try r.string("directory")
            c.checkpoint.intervalSeconds = try r.double("interval_seconds", in: 0.001...86400) ?? c.checkpoint.intervalSeconds
            c.checkpoint.everyTransactions = try r.int("every_transactions", in: 1...Int.max) ?? c.checkpoint.everyTransactions
            c.checkpoint.keep = try r.int("keep", in: 1...Int.max) ?? c.checkpoint.keep
            try r.finish()
        }
        if let s = try section(doc, "metrics") {
            var r = Reader(s, "[metrics]", at)
            if let l = try r.string("listen") {
                if l.isEmpty {
                    c.metrics.listen = nil
                } else {
                    let parts = l.split(separator: ":", omittingEmptySubsequences: false)
                    guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (0...65535).contains(port) else {
                        throw r.error("listen", "must be host:port (or \"\" for no endpoint), got \(l)")
                    }
                    c.metrics.listen = l
                }
            }
            var limits = c.metrics.limits
            limits.maxConnections = try r.int("max_connections", in: 1...65536) ?? limits.maxConnections
            limits.maxPipelinedRequests = try r.int("max_pipelined_requests", in: 1...10000) ?? limits.maxPipelinedRequests
            limits.maxHeaderBytes = try r.int("max_header_bytes", in: 1024...1_048_576) ?? limits.maxHeaderBytes
            limits.maxBodyBytes = try r.int("max_body_bytes", in: 0...16_777_216) ?? limits.maxBodyBytes
            if let t = try r.double("idle_timeout_seconds", in: 0.1...3600) {
                limits.idleTimeout = .milliseconds(Int64((t * 1000).rounded()))
            }
            c.metrics.limits = limits
            try r.finish()
        }
        if let s = try section(doc, "log") {
            var r = Reader(s, "[log]", at)
            if let level = try r.string("level") {
                let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
                guard levels.contains(level) else { throw r.error("level", "\(level) is not one of \(levels.joined(separator: ", "))") }
                c.logLevel = level
            }
            try r.finish()
        }
        // Environment overrides for deployment (secrets stay in *_env / *_file).
        if let h = environment["BR_SOURCE_HOST"] { c.source.host = h }
        if let p = environment["BR_SOURCE_PORT"], let v = Int(p) { c.source.port = v }
        if let h = environment["BR_REDIS_HOST"] { c.redis.host = h }
        if let p = environment["BR_REDIS_PORT_OVERRIDE"], let v = Int(p) { c.redis.port = v }
        return c
    }
}
