import BinlogParser

/// The binlog's transaction boundary rules, in one place for `analyze`, `check` and `run`.
///
/// Feed every event in log order (TRANSACTION_PAYLOAD contents expanded in place); each returns
/// the ``Step`` its consumer takes with its own pending changes. The rules:
///
/// - **MariaDB GTID groups**: a GTID event begins a group; a standalone group (DDL, or a
///   non-transactional statement) ends with its statement.
/// - **BEGIN / COMMIT / ROLLBACK** queries, **XID** events (InnoDB commits).
/// - **Statements** (DDL, statement-logged DML) outside BEGIN are transactions of their own (an
///   implicit commit).
/// - **Rows outside a transaction** (non-transactional engines): a transaction of their own that
///   ends with the event flagged statement-end.
/// - **XA, both flavours.** MySQL 5.7+: `XA START X'..'` … `XA END X'..'` then XA_PREPARE
///   (one_phase 0: held; 1: committed); the completion comes later as a statement of its own,
///   `XA COMMIT X'..'` or `XA ROLLBACK X'..'`, possibly from another connection or after a server
///   restart. MariaDB 10.5+: the prepared part is a GTID group flagged prepared-XA holding the rows,
///   `XA END` and the XA_PREPARE event; the completion a later group flagged completed-XA with the
///   `XA COMMIT` / `XA ROLLBACK` query; `… ONE PHASE` is logged as a plain transaction. The rows of
///   a prepared transaction are held by xid (``Step/prepare(xid:)``), applied at its XA COMMIT at
///   that position with that GTID (``Step/xaCommit(xid:)``), discarded at XA ROLLBACK. The position
///   and GTID advance at the prepare as for any group.
public struct TransactionBoundaries: Sendable {
    public enum Step: Sendable, Equatable {
        /// Nothing to do (table maps, rotations, `XA END`, events of no consequence).
        case none
        /// A transaction begins: clear what is pending.
        case begin
        /// Rows: decode them into what is pending; begin first when `begin`, commit after when
        /// `commit` (rows outside a transaction).
        case rows(begin: Bool, commit: Bool)
        /// A statement (DDL, statement-logged DML, SAVEPOINT …): begin first when `begin`, act on
        /// it, commit after when `commit`.
        case statement(begin: Bool, commit: Bool)
        /// Apply what is pending, at this event's end.
        case commit
        /// Discard what is pending.
        case rollback
        /// What is pending is held under `xid` until its XA COMMIT; nothing is applied; the
        /// position and GTID advance to this event's end.
        case prepare(xid: String)
        /// Apply what is held under `xid`, at this event's end (a commit with this group's GTID).
        case xaCommit(xid: String)
        /// Discard what is held under `xid`; the position and GTID advance.
        case xaRollback(xid: String)

        /// Whether the step ends a group (the position and GTID advance to the event's end).
        public var endsGroup: Bool {
            switch self {
            case .commit, .prepare, .xaCommit, .xaRollback: return true
            case .rows(_, let c), .statement(_, let c): return c
            case .none, .begin, .rollback: return false
            }
        }
    }

    // Inlinable (with its state usable from inlinable code): `step` runs for every event of
    // `analyze` and the live tail, from other modules.
    public var inTransaction: Bool { _inTransaction }
    /// The GTID of the group being read (text as `events` prints it), until the next group.
    public var gtid: String? { _gtid }
    public var mariadbGTID: MariaDBGTID? { _mariadbGTID }
    public var mysqlGTID: GTIDEvent? { _mysqlGTID }
    /// The header timestamp of the event that began the transaction.
    public var timestamp: UInt32 { _timestamp }
    @usableFromInline var _inTransaction = false
    @usableFromInline var _gtid: String?
    @usableFromInline var _mariadbGTID: MariaDBGTID?
    @usableFromInline var _mysqlGTID: GTIDEvent?
    @usableFromInline var _timestamp: UInt32 = 0
    @usableFromInline var standalone = false
    /// The MariaDB group is flagged completed-XA (its `XA COMMIT`/`XA ROLLBACK` completes a
    /// transaction prepared earlier).
    @usableFromInline var completesXA = false
    @usableFromInline var groupEnded = false

    public init() {}

    /// The step for `event`. For rows inside a transaction it is `.rows(begin: false, commit:
    /// false)` and changes no state: a hot loop may check `inTransaction` and skip the call.
    @inlinable
    public mutating func step(_ event: BinlogEvent) -> Step {
        if groupEnded {
            groupEnded = false
            _gtid = nil
            _mariadbGTID = nil
            _mysqlGTID = nil
        }
        let step = classify(event)
        switch step {
        case .begin:
            _inTransaction = true
        case .rows(let b, let c), .statement(let b, let c):
            if b { _inTransaction = true; _timestamp = event.header.timestamp }
            if c { end() }
        case .commit, .rollback, .prepare, .xaCommit, .xaRollback:
            end()
        case .none:
            break
        }
        return step
    }

