import BinlogFold
import BinlogParser

/// Why the live pipeline must stop rather than apply values it cannot trust.
public struct ApplyError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// The resolved columns of one watch's table and the position from which they hold.
public struct ResolvedSchema: Sendable, Hashable {
    public var columnNames: [String]
    public var keyIndexes: [Int]
    public var valueIndex: Int
    public var since: BinlogCoordinates?
}

/// The expected state of every watch at a transaction boundary.
public struct ShadowState: Sendable {
    public var maps: [ShadowMap]
    /// Where the state holds: the end of the last applied commit.
    public var position: BinlogCoordinates
    public var gtid = GTIDState()
    public var schemas: [ResolvedSchema?]
    public var transactionsApplied = 0
    /// XA transactions prepared and not yet committed or rolled back, with their row changes.
    public var heldXA = HeldTransactions<[PendingChange]>()

    public init(watchCount: Int, position: BinlogCoordinates) {
        maps = Array(repeating: ShadowMap(), count: watchCount)
        schemas = Array(repeating: nil, count: watchCount)
        self.position = position
    }
}
