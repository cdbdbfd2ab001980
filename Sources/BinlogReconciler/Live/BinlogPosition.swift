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
        let key = (gtid.tag.isEmpty ? "" : "") + uuidText(gtid.sid) + (gtid.tag.isEmpty ? "" : ":" + gtid.tag)
        var ranges = mysql[key] ?? []
        let n = gtid.gno
        if let last = ranges.last, last.upperBound + 1 == n {
            ranges[ranges.count - 1] = last.lowerBound...n
        } else if !ranges.contains(where: { $0.contains(n) }) {
            ranges.append(n...n)
            ranges.sort { $0.lowerBound < $1.lowerBound }
        }
        mysql[key] = ranges
    }

    private func uuidText(_ b: [UInt8]) -> String {
        let hex = b.map { let s = String($0, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
        let c = Array(hex)
        guard c.count == 32 else { return hex }
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
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
