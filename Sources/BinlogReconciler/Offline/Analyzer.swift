import BinlogFold
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
        /// Bounds on decompressed sizes and table-map memory (`--max-decompressed-bytes`).
        public var limits = DecodingLimits()

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

    /// The one fold (`TransactionFold`, the live tail's too) and `analyze`'s storage under it.
    private var fold = TransactionFold()
    private var core: AnalyzerFold

    public init(options: Options) { core = AnalyzerFold(options: options) }

    public var options: Options { core.options }
    public var files: [String] { core.files }
    /// Keys that exist at the end.
    public var keyCount: Int { core.keyCount }
    public var summary: Summary { core.summary }
    public var timeline: [TimelineChange] { core.timeline }
    public var isStopped: Bool { core.isStopped }
    /// What the user should know about the result (an XA COMMIT whose prepare was not read, a
    /// table renamed onto the analysed one); printed on stderr by `analyze`.
    public var warnings: [String] { core.warnings }
    /// Prepared XA transactions still held at the end (their XA COMMIT is not in the files).
    public var preparedAtEnd: [String] { core.preparedAtEnd }

    /// Replays one file (call in order). `progress` is called now and then with bytes read.
    public mutating func replay(path: String, progress: ((UInt64, UInt64) -> Void)? = nil) throws(BinlogDecodingError) {
        try core.replay(path: path, fold: &fold, progress: progress)
    }

    /// Call after the last file.
    public mutating func finish() { core.finish(openTransaction: fold.inTransaction) }

    /// The text a user types for a key: `7`, `abc`, or `7,2` for a composite key.
    public func keyText(_ key: RowKey) -> String { core.keyText(key) }

    /// Every key that exists at the end with its value and where it was set, in key order.
    public func sortedState() -> [(RowKey, Entry)] { core.sortedState() }
}

/// `analyze`'s side of the one fold: the pending changes in a compact form, the changes of
/// prepared XA transactions, the keyed state with where each value was set, --until-* and the
/// timeline. ``TransactionFold`` decides which operation each event calls.
struct AnalyzerFold {
    typealias Options = BinlogAnalyzer.Options
    typealias Entry = BinlogAnalyzer.Entry
    typealias Summary = BinlogAnalyzer.Summary
    typealias TimelineChange = BinlogAnalyzer.TimelineChange

    public let options: Options
    public private(set) var files: [String] = []
    private var state = KeyedStore()
    /// Keys that exist at the end.
    public var keyCount: Int { state.count }
    public private(set) var summary = Summary()
    public private(set) var timeline: [TimelineChange] = []

    // Transaction in progress: its changes in order, plain values, with the keys and values that
    // are not a signed integer (`.int`) kept aside.
    private struct Change {
        var isDelete: Bool
        /// The key is `.single(.int(intKey))` when `keyRef < 0`, else `pendingKeys[keyRef]`.
        var intKey: Int64
        var keyRef: Int32
        /// The value is `.int(intValue)` when `valueRef < 0`, else `pendingValues[valueRef]`.
        var intValue: Int64
        var valueRef: Int32
    }
    private var pending: [Change] = []
    private var pendingKeys: [RowKey] = []
    private var pendingValues: [ColumnValue] = []
    /// Keys deleted and not set again (with `state.count`, the number of keys changed).
    private var deletedKeys = Set<RowKey>()
    private var timelineFilter: String?
    private var stopped = false
    // Column resolution per table map.
    private var resolvedFor: TableMapEvent?
    private var keyIndexes: [Int] = []
    private var valueIndex = 0
    private var keyColumnCount: Int { keyIndexes.count }
    // The last table maps found to be, and not to be, the analysed table.
    private var matchingTable: TableMapEvent?
    private var otherTable: TableMapEvent?
    private let db: Substring
    private let tbl: Substring

