import Foundation

/// Preflight checks: what the source and Redis must provide, and for each problem the statement
/// that fixes it. `run` performs the same checks at start and refuses settings that would make it
/// apply wrong values.
public struct Doctor {
    public enum Severity: String, Sendable { case ok, warning, error }

    public struct Finding: Sendable {
        public var check: String
        public var severity: Severity
        public var detail: String
        /// The statement or command that fixes it.
        public var fix: String?
    }

    public let configuration: ReconcilerConfiguration
    public init(configuration: ReconcilerConfiguration) { self.configuration = configuration }

    /// Runs every check; never throws (an unreachable server is itself a finding).
    public func run() -> [Finding] {
        var out: [Finding] = []
        out += checkSource()
        out += checkRedis()
        return out
    }

    /// True when nothing is an error (warnings allowed).
    public static func passes(_ findings: [Finding]) -> Bool { !findings.contains { $0.severity == .error } }

    func checkSource() -> [Finding] {
        var out: [Finding] = []
        let config: SourceConfiguration
        do { config = try configuration.source.replicationConfiguration() } catch {
            return [Finding(check: "source.credentials", severity: .error, detail: error.description, fix: "set password_env or password_file in [source]")]
        }
        let conn: SQLConnection
        do { conn = try SQLConnection(configuration: config) } catch {
            let fix: String
            if error.isServerWithoutTLS {
                fix = "give the server a certificate (ssl_cert, ssl_key in my.cnf [mysqld]) and restart it; [source.tls] mode = \"\(config.tls.mode.rawValue)\" never sends credentials without TLS"
            } else if error.code == 5010 {
                fix = "enable TLS on the server and set [source.tls] mode = \"verify_identity\" (or \"required\"), or give \(config.user) a challenge-response method: ALTER USER \(SQLQuoting.literal(config.user))@'%' IDENTIFIED VIA ed25519 USING PASSWORD('...')"
            } else {
                fix = "check host, port, user and password; the user needs: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO \(SQLQuoting.literal(config.user))@'%'"
            }
            return [Finding(check: "source.connect", severity: .error, detail: "\(error)", fix: fix)]  // its context names the endpoint
        }
        out.append(Finding(check: "source.connect", severity: .ok, detail: "\(conn.serverVersion) at \(config.endpoint)", fix: nil))
        out.append(Self.transportFinding(conn, mode: config.tls.mode, unixSocket: config.unixSocket != nil))
        // The user name as a string literal, escaped for this session (fixes are meant to be pasted).
        let user = (try? conn.quoted(config.user)) ?? SQLQuoting.literal(config.user)
        let mariadb = conn.flavor == .mariadb
        func variable(_ name: String) -> String? {
            (try? conn.query("SELECT @@GLOBAL.\(name)").first?.first) ?? nil
        }
        if let logBin = variable("log_bin"), logBin == "1" || logBin.uppercased() == "ON" {
            out.append(Finding(check: "log_bin", severity: .ok, detail: "ON", fix: nil))
        } else {
            out.append(Finding(check: "log_bin", severity: .error, detail: "the binary log is off", fix: "start the server with log_bin=mysql-bin (my.cnf [mysqld]) and restart it"))
        }
        let format = variable("binlog_format") ?? "?"
        out.append(format.uppercased() == "ROW"
            ? Finding(check: "binlog_format", severity: .ok, detail: "ROW", fix: nil)
            : Finding(check: "binlog_format", severity: .error, detail: "\(format): row events are needed", fix: "SET GLOBAL binlog_format = 'ROW'; and binlog_format=ROW in my.cnf"))
        let image = variable("binlog_row_image") ?? "?"
        switch image.uppercased() {
        case "FULL": out.append(Finding(check: "binlog_row_image", severity: .ok, detail: "FULL", fix: nil))
        case "MINIMAL", "NOBLOB": out.append(Finding(check: "binlog_row_image", severity: .warning, detail: "\(image): handled (partial after-images are merged into the known row), FULL recommended", fix: "SET GLOBAL binlog_row_image = 'FULL';"))
        default: out.append(Finding(check: "binlog_row_image", severity: .warning, detail: image, fix: "SET GLOBAL binlog_row_image = 'FULL';"))
        }
        let metadata = variable("binlog_row_metadata") ?? "?"
        if metadata.uppercased() == "FULL" {
            out.append(Finding(check: "binlog_row_metadata", severity: .ok, detail: "FULL", fix: nil))
        } else {
            out.append(Finding(check: "binlog_row_metadata", severity: .warning, detail: "\(metadata): column names come from information_schema at start and after DDL, which races with DDL; FULL recommended", fix: "SET GLOBAL binlog_row_metadata = 'FULL';"))
        }
        if let readOnly = variable("read_only"), readOnly == "1", let lsu = variable("log_slave_updates"), lsu != "1" {
            out.append(Finding(check: "log_slave_updates", severity: .error, detail: "the source is read-only (a replica?) and does not log replicated changes", fix: "log_slave_updates=ON in my.cnf (restart)"))
        }
        if mariadb {
            out.append(Finding(check: "gtid", severity: .ok, detail: "MariaDB GTIDs (gtid_binlog_pos \(variable("gtid_binlog_pos") ?? "?"))", fix: nil))
        } else if let mode = variable("gtid_mode") {
            out.append(Finding(check: "gtid_mode", severity: mode.uppercased() == "ON" ? .ok : .warning, detail: "\(mode) (resume by file and position works without GTIDs; GTIDs survive a failover)", fix: mode.uppercased() == "ON" ? nil : "SET GLOBAL gtid_mode=ON (after enforce_gtid_consistency=ON)"))
        }
        if let checksum = variable("binlog_checksum") {
            out.append(Finding(check: "binlog_checksum", severity: .ok, detail: checksum, fix: nil))
        }
        out.append(Self.compressionFinding(mariadb: mariadb, variable: variable))
        // Grants: the documented minimum.
        let grants = ((try? conn.query("SHOW GRANTS")) ?? []).compactMap { $0.first ?? nil }.joined(separator: "\n").uppercased()
        let all = grants.contains("ALL PRIVILEGES ON *.*")
        let replication = all || grants.contains("REPLICATION SLAVE") || grants.contains("REPLICATION REPLICA")
        let client = all || grants.contains("REPLICATION CLIENT") || grants.contains("BINLOG MONITOR") || grants.contains("SLAVE MONITOR")
        out.append(replication
            ? Finding(check: "grant.replication_slave", severity: .ok, detail: "granted", fix: nil)
            : Finding(check: "grant.replication_slave", severity: .error, detail: "\(config.user) cannot read the binlog", fix: "GRANT REPLICATION SLAVE ON *.* TO \(user)@'%';"))
        out.append(client
            ? Finding(check: "grant.replication_client", severity: .ok, detail: "granted", fix: nil)
            : Finding(check: "grant.replication_client", severity: .error, detail: "\(config.user) cannot read the source's position (SHOW MASTER STATUS)", fix: "GRANT REPLICATION CLIENT ON *.* TO \(user)@'%';"))
        for w in configuration.watches {
            let table = SQLQuoting.qualified(w.database, w.table)
            do {
                guard let schema = try Bootstrap.schema(conn, database: w.database, table: w.table) else {
                    out.append(Finding(check: "watch.\(w.name).table", severity: .error, detail: "\(w.qualifiedTable) does not exist or \(config.user) cannot see it", fix: "GRANT SELECT ON \(table) TO \(user)@'%';"))
                    continue
                }
                let missing = (w.keyColumns + [w.valueColumn]).filter { !schema.names.contains($0) }
                if !missing.isEmpty {
                    out.append(Finding(check: "watch.\(w.name).columns", severity: .error, detail: "\(w.qualifiedTable) has no column \(missing.joined(separator: ",")) (columns: \(schema.names.joined(separator: ",")))", fix: "fix key/value in the [[watch]] block"))
                }
                _ = try conn.query("SELECT 1 FROM \(table) LIMIT 1")
                out.append(Finding(check: "watch.\(w.name).select", severity: .ok, detail: "can read \(w.qualifiedTable)", fix: nil))
            } catch {
                out.append(Finding(check: "watch.\(w.name).select", severity: .error, detail: "\(error)", fix: "GRANT SELECT ON \(table) TO \(user)@'%';"))
            }
        }
        let rows = configuration.watches.reduce(0) { total, w in
            let estimate = (try? conn.query("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = \(SQLQuoting.literal(w.database)) AND TABLE_NAME = \(SQLQuoting.literal(w.table))").first?.first ?? nil).flatMap { Int($0) }
            return total + (estimate ?? 0)
        }
        out.append(Self.sweepFinding(estimatedKeys: rows, reconcile: configuration.reconcile))
        return out
    }

