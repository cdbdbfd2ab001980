import BinlogParser

/// The key of a watched row: one column value, or several for a composite key.
public enum RowKey: Hashable, Sendable, Comparable {
    case single(ColumnValue)
    case composite([ColumnValue])

    public static func < (a: RowKey, b: RowKey) -> Bool {
        switch (a, b) {
        case (.single(let x), .single(let y)): return ColumnValueOrder.less(x, y)
        case (.composite(let x), .composite(let y)):
            for (p, q) in zip(x, y) where p != q { return ColumnValueOrder.less(p, q) }
            return x.count < y.count
        case (.single, .composite): return true
        case (.composite, .single): return false
        }
    }

    public func writeJSON(into w: inout JSONWriter) {
        switch self {
        case .single(let v): EventJSON.writeValue(v, into: &w)
        case .composite(let vs):
            w.beginArray()
            for v in vs { EventJSON.writeValue(v, into: &w) }
            w.endArray()
        }
    }
}

/// Numeric keys sort numerically, everything else by its text.
enum ColumnValueOrder {
    static func number(_ v: ColumnValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        case .decimal(let s): return Double(s)
        case .float(let f): return Double(f)
        case .double(let d): return d
        case .year(let y): return Double(y)
        case .bit(let b): return Double(b)
        default: return nil
        }
    }

    static func less(_ a: ColumnValue, _ b: ColumnValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.uint(let x), .uint(let y)): return x < y
        case (.int(let x), .uint(let y)): return x < 0 || UInt64(x) < y
        case (.uint(let x), .int(let y)): return y >= 0 && x < UInt64(y)
        default: break
        }
        if let x = number(a), let y = number(b) { return x < y }
        if number(a) != nil { return true }
        if number(b) != nil { return false }
        return text(a) < text(b)
    }

    static func text(_ v: ColumnValue) -> String {
        var w = JSONWriter(capacity: 64)
        EventJSON.writeValue(v, into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// Where to stop replaying.
public enum StopPoint: Sendable, Equatable {
    /// After the last transaction that ends at or before this position of this file.
    case position(file: String, pos: UInt64)
    /// After the transaction with this GTID.
    case gtid(String)
    /// After the last transaction that started at or before this Unix time.
    case time(UInt32)
}

/// Replays binlog files and keeps the final value of every key of one table (`analyze`).
///
/// Changes are buffered per transaction and applied at its commit (XID, COMMIT, or the end of a
/// standalone statement), so rolled-back and unfinished work is never applied.
public struct BinlogAnalyzer {
    public struct Options: Sendable {
        public var table: String
        public var keyColumns: [String]
        public var valueColumn: String
        /// Column names to use when the binlog has none (`--columns`).
        public var columnNames: [String]?
        public var stop: StopPoint?
        /// With a timeline key, every committed change of that key is reported.
        public var timelineKey: String?
        public var verifyChecksums = true

        public init(table: String, keyColumns: [String], valueColumn: String) {
            self.table = table
            self.keyColumns = keyColumns
            self.valueColumn = valueColumn
        }
    }

    public struct Entry: Sendable {
        public var value: ColumnValue
        public var fileIndex: Int
        public var pos: UInt64
    }

    /// One committed change of the timeline key.
    public struct TimelineChange: Sendable {
        public var file: String
        public var pos: UInt64
        public var gtid: String?
        public var timestamp: UInt32
        public var before: ColumnValue?
        public var after: ColumnValue?
    }

    public struct Summary: Sendable {
        public var events = 0
        public var transactions = 0
        /// Rows of the analysed table (rows of other tables are not decoded).
        public var rows = 0
        public var keysChanged = 0
        public var firstTimestamp: UInt32?
        public var lastTimestamp: UInt32?
        public var bytes: UInt64 = 0
        public var openTransactionAtEnd = false
        public var stoppedEarly = false
    }

    public let options: Options
    public private(set) var files: [String] = []
    private var state = KeyedStore()
    /// Keys that exist at the end.
    public var keyCount: Int { state.count }
    public private(set) var summary = Summary()
    public private(set) var timeline: [TimelineChange] = []

    // Transaction in progress.
    private enum Change { case set(RowKey, ColumnValue), delete(RowKey) }
    private var pending: [Change] = []
    private var inTransaction = false
    private var currentGTID: String?
    private var transactionTimestamp: UInt32 = 0
    /// Keys deleted and not set again (with `state.count`, the number of keys changed).
    private var deletedKeys = Set<RowKey>()
    private var timelineFilter: String?
    private var stopped = false
    // Column resolution per table map.
    private var resolvedFor: TableMapEvent?
    private var keyIndexes: [Int] = []
    private var valueIndex = 0
    private var selection: [Int] = []
    private let db: Substring
    private let tbl: Substring

    public init(options: Options) {
        self.options = options
        let parts = options.table.split(separator: ".", maxSplits: 1)
        db = parts.count == 2 ? parts[0] : ""
        tbl = parts.count == 2 ? parts[1] : parts.first ?? ""
        timelineFilter = options.timelineKey
    }

    public var isStopped: Bool { stopped }

    /// Replays one file (call in order). `progress` is called now and then with bytes read.
    public mutating func replay(path: String, progress: ((UInt64, UInt64) -> Void)? = nil) throws(BinlogDecodingError) {
        guard !stopped else { return }
        let fileIndex = files.count
        files.append(path)
        let events = try BinlogFileEvents(path: path, verifyChecksums: options.verifyChecksums)
        events.skipTypes([.annotateRows, .rowsQuery, .binlogCheckpoint, .previousGTIDs, .mariadbGTIDList, .heartbeat, .heartbeatV2, .intvar, .rand, .userVar])
        // A transaction never spans files; whatever is open at a file boundary stays open.
        var n = 0
        while let located = try events.next() {
            n += 1
            if n & 0x3fff == 0, let progress { progress(events.reader.bytesRead, events.reader.fileSize) }
            try apply(located, fileIndex: fileIndex, file: path)
            if stopped { summary.stoppedEarly = true; break }
        }
        summary.bytes += events.reader.bytesRead
        summary.events += events.skippedCount
    }

    /// Call after the last file.
    public mutating func finish() {
        summary.openTransactionAtEnd = inTransaction && !stopped
        summary.keysChanged = state.count + deletedKeys.count
    }

    private mutating func apply(_ located: LocatedEvent, fileIndex: Int, file: String) throws(BinlogDecodingError) {
        let event = located.event
        summary.events += 1
        let ts = event.header.timestamp
        if ts != 0 {
            summary.firstTimestamp = min(summary.firstTimestamp ?? ts, ts)
            summary.lastTimestamp = max(summary.lastTimestamp ?? ts, ts)
        }
        let endPos = located.inPayload == nil ? event.nextOffset : located.resumeOffset
        switch event.body {
        case .mariadbGTID(let g):
            if try checkStopBefore(ts) { return }
            begin(gtid: g.gtid, timestamp: ts)
            if g.isStandalone { standalonePending = true }
        case .gtid(let g):
            if try checkStopBefore(ts) { return }
            currentGTID = g.gtid
            transactionTimestamp = ts
        case .query(let q):
            let sql = q.query
            if sql.count <= 9 {
                let upper = sql.uppercased()
                if upper == "BEGIN" || upper == "XA START" {
                    if !inTransaction { if try checkStopBefore(ts) { return }; begin(gtid: currentGTID, timestamp: ts) }
                    return
                }
                if upper == "COMMIT" {
                    commit(fileIndex: fileIndex, file: file, pos: endPos)
                    return
                }
                if upper == "ROLLBACK" {
                    rollback()
                    return
                }
            }
            // DDL or a statement-based change: a transaction of its own unless inside BEGIN.
            if !inTransaction || standalonePending {
                if !inTransaction, try checkStopBefore(ts) { return }
                if !inTransaction { begin(gtid: currentGTID, timestamp: ts) }
                commit(fileIndex: fileIndex, file: file, pos: endPos)
            }
        case .xid:
            commit(fileIndex: fileIndex, file: file, pos: endPos)
        case .tableMap:
            break
        case .rows(let r):
            try applyRows(r, fileIndex: fileIndex, file: file, endPos: endPos)
        case .rotate, .stop, .formatDescription:
            break
        default:
            break
        }
    }

    private var standalonePending = false

    private mutating func begin(gtid: String?, timestamp: UInt32) {
        inTransaction = true
        pending.removeAll(keepingCapacity: true)
        currentGTID = gtid
        transactionTimestamp = timestamp
        standalonePending = false
    }

    private mutating func rollback() {
        pending.removeAll(keepingCapacity: true)
        inTransaction = false
        currentGTID = nil
        standalonePending = false
    }

    /// Stops before a transaction that starts after `--until-time`.
    private mutating func checkStopBefore(_ ts: UInt32) throws(BinlogDecodingError) -> Bool {
        if case .time(let limit) = options.stop, ts > limit {
            stopped = true
            return true
        }
        return false
    }

    private mutating func commit(fileIndex: Int, file: String, pos: UInt64) {
        summary.transactions += 1
        for change in pending {
            switch change {
            case .set(let key, let value):
                let old = timelineFilter == nil ? nil : state[key]?.value
                state[key] = Entry(value: value, fileIndex: fileIndex, pos: pos)
                if !deletedKeys.isEmpty { deletedKeys.remove(key) }
                if timelineFilter != nil { recordTimeline(key, old, value, file: file, pos: pos) }
            case .delete(let key):
                let old = state.removeValue(forKey: key)?.value
                deletedKeys.insert(key)
                recordTimeline(key, old, nil, file: file, pos: pos)
            }
        }
        pending.removeAll(keepingCapacity: true)
        let gtid = currentGTID
        inTransaction = false
        currentGTID = nil
        standalonePending = false
        switch options.stop {
        case .position(let f, let p):
            if baseName(file) == baseName(f) && pos >= p { stopped = true }
        case .gtid(let g):
            if gtid == g { stopped = true }
        default:
            break
        }
    }

    private mutating func recordTimeline(_ key: RowKey, _ old: ColumnValue?, _ new: ColumnValue?, file: String, pos: UInt64) {
        guard let filter = timelineFilter, keyText(key) == filter else { return }
        timeline.append(TimelineChange(file: file, pos: pos, gtid: currentGTID, timestamp: transactionTimestamp, before: old, after: new))
    }

    /// The text a user types for a key: `7`, `abc`, or `7,2` for a composite key.
    public func keyText(_ key: RowKey) -> String {
        switch key {
        case .single(let v): return plainText(v)
        case .composite(let vs): return vs.map(plainText).joined(separator: ",")
        }
    }

    private func plainText(_ v: ColumnValue) -> String {
        if case .string(let s) = v { return s }
        let t = ColumnValueOrder.text(v)
        if t.hasPrefix("\"") && t.hasSuffix("\"") { return String(t.dropFirst().dropLast()) }
        return t
    }

    private mutating func resolve(_ table: TableMapEvent) throws(BinlogDecodingError) {
        if let r = resolvedFor, r === table || r == table { resolvedFor = table; return }
        func index(_ name: String) -> Int? {
            if let i = table.columns.firstIndex(where: { $0.name == name }) { return i }
            if let names = options.columnNames, let i = names.firstIndex(of: name) { return i }
            if name.hasPrefix("@"), let n = Int(name.dropFirst()), n >= 1, n <= table.columns.count { return n - 1 }
            return nil
        }
        var keys: [Int] = []
        for k in options.keyColumns {
            guard let i = index(k) else { throw unresolved(k, table) }
            keys.append(i)
        }
        guard let v = index(options.valueColumn) else { throw unresolved(options.valueColumn, table) }
        guard keys.allSatisfy({ $0 < table.columns.count }), v < table.columns.count else {
            throw BinlogDecodingError(.invalidValue("--columns names more columns than \(table.qualifiedName) has (\(table.columns.count))"), field: "analyze", byteOffset: 0)
        }
        keyIndexes = keys
        valueIndex = v
        selection = keys + [v]
        resolvedFor = table
    }

    private func unresolved(_ name: String, _ table: TableMapEvent) -> BinlogDecodingError {
        let hint = table.hasColumnNames
            ? "columns are: " + table.columns.compactMap(\.name).joined(separator: ",")
            : "the binlog has no column names (binlog_row_metadata is not FULL): pass --columns in table order, or use @N"
        return BinlogDecodingError(.invalidValue("column \(name) not found in \(table.qualifiedName); \(hint)"), field: "analyze", byteOffset: 0)
    }

    private mutating func applyRows(_ r: RowsEvent, fileIndex: Int, file: String, endPos: UInt64) throws(BinlogDecodingError) {
        guard r.table.table == tbl && (db.isEmpty || r.table.database == db) else {
            return
        }
        try resolve(r.table)
        // Rows outside BEGIN…COMMIT (rare: some non-transactional writers) commit at statement end.
        let implicit = !inTransaction
        if implicit { begin(gtid: currentGTID, timestamp: transactionTimestamp) }
        try r.forEachRow(selecting: selection) { (before, after) throws(BinlogDecodingError) in
            summary.rows += 1
            applyRow(kind: r.kind, before: before, after: after)
        }
        if implicit && r.isStatementEnd { commit(fileIndex: fileIndex, file: file, pos: endPos) }
    }

    private mutating func applyRow(kind: RowsEvent.Kind, before: RowImage?, after: RowImage?) {
        let row = (before: before, after: after)
        do {  // scope
            let beforeKey = row.before.flatMap { key(from: $0) }
            switch kind {
            case .write:
                if let a = row.after, let k = key(from: a) { pending.append(.set(k, value(a))) }
            case .delete:
                if let k = beforeKey { pending.append(.delete(k)) }
            case .update:
                guard let a = row.after else { return }
                let afterKey = key(from: a) ?? beforeKey
                guard let newKey = afterKey else { return }
                var newValue: ColumnValue
                if a.absent.contains(valueIndex) {
                    // MINIMAL image: the value did not change; carry it from the old key.
                    newValue = currentValue(beforeKey ?? newKey) ?? .null
                } else {
                    newValue = a.values[valueIndex]
                }
                if let b = beforeKey, b != newKey { pending.append(.delete(b)) }
                if case .jsonDiff = newValue { newValue = currentValue(newKey) ?? .null }
                pending.append(.set(newKey, newValue))
            }
        }
    }

    /// The value a key has, taking this transaction's pending changes into account.
    private func currentValue(_ key: RowKey) -> ColumnValue? {
        for change in pending.reversed() {
            switch change {
            case .set(let k, let v) where k == key: return v
            case .delete(let k) where k == key: return nil
            default: continue
            }
        }
        return state[key]?.value
    }

    private func key(from image: RowImage) -> RowKey? {
        if keyIndexes.count == 1 {
            let i = keyIndexes[0]
            if image.absent.contains(i) { return nil }
            return .single(image.values[i])
        }
        for i in keyIndexes where image.absent.contains(i) { return nil }
        return .composite(keyIndexes.map { image.values[$0] })
    }

    private func value(_ image: RowImage) -> ColumnValue {
        image.absent.contains(valueIndex) ? .null : image.values[valueIndex]
    }

    /// Final state sorted by key.
    public func sortedState() -> [(RowKey, Entry)] {
        state.sorted()
    }

    /// The analyzer's map: integer keys (the usual primary key) in their own dictionary, so the hot
    /// path hashes an Int64, not an enum.
    struct KeyedStore {
        var ints: [Int64: Entry] = [:]
        var others: [RowKey: Entry] = [:]

        var count: Int { ints.count + others.count }

        subscript(key: RowKey) -> Entry? {
            get {
                if case .single(.int(let i)) = key { return ints[i] }
                return others[key]
            }
            set {
                if case .single(.int(let i)) = key { ints[i] = newValue } else { others[key] = newValue }
            }
        }

        mutating func removeValue(forKey key: RowKey) -> Entry? {
            if case .single(.int(let i)) = key { return ints.removeValue(forKey: i) }
            return others.removeValue(forKey: key)
        }

        func sorted() -> [(RowKey, Entry)] {
            var out = ints.map { (RowKey.single(.int($0.key)), $0.value) }
            out += others.map { ($0.key, $0.value) }
            out.sort { $0.0 < $1.0 }
            return out
        }
    }
}

func baseName(_ path: String) -> Substring {
    path.split(separator: "/").last ?? Substring(path)
}