    init(options: Options) {
        self.options = options
        let parts = options.table.split(separator: ".", maxSplits: 1)
        db = parts.count == 2 ? parts[0] : ""
        tbl = parts.count == 2 ? parts[1] : parts.first ?? ""
        timelineFilter = options.timelineKey
    }

    public var isStopped: Bool { stopped }

    mutating func replay(path: String, fold: inout TransactionFold, progress: ((UInt64, UInt64) -> Void)?) throws(BinlogDecodingError) {
        guard !stopped else { return }
        let fileIndex = files.count
        files.append(path)
        let events = try BinlogFileEvents(path: path, verifyChecksums: options.verifyChecksums, limits: options.limits)
        events.skipTypes([.annotateRows, .rowsQuery, .binlogCheckpoint, .previousGTIDs, .mariadbGTIDList, .heartbeat, .heartbeatV2, .intvar, .rand, .userVar])
        // A transaction never spans files; whatever is open at a file boundary stays open.
        var n = 0
        // Key columns then the value column (positions 0..<keyColumnCount are the key, then the
        // value), resolved per table map; a local, so that rows are decoded into it in place.
        var selection = RowSelection()
        resolvedFor = nil
        try events.forEach { located throws(BinlogDecodingError) in
            n += 1
            if n & 0x3fff == 0, let progress { progress(events.reader.bytesRead, events.reader.fileSize) }
            try apply(located, fileIndex: fileIndex, file: path, selection: &selection, fold: &fold)
            if stopped { summary.stoppedEarly = true; return false }
            return true
        }
        summary.bytes += events.reader.bytesRead
        summary.events += events.skippedCount
    }

    mutating func finish(openTransaction: Bool) {
        summary.openTransactionAtEnd = openTransaction && !stopped
        summary.keysChanged = state.count + deletedKeys.count
    }

    private mutating func apply(_ located: LocatedEvent, fileIndex: Int, file: String, selection: inout RowSelection, fold: inout TransactionFold) throws(BinlogDecodingError) {
        let event = located.event
        summary.events += 1
        let ts = event.header.timestamp
        if ts != 0 {
            summary.firstTimestamp = min(summary.firstTimestamp ?? ts, ts)
            summary.lastTimestamp = max(summary.lastTimestamp ?? ts, ts)
        }
        let endPos = located.inPayload == nil ? event.nextOffset : located.resumeOffset
        // The hot path: rows inside a transaction (the fold would only hand them to `rows`).
        if fold.inTransaction, case .rows(let r) = event.body {
            try applyRows(r, selection: &selection)
            return
        }
        // Everything else through the one fold, with this as its storage.
        _ = try fold.consume(
            event, at: OfflineLocation(fileIndex: fileIndex, file: file, end: endPos, eventOffset: event.offset),
            storage: &self, context: &selection)
    }

    /// The changes of a prepared XA transaction, as they were pending.
    private struct HeldChanges: Sendable {
        var changes: [Change]
        var keys: [RowKey]
        var values: [ColumnValue]
    }
    /// The GTID and timestamp of the group being committed (for --until-gtid and the timeline).
    private var committingGTID: String?
    private var committingTimestamp: UInt32 = 0
    private var heldXA = HeldTransactions<HeldChanges>()
    /// What the user should know about the result (an XA COMMIT whose prepare was not read, a
    /// table renamed onto the analysed one); printed on stderr by `analyze`.
    public private(set) var warnings: [String] = []
    /// Prepared XA transactions still held at the end (their XA COMMIT is not in the files).
    public var preparedAtEnd: [String] { heldXA.byXID.keys.sorted() }

