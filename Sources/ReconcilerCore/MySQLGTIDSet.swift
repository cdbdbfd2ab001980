import BinlogParser

/// An untagged MySQL GTID set (`uuid:1-5:7-9,uuid2:1-3`): what COM_BINLOG_DUMP_GTID sends, and
/// the arithmetic the failover check needs (subset, difference, adding a committed GTID).
///
/// Always normalized: source UUIDs in byte order, each with sorted, disjoint, non-adjacent
/// half-open intervals (`1-5` and `6-9` merge into `1-9`), so equal sets compare equal and encode
/// to the same bytes. MySQL 8.4 tagged GTIDs (`uuid:tag:1-5`) are not representable: parsing text
/// with a tag fails.
public struct MySQLGTIDSet: Sendable, Hashable, CustomStringConvertible {
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

    /// Normalized (see the type's documentation); no entry has an empty interval list.
    private var entries: [Entry]

    /// The empty set.
    public init() { entries = [] }

    /// Parses `@@gtid_executed` / `@@gtid_purged` text (whitespace and newlines allowed, a UUID may
    /// appear more than once); nil if malformed or tagged.
    public init?(_ text: String) {
        entries = []
        let compact = text.filter { !$0.isWhitespace }
        if compact.isEmpty { return }
        for part in compact.split(separator: ",") {
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 2, let uuid = Self.parseUUID(fields[0]) else { return nil }
            for f in fields.dropFirst() {
                let bounds = f.split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(bounds.count), let a = UInt64(bounds[0]), a > 0 else { return nil }
                let b = bounds.count == 2 ? UInt64(bounds[1]) : a
                guard let b, b >= a, b < UInt64.max else { return nil }
                add(uuid: uuid, Interval(start: a, end: b + 1))
            }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// MySQL's text form: lowercase UUIDs, `uuid:1-5:7,uuid2:1-3`; empty for the empty set.
    public var description: String {
        entries.map { e in
            Self.uuidText(e.uuid) + e.intervals.map { $0.end - $0.start == 1 ? ":\($0.start)" : ":\($0.start)-\($0.end - 1)" }.joined()
        }.joined(separator: ",")
    }

    /// Whether `uuid:gno` is in the set.
    public func contains(uuid: [UInt8], gno: UInt64) -> Bool {
        guard let e = entries.first(where: { $0.uuid == uuid }) else { return false }
        return e.intervals.contains { $0.start <= gno && gno < $0.end }
    }

    /// Adds one committed GTID `uuid:gno` (gno ≥ 1; 0 and `UInt64.max` are not GTIDs and are ignored).
    public mutating func insert(uuid: [UInt8], gno: UInt64) {
        guard uuid.count == 16, gno > 0, gno < UInt64.max else { return }
        add(uuid: uuid, Interval(start: gno, end: gno + 1))
    }

    /// Adds every GTID of `other`.
    public mutating func formUnion(_ other: MySQLGTIDSet) {
        for e in other.entries {
            for i in e.intervals { add(uuid: e.uuid, i) }
        }
    }

    /// Whether every GTID of this set is in `other`.
    public func isSubset(of other: MySQLGTIDSet) -> Bool {
        for e in entries {
            guard let o = other.entries.first(where: { $0.uuid == e.uuid }) else { return false }
            // Both lists are sorted and merged: each interval must lie inside one of `o`'s.
            var j = 0
            for i in e.intervals {
                while j < o.intervals.count && o.intervals[j].end <= i.start { j += 1 }
                guard j < o.intervals.count, o.intervals[j].start <= i.start, i.end <= o.intervals[j].end else { return false }
            }
        }
        return true
    }

    /// The GTIDs of this set that are not in `other`.
    public func subtracting(_ other: MySQLGTIDSet) -> MySQLGTIDSet {
        var out = MySQLGTIDSet()
        for e in entries {
            let cuts = other.entries.first(where: { $0.uuid == e.uuid })?.intervals ?? []
            var kept: [Interval] = []
            for i in e.intervals {
                var start = i.start
                for c in cuts where c.end > start && c.start < i.end {
                    if c.start > start { kept.append(Interval(start: start, end: c.start)) }
                    start = max(start, c.end)
                    if start >= i.end { break }
                }
                if start < i.end { kept.append(Interval(start: start, end: i.end)) }
            }
            if !kept.isEmpty { out.entries.append(Entry(uuid: e.uuid, intervals: kept)) }
        }
        return out
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

    /// Inserts `interval` into the entry of `uuid`, keeping entries sorted and intervals merged.
    private mutating func add(uuid: [UInt8], _ interval: Interval) {
        let k = entries.firstIndex { !$0.uuid.lexicographicallyPrecedes(uuid) } ?? entries.endIndex
        guard k < entries.count, entries[k].uuid == uuid else {
            entries.insert(Entry(uuid: uuid, intervals: [interval]), at: k)
            return
        }
        var list = entries[k].intervals
        // Fast path: a GTID right after the last interval (a primary's own sequence).
        if let last = list.last, last.end == interval.start {
            list[list.count - 1].end = max(last.end, interval.end)
            entries[k].intervals = list
            return
        }
        var merged = Interval(start: interval.start, end: interval.end)
        var result: [Interval] = []
        result.reserveCapacity(list.count + 1)
        var placed = false
        for i in list {
            if i.end < merged.start {
                result.append(i)
            } else if merged.end < i.start {
                if !placed { result.append(merged); placed = true }
                result.append(i)
            } else {
                merged = Interval(start: min(merged.start, i.start), end: max(merged.end, i.end))
            }
        }
        if !placed { result.append(merged) }
        list = result
        entries[k].intervals = list
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

    static func uuidText(_ b: [UInt8]) -> String {
        let hex = b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let c = Array(hex)
        guard c.count == 32 else { return hex }
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    public static func == (a: MySQLGTIDSet, b: MySQLGTIDSet) -> Bool { a.entries == b.entries }
    public func hash(into h: inout Hasher) { h.combine(entries) }
}
