import Foundation
import Logging

/// What a sweep reads.
enum SweepScope: Equatable {
    /// Every watched key.
    case every
    /// Redis Cluster: the watched keys whose hash slot is in the set (after an incident of the
    /// nodes that serve these slots).
    case slots(RedisClusterSlotSet)
}

/// A sweep in progress: every watched key (or those of some slots), read a slice per turn of the
/// reconcile loop (so change reads, verdicts and repairs go on during a sweep of a large
/// catalogue), paced by `sweep_keys_per_second` when set.
struct SweepCursor {
    let startedAt: Double
    /// The slots whose keys are read; nil: every key.
    let slots: RedisClusterSlotSet?
    /// The watch being read, its keys as they were when its turn came, and the next index.
    var watch = -1
    var keys: ReadKeys = .keys([])
    var next = 0
    /// Every watch's keys, for the progress (counted at the start; a narrowed sweep takes off
    /// the keys outside its slots as each watch's turn comes).
    var total: Int
    var tally = ReadTally()
    /// `sweep_keys_per_second`: keys that may be read now, and when that was computed.
    var tokens = 0.0
    var refilledAt: Double

    init(startedAt: Double, total: Int, slots: RedisClusterSlotSet? = nil) {
        self.startedAt = startedAt
        self.total = total
        self.slots = slots
        refilledAt = startedAt
    }

    var done: Int { tally.checked }
    var progressShownAt = -Double.infinity
}

/// How a turn of a sweep ended.
enum SweepTurn {
    case complete
    /// Its time slice ran out: it goes on at the next turn.
    case deadline
    /// `sweep_keys_per_second` allows no more keys yet.
    case paced
}

extension Reconciler {
    /// Starts a sweep of every watched key, or of those in some slots.
    func beginSweep(now: Double, scope: SweepScope = .every) -> SweepCursor {
        let total = shared.withLock { $0.shadow.maps.reduce(0) { $0 + $1.count } }
        metrics.setSweepProgress(done: 0, total: total)
        guard case .slots(let slots) = scope else { return SweepCursor(startedAt: now, total: total) }
        logger.info("sweep of the keys of some slots (after a Redis Cluster node's incident)", metadata: [
            "slots": "\(slots.count)", "ranges": "\(Self.slotText(slots.ranges))",
        ])
        return SweepCursor(startedAt: now, total: total, slots: slots)
    }

