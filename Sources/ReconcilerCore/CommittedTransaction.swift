import BinlogParser

/// A change to one watched key, applied at its transaction's commit.
public struct CommittedChange: Sendable, Hashable {
    public var watch: Int
    public var key: ShadowKey
    /// The value before the transaction (nil: no row).
    public var old: ShadowValue?
    /// The value after it (nil: the row was deleted).
    public var new: ShadowValue?

    /// The memberwise initializer, for the library's other targets.
    package init(watch: Int, key: ShadowKey, old: ShadowValue? = nil, new: ShadowValue? = nil) {
        self.watch = watch
        self.key = key
        self.old = old
        self.new = new
    }
}

/// A committed transaction that touched watched tables (or moved the position).
public struct CommittedTransaction: Sendable {
    public var gtid: String?
    /// The end of the commit event: a transaction boundary.
    public var end: BinlogCoordinates
    public var timestamp: UInt32
    public var changes: [CommittedChange]
    /// For an XA group: what happened to the XA transaction.
    public var xa: XAOutcome? = nil

    /// The memberwise initializer, for the library's other targets.
    package init(gtid: String? = nil, end: BinlogCoordinates, timestamp: UInt32, changes: [CommittedChange], xa: XAOutcome? = nil) {
        self.gtid = gtid
        self.end = end
        self.timestamp = timestamp
        self.changes = changes
        self.xa = xa
    }
}

/// What an XA group did.
public enum XAOutcome: Sendable, Hashable {
    /// Prepared: `changes` are held (not applied) until its XA COMMIT; `old` is the value now.
    case prepared(xid: String, changes: [CommittedChange])
    /// Committed: its held changes are the transaction's `changes`.
    case committed(xid: String)
    case rolledBack(xid: String)
}
