import BinlogParser
import Foundation
import Logging

/// Reads the watched tables in one consistent snapshot together with the binlog coordinates of
/// that snapshot, so that tailing from those coordinates continues exactly where the read ended.
///
/// MariaDB: `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the `binlog_snapshot_file` /
/// `binlog_snapshot_position` status variables — no global lock. MySQL: `FLUSH TABLES WITH READ
/// LOCK`, `START TRANSACTION WITH CONSISTENT SNAPSHOT`, `SHOW MASTER STATUS`, `UNLOCK TABLES`: the
/// global read lock is held for the time of those three statements (it waits for running
/// statements to finish first, which is its real cost on a busy server). Each table is read by one
/// `SELECT` inside that one snapshot, streamed row by row into the shadow map (`mysql_use_result`):
/// the rows are never buffered, so the bootstrap needs the memory of the map and no more.
public struct Bootstrap {
    /// Column facts from information_schema, in table order.
    public struct TableSchema: Sendable, Hashable {
        public var names: [String]
        public var dataTypes: [String]
        public var primaryKey: [String]

        public func isInteger(_ column: String) -> Bool {
            guard let i = names.firstIndex(of: column) else { return false }
            return ["tinyint", "smallint", "mediumint", "int", "bigint", "year"].contains(dataTypes[i].lowercased())
        }
    }

    public static func schema(_ conn: SQLConnection, database: String, table: String) throws -> TableSchema? {
        let rows = try conn.query("""
            SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM information_schema.COLUMNS
            WHERE TABLE_SCHEMA = \(try conn.quoted(database)) AND TABLE_NAME = \(try conn.quoted(table))
            ORDER BY ORDINAL_POSITION
            """)
        guard !rows.isEmpty else { return nil }
        return TableSchema(
            names: rows.map { $0[0] ?? "" }, dataTypes: rows.map { $0[1] ?? "" },
            primaryKey: rows.filter { $0[2] == "PRI" }.map { $0[0] ?? "" })
    }

    /// Column `index` of a row read with SQL, in the same canonical form the binlog produces.
    static func shadowValue(_ row: SQLRowView, at index: Int, integer: Bool) -> ShadowValue {
        if integer, let i = row.int64(index) { return .int(i) }
        guard let text = row.string(index) else { return .null }
        return .text(text)
    }

    /// The key of a row read with SQL: its first `integer.count` columns.
    static func shadowKey(_ row: SQLRowView, integer: [Bool]) -> ShadowKey {
        if integer.count == 1 {
            if integer[0], let i = row.int64(0) { return .int(i) }
            return .text(row.string(0) ?? "")
        }
        return .composite(integer.indices.map { row.string($0) ?? "" })
    }

    /// How long the bootstrap waits for prepared XA transactions to end before it gives up.
    public static let xaWaitSeconds = 30.0