    /// DDL on the analysed table, by the same rules as the live tail: TRUNCATE, DROP TABLE, DROP
    /// DATABASE, CREATE OR REPLACE and a rename away remove its keys; a rename onto it, or a
    /// partition operation that removes rows, leaves rows the binlog does not hold (a warning).
    private mutating func applyDDL(_ q: QueryEvent, at location: String) {
        guard DDLStatement.mayChangeTables(q.query), q.query.lowercased().contains(tbl.lowercased()) else { return }
        guard let effects = DDLStatement.effects(of: q.query, defaultDatabase: q.database) else {
            warnings.append("\(location): a DDL statement names \(options.table) but its targets could not be read; not acted on: \(q.query.prefix(200))")
            return
        }
        let (db, tbl) = (self.db, self.tbl)
        let o = DDLStatement.outcome(of: effects, for: { $0.table == tbl && (db.isEmpty || $0.database == db) }, inDatabase: { db.isEmpty || $0 == db })
        if let why = o.contentsUnknown {
            warnings.append("\(location): \(options.table): \(why); the result is incomplete from here")
        }
        guard o.removesRows else { return }
        // Every key goes; the pending ones of this statement's transaction first.
        clearPending()
        for (key, _) in state.sorted() { appendDelete(key) }
    }

    /// --until-pos: the stop file has been reached (transactions of files of another series given
    /// after it are not applied).
    private var reachedStopFile = false

    /// The latest entry of `pending` per key, for the first `indexedCount` entries (see
    /// `currentValue`); nil until a row needs it.
    private var pendingIndex: [RowKey: Int]?
    private var indexedCount = 0

    private mutating func clearPending() {
        if pendingIndex != nil { pendingIndex = nil; indexedCount = 0 }
        pending.removeAll(keepingCapacity: true)
        if !pendingKeys.isEmpty { pendingKeys.removeAll(keepingCapacity: true) }
        if !pendingValues.isEmpty { pendingValues.removeAll(keepingCapacity: true) }
    }

