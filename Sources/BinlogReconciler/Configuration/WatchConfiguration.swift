/// One watched column: which table, which key, which value, where it is cached.
public struct WatchConfiguration: Sendable, Hashable {
    public var name: String
    public var database: String
    public var table: String
    public var keyColumns: [String]
    public var valueColumn: String
    public var target: RedisTarget
    /// L: how long Redis may run ahead of MySQL.
    public var leadSeconds: Double = 2
    /// G: how long Redis may trail MySQL.
    public var lagSeconds: Double = 1
    /// C: the confirmation interval.
    public var confirmSeconds: Double = 1
    /// Cache-aside setups where an absent key is legitimate.
    public var missingIsNormal = false
    /// SCAN the key pattern for keys whose row does not exist.
    public var scanOrphans = false

    public var qualifiedTable: String { database + "." + table }

    public init(name: String, database: String, table: String, keyColumns: [String], valueColumn: String, target: RedisTarget) {
        self.name = name
        self.database = database
        self.table = table
        self.keyColumns = keyColumns
        self.valueColumn = valueColumn
        self.target = target
    }
}
