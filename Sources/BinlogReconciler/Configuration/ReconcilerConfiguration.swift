#if canImport(Glibc)
import Glibc
#endif

/// A secret read from the environment or a file, never from argv or the config text itself.
public struct Secret: Sendable, CustomStringConvertible {
    public let value: String?
    public let source: String
    public var description: String { value == nil ? "(none)" : "(from \(source))" }

    /// - Parameter source: where it came from, for messages (`$MYSQL_PWD`, a file name).
    public init(value: String?, source: String) {
        self.value = value
        self.source = source
    }

    /// `password_env = "NAME"` or `password_file = "/path"`; a literal `password` is refused. The
    /// file must be a regular file of at most 64 KiB that only its owner can access (see
    /// `readSecretFile`); trailing line terminators are stripped.
    static func read(_ t: [String: TOMLValue], section: String, env: [String: String]) throws(ConfigurationError) -> Secret {
        if t["password"] != nil {
            throw ConfigurationError("[\(section)] password: passwords are not accepted in the file; use password_env = \"VAR\" or password_file = \"/path\"")
        }
        if let name = t["password_env"]?.string {
            guard let v = env[name] else { throw ConfigurationError("[\(section)] password_env: environment variable \(name) is not set") }
            return Secret(value: v, source: "$" + name)
        }
        if let path = t["password_file"]?.string {
            var bytes: [UInt8]
            switch readSecretFile(path) {
            case .success(let b): bytes = b
            case .failure(let e): throw ConfigurationError("[\(section)] password_file: \(e.message)")
            }
            while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
            return Secret(value: String(decoding: bytes, as: UTF8.self), source: path)
        }
        return Secret(value: nil, source: "none")
    }
}

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

/// Where a watched value lives in Redis.
public enum RedisTarget: Sendable, Hashable {
    /// A string key per row: `product:{id}:stock`.
    case string(RedisKeyTemplate)
    /// A hash per row (or one hash) and a field: `HGET product:{id} stock`.
    case hash(key: RedisKeyTemplate, field: RedisKeyTemplate)

    public var keyTemplate: RedisKeyTemplate {
        switch self {
        case .string(let t): t
        case .hash(let k, _): k
        }
    }
}

/// One watched column: which table, which key, which value, where it is cached.
public struct WatchConfiguration: Sendable, Hashable {
    public var name: String
    public var database: String
    public var table: String
    public var keyColumns: [String]
    public var valueColumn: String
    public var target: RedisTarget
    /// L: how long Redis may run ahead of MySQL.
    public var leadSeconds: Double = 2
    /// G: how long Redis may trail MySQL.
    public var lagSeconds: Double = 1
    /// C: the confirmation interval.
    public var confirmSeconds: Double = 1
    /// Cache-aside setups where an absent key is legitimate.
    public var missingIsNormal = false
    /// SCAN the key pattern for keys whose row does not exist.
    public var scanOrphans = false

    public var qualifiedTable: String { database + "." + table }

    public init(name: String, database: String, table: String, keyColumns: [String], valueColumn: String, target: RedisTarget) {
        self.name = name
        self.database = database
        self.table = table
        self.keyColumns = keyColumns
        self.valueColumn = valueColumn
        self.target = target
    }
}

public struct SourceSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 3306
    public var socket: String?
    public var user = "reconciler"
    public var password = Secret(value: nil, source: "none")
    public var serverID: UInt32 = 4242
    public var heartbeatSeconds: Double = 1
    public var connectTimeoutSeconds = 5
    public var readTimeoutSeconds = 30
    public var tlsMode = SourceConfiguration.SSLMode.preferred
    public var tlsCA: String?
    public var tlsCert: String?
    public var tlsKey: String?
}

extension SourceSettings {
    /// The replication client's configuration.
    public func replicationConfiguration() throws(ConfigurationError) -> SourceConfiguration {
        guard let pw = password.value else {
            throw ConfigurationError("[source] no password: set password_env or password_file")
        }
        return SourceConfiguration(
            host: host, port: port, unixSocket: socket, user: user, password: SourcePassword(pw),
            tls: .init(mode: tlsMode, caFile: tlsCA, certFile: tlsCert, keyFile: tlsKey),
            connectTimeout: .seconds(connectTimeoutSeconds), readTimeout: .seconds(readTimeoutSeconds),
            replicaServerID: serverID, heartbeatPeriod: .milliseconds(Int64(heartbeatSeconds * 1000)))
    }
}

public enum NotificationMode: String, Sendable {
    case tracking, keyspace, off
}

