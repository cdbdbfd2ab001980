public struct CheckpointSettings: Sendable {
    public var directory: String?
    public var intervalSeconds: Double = 10
    public var everyTransactions = 10000
    public var keep = 3
}
