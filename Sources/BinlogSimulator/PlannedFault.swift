/// One fault of the deterministic schedule.
public struct PlannedFault: Sendable {
    public var id: String
    public var kind: SaleFaultKind
    /// Injected just before this order (0-based) is sent.
    public var atOrder: Int
    /// Candidate products, in the order they are tried (the first that fits the kind is taken).
    public var candidates: [Int]
}
