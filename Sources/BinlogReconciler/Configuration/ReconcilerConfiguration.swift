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

    /// `password_env = "NAME"` or `password_file = "/path"` (one of them); a literal `password` is
    /// refused. The file must be a regular file of at most 64 KiB that only its owner can access
    /// (see `readSecretFile`); trailing line terminators are stripped. Errors name the key's line.
    static func read(_ r: inout ReconcilerConfiguration.Reader, env: [String: String]) throws(ConfigurationError) -> Secret {
        if r.t["password"] != nil {
            throw r.error("password", "passwords are not accepted in the file; use password_env = \"VAR\" or password_file = \"/path\"")
        }
        let name = try r.string("password_env")
        let path = try r.string("password_file")
        if name != nil, path != nil {
            throw r.error("password_file", "give password_env or password_file, not both")
        }
        if let name {
            guard let v = env[name] else { throw r.error("password_env", "environment variable \(name) is not set") }
            return Secret(value: v, source: "$" + name)
        }
        if let path {
            var bytes: [UInt8]
            switch readSecretFile(path) {
            case .success(let b): bytes = b
            case .failure(let e): throw r.error("password_file", e.message)
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
    /// Where `[source]` is (`FILE:LINE: `, `FILE: ` when the file has none), for the error about a
    /// missing password, which is raised when the password is needed.
    var location = ""
}

extension SourceSettings {
    /// The replication client's configuration.
    public func replicationConfiguration() throws(ConfigurationError) -> SourceConfiguration {
        guard let pw = password.value else {
            throw ConfigurationError("\(location)[source] no password: set password_env or password_file")
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
    /// Pace of sweeps (keys read per second); nil reads as fast as Redis answers.
    public var sweepKeysPerSecond: Double?
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

    /// The file errors are about; makes `FILE:LINE: message` (`line LINE: message` without a file,
    /// `FILE: message` without a line).
    struct Location {
        let file: String?

        /// The start of an error message about `line` (0 or nil: no line).
        func prefix(_ line: Int?) -> String {
            let line = line.flatMap { $0 > 0 ? $0 : nil }
            switch (file, line) {
            case let (f?, l?): return "\(f):\(l): "
            case let (f?, nil): return "\(f): "
            case let (nil, l?): return "line \(l): "
            case (nil, nil): return ""
            }
        }

        func error(_ line: Int?, _ message: String) -> ConfigurationError { ConfigurationError(prefix(line) + message) }
    }

    /// Reads typed keys of one table and rejects keys it does not know (typos). Its errors name
    /// the line of the key they are about (of the table's header for a missing key).
    struct Reader {
        let t: TOMLTable
        /// How messages name the table: `[redis]`, `[[watch]] #2`.
        let label: String
        let at: Location
        var used = Set<String>()
        init(_ t: TOMLTable, _ label: String, _ at: Location) { self.t = t; self.label = label; self.at = at }

        mutating func allow(_ keys: String...) { for k in keys { used.insert(k) } }

        mutating func get(_ k: String) -> TOMLValue? { used.insert(k); return t[k] }

        /// `LINE: [table] key: message`, at the key's line.
        func error(_ k: String, _ message: String) -> ConfigurationError {
            at.error(t.lines[k] ?? t.line, "\(label) \(k): \(message)")
        }

        /// `LINE: [table] key must …`, at the key's line.
        func rangeError(_ k: String, _ message: String) -> ConfigurationError {
            at.error(t.lines[k] ?? t.line, "\(label) \(k) \(message)")
        }

        /// `LINE: [table] missing key 'key' (hint)`, at the table's header line.
        func missing(_ k: String, _ hint: String) -> ConfigurationError {
            at.error(t.line, "\(label) missing key '\(k)' (\(hint))")
        }

        func typeError(_ k: String, _ want: String, _ got: TOMLValue) -> ConfigurationError {
            error(k, "expected \(want), got \(got.typeName)")
        }

        /// A number for messages: `3600`, `0.1`.
        static func text(_ d: Double) -> String {
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return "\(d)"
        }

        mutating func string(_ k: String) throws(ConfigurationError) -> String? {
            guard let v = get(k) else { return nil }
            guard let s = v.string else { throw typeError(k, "a string", v) }
            return s
        }

        /// A string or a list of strings (`key = "id"`, `key = ["shop_id", "sku"]`).
        mutating func stringOrStrings(_ k: String) throws(ConfigurationError) -> [String]? {
            guard let v = get(k) else { return nil }
            if let s = v.string { return [s] }
            guard let a = v.array else { throw typeError(k, "a string or a list of strings", v) }
            var out: [String] = []
            for e in a {
                guard let s = e.string else { throw typeError(k, "a list of strings", e) }
                out.append(s)
            }
            return out
        }

        mutating func int(_ k: String, in range: ClosedRange<Int>? = nil) throws(ConfigurationError) -> Int? {
            guard let v = get(k) else { return nil }
            guard let i = v.integer else { throw typeError(k, "an integer", v) }
            let value = Int(i)
            if let range, !range.contains(value) {
                if range.upperBound == Int.max { throw rangeError(k, "must be at least \(range.lowerBound), got \(value)") }
                throw rangeError(k, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            }
            return value
        }

        mutating func double(_ k: String, in range: ClosedRange<Double>? = nil) throws(ConfigurationError) -> Double? {
            guard let v = get(k) else { return nil }
            guard let d = v.number else { throw typeError(k, "a number", v) }
            guard d.isFinite else { throw error(k, "expected a finite number, got \(d)") }
            if let range, !range.contains(d) {
                throw rangeError(k, "must be between \(Self.text(range.lowerBound)) and \(Self.text(range.upperBound)), got \(Self.text(d))")
            }
            return d
        }

        mutating func bool(_ k: String) throws(ConfigurationError) -> Bool? {
            guard let v = get(k) else { return nil }
            guard let b = v.bool else { throw typeError(k, "true or false", v) }
            return b
        }

        func finish() throws(ConfigurationError) {
            let unknown = Set(t.keys).subtracting(used)
            // The first in the file, so that fixing errors one by one goes from the top.
            if let k = unknown.min(by: { (t.lines[$0] ?? 0, $0) < (t.lines[$1] ?? 0, $1) }) {
                throw at.error(t.lines[k] ?? t.line, "\(label) unknown key '\(k)'")
            }
        }
    }
}