public struct RedisSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 6379
    public var socket: String?
    public var username: String?
    public var password = Secret(value: nil, source: "none")
    public var database = 0
    public var connectTimeoutSeconds: Double = 2
    public var commandTimeoutSeconds: Double = 5
    public var notifications = NotificationMode.tracking
    /// Turn on keyspace notifications (`CONFIG SET notify-keyspace-events`) when they are off.
    public var enableKeyspaceEvents = false
}

public struct ReconcileSettings: Sendable {
    public var sweepIntervalSeconds: Double = 30
    public var sweepBatch = 1000
    public var repair = false
    public var repairDryRun = false
    public var repairPerSecond: Double = 50
    /// "-" for stdout, or a file path.
    public var report = "-"
    public var reportStream: String?
    public var reportStreamMaxLength = 10000
    /// Records held for the stream while Redis is unreachable; the oldest go first when full.
    public var reportStreamQueue = 10000
}

public struct CheckpointSettings: Sendable {
    public var directory: String?
    public var intervalSeconds: Double = 10
    public var everyTransactions = 10000
    public var keep = 3
}

public struct MetricsSettings: Sendable {
    /// `host:port`; loopback unless told otherwise. nil disables the endpoint.
    public var listen: String? = "127.0.0.1:9187"
    /// Connection, timeout and request-size caps of the endpoint (`max_connections`,
    /// `idle_timeout_seconds`, `max_pipelined_requests`, `max_header_bytes`, `max_body_bytes`).
    public var limits = MetricsServer.Limits()
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

    public static func load(path: String, environment: [String: String]) throws(ConfigurationError) -> ReconcilerConfiguration {
        guard let text = readWholeFile(path) else { throw ConfigurationError("\(path): cannot read the configuration file") }
        do {
            return try parse(text, environment: environment)
        } catch {
            throw ConfigurationError("\(path): \(error.description)")
        }
    }