    /// --until-pos: whether a commit ending at `pos` of `file` lies after the stop point: later in
    /// the stop file, in a later file of its series (``BinlogCoordinates`` order: `mysql-bin.1000000`
    /// follows `mysql-bin.999999`), or, for names of another series, in a file given after the stop
    /// file.
    private mutating func pastStop(file: String, pos: UInt64, stopFile: String, stopPos: UInt64) -> Bool {
        let name = String(baseName(file)), stop = String(baseName(stopFile))
        if name == stop {
            reachedStopFile = true
            return pos > stopPos
        }
        if BinlogCoordinates.sameSeries(name, stop) {
            return BinlogCoordinates(file: stop, position: stopPos) < BinlogCoordinates(file: name, position: pos)
        }
        return reachedStopFile
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
        // --until-pos: a transaction whose commit ends after FILE:POS is not applied.
        if case .position(let f, let p) = options.stop, pastStop(file: file, pos: pos, stopFile: f, stopPos: p) {
            clearPending()
            stopped = true
            return
        }
        summary.transactions += 1
        for change in pending {
            if change.isDelete {
                let key = rowKey(change)
                let old = state.removeValue(forKey: key)?.value
                deletedKeys.insert(key)
                recordTimeline(key, old, nil, file: file, pos: pos)
                continue
            }
            if change.keyRef < 0 && timelineFilter == nil {
                if change.valueRef < 0 {
                    state.ints.set(change.intKey, int: change.intValue, fileIndex: fileIndex, pos: pos)
                } else {
                    state.ints.set(change.intKey, Entry(value: pendingValues[Int(change.valueRef)], fileIndex: fileIndex, pos: pos))
                }
                if !deletedKeys.isEmpty { deletedKeys.remove(.single(.int(change.intKey))) }
                continue
            }
            let value = change.valueRef < 0 ? ColumnValue.int(change.intValue) : pendingValues[Int(change.valueRef)]
            let key = rowKey(change)
            let old = timelineFilter == nil ? nil : state[key]?.value
            state[key] = Entry(value: value, fileIndex: fileIndex, pos: pos)
            if !deletedKeys.isEmpty { deletedKeys.remove(key) }
            if timelineFilter != nil { recordTimeline(key, old, value, file: file, pos: pos) }
        }
        clearPending()
        let gtid = committingGTID
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
        timeline.append(TimelineChange(file: file, pos: pos, gtid: committingGTID, timestamp: committingTimestamp, before: old, after: new))
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

    private mutating func resolve(_ table: TableMapEvent, _ selection: inout RowSelection) throws(BinlogDecodingError) {
        if let r = resolvedFor {
            if r === table { return }
            if r == table { resolvedFor = table; return }
        }
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
        guard let s = RowSelection(columns: keys + [v]) else {
            throw BinlogDecodingError(.invalidValue("at most 63 key columns, and columns before the 4097th, can be analysed"), field: "analyze", byteOffset: 0)
        }
        keyIndexes = keys
        valueIndex = v
        selection = s
        resolvedFor = table
    }

    private func unresolved(_ name: String, _ table: TableMapEvent) -> BinlogDecodingError {
        let hint = table.hasColumnNames
            ? "columns are: " + table.columns.compactMap(\.name).joined(separator: ",")
            : "the binlog has no column names (binlog_row_metadata is not FULL): pass --columns in table order, or use @N"
        return BinlogDecodingError(.invalidValue("column \(name) not found in \(table.qualifiedName); \(hint)"), field: "analyze", byteOffset: 0)
    }

    private mutating func applyRows(_ r: RowsEvent, selection: inout RowSelection) throws(BinlogDecodingError) {
        let table = r.table
        if table !== matchingTable {
            if table === otherTable { return }
            guard table.table == tbl && (db.isEmpty || table.database == db) else {
                otherTable = table
                return
            }
            matchingTable = table
        }
        try resolve(table, &selection)
        let kind = r.kind
        try r.forEachRow(into: &selection) { (s: inout RowSelection) throws(BinlogDecodingError) in
            summary.rows += 1
            applyRow(kind: kind, s)
        }
    }

    private mutating func applyRow(kind: RowsEvent.Kind, _ s: borrowing RowSelection) {
        let v = keyColumnCount
        switch kind {
        case .write:
            if let k = intKey(s.after) {
                if let value = s.after.int64(v) { appendSet(intKey: k, intValue: value) } else { appendSet(intKey: k, value(s.after)) }
            } else if let k = key(from: s.after) {
                appendSet(k, value(s.after))
            }
        case .delete:
            if let k = intKey(s.before) {
                pending.append(Change(isDelete: true, intKey: k, keyRef: -1, intValue: 0, valueRef: -1))
            } else if let k = key(from: s.before) {
                appendDelete(k)
            }
        case .update:
            // The usual case: an integer key in both images and an integer value.
            if let bk = intKey(s.before), let ak = intKey(s.after), let value = s.after.int64(v) {
                if bk != ak { pending.append(Change(isDelete: true, intKey: bk, keyRef: -1, intValue: 0, valueRef: -1)) }
                appendSet(intKey: ak, intValue: value)
                return
            }
            let beforeKey = key(from: s.before)
            let afterKey = key(from: s.after) ?? beforeKey
            guard let newKey = afterKey else { return }
            var newValue: ColumnValue
            if s.after.isAbsent(v) {
                // MINIMAL image: the value did not change; carry it from the old key.
                newValue = currentValue(beforeKey ?? newKey) ?? .null
            } else {
                newValue = s.after[v]
            }
            if let bk = beforeKey, bk != newKey { appendDelete(bk) }
            if case .jsonDiff = newValue { newValue = currentValue(newKey) ?? .null }
            appendSet(newKey, newValue)
        }
    }

    @inline(__always)
    private mutating func appendSet(intKey k: Int64, intValue v: Int64) {
        pending.append(Change(isDelete: false, intKey: k, keyRef: -1, intValue: v, valueRef: -1))
    }

    private mutating func appendSet(intKey k: Int64, _ value: ColumnValue) {
        if case .int(let v) = value {
            pending.append(Change(isDelete: false, intKey: k, keyRef: -1, intValue: v, valueRef: -1))
        } else {
            pendingValues.append(value)
            pending.append(Change(isDelete: false, intKey: k, keyRef: -1, intValue: 0, valueRef: Int32(pendingValues.count - 1)))
        }
    }

    private mutating func appendSet(_ key: RowKey, _ value: ColumnValue) {
        if case .single(.int(let k)) = key {
            appendSet(intKey: k, value)
            return
        }
        pendingKeys.append(key)
        let keyRef = Int32(pendingKeys.count - 1)
        if case .int(let v) = value {
            pending.append(Change(isDelete: false, intKey: 0, keyRef: keyRef, intValue: v, valueRef: -1))
        } else {
            pendingValues.append(value)
            pending.append(Change(isDelete: false, intKey: 0, keyRef: keyRef, intValue: 0, valueRef: Int32(pendingValues.count - 1)))
        }
    }

    private mutating func appendDelete(_ key: RowKey) {
        if case .single(.int(let k)) = key {
            pending.append(Change(isDelete: true, intKey: k, keyRef: -1, intValue: 0, valueRef: -1))
        } else {
            pendingKeys.append(key)
            pending.append(Change(isDelete: true, intKey: 0, keyRef: Int32(pendingKeys.count - 1), intValue: 0, valueRef: -1))
        }
    }

    private func rowKey(_ change: Change) -> RowKey {
        change.keyRef < 0 ? .single(.int(change.intKey)) : pendingKeys[Int(change.keyRef)]
    }

    /// The value a key has, taking this transaction's pending changes into account. Asked only
    /// for MINIMAL images and JSON diffs; the index of the pending changes by key is built the
    /// first time and brought up to date on later calls, so a large transaction stays linear.
    private mutating func currentValue(_ key: RowKey) -> ColumnValue? {
        if pendingIndex == nil { pendingIndex = [:]; indexedCount = 0 }
        while indexedCount < pending.count {
            pendingIndex![rowKey(pending[indexedCount])] = indexedCount
            indexedCount += 1
        }
        if let i = pendingIndex![key] {
            let change = pending[i]
            if change.isDelete { return nil }
            return change.valueRef < 0 ? .int(change.intValue) : pendingValues[Int(change.valueRef)]
        }
        return state[key]?.value
    }

    /// The key when it is one signed integer present in the image.
    @inline(__always)
    private func intKey(_ image: SelectedValues) -> Int64? {
        keyColumnCount == 1 ? image.int64(0) : nil
    }

    private func key(from image: SelectedValues) -> RowKey? {
        if keyColumnCount == 1 {
            if image.isAbsent(0) { return nil }
            return .single(image[0])
        }
        for k in 0..<keyColumnCount where image.isAbsent(k) { return nil }
        return .composite((0..<keyColumnCount).map { image[$0] })
    }

    private func value(_ image: SelectedValues) -> ColumnValue {
        image.isAbsent(keyColumnCount) ? .null : image[keyColumnCount]
    }

    /// Final state sorted by key.
    public func sortedState() -> [(RowKey, Entry)] {
        state.sorted()
    }

    /// The analyzer's map: signed integer keys (the usual primary key) in their own table, so the
    /// hot path neither hashes an enum nor counts references.
    struct KeyedStore {
        var ints = IntKeyedEntries()
        var others: [RowKey: Entry] = [:]

        var count: Int { ints.count + others.count }

        subscript(key: RowKey) -> Entry? {
            get {
                if case .single(.int(let i)) = key { return ints[i] }
                return others[key]
            }
            set {
                if case .single(.int(let i)) = key {
                    if let newValue { ints.set(i, newValue) } else { _ = ints.remove(i) }
                } else {
                    others[key] = newValue
                }
            }
        }

        mutating func removeValue(forKey key: RowKey) -> Entry? {
            if case .single(.int(let i)) = key { return ints.remove(i) }
            return others.removeValue(forKey: key)
        }

        func sorted() -> [(RowKey, Entry)] {
            var out = ints.all().map { (RowKey.single(.int($0.key)), $0.entry) }
            out += others.map { ($0.key, $0.value) }
            out.sort { $0.0 < $1.0 }
            return out
        }
    }
}

/// Entries by signed integer key: open addressing with linear probing, a multiplicative hash and
/// plain-value slots (an integer value is stored as it is; any other value goes to a side table),
/// so that setting a key touches no reference count and no `Hasher`.
struct IntKeyedEntries {
    private struct Slot {
        var key: Int64 = 0
        /// The value when `other < 0` (`.int(value)`).
        var value: Int64 = 0
        /// Index in `others`, or -1.
        var other: Int32 = -1
        var used = false
        var fileIndex: Int = 0
        var pos: UInt64 = 0
    }

