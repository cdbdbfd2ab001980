import BinlogParser

/// The GTID state at a transaction boundary: MariaDB's last GTID per domain
/// (`gtid_binlog_pos` form) or MySQL's executed set.
public struct GTIDState: Sendable, Hashable, CustomStringConvertible {
    public var mariadb: [UInt32: MariaDBGTID] = [:]
    /// MySQL: `uuid[:tag]` → sorted, merged half-open intervals.
    public var mysql: [String: [ClosedRange<Int64>]] = [:]

    public init() {}

    /// `0-1-42,1-1-7` (MariaDB) or `uuid:1-42,uuid2:1-7` (MySQL).
    public var description: String {
        if !mariadb.isEmpty {
            return mariadb.keys.sorted().compactMap { mariadb[$0]?.description }.joined(separator: ",")
        }
        return mysql.keys.sorted().map { k in
            k + ":" + (mysql[k] ?? []).map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ":")
        }.joined(separator: ",")
    }

    public var isEmpty: Bool { mariadb.isEmpty && mysql.isEmpty }

    /// Parses a MariaDB `gtid_binlog_pos` list.
    public init(mariadbList text: String) {
        for part in text.split(separator: ",") {
            if let g = MariaDBGTID(part.trimmingSpaces) { mariadb[g.domainID] = g }
        }
    }

    public mutating func commit(mariadb g: MariaDBGTID) { mariadb[g.domainID] = g }

    /// Parses a MySQL executed GTID set (`uuid:1-5:7,uuid2:1-3`; MySQL 8.4 tags as
    /// `uuid:tag:1-3` or `uuid:1-5:tag:1-3`), as ``description`` writes it and `@@gtid_executed`
    /// shows it; nil if malformed. The empty string is the empty state.
    public init?(mysqlSet text: String) {
        let compact = text.filter { !$0.isWhitespace }
        for part in compact.split(separator: ",") {
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 2, fields[0].count == 36,
                fields[0].allSatisfy({ $0 == "-" || $0.isHexDigit }) else { return nil }
            let uuid = fields[0].lowercased()
            var key = uuid
            for f in fields.dropFirst() {
                let bounds = f.split(separator: "-", omittingEmptySubsequences: false)
                if let a = Int64(bounds[0]) {
                    guard bounds.count <= 2, a > 0 else { return nil }
                    let b = bounds.count == 2 ? Int64(bounds[1]) : a
                    guard let b, b >= a else { return nil }
                    Self.insert(a...b, into: &mysql[key, default: []])
                } else {
                    // A tag: letters, digits, underscores, starting with a letter or underscore.
                    guard !f.isEmpty, f.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }) else { return nil }
                    key = uuid + ":" + f.lowercased()
                }
            }
        }
    }

    /// The MySQL part as a ``MySQLGTIDSet`` (what COM_BINLOG_DUMP_GTID sends); nil when it holds
    /// MariaDB GTIDs or MySQL 8.4 tagged GTIDs, which that encoding cannot carry.
    public var mysqlSet: MySQLGTIDSet? {
        guard mariadb.isEmpty, !mysql.keys.contains(where: { $0.contains(":") }) else { return nil }
        return MySQLGTIDSet(description)
    }

    /// Adds a committed MySQL GTID to the executed set (anonymous ones have none).
    public mutating func commit(mysql gtid: GTIDEvent) {
        guard !gtid.isAnonymous, gtid.gno > 0 else { return }
        let n = gtid.gno
        let key = gtid.sourceID
        // Fast path: the next GTID of a source (a primary's own sequence).
        if var ranges = mysql[key], let last = ranges.last, last.upperBound < Int64.max, last.upperBound + 1 == n {
            ranges[ranges.count - 1] = last.lowerBound...n
            mysql[key] = ranges
            return
        }
        Self.insert(n...n, into: &mysql[key, default: []])
    }

    /// Inserts `r` into sorted, disjoint, non-adjacent ranges, merging what it overlaps or touches.
    static func insert(_ r: ClosedRange<Int64>, into ranges: inout [ClosedRange<Int64>]) {
        var lower = r.lowerBound, upper = r.upperBound
        var out: [ClosedRange<Int64>] = []
        out.reserveCapacity(ranges.count + 1)
        var placed = false
        for x in ranges {
            if x.upperBound < Int64.max && x.upperBound + 1 < lower {
                out.append(x)
            } else if upper < Int64.max && upper + 1 < x.lowerBound {
                if !placed { out.append(lower...upper); placed = true }
                out.append(x)
            } else {
                lower = min(lower, x.lowerBound)
                upper = max(upper, x.upperBound)
            }
        }
        if !placed { out.append(lower...upper) }
        ranges = out
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