    /// Drops the transaction being read (the stream broke in its middle and is read again).
    public mutating func abandon() {
        end()
        _gtid = nil
        _mariadbGTID = nil
        _mysqlGTID = nil
        groupEnded = false
    }

    /// Whether `sql` begins with `XA` (case-insensitive, after blanks).
    @inlinable
    static func startsWithXA(_ sql: String) -> Bool {
        var it = sql.utf8.makeIterator()
        while let b = it.next() {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { continue }
            guard b | 0x20 == 0x78, let a = it.next() else { return false }
            return a | 0x20 == 0x61
        }
        return false
    }

    @inlinable
    mutating func end() {
        _inTransaction = false
        standalone = false
        completesXA = false
        groupEnded = true
    }

    @inlinable
    mutating func classify(_ event: BinlogEvent) -> Step {
        switch event.body {
        case .mariadbGTID(let g):
            _gtid = g.gtid
            _mariadbGTID = MariaDBGTID(domainID: g.domainID, serverID: g.serverID, sequence: g.sequence)
            _mysqlGTID = nil
            _timestamp = event.header.timestamp
            // A prepared-XA group ends at its XA_PREPARE, never at a statement inside it.
            standalone = g.isStandalone && g.flags & MariaDBGTIDEvent.preparedXA == 0
            completesXA = g.flags & MariaDBGTIDEvent.completedXA != 0
            return .begin
        case .gtid(let g):
            _gtid = g.isAnonymous ? nil : g.gtid
            _mysqlGTID = g
            _mariadbGTID = nil
            completesXA = false
            _timestamp = event.header.timestamp
            return .none
        case .xid:
            return .commit
        case .xaPrepare(let p):
            return p.onePhase ? .commit : .prepare(xid: p.xid)
        case .rows(let r):
            let implicit = !inTransaction
            return .rows(begin: implicit, commit: implicit && r.isStatementEnd)
        case .query(let q):
            let sql = q.query
            if sql.utf8.count <= 8 {
                switch sql.uppercased() {
                case "BEGIN":
                    if inTransaction { return .none }
                    _timestamp = event.header.timestamp
                    return .begin
                case "COMMIT": return .commit
                case "ROLLBACK": return .rollback
                default: break
                }
            }
            // Only a statement that starts with XA (after blanks) can be one; the others are not
            // copied for the parser.
            if let xa = Self.startsWithXA(sql) ? XAStatement.parse(sql) : nil {
                switch xa.verb {
                case .start:
                    if inTransaction { return .none }
                    _timestamp = event.header.timestamp
                    return .begin
                case .end, .prepare:
                    return .none
                case .commit:
                    // Inside the transaction it ends (`… ONE PHASE`, or a group that is not a
                    // MariaDB completed-XA group) it commits what is pending; otherwise it
                    // completes a transaction prepared earlier (MySQL: a statement of its own).
                    if inTransaction && !completesXA && (xa.onePhase || _mariadbGTID != nil) { return .commit }
                    return .xaCommit(xid: xa.xid)
                case .rollback:
                    return .xaRollback(xid: xa.xid)
                }
            }
            // DDL or a statement-based change: a transaction of its own unless inside BEGIN.
            return .statement(begin: !inTransaction, commit: !inTransaction || standalone)
        default:
            return .none
        }
    }
}

/// XA transactions held between their prepare and their completion, by xid, with a bound.
public struct HeldTransactions<Changes>: Sendable where Changes: Sendable {
    public struct Held: Sendable {
        public var changes: Changes
        public var count: Int
        /// Where it was prepared (for messages), and the header timestamp of the prepare.
        public var preparedAt: String
        public var timestamp: UInt32
    }

    public private(set) var byXID: [String: Held] = [:]
    public private(set) var totalChanges = 0
    /// The most changes held at once; past it ``hold(_:changes:count:at:timestamp:)`` refuses.
    public var maxChanges: Int

    public init(maxChanges: Int = 1_000_000) { self.maxChanges = maxChanges }

    public var isEmpty: Bool { byXID.isEmpty }
    public var count: Int { byXID.count }

    /// Holds `changes` under `xid`; false when that would pass ``maxChanges`` (nothing held).
    public mutating func hold(_ xid: String, changes: Changes, count: Int, at: String, timestamp: UInt32) -> Bool {
        if let old = byXID[xid] { totalChanges -= old.count }
        guard totalChanges + count <= maxChanges else { return false }
        byXID[xid] = Held(changes: changes, count: count, preparedAt: at, timestamp: timestamp)
        totalChanges += count
        return true
    }

    /// The changes held under `xid`, removed; nil when its prepare was not seen.
    public mutating func release(_ xid: String) -> Held? {
        guard let h = byXID.removeValue(forKey: xid) else { return nil }
        totalChanges -= h.count
        return h
    }

    /// The header timestamp of the oldest prepare held.
    public var oldestTimestamp: UInt32? { byXID.values.map(\.timestamp).min() }
}
