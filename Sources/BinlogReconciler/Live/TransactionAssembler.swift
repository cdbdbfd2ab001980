import BinlogFold
import BinlogParser

/// A row change waiting for its transaction's commit (or, held, for its XA COMMIT).
public typealias PendingChange = (watch: Int, key: ShadowKey, new: ShadowValue?)

/// Turns decoded binlog events into committed transactions applied to the shadow maps.
///
/// Rows of watched tables are buffered per transaction and applied at the commit (XID, a COMMIT
/// query, or the end of a standalone group), so the state and its position are always at a
/// transaction boundary and rolled-back work is never applied. Columns are resolved by name: from
/// the table map (binlog_row_metadata=FULL) or from `columnNames` (information_schema at start,
/// refreshed after DDL on a watched table). A table map that no longer fits the resolved schema,
/// or a watched column that disappears, is an `ApplyError`: stopping is better than applying wrong
/// values. Which operation each event calls, in which order, is ``TransactionFold``'s (the one
/// fold `analyze` uses too); this type keeps the live path's storage (``LiveFoldStorage``).
public struct TransactionAssembler {
    private var fold = TransactionFold()
    private var store: LiveFoldStorage

    public init(watches: [WatchConfiguration], columnNames: @escaping (String, String) throws -> [String]?) {
        store = LiveFoldStorage(watches: watches, columnNames: columnNames)
    }

    public var watches: [WatchConfiguration] { store.watches }
    /// Statements noticed but not acted on (a DDL whose target cannot be read).
    public var onWarning: ((String, [String: String]) -> Void)? {
        get { store.onWarning }
        set { store.onWarning = newValue }
    }

    /// Whether a transaction is open (its changes are not applied yet).
    public var isInTransaction: Bool { fold.inTransaction }

    /// Drops a transaction in progress (the stream broke in its middle; the reader resumes from
    /// the last commit and reads it again).
    public mutating func abandonTransaction() {
        store.discardPending()
        fold.abandon()
        store.forgetResolutions()
    }

    /// Feeds one event; `end` is the source position right after it. Returns the transaction it
    /// committed (or the XA transaction it prepared or rolled back: a group that moves the
    /// position), if any, after applying it to `state`.
    public mutating func consume(_ event: BinlogEvent, end: BinlogCoordinates, state: inout ShadowState) throws -> CommittedTransaction? {
        switch event.body {
        case .rotate, .formatDescription: store.forgetResolutions()
        default: break
        }
        switch try fold.consume(event, at: end, storage: &store, context: &state) {
        case .none, .stopped:
            return nil
        case .committed:
            return store.takeCommitted()
        case .prepared(let xid):
            var tx = store.takeCommitted()
            let held = state.heldXA.byXID[xid]?.changes ?? []
            tx?.xa = .prepared(xid: xid, changes: held.map { CommittedChange(watch: $0.watch, key: $0.key, old: state.maps[$0.watch][$0.key], new: $0.new) })
            return tx
        case .xaCommitted(let xid):
            var tx = store.takeCommitted()
            tx?.xa = .committed(xid: xid)
            return tx
        case .xaRolledBack(let xid):
            var tx = store.takeCommitted()
            tx?.xa = .rolledBack(xid: xid)
            return tx
        }
    }
}

/// The live path's side of the fold: the open transaction's changes (applied to the shadow maps
/// at its commit), prepared XA transactions' changes (in ``ShadowState/heldXA``), column
/// resolution per table map.
struct LiveFoldStorage: FoldStorage {
    typealias Context = ShadowState
    typealias Location = BinlogCoordinates
    typealias Failure = any Error

    let watches: [WatchConfiguration]
    /// Column names in table order for tables whose binlog lacks them; called at start and after
    /// DDL on a watched table.
    var columnNames: (_ database: String, _ table: String) throws -> [String]?

    /// The transaction's changes in binlog order, applied at its commit.
    private var pending: [PendingChange] = []
    /// The latest entry of `pending` for each key, built the first time a row needs the value a
    /// key has inside the transaction (MINIMAL images, JSON diffs) and kept up to date from then
    /// on, so such a transaction applies in linear time. FULL-image transactions never build it.
    private var pendingIndex: [PendingKey: Int]?
    struct PendingKey: Hashable {
        var watch: Int
        var key: ShadowKey
    }
    /// The transaction the last commit applied.
    private(set) var committed: CommittedTransaction?
    var onWarning: ((String, [String: String]) -> Void)?
    private var resolvedFor: [ObjectIdentifier: ResolvedRows] = [:]
    /// The row selection of the last resolved table read (nil while it is in use, or after an
    /// error in a row), and the resolution it was made for.
    private var rowSelection: RowSelection?
    private var rowSelectionOwner: ResolvedRows?
    private var namesCache: [String: [String]] = [:]
    /// Tables by "db.table" → watches on it.
    private let watchesByTable: [String: [Int]]

