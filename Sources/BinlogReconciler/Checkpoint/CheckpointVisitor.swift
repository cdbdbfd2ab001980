/// Receives a checkpoint's content as it is parsed (entries in key order within each watch).
protocol CheckpointVisitor {
    mutating func header(_ header: CheckpointHeader, watchCount: Int, divergenceCount: Int) throws(CheckpointError)
    mutating func beginWatch(
        _ schema: CheckpointWatchSchema,
        integerKeys: UInt64,
        otherKeys: UInt64
    ) throws(CheckpointError)
    /// Integer keys in ascending order with their integer values; at the indices listed in
    /// `exceptions` the value is the exception's (NULL or text) instead.
    mutating func intBlock(
        keys: UnsafeBufferPointer<Int64>,
        values: UnsafeBufferPointer<Int64>,
        exceptions: [(Int, ShadowValue)]
    ) throws(CheckpointError)
    mutating func otherEntry(_ key: ShadowKey, _ value: ShadowValue) throws(CheckpointError)
    mutating func endWatch() throws(CheckpointError)
    mutating func divergence(_ d: CheckpointDivergence) throws(CheckpointError)
    /// A prepared XA transaction with its held changes (version 2).
    mutating func heldXA(_ h: CheckpointHeldXA) throws(CheckpointError)
    /// True once the visitor threw only to stop reading (no diagnosis then).
    var isStopped: Bool { get }
}

extension CheckpointVisitor {
    var isStopped: Bool { false }
    mutating func heldXA(_ h: CheckpointHeldXA) throws(CheckpointError) {}
}