    private var slots = [Slot](repeating: Slot(), count: 16)
    private var shift: UInt64 = 60  // 64 - log2(slots.count)
    private(set) var count = 0
    private var others: [ColumnValue] = []
    private var freeOthers: [Int32] = []

    @inline(__always)
    private func home(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always)
    private func find(_ key: Int64) -> (index: Int, found: Bool) {
        let mask = slots.count - 1
        var i = home(key)
        while slots[i].used {
            if slots[i].key == key { return (i, true) }
            i = (i + 1) & mask
        }
        return (i, false)
    }

    subscript(key: Int64) -> BinlogAnalyzer.Entry? {
        let (i, found) = find(key)
        return found ? entry(at: i) : nil
    }

    private func entry(at i: Int) -> BinlogAnalyzer.Entry {
        let s = slots[i]
        let value = s.other < 0 ? ColumnValue.int(s.value) : others[Int(s.other)]
        return BinlogAnalyzer.Entry(value: value, fileIndex: s.fileIndex, pos: s.pos)
    }

    /// Sets `key` to `.int(value)`: one probe, one write.
    mutating func set(_ key: Int64, int value: Int64, fileIndex: Int, pos: UInt64) {
        if (count + 1) * 2 > slots.count { grow() }
        let first = home(key)
        var freed: Int32 = -1
        let inserted = slots.withUnsafeMutableBufferPointer { buf -> Bool in
            let mask = buf.count - 1
            var i = first
            while buf[i].used {
                if buf[i].key == key {
                    freed = buf[i].other
                    buf[i] = Slot(key: key, value: value, other: -1, used: true, fileIndex: fileIndex, pos: pos)
                    return false
                }
                i = (i + 1) & mask
            }
            buf[i] = Slot(key: key, value: value, other: -1, used: true, fileIndex: fileIndex, pos: pos)
            return true
        }
        if inserted { count += 1 }
        if freed >= 0 {
            others[Int(freed)] = .null
            freeOthers.append(freed)
        }
    }