    init(watches: [WatchConfiguration], columnNames: @escaping (String, String) throws -> [String]?) {
        self.watches = watches
        self.columnNames = columnNames
        var byTable: [String: [Int]] = [:]
        for (i, w) in watches.enumerated() { byTable[w.qualifiedTable, default: []].append(i) }
        watchesByTable = byTable
    }

    /// The transaction the last commit applied (once).
    mutating func takeCommitted() -> CommittedTransaction? {
        defer { committed = nil }
        return committed
    }

    /// Table maps are resolved again (a rotation or a new format description).
    mutating func forgetResolutions() { resolvedFor.removeAll() }

    // MARK: FoldStorage

    func willBegin(timestamp: UInt32) -> Bool { true }

    mutating func discardPending() { clearPending() }

    mutating func rows(_ r: RowsEvent, context state: inout ShadowState) throws {
        if let ws = watchesByTable[r.table.qualifiedName] { try applyRows(r, watches: ws, state: state) }
    }

    mutating func statement(_ q: QueryEvent, at: BinlogCoordinates, context state: inout ShadowState) throws {
        try handleDDL(q.query, defaultDatabase: q.database, state: &state)
    }

    mutating func commit(at end: BinlogCoordinates, boundaries: TransactionBoundaries, context state: inout ShadowState) throws {
        committed = commit(end: end, boundaries: boundaries, state: &state)
    }

    mutating func hold(xid: String, at end: BinlogCoordinates, timestamp: UInt32, context state: inout ShadowState) throws {
        guard state.heldXA.hold(xid, changes: pending, count: pending.count, at: "\(end)", timestamp: timestamp) else {
            throw ApplyError("XA PREPARE \(xid) at \(end): holding its \(pending.count) row changes would pass the bound of \(state.heldXA.maxChanges) row changes held for prepared XA transactions (\(state.heldXA.count) prepared now); stopping rather than dropping them")
        }
    }

    mutating func restore(xid: String, at end: BinlogCoordinates, context state: inout ShadowState) throws {
        guard let held = state.heldXA.release(xid) else {
            throw ApplyError("XA COMMIT \(xid) at \(end): its XA PREPARE was not seen (prepared before the bootstrap snapshot, or before the checkpoint this run resumed from), so its changes are unknown; restart with --rebootstrap to read the tables again")
        }
        for p in held.changes { appendPending(p.watch, p.key, p.new) }
    }

    mutating func drop(xid: String, context state: inout ShadowState) {
        _ = state.heldXA.release(xid)
    }

    private mutating func clearPending() {
        // Storage grown by a very large transaction is given back.
        pending.removeAll(keepingCapacity: pending.count <= 65_536)
        pendingIndex = nil
    }

    private mutating func appendPending(_ watch: Int, _ key: ShadowKey, _ new: ShadowValue?) {
        pending.append((watch, key, new))
        if pendingIndex != nil { pendingIndex![PendingKey(watch: watch, key: key)] = pending.count - 1 }
    }

    private mutating func commit(end: BinlogCoordinates, boundaries: TransactionBoundaries, state: inout ShadowState) -> CommittedTransaction {
        var changes: [CommittedChange] = []
        changes.reserveCapacity(pending.count)
        for p in pending {
            let old = state.maps[p.watch][p.key]
            if old == p.new { continue }
            state.maps[p.watch][p.key] = p.new
            changes.append(CommittedChange(watch: p.watch, key: p.key, old: old, new: p.new))
        }
        if let g = boundaries.mariadbGTID { state.gtid.commit(mariadb: g) }
        if let g = boundaries.mysqlGTID { state.gtid.commit(mysql: g) }
        state.position = end
        state.transactionsApplied += 1
        let tx = CommittedTransaction(gtid: boundaries.gtid, end: end, timestamp: boundaries.timestamp, changes: changes)
        clearPending()
        return tx
    }

    /// The value a key has, with this transaction's pending changes.
    private mutating func current(_ watch: Int, _ key: ShadowKey, state: ShadowState) -> ShadowValue? {
        if pendingIndex == nil {
            var index: [PendingKey: Int] = [:]
            index.reserveCapacity(pending.count)
            for (i, p) in pending.enumerated() { index[PendingKey(watch: p.watch, key: p.key)] = i }
            pendingIndex = index
        }
        if let i = pendingIndex![PendingKey(watch: watch, key: key)] { return pending[i].new }
        return state.maps[watch][key]
    }

