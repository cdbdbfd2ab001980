public struct ReconcileSettings: Sendable {
    public var sweepIntervalSeconds: Double = 30
    public var sweepBatch = 1000
    /// Pace of sweeps (keys read per second); nil reads as fast as Redis answers.
    public var sweepKeysPerSecond: Double?
    public var repair = false
    public var repairDryRun = false
    public var repairPerSecond: Double = 50
    /// "-" for stdout, or a file path.
    public var report = "-"
    public var reportStream: String?
    public var reportStreamMaxLength = 10000
    /// Records held for the stream while Redis is unreachable; the oldest go first when full.
    public var reportStreamQueue = 10000
}
