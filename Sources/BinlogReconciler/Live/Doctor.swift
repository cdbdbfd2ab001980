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
            return [Finding(check: "source.connect", severity: .error, detail: "cannot connect to \(config.endpoint): \(error)", fix: "check host, port, user and password; the user needs: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '\(config.user)'@'%'")]
        }
        out.append(Finding(check: "source.connect", severity: .ok, detail: "\(conn.serverVersion) at \(config.endpoint)", fix: nil))
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
        // Grants: the documented minimum.
        let grants = ((try? conn.query("SHOW GRANTS")) ?? []).compactMap { $0.first ?? nil }.joined(separator: "\n").uppercased()
        let all = grants.contains("ALL PRIVILEGES ON *.*")
        let replication = all || grants.contains("REPLICATION SLAVE") || grants.contains("REPLICATION REPLICA")
        let client = all || grants.contains("REPLICATION CLIENT") || grants.contains("BINLOG MONITOR") || grants.contains("SLAVE MONITOR")
        out.append(replication
            ? Finding(check: "grant.replication_slave", severity: .ok, detail: "granted", fix: nil)
            : Finding(check: "grant.replication_slave", severity: .error, detail: "\(config.user) cannot read the binlog", fix: "GRANT REPLICATION SLAVE ON *.* TO '\(config.user)'@'%';"))
        out.append(client
            ? Finding(check: "grant.replication_client", severity: .ok, detail: "granted", fix: nil)
            : Finding(check: "grant.replication_client", severity: .error, detail: "\(config.user) cannot read the source's position (SHOW MASTER STATUS)", fix: "GRANT REPLICATION CLIENT ON *.* TO '\(config.user)'@'%';"))
        for w in configuration.watches {
            do {
                guard let schema = try Bootstrap.schema(conn, database: w.database, table: w.table) else {
                    out.append(Finding(check: "watch.\(w.name).table", severity: .error, detail: "\(w.qualifiedTable) does not exist or \(config.user) cannot see it", fix: "GRANT SELECT ON \(w.database).\(w.table) TO '\(config.user)'@'%';"))
                    continue
                }
                let missing = (w.keyColumns + [w.valueColumn]).filter { !schema.names.contains($0) }
                if !missing.isEmpty {
                    out.append(Finding(check: "watch.\(w.name).columns", severity: .error, detail: "\(w.qualifiedTable) has no column \(missing.joined(separator: ",")) (columns: \(schema.names.joined(separator: ",")))", fix: "fix key/value in the [[watch]] block"))
                }
                _ = try conn.query("SELECT 1 FROM `\(w.database)`.`\(w.table)` LIMIT 1")
                out.append(Finding(check: "watch.\(w.name).select", severity: .ok, detail: "can read \(w.qualifiedTable)", fix: nil))
            } catch {
                out.append(Finding(check: "watch.\(w.name).select", severity: .error, detail: "\(error)", fix: "GRANT SELECT ON \(w.database).\(w.table) TO '\(config.user)'@'%';"))
            }
        }
        return out
    }

    func checkRedis() -> [Finding] {
        var out: [Finding] = []
        let conn: RedisConnection
        do { conn = try RedisConnection(configuration: try configuration.redis.redisConfiguration()) } catch {
            return [Finding(check: "redis.connect", severity: .error, detail: "\(error)", fix: "check [redis] host, port, username and password_env")]
        }
        out.append(Finding(check: "redis.connect", severity: .ok, detail: "\(configuration.redis.host):\(configuration.redis.port) db \(configuration.redis.database)", fix: nil))
        let events = (try? conn.configGet("notify-keyspace-events"))?["notify-keyspace-events"] ?? ""
        switch configuration.redis.notifications {
        case .keyspace:
            let ok = (events.contains("K") || events.contains("E")) && (events.contains("A") || (events.contains("$") && events.contains("g")))
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
}