    public static func parse(_ text: String, environment: [String: String]) throws(ConfigurationError) -> ReconcilerConfiguration {
        let doc: [String: TOMLValue]
        do { doc = try TOML.parse(text) } catch { throw ConfigurationError(error.description) }
        var c = ReconcilerConfiguration()
        let known: Set<String> = ["source", "redis", "watch", "reconcile", "checkpoint", "metrics", "log"]
        for k in doc.keys where !known.contains(k) { throw ConfigurationError("unknown section or key '\(k)' (known: \(known.sorted().joined(separator: ", ")))") }

        if let s = doc["source"]?.table {
            var r = Reader(s, "source")
            c.source.host = try r.string("host") ?? c.source.host
            c.source.port = try r.int("port") ?? c.source.port
            c.source.socket = try r.string("socket")
            c.source.user = try r.string("user") ?? c.source.user
            c.source.password = try Secret.read(s, section: "source", env: environment)
            if let id = try r.int("server_id") {
                guard id > 0, id <= Int(UInt32.max) else { throw ConfigurationError("[source] server_id must be 1…4294967295") }
                c.source.serverID = UInt32(id)
            }
            c.source.heartbeatSeconds = try r.double("heartbeat_seconds") ?? c.source.heartbeatSeconds
            c.source.connectTimeoutSeconds = try r.int("connect_timeout_seconds") ?? c.source.connectTimeoutSeconds
            c.source.readTimeoutSeconds = try r.int("read_timeout_seconds") ?? c.source.readTimeoutSeconds
            if let tls = s["tls"]?.table {
                var t = Reader(tls, "source.tls")
                if let m = try t.string("mode") {
                    guard let mode = SourceConfiguration.SSLMode(rawValue: m) else { throw ConfigurationError("[source.tls] mode: \(m) is not one of disabled, preferred, required, verify_ca, verify_identity") }
                    c.source.tlsMode = mode
                }
                c.source.tlsCA = try t.string("ca")
                c.source.tlsCert = try t.string("cert")
                c.source.tlsKey = try t.string("key")
                try t.finish()
            }
            r.allow("password_env", "password_file", "tls")
            try r.finish()
        }
        if let s = doc["redis"]?.table {
            var r = Reader(s, "redis")
            c.redis.host = try r.string("host") ?? c.redis.host
            c.redis.port = try r.int("port") ?? c.redis.port
            c.redis.socket = try r.string("socket")
            c.redis.username = try r.string("username")
            c.redis.password = try Secret.read(s, section: "redis", env: environment)
            c.redis.database = try r.int("database") ?? 0
            c.redis.connectTimeoutSeconds = try r.double("connect_timeout_seconds") ?? c.redis.connectTimeoutSeconds
            c.redis.commandTimeoutSeconds = try r.double("command_timeout_seconds") ?? c.redis.commandTimeoutSeconds
            if let n = try r.string("notifications") {
                guard let mode = NotificationMode(rawValue: n) else { throw ConfigurationError("[redis] notifications: \(n) is not one of tracking, keyspace, off") }
                c.redis.notifications = mode
            }
            c.redis.enableKeyspaceEvents = try r.bool("enable_keyspace_events") ?? false
            r.allow("password_env", "password_file")
            try r.finish()
        }
        guard let watches = doc["watch"]?.array, !watches.isEmpty else {
            throw ConfigurationError("no [[watch]]: name at least one table, key, value and Redis key to check")
        }
        var names = Set<String>()
        for (n, w) in watches.enumerated() {
            guard let t = w.table else { throw ConfigurationError("[[watch]] #\(n + 1) is not a table") }
            var r = Reader(t, "watch #\(n + 1)")
            guard let table = try r.string("table") else { throw ConfigurationError("[[watch]] #\(n + 1): table = \"db.table\" is required") }
            let parts = table.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ConfigurationError("[[watch]] #\(n + 1): table must be db.table, got \(table)") }
            let keys: [String]
            if let k = try r.string("key") { keys = [k] } else if let ks = try r.strings("key") { keys = ks } else {
                throw ConfigurationError("[[watch]] \(table): key = \"id\" (or a list) is required")
            }
            guard let value = try r.string("value") else { throw ConfigurationError("[[watch]] \(table): value = \"column\" is required") }
            let name = try r.string("name") ?? table
            guard !names.contains(name) else { throw ConfigurationError("[[watch]] name \(name) is used twice") }
            names.insert(name)
            let target: RedisTarget
            if let tpl = try r.string("redis_key") {
                target = .string(try RedisKeyTemplate(tpl, keyColumns: keys))
            } else if let hash = try r.string("redis_hash"), let field = try r.string("redis_field") {
                target = .hash(key: try RedisKeyTemplate(hash, keyColumns: keys), field: try RedisKeyTemplate(field, keyColumns: keys))
            } else {
                throw ConfigurationError("[[watch]] \(name): redis_key = \"product:{id}:stock\" (or redis_hash + redis_field) is required")
            }
            var watch = WatchConfiguration(name: name, database: parts[0], table: parts[1], keyColumns: keys, valueColumn: value, target: target)
            watch.leadSeconds = try r.double("lead_seconds") ?? watch.leadSeconds
            watch.lagSeconds = try r.double("lag_seconds") ?? watch.lagSeconds
            watch.confirmSeconds = try r.double("confirm_seconds") ?? watch.confirmSeconds
            watch.missingIsNormal = try r.bool("missing_is_normal") ?? false
            watch.scanOrphans = try r.bool("scan_orphans") ?? false
            for (k, v) in [("lead_seconds", watch.leadSeconds), ("lag_seconds", watch.lagSeconds), ("confirm_seconds", watch.confirmSeconds)] where v < 0 || v > 3600 {
                throw ConfigurationError("[[watch]] \(name): \(k) must be between 0 and 3600 seconds")
            }
            try r.finish()
            c.watches.append(watch)
        }
        if let s = doc["reconcile"]?.table {
            var r = Reader(s, "reconcile")
            c.reconcile.sweepIntervalSeconds = try r.double("sweep_interval_seconds") ?? c.reconcile.sweepIntervalSeconds
            c.reconcile.sweepBatch = try r.int("sweep_batch") ?? c.reconcile.sweepBatch
            c.reconcile.repair = try r.bool("repair") ?? false
            c.reconcile.repairDryRun = try r.bool("repair_dry_run") ?? false
            c.reconcile.repairPerSecond = try r.double("repair_per_second") ?? c.reconcile.repairPerSecond
            guard c.reconcile.repairPerSecond > 0, c.reconcile.repairPerSecond <= 1_000_000, c.reconcile.repairPerSecond.isFinite else {
                throw ConfigurationError("[reconcile] repair_per_second must be above 0 and at most 1000000 (a rate below 1 repairs one key every 1/rate seconds), got \(c.reconcile.repairPerSecond)")
            }
            c.reconcile.report = try r.string("report") ?? "-"
            c.reconcile.reportStream = try r.string("report_stream")
            c.reconcile.reportStreamMaxLength = try r.int("report_stream_maxlen") ?? c.reconcile.reportStreamMaxLength
            c.reconcile.reportStreamQueue = try r.int("report_stream_queue") ?? c.reconcile.reportStreamQueue
            guard c.reconcile.reportStreamMaxLength >= 1, c.reconcile.reportStreamQueue >= 1 else {
                throw ConfigurationError("[reconcile] report_stream_maxlen and report_stream_queue must be at least 1")
            }
            try r.finish()
        }
        if let s = doc["checkpoint"]?.table {
            var r = Reader(s, "checkpoint")
            c.checkpoint.directory = try r.string("directory")
            c.checkpoint.intervalSeconds = try r.double("interval_seconds") ?? c.checkpoint.intervalSeconds
            c.checkpoint.everyTransactions = try r.int("every_transactions") ?? c.checkpoint.everyTransactions
            c.checkpoint.keep = try r.int("keep") ?? c.checkpoint.keep
            guard c.checkpoint.keep >= 1 else { throw ConfigurationError("[checkpoint] keep must be at least 1") }
            try r.finish()
        }
        if let s = doc["metrics"]?.table {
            var r = Reader(s, "metrics")
            let l = try r.string("listen")
            c.metrics.listen = (l == nil || l == "") ? (s["listen"] == nil ? c.metrics.listen : nil) : l
            var limits = c.metrics.limits
            func bounded(_ key: String, _ value: Int?, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
                guard let value else { return nil }
                guard range.contains(value) else {
                    throw ConfigurationError("[metrics] \(key) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
                }
                return value
            }
            limits.maxConnections = try bounded("max_connections", r.int("max_connections"), 1...65536) ?? limits.maxConnections
            limits.maxPipelinedRequests = try bounded("max_pipelined_requests", r.int("max_pipelined_requests"), 1...10000) ?? limits.maxPipelinedRequests
            limits.maxHeaderBytes = try bounded("max_header_bytes", r.int("max_header_bytes"), 1024...1_048_576) ?? limits.maxHeaderBytes
            limits.maxBodyBytes = try bounded("max_body_bytes", r.int("max_body_bytes"), 0...16_777_216) ?? limits.maxBodyBytes
            if let t = try r.double("idle_timeout_seconds") {
                guard t >= 0.1, t <= 3600 else {
                    throw ConfigurationError("[metrics] idle_timeout_seconds must be between 0.1 and 3600, got \(t)")
                }
                limits.idleTimeout = .milliseconds(Int64((t * 1000).rounded()))
            }
            c.metrics.limits = limits
            try r.finish()
        }
        if let s = doc["log"]?.table {
            var r = Reader(s, "log")
            c.logLevel = try r.string("level") ?? "info"
            try r.finish()
        }
        // Environment overrides for deployment (secrets stay in *_env / *_file).
        if let h = environment["BR_SOURCE_HOST"] { c.source.host = h }
        if let p = environment["BR_SOURCE_PORT"], let v = Int(p) { c.source.port = v }
        if let h = environment["BR_REDIS_HOST"] { c.redis.host = h }
        if let p = environment["BR_REDIS_PORT_OVERRIDE"], let v = Int(p) { c.redis.port = v }
        return c
    }

