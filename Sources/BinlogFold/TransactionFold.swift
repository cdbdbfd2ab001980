import BinlogParser

/// The storage side of the one transaction fold: what `analyze` (`BinlogAnalyzer`) and the live
/// tail (`TransactionAssembler`) each keep — the pending changes of the open transaction, the
/// changes of prepared XA transactions, and the state commits are applied to. ``TransactionFold``
/// decides, by the boundary rules, which of these to call and in which order; a storage never
/// looks at boundaries itself.
public protocol FoldStorage {
    /// What the calls act on besides the storage (the live shadow state; nothing for `analyze`).
    associatedtype Context
    /// Where an event is; passed through to the storage (and named in messages).
    associatedtype Location: CustomStringConvertible
    associatedtype Failure: Error

    /// A transaction starting with an event stamped `timestamp` is about to begin; false stops the
    /// fold before it (`analyze --until-time`).
    mutating func willBegin(timestamp: UInt32) throws(Failure) -> Bool
    /// Drops what is pending (a new transaction, a ROLLBACK).
    mutating func discardPending()
    /// Decodes the rows of the event into what is pending.
    mutating func rows(_ r: RowsEvent, context: inout Context) throws(Failure)
    /// A statement inside or as a transaction (DDL on a watched table acts here).
    mutating func statement(_ q: QueryEvent, at: Location, context: inout Context) throws(Failure)
    /// Applies what is pending at `at` (for an XA group: nothing, or what its XA COMMIT restored);
    /// the position and GTID advance there.
    mutating func commit(at: Location, boundaries: TransactionBoundaries, context: inout Context) throws(Failure)
    /// XA PREPARE: holds what is pending under `xid` (and drops it from pending).
    mutating func hold(xid: String, at: Location, timestamp: UInt32, context: inout Context) throws(Failure)
    /// XA COMMIT: makes what is held under `xid` pending (its prepare may not have been seen: the
    /// storage stops or warns).
    mutating func restore(xid: String, at: Location, context: inout Context) throws(Failure)
    /// XA ROLLBACK: drops what is held under `xid`.
    mutating func drop(xid: String, context: inout Context)
}

/// One transaction fold for `analyze`, `check` and `run`: feeds each event through
/// ``TransactionBoundaries`` and calls the storage's operations for the step, in the one order
/// the binlog means. Storages differ only in what they keep, never in the rules.
public struct TransactionFold: Sendable {
    /// What an event did.
    public enum Outcome: Sendable, Equatable {
        case none
        /// A transaction was applied (or a group ended that moved the position).
        case committed
        /// An XA transaction was prepared: its changes are held, the position advanced.
        case prepared(xid: String)
        /// An XA transaction's held changes were applied.
        case xaCommitted(xid: String)
        /// An XA transaction's held changes were dropped; the position advanced.
        case xaRolledBack(xid: String)
        /// The storage stopped the fold before a transaction (``FoldStorage/willBegin(timestamp:)``).
        case stopped
    }

    public var boundaries = TransactionBoundaries()

    public init() {}

    /// Whether a transaction is open (its changes are pending).
    @inlinable public var inTransaction: Bool { boundaries.inTransaction }

    /// Drops the open transaction (the stream broke in its middle).
    public mutating func abandon() { boundaries.abandon() }

    /// Folds one event (TRANSACTION_PAYLOAD contents expanded in place) at `at`.
    @inlinable
    public mutating func consume<S: FoldStorage>(
        _ event: BinlogEvent, at: S.Location, storage s: inout S, context: inout S.Context
    ) throws(S.Failure) -> Outcome {
        // The hot path: rows inside a transaction (`step` would change nothing).
        if boundaries.inTransaction, case .rows(let r) = event.body {
            try s.rows(r, context: &context)
            return .none
        }
        switch boundaries.step(event) {
        case .none:
            return .none
        case .begin:
            guard try s.willBegin(timestamp: boundaries.timestamp) else { return .stopped }
            s.discardPending()
            return .none
        case .rows(let b, let c):
            guard case .rows(let r) = event.body else { return .none }
            if b {
                guard try s.willBegin(timestamp: event.header.timestamp) else { return .stopped }
                s.discardPending()
            }
            try s.rows(r, context: &context)
            guard c else { return .none }
            try s.commit(at: at, boundaries: boundaries, context: &context)
            return .committed
        case .statement(let b, let c):
            guard case .query(let q) = event.body else { return .none }
            if b {
                guard try s.willBegin(timestamp: event.header.timestamp) else { return .stopped }
                s.discardPending()
            }
            try s.statement(q, at: at, context: &context)
            guard c else { return .none }
            try s.commit(at: at, boundaries: boundaries, context: &context)
            return .committed
        case .commit:
            try s.commit(at: at, boundaries: boundaries, context: &context)
            return .committed
        case .rollback:
            s.discardPending()
            return .none
        case .prepare(let xid):
            // Nothing is applied; the position and GTID advance as for any group.
            try s.hold(xid: xid, at: at, timestamp: boundaries.timestamp, context: &context)
            s.discardPending()
            try s.commit(at: at, boundaries: boundaries, context: &context)
            return .prepared(xid: xid)
        case .xaCommit(let xid):
            s.discardPending()
            try s.restore(xid: xid, at: at, context: &context)
            try s.commit(at: at, boundaries: boundaries, context: &context)
            return .xaCommitted(xid: xid)
        case .xaRollback(let xid):
            s.drop(xid: xid, context: &context)
            s.discardPending()
            try s.commit(at: at, boundaries: boundaries, context: &context)
            return .xaRolledBack(xid: xid)
        }
    }
}