    /// Snapshots every watch; returns the state and the coordinates it holds at.
    public static func run(_ conn: SQLConnection, watches: [WatchConfiguration], logger: Logger) throws -> ShadowState {
        _ = try conn.execute("SET SESSION time_zone = '+00:00'")
        _ = try conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        var coordinates = BinlogCoordinates(file: "", position: 4)
        var mysqlExecuted: String?
        // An XA transaction prepared before the snapshot and committed after it would be missed:
        // its rows are not in the snapshot and its prepare is before the coordinates. So the
        // snapshot is taken only when `XA RECOVER` lists none; waiting at most `xaWaitSeconds`.
        let waitStarted = monotonicSeconds()
        var xaRecoverWarned = false
        while true {
            if conn.flavor == .mariadb {
                _ = try conn.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                let status = try conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'")
                var file: String?, pos: UInt64?
                for row in status {
                    if row[0] == "Binlog_snapshot_file" { file = row[1] ?? nil }
                    if row[0] == "Binlog_snapshot_position", let text = row[1] ?? nil { pos = UInt64(text) }
                }
                guard let file, let pos, !file.isEmpty else {
                    throw ApplyError("the source reports no binlog snapshot position: is log_bin on?")
                }
                coordinates = BinlogCoordinates(file: file, position: pos)
            } else {
                _ = try conn.execute("FLUSH TABLES WITH READ LOCK")
                do {
                    _ = try conn.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    let statement = conn.flavor.binlogStatusStatement(version: conn.serverVersion)
                    let status = try conn.query(statement)
                    guard let row = status.first, let file = row[0] ?? nil, let p = row[1] ?? nil, let pos = UInt64(p) else {
                        throw ApplyError("\(statement) returned nothing: is log_bin on?")
                    }
                    coordinates = BinlogCoordinates(file: file, position: pos)
                    // Executed_Gtid_Set (5th column, MySQL 5.6+): the GTID state at these coordinates,
                    // for resuming by GTID set (COM_BINLOG_DUMP_GTID) after a restart or a failover.
                    if row.count > 4 { mysqlExecuted = row[4] ?? nil }
                    _ = try conn.execute("UNLOCK TABLES")
                } catch {
                    _ = try? conn.execute("UNLOCK TABLES")
                    throw error
                }
            }
            let prepared: [String]
            do {
                prepared = try conn.query("XA RECOVER").map { row in row.count >= 4 ? (row[3] ?? "?") : "?" }
            } catch {
                if !xaRecoverWarned {
                    logger.warning("XA RECOVER failed: XA transactions prepared before the snapshot cannot be detected now; an XA COMMIT of one later stops the tail with a message (grant XA_RECOVER_ADMIN on MySQL 8)", metadata: ["error": "\(error)"])
                    xaRecoverWarned = true
                }
                break
            }
            if prepared.isEmpty { break }
            _ = try conn.execute("COMMIT")
            let waited = monotonicSeconds() - waitStarted
            if waited >= xaWaitSeconds {
                throw ApplyError("\(prepared.count) XA transaction(s) are prepared on the source and did not end within \(Int(xaWaitSeconds)) s (\(prepared.prefix(5).joined(separator: ", "))): a snapshot now would miss their changes. Commit or roll them back (XA COMMIT / XA ROLLBACK; XA RECOVER lists them), then start again")
            }
            if waited < 0.3 {
                logger.notice("waiting for prepared XA transactions to end before the snapshot", metadata: ["prepared": "\(prepared.count)", "max_wait_seconds": "\(Int(xaWaitSeconds))"])
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        var state = ShadowState(watchCount: watches.count, position: coordinates)
        for (i, w) in watches.enumerated() {
            guard let schema = try schema(conn, database: w.database, table: w.table) else {
                throw ApplyError("watch \(w.name): table \(w.qualifiedTable) does not exist (or the user cannot see it)")
            }
            for c in w.keyColumns + [w.valueColumn] where !schema.names.contains(c) {
                throw ApplyError("watch \(w.name): column \(c) is not in \(w.qualifiedTable) (columns: \(schema.names.joined(separator: ",")))")
            }
            let keyInt = w.keyColumns.map { schema.isInteger($0) }
            let valueInt = schema.isInteger(w.valueColumn)
            let select = (w.keyColumns + [w.valueColumn]).map(SQLQuoting.identifier).joined(separator: ", ")
            let started = monotonicSeconds()
            let total = try conn.forEachRow("SELECT \(select) FROM \(SQLQuoting.qualified(w.database, w.table))") { row in
                state.maps[i][shadowKey(row, integer: keyInt)] = shadowValue(row, at: keyInt.count, integer: valueInt)
            }
            state.schemas[i] = ResolvedSchema(columnNames: schema.names, keyIndexes: w.keyColumns.compactMap { schema.names.firstIndex(of: $0) }, valueIndex: schema.names.firstIndex(of: w.valueColumn) ?? 0, since: coordinates)
            logger.info("bootstrapped watch", metadata: ["watch": "\(w.name)", "table": "\(w.qualifiedTable)", "keys": "\(total)", "seconds": "\(Int((monotonicSeconds() - started) * 1000)) ms"])
        }
        _ = try conn.execute("COMMIT")
        if conn.flavor == .mariadb {
            // The GTID state at the snapshot, for resuming by GTID after a failover.
            if let pos = try conn.query("SELECT BINLOG_GTID_POS(\(try conn.quoted(coordinates.file)), \(coordinates.position))").first?.first ?? nil {
                state.gtid = GTIDState(mariadbList: pos)
            }
        } else if let text = mysqlExecuted {
            guard let executed = GTIDState(mysqlSet: text) else {
                throw ApplyError("cannot parse the source's Executed_Gtid_Set '\(text)'")
            }
            state.gtid = executed
        }
        return state
    }
}