    /// Reads typed keys of one section and rejects keys it does not know (typos).
    struct Reader {
        let t: [String: TOMLValue]
        let section: String
        var used = Set<String>()
        init(_ t: [String: TOMLValue], _ section: String) { self.t = t; self.section = section }

        mutating func allow(_ keys: String...) { for k in keys { used.insert(k) } }

        mutating func get(_ k: String) -> TOMLValue? { used.insert(k); return t[k] }

        func typeError(_ k: String, _ want: String, _ got: TOMLValue) -> ConfigurationError {
            ConfigurationError("[\(section)] \(k): expected \(want), got \(got.typeName)")
        }

        mutating func string(_ k: String) throws(ConfigurationError) -> String? {
            guard let v = get(k) else { return nil }
            guard let s = v.string else {
                if v.array != nil { used.remove(k); return nil }
                throw typeError(k, "a string", v)
            }
            return s
        }

        mutating func strings(_ k: String) throws(ConfigurationError) -> [String]? {
            guard let v = get(k) else { return nil }
            guard let a = v.array else { throw typeError(k, "a list of strings", v) }
            var out: [String] = []
            for e in a {
                guard let s = e.string else { throw typeError(k, "a list of strings", e) }
                out.append(s)
            }
            return out
        }

        mutating func int(_ k: String) throws(ConfigurationError) -> Int? {
            guard let v = get(k) else { return nil }
            guard let i = v.integer else { throw typeError(k, "an integer", v) }
            return Int(i)
        }

        mutating func double(_ k: String) throws(ConfigurationError) -> Double? {
            guard let v = get(k) else { return nil }
            guard let d = v.number else { throw typeError(k, "a number", v) }
            return d
        }

        mutating func bool(_ k: String) throws(ConfigurationError) -> Bool? {
            guard let v = get(k) else { return nil }
            guard let b = v.bool else { throw typeError(k, "true or false", v) }
            return b
        }

        func finish() throws(ConfigurationError) {
            let unknown = Set(t.keys).subtracting(used)
            if let k = unknown.sorted().first {
                throw ConfigurationError("[\(section)] unknown key '\(k)'")
            }
        }
    }
}
