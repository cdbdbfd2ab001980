/// Identity of a snapshot: the map sees it uniquely referenced once every snapshot copy is gone.
package final class ShadowMapSnapshotToken: Sendable {}

/// An immutable view of a ``ShadowMap`` at the moment of `beginSnapshot()`, safe to read from
/// another task while the map keeps changing (the map writes to an overlay meanwhile).
public struct ShadowMapSnapshot: Sendable {
    package let ints: [Int64: Int64]
    package let others: [ShadowKey: ShadowValue]
    let token: ShadowMapSnapshotToken?

    package init(ints: [Int64: Int64], others: [ShadowKey: ShadowValue], token: ShadowMapSnapshotToken? = nil) {
        self.ints = ints
        self.others = others
        self.token = token
    }

    /// A snapshot of a map's current contents. O(1) when the map has no overlay (the map's next
    /// write then copies its storage unless the snapshot is gone: use `beginSnapshot()` on the
    /// apply path); otherwise O(n).
    public init(_ map: ShadowMap) {
        if map.overlay == nil {
            self.init(ints: map.ints, others: map.others)
        } else {
            var ints: [Int64: Int64] = [:]
            var others: [ShadowKey: ShadowValue] = [:]
            map.forEach { k, v in
                if case .int(let i) = k, case .int(let x) = v { ints[i] = x } else { others[k] = v }
            }
            self.init(ints: ints, others: others)
        }
    }

    /// An empty snapshot.
    public init() { self.init(ints: [:], others: [:]) }

    public var count: Int { ints.count + others.count }
    public var isEmpty: Bool { ints.isEmpty && others.isEmpty }
    /// Entries with an integer key and an integer value.
    public var integerCount: Int { ints.count }

    public subscript(key: ShadowKey) -> ShadowValue? {
        if case .int(let k) = key, let v = ints[k] { return .int(v) }
        return others[key]
    }

    /// Every entry, in no particular order.
    public func forEach(_ body: (ShadowKey, ShadowValue) throws -> Void) rethrows {
        for (k, v) in ints { try body(.int(k), .int(v)) }
        for (k, v) in others { try body(k, v) }
    }

    /// Every entry, sorted by key.
    public func sortedEntries() -> [(ShadowKey, ShadowValue)] {
        ShadowMap(self).sortedEntries()
    }

    /// Same entries (order-independent).
    public func hasSameEntries(as other: ShadowMapSnapshot) -> Bool {
        ints == other.ints && others == other.others
    }
}
