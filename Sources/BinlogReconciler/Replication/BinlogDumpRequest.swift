/// The body of the replication request packets (after the command byte), as the server reads them.
///
/// ``ReplicationStream`` does not send these bytes itself: libmariadb's `mariadb_rpl_open` builds
/// and sends COM_BINLOG_DUMP. This type documents the two requests, is what a GTID dump to MySQL
/// would need, and is unit-tested against the layouts below.
///
/// ## COM_BINLOG_DUMP (0x12) — MariaDB and MySQL
/// ```
/// command      u8     0x12
/// position     u32    binlog offset to start at (4 = first event); u32 only, files < 4 GiB
/// flags        u16    1 = BINLOG_DUMP_NON_BLOCK (EOF at the end instead of waiting),
///                     2 = BINLOG_SEND_ANNOTATE_ROWS_EVENT (MariaDB)
/// server_id    u32    the replica's id; must be unique among the source's replicas
/// file name    rest   not NUL-terminated; MariaDB GTID start: empty name, position 4, and the
///                     GTID state in the session variable @slave_connect_state
/// ```
/// (MariaDB KB "COM_BINLOG_DUMP"; MySQL source `sql/rpl_source.cc`, `com_binlog_dump`.)
///
/// ## COM_BINLOG_DUMP_GTID (0x1e) — MySQL 5.6+ only
/// ```
/// command         u8     0x1e
/// flags           u16    1 = NON_BLOCK, 4 = BINLOG_THROUGH_GTID (the data below is used)
/// server_id       u32
/// name length     u32    usually 0 (the source finds the file from the GTID set)
/// file name       [len]
/// position        u64    4 with an empty name
/// data size       u32    length of the encoded GTID set (only with BINLOG_THROUGH_GTID)
/// GTID set        [size] the replica's executed set, encoded as in PREVIOUS_GTIDS_LOG_EVENT:
///                        n_sids u64, then per source UUID: uuid [16], n_intervals u64,
///                        intervals (start u64, end u64 exclusive)
/// ```
/// (MySQL source `sql/rpl_source.cc`, `com_binlog_dump_gtid`; the set encoding is
/// `Gtid_set::encode`. MySQL 8.4 tagged GTIDs use a different, versioned encoding — not covered.)
///
/// ## Why MySQL stays on file + position here
/// libmariadb 3.3's public API has no GTID dump: `mariadb_rpl_open` only ever sends 0x12 with
/// file/position, and `ma_simple_command` is not exported. The only route would be the
/// `mysql->methods->db_command` function-pointer table that `mysql.h` exposes for connection
/// plugins (`db_command(mysql, 0x1e, body, length, 1, NULL)`, then `mariadb_rpl_fetch` to read the
/// packets). That is not a documented API, and no MySQL server runs here to test it, so it is not
/// wired: against MySQL, ``ReplicationStream`` starts from ``ReplicationStartPoint/filePosition(file:position:)``.
public enum BinlogDumpRequest: Sendable, Hashable {
    /// COM_BINLOG_DUMP.
    case binlogDump(file: String, position: UInt32, flags: UInt16, serverID: UInt32)
    /// COM_BINLOG_DUMP_GTID (MySQL), with an already encoded GTID set (see ``MySQLGTIDSet/encoded``).
    case binlogDumpGTID(file: String, position: UInt64, flags: UInt16, serverID: UInt32, gtidSet: [UInt8])

    public static let nonBlock: UInt16 = 1
    public static let sendAnnotateRows: UInt16 = 2
    public static let throughGTID: UInt16 = 4

    /// The command byte.
    public var command: UInt8 {
        switch self {
        case .binlogDump: return 0x12
        case .binlogDumpGTID: return 0x1e
        }
    }

    /// The packet payload after the command byte.
    public var body: [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .binlogDump(let file, let position, let flags, let serverID):
            append(position, to: &out)
            append(flags, to: &out)
            append(serverID, to: &out)
            out.append(contentsOf: file.utf8)
        case .binlogDumpGTID(let file, let position, let flags, let serverID, let gtidSet):
            append(flags, to: &out)
            append(serverID, to: &out)
            append(UInt32(truncatingIfNeeded: file.utf8.count), to: &out)
            out.append(contentsOf: file.utf8)
            append(position, to: &out)
            if flags & Self.throughGTID != 0 {
                append(UInt32(truncatingIfNeeded: gtidSet.count), to: &out)
                out.append(contentsOf: gtidSet)
            }
        }
        return out
    }

    private func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
}

/// An untagged MySQL GTID set (`uuid:1-5:7-9,uuid2:1-3`), for COM_BINLOG_DUMP_GTID.
public struct MySQLGTIDSet: Sendable, Hashable {
    /// Source UUID (16 bytes) → half-open intervals `[start, end)`, as encoded on the wire.
    public var sources: [(uuid: [UInt8], intervals: [(start: UInt64, end: UInt64)])] {
        entries.map { ($0.uuid, $0.intervals.map { ($0.start, $0.end) }) }
    }

    private struct Interval: Hashable {
        var start: UInt64
        var end: UInt64
    }

    private struct Entry: Hashable {
        var uuid: [UInt8]
        var intervals: [Interval]
    }

    private var entries: [Entry]

    /// Parses `@@gtid_executed` text (whitespace and newlines allowed); nil if malformed or tagged.
    public init?(_ text: String) {
        entries = []
        let compact = text.filter { !$0.isWhitespace }
        if compact.isEmpty { return }
        for part in compact.split(separator: ",") {
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 2, let uuid = Self.parseUUID(fields[0]) else { return nil }
            var intervals: [Interval] = []
            for f in fields.dropFirst() {
                let bounds = f.split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(bounds.count), let a = UInt64(bounds[0]), a > 0 else { return nil }
                let b = bounds.count == 2 ? UInt64(bounds[1]) : a
                guard let b, b >= a, b < UInt64.max else { return nil }
                intervals.append(Interval(start: a, end: b + 1))
            }
            entries.append(Entry(uuid: uuid, intervals: intervals))
        }
    }

    /// `Gtid_set::encode`: n_sids u64, then per UUID: uuid [16], n_intervals u64, (start u64, end u64)*.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        u64(UInt64(entries.count))
        for e in entries {
            out.append(contentsOf: e.uuid)
            u64(UInt64(e.intervals.count))
            for i in e.intervals {
                u64(i.start)
                u64(i.end)
            }
        }
        return out
    }

    private static func parseUUID(_ s: Substring) -> [UInt8]? {
        let hex = s.filter { $0 != "-" }
        guard hex.count == 32 else { return nil }
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            out.append(b)
            i = j
        }
        return out
    }

    public static func == (a: MySQLGTIDSet, b: MySQLGTIDSet) -> Bool { a.entries == b.entries }
    public func hash(into h: inout Hasher) { h.combine(entries) }
}