    mutating func set(_ key: Int64, _ entry: BinlogAnalyzer.Entry) {
        if case .int(let v) = entry.value {
            set(key, int: v, fileIndex: entry.fileIndex, pos: entry.pos)
            return
        }
        set(key, int: 0, fileIndex: entry.fileIndex, pos: entry.pos)
        let i = find(key).index
        let index: Int32
        if let free = freeOthers.popLast() {
            index = free
            others[Int(free)] = entry.value
        } else {
            index = Int32(others.count)
            others.append(entry.value)
        }
        slots[i].other = index
    }

    private mutating func releaseOther(_ i: Int) {
        let o = slots[i].other
        guard o >= 0 else { return }
        others[Int(o)] = .null
        freeOthers.append(o)
        slots[i].other = -1
    }

    mutating func remove(_ key: Int64) -> BinlogAnalyzer.Entry? {
        let (found, isThere) = find(key)
        guard isThere else { return nil }
        let removed = entry(at: found)
        releaseOther(found)
        slots[found].used = false
        count -= 1
        // Backward-shift deletion: move later entries of the probe run into the hole.
        let mask = slots.count - 1
        var hole = found
        var j = found
        while true {
            j = (j + 1) & mask
            guard slots[j].used else { break }
            let h = home(slots[j].key)
            // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
            let stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !stays {
                slots[hole] = slots[j]
                slots[j].used = false
                slots[j].other = -1
                hole = j
            }
        }
        return removed
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        shift -= 1
        for s in old where s.used {
            var i = home(s.key)
            while slots[i].used { i = (i + 1) & (slots.count - 1) }
            slots[i] = s
        }
    }

