import BinlogParser

/// Entries by signed integer key: open addressing with linear probing, a multiplicative hash and
/// plain-value slots (an integer value is stored as it is; any other value goes to a side table),
/// so that setting a key touches no reference count and no `Hasher`.
struct IntKeyedEntries {
    private struct Slot {
        var key: Int64 = 0
        /// The value when `other < 0` (`.int(value)`).
        var value: Int64 = 0
        /// Index in `others`, or -1.
        var other: Int32 = -1
        var used = false
        var fileIndex: Int = 0
        var pos: UInt64 = 0
    }

    private var slots = [Slot](repeating: Slot(), count: 16)
    private var shift: UInt64 = 60  // 64 - log2(slots.count)
    private(set) var count = 0
    private var others: [ColumnValue] = []
    private var freeOthers: [Int32] = []

    @inline(__always)
    private func home(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always)
    private func find(_ key: Int64) -> (index: Int, found: Bool) {
        let mask = slots.count - 1
        var i = home(key)
        while slots[i].used {
            if slots[i].key == key { return (i, true) }
            i = (i + 1) & mask
        }
        return (i, false)
    }

    subscript(key: Int64) -> BinlogAnalyzer.Entry? {
        let (i, found) = find(key)
        return found ? entry(at: i) : nil
    }

    private func entry(at i: Int) -> BinlogAnalyzer.Entry {
        let s = slots[i]
        let value = s.other < 0 ? ColumnValue.int(s.value) : others[Int(s.other)]
        return BinlogAnalyzer.Entry(value: value, fileIndex: s.fileIndex, pos: s.pos)
    }

    /// Sets `key` to `.int(value)`: one probe, one write.
    mutating func set(_ key: Int64, int value: Int64, fileIndex: Int, pos: UInt64) {
        if (count + 1) * 2 > slots.count { grow() }
        let first = home(key)
        var freed: Int32 = -1
        let inserted = slots.withUnsafeMutableBufferPointer { buf -> Bool in
            let mask = buf.count - 1
            var i = first
            while buf[i].used {
                if buf[i].key == key {
                    freed = buf[i].other
                    buf[i] = Slot(key: key, value: value, other: -1, used: true, fileIndex: fileIndex, pos: pos)
                    return false
                }
                i = (i + 1) & mask
            }
            buf[i] = Slot(key: key, value: value, other: -1, used: true, fileIndex: fileIndex, pos: pos)
            return true
        }
        if inserted { count += 1 }
        if freed >= 0 {
            others[Int(freed)] = .null
            freeOthers.append(freed)
        }
    }

    mutating func set(_ key: Int64, _ entry: BinlogAnalyzer.Entry) {
        if case .int(let v) = entry.value {
            set(key, int: v, fileIndex: entry.fileIndex, pos: entry.pos)
            return
        }
        set(key, int: 0, fileIndex: entry.fileIndex, pos: entry.pos)
        let i = find(key).index
        let index: Int32
        if let free = freeOthers.popLast() {
            index = free
            others[Int(free)] = entry.value
        } else {
            index = Int32(others.count)
            others.append(entry.value)
        }
        slots[i].other = index
    }

    private mutating func releaseOther(_ i: Int) {
        let o = slots[i].other
        guard o >= 0 else { return }
        others[Int(o)] = .null
        freeOthers.append(o)
        slots[i].other = -1
    }

    mutating func remove(_ key: Int64) -> BinlogAnalyzer.Entry? {
        let (found, isThere) = find(key)
        guard isThere else { return nil }
        let removed = entry(at: found)
        releaseOther(found)
        slots[found].used = false
        count -= 1
        // Backward-shift deletion: move later entries of the probe run into the hole.
        let mask = slots.count - 1
        var hole = found
        var j = found
        while true {
            j = (j + 1) & mask
            guard slots[j].used else { break }
            let h = home(slots[j].key)
            // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
            let stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !stays {
                slots[hole] = slots[j]
                slots[j].used = false
                slots[j].other = -1
                hole = j
            }
        }
        return removed
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(), count: old.count * 2)
        shift -= 1
        for s in old where s.used {
            var i = home(s.key)
            while slots[i].used { i = (i + 1) & (slots.count - 1) }
            slots[i] = s
        }
    }

    /// Every key and entry, in no order.
    func all() -> [(key: Int64, entry: BinlogAnalyzer.Entry)] {
        var out: [(key: Int64, entry: BinlogAnalyzer.Entry)] = []
        out.reserveCapacity(count)
        for i in slots.indices where slots[i].used { out.append((slots[i].key, entry(at: i))) }
        return out
    }
}
