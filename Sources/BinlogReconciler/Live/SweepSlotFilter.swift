/// The keys a narrowed sweep reads: those whose Redis key name hashes to a slot of the set. Each
/// name is rendered into one reused buffer (the template's literals as bytes, prepared once) and
/// its CRC16 taken, as a cluster read groups its keys; no String per key (cost measured by
/// `binlog-reconciler-bench slot-filter`, in docs/redis-cluster.md).
package struct SweepSlotFilter {
    package let template: RedisKeyTemplate
    package let slots: RedisClusterSlotSet
    private enum Piece {
        case bytes([UInt8])
        case column(Int)
    }
    private let pieces: [Piece]

    package init(template: RedisKeyTemplate, slots: RedisClusterSlotSet) {
        self.template = template
        self.slots = slots
        pieces = template.parts.map {
            switch $0 {
            case .literal(let s): .bytes(Array(s.utf8))
            case .column(let i): .column(i)
            }
        }
    }

    /// `keys` whose slot is in the set, in their order.
    package func keep(_ keys: [Int64]) -> [Int64] {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(128)
        return keys.filter { id in
            scratch.removeAll(keepingCapacity: true)
            for p in pieces {
                switch p {
                case .bytes(let b): scratch.append(contentsOf: b)
                case .column: RedisKeyTemplate.appendDecimal(id, to: &scratch)
                }
            }
            return slots.contains(scratch.withUnsafeBytes { RedisClusterSlot.slot(of: $0) })
        }
    }

    package func keep(_ keys: [ShadowKey]) -> [ShadowKey] {
        var scratch: [UInt8] = []
        scratch.reserveCapacity(128)
        return keys.filter { key in
            template.appendRendered(key, to: &scratch)
            return slots.contains(scratch.withUnsafeBytes { RedisClusterSlot.slot(of: $0) })
        }
    }
}
