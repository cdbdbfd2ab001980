// MARK: - RedisClusterSlotSet

/// A set of Redis Cluster hash slots: 16,384 bits (2 KiB), so a membership test is one shift and
/// one mask, and a union is 256 ORs. The slots a narrowed sweep reads (the slots of the nodes an
/// incident was about).
public struct RedisClusterSlotSet: Sendable, Hashable {
    @usableFromInline var words: [UInt64]

    /// The empty set.
    public init() { words = [UInt64](repeating: 0, count: RedisClusterSlot.count / 64) }

    /// The slots of `ranges` (parts outside 0..<16384 are ignored).
    public init(_ ranges: some Sequence<ClosedRange<Int>>) {
        self.init()
        for r in ranges { insert(r) }
    }

    /// Adds the slots of `range` that exist (0...16383).
    public mutating func insert(_ range: ClosedRange<Int>) {
        let lo = max(0, range.lowerBound), hi = min(RedisClusterSlot.count - 1, range.upperBound)
        guard lo <= hi else { return }
        for s in lo...hi { words[s >> 6] |= 1 << UInt64(s & 63) }
    }

    /// Whether `slot` is in the set; false for a number that is no slot.
    @inlinable
    public func contains(_ slot: Int) -> Bool {
        guard slot >= 0 && slot < RedisClusterSlot.count else { return false }
        return words[slot >> 6] & (1 << UInt64(slot & 63)) != 0
    }

    public mutating func formUnion(_ other: RedisClusterSlotSet) {
        for i in words.indices { words[i] |= other.words[i] }
    }

    public func isSuperset(of other: RedisClusterSlotSet) -> Bool {
        words.indices.allSatisfy { other.words[$0] & ~words[$0] == 0 }
    }

    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// The set as ascending, non-adjacent ranges (`0-5460,10923` in a summary record).
    public var ranges: [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        var start: Int?
        for s in 0...RedisClusterSlot.count {
            let inSet = s < RedisClusterSlot.count && contains(s)
            if inSet, start == nil { start = s }
            if !inSet, let b = start {
                out.append(b...(s - 1))
                start = nil
            }
        }
        return out
    }
}