    /// The key and value columns of the watches on one table map; `columns` lists them for a
    /// ``RowSelection`` (each watch's keys, then its value), nil beyond 64.
    final class ResolvedRows {
        let watches: [(watch: Int, keys: [Int], value: Int)]
        let columns: [Int]?

        init(_ watches: [(watch: Int, keys: [Int], value: Int)]) {
            self.watches = watches
            var columns: [Int] = []
            for x in watches {
                columns += x.keys
                columns.append(x.value)
            }
            self.columns = columns.count <= 64 ? columns : nil
        }
    }

    private mutating func resolve(_ table: TableMapEvent, watches ws: [Int]) throws -> ResolvedRows {
        if let r = resolvedFor[ObjectIdentifier(table)] { return r }
        var names: [String]
        if table.hasColumnNames {
            names = table.columns.map { $0.name ?? "" }
        } else {
            let key = table.qualifiedName
            if let cached = namesCache[key] {
                names = cached
            } else {
                guard let fetched = try columnNames(table.database, table.table) else {
                    throw ApplyError("\(key): the binlog carries no column names (binlog_row_metadata is not FULL) and the schema could not be read from information_schema")
                }
                names = fetched
                namesCache[key] = fetched
            }
            guard names.count == table.columns.count else {
                throw ApplyError("\(key): the table map has \(table.columns.count) columns but the resolved schema has \(names.count) (\(names.joined(separator: ","))): the table changed in a way the log does not describe; set binlog_row_metadata=FULL, or restart with --rebootstrap")
            }
        }
        var out: [(Int, [Int], Int)] = []
        for w in ws {
            let watch = watches[w]
            var keys: [Int] = []
            for k in watch.keyColumns {
                guard let i = names.firstIndex(of: k) else {
                    throw ApplyError("\(table.qualifiedName): key column \(k) of watch \(watch.name) is not in the table (columns: \(names.joined(separator: ","))); stopping rather than applying wrong values")
                }
                keys.append(i)
            }
            guard let v = names.firstIndex(of: watch.valueColumn) else {
                throw ApplyError("\(table.qualifiedName): value column \(watch.valueColumn) of watch \(watch.name) is not in the table (columns: \(names.joined(separator: ","))); stopping rather than applying wrong values")
            }
            out.append((w, keys, v))
        }
        if resolvedFor.count > 1024 { resolvedFor.removeAll() }
        let entry = ResolvedRows(out)
        resolvedFor[ObjectIdentifier(table)] = entry
        return entry
    }

    private mutating func applyRows(_ r: RowsEvent, watches ws: [Int], state: ShadowState) throws {
        let entry = try resolve(r.table, watches: ws)
        guard let columns = entry.columns else {
            return try applyRowImages(r, resolved: entry.watches, state: state)
        }
        var sel: RowSelection
        if rowSelectionOwner === entry, let s = rowSelection {
            sel = s
        } else {
            guard let s = RowSelection(columns: columns) else {
                return try applyRowImages(r, resolved: entry.watches, state: state)
            }
            sel = s
            rowSelectionOwner = entry
        }
        rowSelection = nil  // so that `sel` is the only reference while rows are decoded into it
        let kind = r.kind
        try r.forEachRow(into: &sel) { (s: inout RowSelection) throws(BinlogDecodingError) in
            var base = 0
            for x in entry.watches {
                let n = x.keys.count
                let keyBase = base
                let valuePosition = base + n
                base = valuePosition + 1
                func key(_ image: SelectedValues) -> ShadowKey? {
                    for p in keyBase..<(keyBase + n) where image.isAbsent(p) { return nil }
                    if n == 1 { return ShadowKey(image[keyBase]) }
                    return ShadowKey(parts: (keyBase..<(keyBase + n)).map { image[$0] })
                }
                switch kind {
                case .write:
                    if let k = key(s.after) {
                        appendPending(x.watch, k, s.after.isAbsent(valuePosition) ? .null : ShadowValue(s.after[valuePosition]))
                    }
                case .delete:
                    if let k = key(s.before) { appendPending(x.watch, k, nil) }
                case .update:
                    let beforeKey = key(s.before)
                    guard let newKey = key(s.after) ?? beforeKey else { continue }
                    var value: ShadowValue?
                    if s.after.isAbsent(valuePosition) {
                        value = current(x.watch, beforeKey ?? newKey, state: state) ?? .null
                    } else {
                        let v = s.after[valuePosition]
                        if case .jsonDiff = v {
                            value = current(x.watch, newKey, state: state)
                        } else {
                            value = ShadowValue(v)
                        }
                    }
                    if let b = beforeKey, b != newKey { appendPending(x.watch, b, nil) }
                    appendPending(x.watch, newKey, value)
                }
            }
        }
        rowSelection = sel
    }