    /// Slot ranges as a summary record writes them: `0-5460,10923`.
    static func slotText(_ ranges: [ClosedRange<Int>]) -> String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }

    /// Reads the next slices of the sweep until `deadline` or what the pace allows.
    func continueSweep(_ sweep: inout SweepCursor, redis: RedisRoute, deadline: Double) throws -> SweepTurn {
        let rate = configuration.reconcile.sweepKeysPerSecond
        while true {
            if sweep.next >= sweep.keys.count {
                // The watch is done: its orphan scan, then the next watch's keys.
                if sweep.watch >= 0, configuration.watches[sweep.watch].scanOrphans {
                    try scanOrphans(watch: sweep.watch, redis: redis, slots: sweep.slots)
                }
                sweep.watch += 1
                guard sweep.watch < configuration.watches.count else {
                    showProgress(&sweep, final: true)
                    return .complete
                }
                sweep.keys = snapshotKeys(watch: sweep.watch)
                if let slots = sweep.slots {
                    let all = sweep.keys.count
                    sweep.keys = keys(sweep.keys, watch: sweep.watch, inSlots: slots)
                    sweep.total -= all - sweep.keys.count
                }
                sweep.next = 0
                continue
            }
            // One pipeline for the rest of the watch, or what the pace allows: it stops sending
            // at the deadline (and reads the batches in flight), so it never drains between batches.
            var n = sweep.keys.count - sweep.next
            if let rate, rate > 0 {
                // A token bucket of at most one second of keys, so an idle moment never becomes a
                // burst larger than the pace.
                let now = monotonicSeconds()
                sweep.tokens = min(rate, sweep.tokens + (now - sweep.refilledAt) * rate)
                sweep.refilledAt = now
                let allowed = Int(sweep.tokens)
                guard allowed > 0 else { return .paced }
                n = min(n, allowed)
                sweep.tokens -= Double(n)
            }
            let slice = try read(watch: sweep.watch, sweep.keys, sweep.next..<(sweep.next + n), redis: redis, trigger: .sweep, until: deadline)
            sweep.tally += slice
            sweep.next += slice.checked
            // Keys the pace allowed but the deadline cut off are allowed again next turn.
            if let rate, rate > 0 { sweep.tokens += Double(n - slice.checked) }
            metrics.setSweepProgress(done: sweep.done, total: sweep.total)
            showProgress(&sweep, final: false)
            if monotonicSeconds() >= deadline { return .deadline }
        }
    }

    /// `check` on a terminal: one progress line on stderr, rewritten at most twice a second.
    func showProgress(_ sweep: inout SweepCursor, final: Bool) {
        guard options.showProgress else { return }
        let now = monotonicSeconds()
        guard final || now - sweep.progressShownAt >= 0.5 else { return }
        sweep.progressShownAt = now
        let total = max(sweep.total, sweep.done)
        let percent = total == 0 ? 100 : sweep.done * 100 / total
        let elapsed = max(now - sweep.startedAt, 1e-3)
        let line = "\rsweep: \(sweep.done) / \(total) keys (\(percent) %), \(Int(Double(sweep.done) / elapsed)) keys/s\(final ? "\n" : "")"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// A sweep ended: its metrics and log line.
    func finishSweep(_ sweep: SweepCursor) {
        let secs = monotonicSeconds() - sweep.startedAt
        metrics.recordSweep(keys: sweep.done, duration: .nanoseconds(Int64(secs * 1e9)))
        metrics.setSweepProgress(done: sweep.done, total: sweep.done)
        if let slots = sweep.slots {
            logger.info("sweep of the keys of some slots done", metadata: [
                "slots": "\(slots.count)", "keys": "\(sweep.done)", "missing": "\(sweep.tally.missing)", "ms": "\(Int(secs * 1000))",
            ])
        } else {
            logger.debug("sweep", metadata: ["keys": "\(sweep.done)", "ms": "\(Int(secs * 1000))"])
        }
    }

    /// The keys of `keys` (one watch's, in their order) whose Redis key name hashes to a slot of
    /// `slots` (``SweepSlotFilter``).
    func keys(_ keys: ReadKeys, watch w: Int, inSlots slots: RedisClusterSlotSet) -> ReadKeys {
        let filter = SweepSlotFilter(template: configuration.watches[w].target.keyTemplate, slots: slots)
        switch keys {
        case .ints(let a): return .ints(filter.keep(a))
        case .keys(let a): return .keys(filter.keep(a))
        }
    }

    /// The keys of a watch now, compactly (integer keys as 8 bytes each), read outside the lock
    /// afterwards. Keys written later are read by the next sweep (and their change reads).
    /// Integer keys are read in ascending order, not the map's hash order: Redis finds keys that
    /// were written in the order of their ids (a catalogue loaded or filled by id) in neighbouring
    /// memory, and a sweep in hash order made Redis's lookups the bottleneck (the C loop of MGETs
    /// took 0.48–0.58 s over 1 M keys shuffled against 0.33–0.39 s in id order; docs/benchmarks.md).
    func snapshotKeys(watch w: Int) -> ReadKeys {
        var (ints, others) = shared.withLock { s in
            var ints: [Int64] = []
            var others: [ShadowKey] = []
            ints.reserveCapacity(s.shadow.maps[w].count)
            s.shadow.maps[w].forEach { k, _ in
                if case .int(let i) = k { ints.append(i) } else { others.append(k) }
            }
            return (ints, others)
        }
        Self.sortUnique(&ints)
        if others.isEmpty { return .ints(ints) }
        others.reserveCapacity(others.count + ints.count)
        for i in ints { others.append(.int(i)) }
        return .keys(others)
    }

    /// Sorts distinct integers ascending: through a bitmap of their range when they are dense (at
    /// most 64 values of the range per key, as a catalogue's ids are; O(n + range / 64)), by
    /// comparison otherwise.
    static func sortUnique(_ a: inout [Int64]) {
        guard a.count > 1 else { return }
        var lo = a[0]
        var hi = a[0]
        for v in a {
            lo = min(lo, v)
            hi = max(hi, v)
        }
        let span = UInt64(bitPattern: hi &- lo)
        guard span / 64 < UInt64(a.count) else {
            a.sort()
            return
        }
        var bits = [UInt64](repeating: 0, count: Int(span / 64) + 1)
        for v in a {
            let d = UInt64(bitPattern: v &- lo)
            bits[Int(d / 64)] |= 1 << (d % 64)
        }
        var i = 0
        for (w, word) in bits.enumerated() {
            var x = word
            while x != 0, i < a.count {
                a[i] = lo &+ Int64(w * 64 + x.trailingZeroBitCount)
                i += 1
                x &= x &- 1
            }
        }
    }

    /// `scan_orphans`: the Redis keys of a watch's pattern whose row does not exist, read like
    /// any other key (so a value without a row is reported).
    /// With `slots` (a narrowed sweep on a Redis Cluster), only the masters serving some of them
    /// are scanned and only names in them kept.
    func scanOrphans(watch w: Int, redis: RedisRoute, slots: RedisClusterSlotSet? = nil) throws {
        let t = configuration.watches[w].target.keyTemplate
        // Every master's keys (one Redis: its keys); a master that fails makes the scan start over.
        var found: [String] = []
        try redis.forEachMaster(policy: .default, serving: slots) { conn throws(RedisError) in found += try conn.scanAll(pattern: t.scanPattern) }
        if case .cluster = redis { found = Array(Set(found)) }
        if let slots { found.removeAll { !slots.contains(RedisClusterSlot.slot(of: $0)) } }
        let integers = keyIntegerColumns[w]
        // A name is an orphan only when no row key that renders to it has a row. One that several
        // row keys render to (a separator inside a text column, or unknown column types) is
        // reported under its first reading and never written or deleted.
        // Names are read back outside the lock; only the lookups hold it.
        let keyCount = configuration.watches[w].keyColumns.count
        let readings = found.map { t.candidates($0, integerColumns: integers, keyColumnCount: keyCount) }.filter { !$0.isEmpty }
        let (orphans, ambiguous) = shared.withLock { s -> ([ShadowKey], [ShadowKey]) in
            var ambiguous: [ShadowKey] = []
            let orphans = readings.compactMap { candidates -> ShadowKey? in
                guard let first = candidates.first, !candidates.contains(where: { s.shadow.maps[w][$0] != nil }) else { return nil }
                if candidates.count > 1 {
                    ambiguous.append(first)
                    s.engine.markReportOnly(watch: w, key: first)
                }
                return first
            }
            return (orphans, ambiguous)
        }
        guard !orphans.isEmpty else { return }
        logger.info("orphan scan: Redis keys without a row", metadata: ["watch": "\(configuration.watches[w].name)", "keys": "\(orphans.count)"])
        if !ambiguous.isEmpty {
            logger.warning("orphan scan: Redis keys that several row keys could render to; reported, never repaired", metadata: [
                "watch": "\(configuration.watches[w].name)", "keys": "\(ambiguous.count)", "example": "\(t.render(ambiguous[0]))",
            ])
        }
        try read(orphans.map { (w, $0) }, redis: redis, trigger: .sweep)
    }
}