    /// Every key and entry, in no order.
    func all() -> [(key: Int64, entry: BinlogAnalyzer.Entry)] {
        var out: [(key: Int64, entry: BinlogAnalyzer.Entry)] = []
        out.reserveCapacity(count)
        for i in slots.indices where slots[i].used { out.append((slots[i].key, entry(at: i))) }
        return out
    }
}

func baseName(_ path: String) -> Substring {
    path.split(separator: "/").last ?? Substring(path)
}

/// Where an event of `analyze` is: its file (and index among the files given), the position a
/// reader resumes from after it, and its own offset (named in warnings).
struct OfflineLocation: CustomStringConvertible {
    var fileIndex: Int
    var file: String
    var end: UInt64
    var eventOffset: UInt64
    var description: String { "\(file):\(eventOffset)" }
}

/// `analyze`'s side of the one fold: pending changes in its compact form, held XA changes, the
/// keyed state with where each value was set; --until-* stop at the fold's begin and commit.
extension AnalyzerFold: FoldStorage {
    typealias Context = RowSelection
    typealias Location = OfflineLocation
    typealias Failure = BinlogDecodingError

    mutating func willBegin(timestamp: UInt32) throws(BinlogDecodingError) -> Bool {
        try !checkStopBefore(timestamp)
    }

    mutating func discardPending() { clearPending() }

    mutating func rows(_ r: RowsEvent, context selection: inout RowSelection) throws(BinlogDecodingError) {
        try applyRows(r, selection: &selection)
    }

    mutating func statement(_ q: QueryEvent, at: OfflineLocation, context: inout RowSelection) throws(BinlogDecodingError) {
        applyDDL(q, at: at.description)
    }

    mutating func commit(at: OfflineLocation, boundaries: TransactionBoundaries, context: inout RowSelection) throws(BinlogDecodingError) {
        committingGTID = boundaries.gtid
        committingTimestamp = boundaries.timestamp
        commit(fileIndex: at.fileIndex, file: at.file, pos: at.end)
    }

    mutating func hold(xid: String, at: OfflineLocation, timestamp: UInt32, context: inout RowSelection) throws(BinlogDecodingError) {
        let held = HeldChanges(changes: pending, keys: pendingKeys, values: pendingValues)
        if !heldXA.hold(xid, changes: held, count: pending.count, at: at.description, timestamp: timestamp) {
            warnings.append("\(at): XA PREPARE \(xid): more than \(heldXA.maxChanges) row changes held for prepared XA transactions; its changes are dropped, the result is incomplete")
        }
    }

    mutating func restore(xid: String, at: OfflineLocation, context: inout RowSelection) throws(BinlogDecodingError) {
        if let h = heldXA.release(xid) {
            pending = h.changes.changes
            pendingKeys = h.changes.keys
            pendingValues = h.changes.values
        } else {
            warnings.append("\(at): XA COMMIT \(xid): its XA PREPARE is not in the files given (prepared before the first one?): its changes are unknown and not applied")
        }
    }

    mutating func drop(xid: String, context: inout RowSelection) {
        _ = heldXA.release(xid)
    }
}