    /// The general path (more than 64 selected columns): whole row images.
    private mutating func applyRowImages(_ r: RowsEvent, resolved: [(watch: Int, keys: [Int], value: Int)], state: ShadowState) throws {
        var selection = Set<Int>()
        for x in resolved { selection.formUnion(x.keys); selection.insert(x.value) }
        let kind = r.kind
        try r.forEachRow(selecting: Array(selection)) { (before, after) throws(BinlogDecodingError) in
            for x in resolved {
                func key(_ image: RowImage) -> ShadowKey? {
                    for i in x.keys where image.absent.contains(i) { return nil }
                    return ShadowKey(parts: x.keys.map { image.values[$0] })
                }
                let beforeKey = before.flatMap(key)
                switch kind {
                case .write:
                    if let a = after, let k = key(a) {
                        appendPending(x.watch, k, a.absent.contains(x.value) ? .null : ShadowValue(a.values[x.value]))
                    }
                case .delete:
                    if let k = beforeKey { appendPending(x.watch, k, nil) }
                case .update:
                    guard let a = after, let newKey = key(a) ?? beforeKey else { continue }
                    var value: ShadowValue?
                    if a.absent.contains(x.value) {
                        value = current(x.watch, beforeKey ?? newKey, state: state) ?? .null
                    } else if case .jsonDiff = a.values[x.value] {
                        value = current(x.watch, newKey, state: state)
                    } else {
                        value = ShadowValue(a.values[x.value])
                    }
                    if let b = beforeKey, b != newKey { appendPending(x.watch, b, nil) }
                    appendPending(x.watch, newKey, value)
                }
            }
        }
    }

    /// DDL: column names of a watched table are looked up again after any statement that may
    /// have changed them; its keys are removed only when the statement is read exactly (database
    /// and table, with the statement's default database) as removing its rows: `TRUNCATE`,
    /// `DROP TABLE`, `DROP DATABASE`, `CREATE OR REPLACE TABLE`, or a rename away from the
    /// watched name. A rename onto a watched name, or a partition operation that removes or swaps
    /// rows, leaves contents the binlog does not describe: the tail stops and names
    /// `--rebootstrap`. A statement whose targets cannot be read is logged, never acted on.
    private mutating func handleDDL(_ sql: String, defaultDatabase: String, state: inout ShadowState) throws {
        guard DDLStatement.mayChangeTables(sql) else { return }
        let lowered = sql.lowercased()
        let mentioned = watchesByTable.filter { table, _ in
            let name = table.split(separator: ".", maxSplits: 1).last.map(String.init) ?? table
            return lowered.contains(name.lowercased())
        }
        guard !mentioned.isEmpty else { return }
        // Looking the columns up again is always safe.
        for (table, _) in mentioned { namesCache[table] = nil }
        resolvedFor.removeAll()
        guard let effects = DDLStatement.effects(of: sql, defaultDatabase: defaultDatabase) else {
            onWarning?("a DDL statement names a watched table but its targets could not be read; not acted on", ["statement": String(sql.prefix(200)), "default_database": defaultDatabase])
            return
        }
        for t in DDLStatement.tables(in: effects) where watchesByTable[t.description] == nil {
            if let (table, _) = watchesByTable.first(where: { $0.key.lowercased() == t.description.lowercased() }) {
                onWarning?("a DDL statement names a table that differs from a watched one only in letter case; not acted on (with lower_case_table_names=0 they are different tables)", ["statement": String(sql.prefix(200)), "watched": table, "named": t.description])
            }
        }
        for (table, ws) in watchesByTable.sorted(by: { $0.key < $1.key }) {
            let watch = watches[ws[0]]
            let o = DDLStatement.outcome(of: effects, for: { $0.database == watch.database && $0.table == watch.table }, inDatabase: { $0 == watch.database })
            if let why = o.contentsUnknown {
                throw ApplyError("\(table) is watched and \(why) (\(sql.prefix(120))); restart with --rebootstrap to read it again")
            }
            if o.removesRows {
                for w in ws { state.maps[w].forEach { k, _ in appendPending(w, k, nil) } }
            }
        }
    }
}
