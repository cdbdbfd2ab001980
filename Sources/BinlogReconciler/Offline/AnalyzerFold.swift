import BinlogFold
import BinlogParser

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
    var state = KeyedStore()
    /// Keys that exist at the end.
    public var keyCount: Int { state.count }
    public internal(set) var summary = Summary()
    public private(set) var timeline: [TimelineChange] = []

    // Transaction in progress: its changes in order, plain values, with the keys and values that
    // are not a signed integer (`.int`) kept aside.
    struct Change {
        var isDelete: Bool
        /// The key is `.single(.int(intKey))` when `keyRef < 0`, else `pendingKeys[keyRef]`.
        var intKey: Int64
        var keyRef: Int32
        /// The value is `.int(intValue)` when `valueRef < 0`, else `pendingValues[valueRef]`.
        var intValue: Int64
        var valueRef: Int32
    }
    var pending: [Change] = []
    var pendingKeys: [RowKey] = []
    var pendingValues: [ColumnValue] = []
    /// Keys deleted and not set again (with `state.count`, the number of keys changed).
    private var deletedKeys = Set<RowKey>()
    private var timelineFilter: String?
    private var stopped = false
    // Column resolution per table map.
    var resolvedFor: TableMapEvent?
    var keyIndexes: [Int] = []
    var valueIndex = 0
    var keyColumnCount: Int { keyIndexes.count }
    // The last table maps found to be, and not to be, the analysed table.
    var matchingTable: TableMapEvent?
    var otherTable: TableMapEvent?
    let db: Substring
    let tbl: Substring

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
    var pendingIndex: [RowKey: Int]?
    var indexedCount = 0

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

    /// Final state sorted by key.
    public func sortedState() -> [(RowKey, Entry)] {
        state.sorted()
    }
}

/// The last component of a path (`--until-pos` compares file names, not paths).
func baseName(_ path: String) -> Substring {
    path.split(separator: "/").last ?? Substring(path)
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