    /// How long a full sweep takes at the configured pace (`sweep_keys_per_second`), from the
    /// tables' row estimates (information_schema, approximate for InnoDB).
    static func sweepFinding(estimatedKeys keys: Int, reconcile r: ReconcileSettings) -> Finding {
        func short(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.1f", v) }
        let every = "every \(short(r.sweepIntervalSeconds)) s"
        guard let rate = r.sweepKeysPerSecond else {
            return Finding(
                check: "sweep.pace", severity: .ok,
                detail: "about \(keys) watched keys, swept \(every) as fast as Redis answers (unpaced)",
                fix: keys >= 1_000_000 ? "set [reconcile] sweep_keys_per_second to spread each sweep over time during a sale" : nil)
        }
        let seconds = Double(keys) / rate
        let detail = "about \(keys) watched keys at \(short(rate)) keys/s: a full sweep takes about \(short(seconds)) s, started \(every)"
        if seconds > r.sweepIntervalSeconds {
            return Finding(
                check: "sweep.pace", severity: .warning, detail: detail + " (longer than the interval: sweeps run back to back)",
                fix: "raise sweep_keys_per_second to at least \(Int((Double(keys) / r.sweepIntervalSeconds).rounded(.up))) or sweep_interval_seconds to \(Int(seconds.rounded(.up)))")
        }
        return Finding(check: "sweep.pace", severity: .ok, detail: detail, fix: nil)
    }

    /// Binlog compression, which the sidecar reads either way: MySQL 8.0.20+ compresses whole
    /// transactions into TRANSACTION_PAYLOAD events (`binlog_transaction_compression`); MariaDB
    /// compresses single query and row events (`log_bin_compress`). A server without the variable
    /// (older MySQL, MariaDB before 10.2.3) compresses nothing: reported as OFF, never an error.
    static func compressionFinding(mariadb: Bool, variable: (String) -> String?) -> Finding {
        func on(_ value: String?) -> Bool { value == "1" || value?.uppercased() == "ON" }
        if mariadb {
            return Finding(
                check: "log_bin_compress", severity: .ok,
                detail: on(variable("log_bin_compress")) ? "ON: compressed events (QUERY/ROWS_COMPRESSED) are decompressed and applied" : "OFF",
                fix: nil)
        }
        return Finding(
            check: "binlog_transaction_compression", severity: .ok,
            detail: on(variable("binlog_transaction_compression")) ? "ON: compressed transactions (TRANSACTION_PAYLOAD) are expanded and applied" : "OFF",
            fix: nil)
    }

    /// What protects the session: the TLS version and cipher, or plaintext (a warning unless it is
    /// a local Unix socket).
    static func transportFinding(_ conn: SQLConnection, mode: SourceConfiguration.SSLMode, unixSocket: Bool) -> Finding {
        let check = "source.tls"
        if conn.tlsCipher != nil {
            let verified = mode == .verifyCA || mode == .verifyIdentity
            return Finding(
                check: check, severity: .ok,
                detail: "\(conn.transport) (mode \(mode.rawValue), certificate \(verified ? "verified" : "not verified"))",
                fix: verified ? nil : "set [source.tls] mode = \"verify_identity\" with ca = \"/path/ca.pem\" to check the server's certificate")
        }
        if unixSocket {
            return Finding(check: check, severity: .ok, detail: "plaintext over a local Unix socket (mode \(mode.rawValue))", fix: nil)
        }
        return Finding(
            check: check, severity: .warning,
            detail: "plaintext (mode \(mode.rawValue)\(mode == .preferred ? ": the server offers no TLS" : "")): queries and binlog events cross the network unencrypted; only challenge-response authentication is allowed",
            fix: "give the server a certificate (ssl_cert, ssl_key) and set [source.tls] mode = \"verify_identity\" with ca = \"/path/ca.pem\"")
    }

    func checkRedis() -> [Finding] {
        if configuration.redis.mode == .cluster { return checkRedisCluster() }
        var out: [Finding] = []
        let conn: RedisConnection
        do { conn = try RedisConnection(configuration: try redisTarget(&out)) } catch {
            return out + [Finding(check: "redis.connect", severity: .error, detail: "\(error)", fix: "check [redis] host, port, username and password_env")]
        }
        out.append(Finding(check: "redis.connect", severity: .ok, detail: "\(conn.configuration.endpoint) db \(configuration.redis.database)", fix: nil))
        let events = (try? conn.configGet("notify-keyspace-events"))?["notify-keyspace-events"] ?? ""
        switch configuration.redis.notifications {
        case .keyspace:
            let ok = Self.keyspaceEventsSuffice(events)
            out.append(ok
                ? Finding(check: "redis.notify-keyspace-events", severity: .ok, detail: events, fix: nil)
                : Finding(check: "redis.notify-keyspace-events", severity: .warning, detail: "'\(events)': keyspace notifications are off, so Redis-side changes are only seen by sweeps", fix: "CONFIG SET notify-keyspace-events K$gxe  (or enable_keyspace_events = true, or notifications = \"tracking\")"))
        case .tracking:
            out.append(Finding(check: "redis.notifications", severity: .ok, detail: "client tracking (BCAST): needs no server configuration", fix: nil))
        case .off:
            out.append(Finding(check: "redis.notifications", severity: .warning, detail: "off: Redis-side changes are seen only by sweeps", fix: "notifications = \"tracking\""))
        }
        let policy = (try? conn.configGet("maxmemory-policy"))?["maxmemory-policy"] ?? "?"
        if policy.hasPrefix("allkeys") || policy.hasPrefix("volatile") {
            let normal = configuration.watches.allSatisfy(\.missingIsNormal)
            out.append(Finding(check: "redis.maxmemory-policy", severity: normal ? .ok : .warning, detail: "\(policy): Redis may evict watched keys; each eviction is reported as missing", fix: normal ? nil : "set missing_is_normal = true on cache-aside watches, or CONFIG SET maxmemory-policy noeviction"))
        } else {
            out.append(Finding(check: "redis.maxmemory-policy", severity: .ok, detail: policy, fix: nil))
        }
        return out
    }

    /// Whether a `notify-keyspace-events` value sends what keyspace notifications need: a
    /// keyspace or keyevent channel, and string and generic events (or all of them).
    static func keyspaceEventsSuffice(_ events: String) -> Bool {
        (events.contains("K") || events.contains("E")) && (events.contains("A") || (events.contains("$") && events.contains("g")))
    }
}
