/// The keys a narrowed sweep reads: those whose Redis key name hashes to a slot of the set. Each
/// name is rendered into one reused buffer and its CRC16 taken, as a cluster read groups its keys;
/// no String per key (cost measured by `binlog-reconciler-bench slot-filter`, in
/// docs/redis-cluster.md).
package struct SweepSlotFilter {
    package let template: RedisKeyTemplate
    package let slots: RedisClusterSlotSet

    package init(template: RedisKeyTemplate, slots: RedisClusterSlotSet) {
        self.template = template
        self.slots = slots
    }

    /// `keys` whose slot is in the set, in their order.
    package func keep(_ keys: [Int64]) -> [Int64] {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(128)
        return keys.filter { contains(.int($0), &scratch) }
    }

    package func keep(_ keys: [ShadowKey]) -> [ShadowKey] {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(128)
        return keys.filter { contains($0, &scratch) }
    }

    @inline(__always)
    private func contains(_ key: ShadowKey, _ scratch: inout [UInt8]) -> Bool {
        template.appendRendered(key, to: &scratch)
        return slots.contains(scratch.withUnsafeBytes { RedisClusterSlot.slot(of: $0) })
    }
}
