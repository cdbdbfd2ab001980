import BinlogParser

/// The expected value of every watched key of one watch, as of an exact binlog position.
///
/// Integer keys with integer values (the flash-sale case) live in a `[Int64: Int64]` dictionary
/// (about 24–32 bytes per key); anything else in a general dictionary. The two never overlap.
///
/// ## Snapshots
///
/// `beginSnapshot()` returns an immutable ``ShadowMapSnapshot`` of the current contents in O(1)
/// and freezes the two dictionaries (the *base*): while a snapshot is open, writes go to a small
/// overlay of changes (deletions included), and reads consult the overlay, then the base. So the
/// apply path never mutates storage the snapshot shares, and never pays the copy-on-write copy of
/// the whole table (100+ ms at 10 million keys). `endSnapshot()` lets the overlay be merged back,
/// a bounded slice at a time (here, in `mergeOverlay(limit:)` and a few entries per later write),
/// once every copy of the snapshot has been released; until then writes keep going to the overlay.
public struct ShadowMap: Sendable {
    /// The base: every entry when no snapshot is open; frozen (shared with the snapshot) otherwise.
    private(set) var ints: [Int64: Int64] = [:]
    private(set) var others: [ShadowKey: ShadowValue] = [:]
    /// Changes made since `beginSnapshot()` that are not yet merged into the base.
    package var overlay: ShadowMapOverlay? = nil
    /// Integer entries of the last overlay, to size the next one.
    var overlaySizeHint = 0

    public init() {}

    /// A map holding a snapshot's contents, in O(1) (the storage is shared until the first write;
    /// drop the snapshot before writing to avoid a copy).
    public init(_ snapshot: ShadowMapSnapshot) {
        ints = snapshot.ints
        others = snapshot.others
    }

    init(ints: [Int64: Int64], others: [ShadowKey: ShadowValue]) {
        self.ints = ints
        self.others = others
    }

    public var count: Int { ints.count + others.count + (overlay?.countDelta ?? 0) }

    public var isEmpty: Bool { count == 0 }

    public subscript(key: ShadowKey) -> ShadowValue? {
        get {
            if overlay != nil { return overlayLookup(key) }
            return baseLookup(key)
        }
        set {
            if overlay == nil {
                setBase(key, newValue)
            } else {
                setWithOverlay(key, newValue)
            }
        }
    }

    public mutating func removeAll() {
        if overlay != nil, !canWriteBase {
            overlay!.removeAll(baseCount: ints.count + others.count)
            return
        }
        overlay = nil
        ints.removeAll()
        others.removeAll()
    }

    /// Reserves room in the integer dictionary (ignored while a snapshot's overlay is in use).
    public mutating func reserveCapacity(_ n: Int) {
        if overlay == nil { ints.reserveCapacity(n) }
    }

    /// Every entry, sorted by key (checkpoints and `checkpoint inspect --values` rely on the order).
    public func sortedEntries() -> [(ShadowKey, ShadowValue)] {
        var out: [(ShadowKey, ShadowValue)] = []
        out.reserveCapacity(count)
        forEach { out.append(($0, $1)) }
        out.sort { $0.0 < $1.0 }
        return out
    }

