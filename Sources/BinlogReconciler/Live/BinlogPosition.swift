import BinlogParser

/// A position in the source's binlog (file, offset): the replication client's coordinates.
public typealias BinlogPosition = BinlogCoordinates

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

    public mutating func commit(mysql gtid: GTIDEvent) {
        guard !gtid.isAnonymous else { return }
        let key = gtid.sourceID
        var ranges = mysql[key] ?? []
        let n = gtid.gno
        if let last = ranges.last, last.upperBound < Int64.max, last.upperBound + 1 == n {
            ranges[ranges.count - 1] = last.lowerBound...n
        } else if !ranges.contains(where: { $0.contains(n) }) {
            ranges.append(n...n)
            ranges.sort { $0.lowerBound < $1.lowerBound }
        }
        mysql[key] = ranges
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