    /// Integer entries sorted by key, for the compact checkpoint encoding.
    public func sortedIntegerEntries() -> [(Int64, Int64)] {
        if overlay == nil { return ints.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
        var out: [(Int64, Int64)] = []
        forEach { k, v in if case .int(let k) = k, case .int(let v) = v { out.append((k, v)) } }
        out.sort { $0.0 < $1.0 }
        return out
    }

    /// Entries that are not integer→integer, sorted by key.
    public func sortedOtherEntries() -> [(ShadowKey, ShadowValue)] {
        if overlay == nil { return others.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
        var out: [(ShadowKey, ShadowValue)] = []
        forEach { k, v in
            if case .int = k, case .int = v { return }
            out.append((k, v))
        }
        out.sort { $0.0 < $1.0 }
        return out
    }

    /// Every entry, in no particular order (overlay changes included).
    public func forEach(_ body: (ShadowKey, ShadowValue) throws -> Void) rethrows {
        guard let o = overlay else {
            for (k, v) in ints { try body(.int(k), .int(v)) }
            for (k, v) in others { try body(k, v) }
            return
        }
        func pending(_ key: ShadowKey) -> Bool {
            if case .int(let k) = key, o.ints[k] != nil { return true }
            return o.others[key] != nil
        }
        if !o.baseCleared {
            for (k, v) in ints where !pending(.int(k)) { try body(.int(k), .int(v)) }
            for (k, v) in others where !pending(k) { try body(k, v) }
        }
        for (k, v) in o.ints { try body(.int(k), .int(v)) }
        for (k, e) in o.others { if case .value(let v) = e { try body(k, v) } }
    }

    // MARK: - Base access

    @inline(__always)
    func baseLookup(_ key: ShadowKey) -> ShadowValue? {
        if case .int(let k) = key, let v = ints[k] { return .int(v) }
        return others.isEmpty ? nil : others[key]
    }

    @inline(__always)
    mutating func setBase(_ key: ShadowKey, _ newValue: ShadowValue?) {
        if case .int(let k) = key {
            if case .int(let v)? = newValue {
                ints[k] = v
                if !others.isEmpty { others.removeValue(forKey: key) }
                return
            }
            ints.removeValue(forKey: k)
        }
        others[key] = newValue
    }
}

// MARK: - Snapshot and overlay

extension ShadowMap {
    /// Whether a snapshot is open (between `beginSnapshot()` and `endSnapshot()`).
    public var isSnapshotOpen: Bool { overlay?.snapshotOpen ?? false }

    /// Overlay entries not yet merged back into the base (0 when no snapshot is in progress).
    public var pendingOverlayCount: Int { overlay.map { $0.ints.count + $0.others.count } ?? 0 }

    /// Freezes the current contents and returns them as a snapshot, in O(1).
    ///
    /// Later writes go to an overlay until `endSnapshot()` and the overlay is merged back. If the
    /// previous snapshot's overlay is still being merged, that merge is finished first (which
    /// copies the base if the previous snapshot is still alive). One snapshot at a time.
    public mutating func beginSnapshot() -> ShadowMapSnapshot {
        precondition(!isSnapshotOpen, "ShadowMap.beginSnapshot: a snapshot is already open")
        if overlay != nil { finishMerge() }
        let token = ShadowMapSnapshotToken()
        var o = ShadowMapOverlay(token: token)
        // Size the overlay like the last one so the apply path does not rehash it while growing.
        if overlaySizeHint > 1024 {
            let n = min(overlaySizeHint + overlaySizeHint / 4, 1 << 22)
            o.ints.reserveCapacity(n)
            o.intOrder.reserveCapacity(n)
        }
        overlay = o
        return ShadowMapSnapshot(ints: ints, others: others, token: token)
    }

    /// Closes the snapshot. Its overlay is merged back into the base once every copy of the
    /// snapshot has been released: up to `mergeLimit` entries here, the rest by
    /// `mergeOverlay(limit:)` and a few entries with each later write.
    /// - Returns: true when the overlay is fully merged (the map is back to plain dictionaries).
    @discardableResult
    public mutating func endSnapshot(mergeLimit: Int = 8_192) -> Bool {
        guard overlay != nil else { return true }
        overlay!.snapshotOpen = false
        overlaySizeHint = overlay!.ints.count
        return mergeOverlay(limit: mergeLimit)
    }

    /// Merges up to `limit` overlay entries into the base. Does nothing while the snapshot is open
    /// or a copy of it is still alive (merging then would copy the whole base).
    /// - Returns: true when nothing remains to merge.
    @discardableResult
    public mutating func mergeOverlay(limit: Int = 8_192) -> Bool {
        guard overlay != nil else { return true }
        guard canWriteBase else { return false }
        mergeSlice(limit)
        return overlay == nil
    }

    /// True when the base may be written: no snapshot open and no copy of the last one alive.
    var canWriteBase: Bool {
        mutating get {
            guard overlay != nil else { return true }
            if overlay!.snapshotOpen { return false }
            return isKnownUniquelyReferenced(&overlay!.token)
        }
    }

    func overlayLookup(_ key: ShadowKey) -> ShadowValue? {
        if case .int(let k) = key, let v = overlay?.ints[k] { return .int(v) }
        if overlay?.others.isEmpty == false, let e = overlay?.others[key] {
            if case .value(let v) = e { return v }
            return nil
        }
        if overlay?.baseCleared == true { return nil }
        return baseLookup(key)
    }

    mutating func setWithOverlay(_ key: ShadowKey, _ newValue: ShadowValue?) {
        if canWriteBase {
            // Merging phase: this key's pending change is superseded; write the base directly.
            if overlay!.baseCleared { clearBaseForMerge() }
            dropPending(key)
            setBase(key, newValue)
            mergeSlice(4)
            return
        }
        let was = overlayLookup(key) != nil
        overlay!.countDelta += (newValue != nil ? 1 : 0) - (was ? 1 : 0)
        if case .int(let k) = key {
            if case .int(let v)? = newValue {
                if overlay!.ints.updateValue(v, forKey: k) == nil { overlay!.intOrder.append(k) }
                if !overlay!.others.isEmpty { overlay!.others.removeValue(forKey: key) }
                return
            }
            if !overlay!.ints.isEmpty { overlay!.ints.removeValue(forKey: k) }
        }
        let entry: ShadowMapOverlay.Entry = newValue.map { .value($0) } ?? .removed
        if overlay!.others.updateValue(entry, forKey: key) == nil { overlay!.otherOrder.append(key) }
    }

    /// Removes `key`'s pending overlay change (its visible value becomes the base's).
    private mutating func dropPending(_ key: ShadowKey) {
        if case .int(let k) = key, overlay!.ints.removeValue(forKey: k) != nil {
            if baseLookup(key) == nil { overlay!.countDelta -= 1 }
            return
        }
        guard !overlay!.others.isEmpty, let old = overlay!.others.removeValue(forKey: key) else { return }
        let had = baseLookup(key) != nil
        if case .value = old { overlay!.countDelta -= had ? 0 : 1 } else { overlay!.countDelta += had ? 1 : 0 }
    }

    /// Base cleared by `removeAll()` during the snapshot: drop it now that it is ours alone.
    mutating func clearBaseForMerge() {
        overlay!.countDelta += ints.count + others.count
        overlay!.baseCleared = false
        ints = [:]
        others = [:]
    }

    /// Moves up to `limit` overlay entries into the base (the base must be writable).
    mutating func mergeSlice(_ limit: Int) {
        guard overlay != nil else { return }
        if overlay!.baseCleared { clearBaseForMerge() }
        var done = 0
        while done < limit, overlay!.intCursor < overlay!.intOrder.count {
            let k = overlay!.intOrder[overlay!.intCursor]
            overlay!.intCursor += 1
            guard let v = overlay!.ints.removeValue(forKey: k) else { continue }
            var had = ints.updateValue(v, forKey: k) != nil
            if !had && !others.isEmpty && others.removeValue(forKey: .int(k)) != nil { had = true }
            if !had { overlay!.countDelta -= 1 }
            done += 1
        }
        while done < limit, overlay!.otherCursor < overlay!.otherOrder.count {
            let key = overlay!.otherOrder[overlay!.otherCursor]
            overlay!.otherCursor += 1
            guard let e = overlay!.others.removeValue(forKey: key) else { continue }
            let had = baseLookup(key) != nil
            switch e {
            case .value(let v):
                setBase(key, v)
                overlay!.countDelta -= had ? 0 : 1
            case .removed:
                setBase(key, nil)
                overlay!.countDelta += had ? 1 : 0
            }
            done += 1
        }
        if overlay!.intCursor >= overlay!.intOrder.count && overlay!.otherCursor >= overlay!.otherOrder.count {
            assert(overlay!.ints.isEmpty && overlay!.others.isEmpty && overlay!.countDelta == 0)
            overlay = nil
        }
    }

    /// Merges everything now, copying the base if a snapshot copy is still alive.
    mutating func finishMerge() {
        guard let o = overlay else { return }
        if !canWriteBase {
            // Someone still holds the snapshot: take private copies of the base (O(n)).
            overlay = nil
            var copyInts = ints
            var copyOthers = others
            copyInts.reserveCapacity(copyInts.count + 1)  // forces the copy now
            copyOthers.reserveCapacity(copyOthers.count + 1)
            ints = copyInts
            others = copyOthers
            var fresh = o
            fresh.token = ShadowMapSnapshotToken()
            fresh.snapshotOpen = false
            overlay = fresh
        }
        mergeSlice(Int.max)
    }
}
