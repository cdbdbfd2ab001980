import ReconcilerCore
import RedisClient
import BinlogParser

/// Decisions, repairs and the rule itself.
extension VerdictEngine {
    /// Decides every observation with t + L ≤ now. `current` gives the shadow value of a key now,
    /// `position` the applied binlog position and GTID for the records.
    public mutating func decide(now: Double, current: (Int, ShadowKey) -> ShadowValue?, position: BinlogCoordinates, gtid: String) -> [ReportRecord] {
        var out: [ReportRecord] = []
        // Only keys with an observation old enough are visited; every second a full pass also
        // drops history older than G + L + 2C, forgets idle keys and gives storage back.
        var due = Set<WatchKey>()
        while let top = decideQueue.min, top.at <= now {
            decideQueue.removeMin()
            due.insert(top.key)
        }
        let collect = now - lastCollect >= 1
        if collect { lastCollect = now }
        let visit: [WatchKey] = collect ? Array(keys.keys) : Array(due)
        if collect && !released.isEmpty {
            // A released value counts for reads up to G after its completion, decided L later.
            for (wk, list) in released {
                let tol = tolerances[wk.watch]
                let kept = list.filter { $0.at >= now - tol.historyHorizon }
                released[wk] = kept.isEmpty ? nil : kept
            }
        }
        for wk in visit {
            // Taken out while it changes, so its arrays are not shared (and copied) on the way.
            guard var st = keys.removeValue(forKey: wk) else { continue }
            let tol = tolerances[wk.watch]
            let cur = current(wk.watch, wk.key)
            var remaining: [Observation] = []
            for obs in st.observations {
                guard obs.at + tol.lead <= now else { remaining.append(obs); continue }
                decideOne(obs, of: wk, state: &st, current: cur, now: now, position: position, gtid: gtid, into: &out)
            }
            st.observations = remaining
            // History is kept only for keys changed within the last G + L + C (and one more C).
            let horizon = now - tol.historyHorizon
            st.changes.removeAll { $0.at < horizon }
            let idle = st.changes.isEmpty && st.observations.isEmpty && st.firstInconsistent == nil && !st.awaitingConfirmation
            if !idle || open[wk] != nil || scheduledAt[wk] != nil { keys[wk] = st }
        }
        if collect { releaseUnusedCapacity() }
        return out
    }

    /// One observation old enough to decide.
    private mutating func decideOne(
        _ obs: Observation, of wk: WatchKey, state st: inout KeyState, current cur: ShadowValue?, now: Double,
        position: BinlogCoordinates, gtid: String, into out: inout [ReportRecord]
    ) {
        let tol = tolerances[wk.watch]
        let from = obs.at - tol.lag - obs.staleness
        var window = values(st, from: from, to: obs.at + tol.lead, current: cur)
        if !held.isEmpty || !released.isEmpty { window += heldValues(wk, since: from) }
        let expectedAtT = value(st, at: obs.at, current: cur)
        if obs.onReplica {
            let consistent = isConsistent(obs.result, with: window, watch: wk.watch)
            // A reported key, or a consistent read of a key a master's read found inconsistent
            // since: the master is read (a replica never resolves, nor clears a suspicion).
            guard open[wk] == nil, !consistent || st.firstInconsistent == nil else {
                scheduleRead(wk, at: now, trigger: .recheck)
                return
            }
            if consistent {
                st.lastAgreedAt = obs.at - obs.staleness
                st.lastAgreedGTID = gtid
            } else if st.firstInconsistent == nil {
                // The first inconsistent read; the confirmation on the master decides.
                st.firstInconsistent = FirstInconsistent(
                    at: obs.at, kind: classify(obs.result, window: window, expected: expectedAtT, watch: wk.watch), redis: text(obs.result))
            }
            return
        }
        if isConsistent(obs.result, with: window, watch: wk.watch) {
            repairable.removeValue(forKey: wk)
            if case .value(let r) = obs.result { recordLead(st, redis: r, at: obs.at, expected: expectedAtT, tol: tol) }
            st.lastAgreedAt = obs.at
            st.lastAgreedGTID = gtid
            guard var record = open[wk] else {
                st.firstInconsistent = nil
                return
            }
            // Resolved only when seen exactly equal while the key is quiet; a `missing`
            // divergence also when the key is back with a consistent value (an absent key
            // cannot be masked by a hot key's passing values; a wrong value that comes
            // back is a new divergence with its own first_seen).
            let quiet = !st.changes.contains(where: { $0.at >= obs.at - tol.lag && $0.at <= obs.at + tol.lead })
            var keyIsBack = false
            if case .value = obs.result { keyIsBack = record.kind == .missing }
            guard (quiet && exactlyEqual(obs.result, expectedAtT)) || keyIsBack else { return }
            record.event = .resolved
            record.detectedAt = now + wallOffset
            record.expected = expectedAtT?.redisText
            record.redis = text(obs.result)
            record.binlog = position
            record.binlogGTID = gtid
            out.append(record)
            open.removeValue(forKey: wk)
            st.firstInconsistent = nil
            repairable.removeValue(forKey: wk)
            reportOnly.remove(wk)
            return
        }
        let kind = classify(obs.result, window: window, expected: expectedAtT, watch: wk.watch)
        guard open[wk] == nil else {
            if !reportOnly.contains(wk) { repairable[wk] = obs.result }
            return
        }
        guard let first = st.firstInconsistent else {
            st.firstInconsistent = FirstInconsistent(at: obs.at, kind: kind, redis: text(obs.result))
            return
        }
        guard obs.at - first.at >= tol.confirm - 1e-9 else { return }
        let record = ReportRecord(
            event: .divergence,
            id: "\(watchNames[wk.watch])|\(wk.key)|\(Self.rfc3339(first.at + wallOffset))",
            watch: watchNames[wk.watch], key: wk.key.description, redisKey: redisKey(wk.watch, wk.key),
            expected: (cur ?? expectedAtT)?.redisText, redis: text(obs.result), kind: kind,
            firstSeen: first.at + wallOffset, detectedAt: now + wallOffset,
            lastAgreedAt: st.lastAgreedAt.map { $0 + wallOffset }, lastAgreedGTID: st.lastAgreedGTID,
            binlog: position, binlogGTID: gtid, rowKey: wk.key, watchIndex: wk.watch)
        open[wk] = record
        if !reportOnly.contains(wk) { repairable[wk] = obs.result }
        out.append(record)
    }

    // MARK: - Repair

    /// Marks an open divergence as repaired (the caller wrote the expected value with CAS).
    public mutating func repaired(watch: Int, key: ShadowKey) -> ReportRecord? {
        let wk = WatchKey(watch: watch, key: key)
        repairable.removeValue(forKey: wk)
        guard let record = open.removeValue(forKey: wk) else { return nil }
        // Reads taken before the repair saw the value it replaced: deciding them now would open
        // the divergence again.
        keys[wk, default: KeyState()].firstInconsistent = nil
        keys[wk]?.observations.removeAll()
        keys[wk]?.awaitingConfirmation = false
        return record
    }

    /// Open divergences a repair may act on now: each with its row key and the Redis reading of
    /// its latest decided (inconsistent) read, which the compare-and-set must still find.
    public func repairCandidates(limit: Int) -> [(watch: Int, key: ShadowKey, redis: RedisObservation, record: ReportRecord)] {
        var out: [(watch: Int, key: ShadowKey, redis: RedisObservation, record: ReportRecord)] = []
        for (wk, observed) in repairable {
            guard out.count < limit else { break }
            guard let record = open[wk] else { continue }
            out.append((wk.watch, wk.key, observed, record))
        }
        return out
    }

    /// Keys with an open divergence a repair may act on.
    public var repairableCount: Int { repairable.count }

    /// A repair did not write (Redis changed since the read, or a dry run logged it): the key waits
    /// for its next inconsistent decided read before it is tried again.
    public mutating func repairDeferred(watch: Int, key: ShadowKey) {
        repairable.removeValue(forKey: WatchKey(watch: watch, key: key))
    }

    /// The key's divergences are reported but never repaired (its Redis name maps to several rows).
    public mutating func markReportOnly(watch: Int, key: ShadowKey) {
        let wk = WatchKey(watch: watch, key: key)
        reportOnly.insert(wk)
        repairable.removeValue(forKey: wk)
    }

    /// Forgets pending observations (after a reconnect: reads taken while behind are discarded).
    public mutating func discardPendingObservations() {
        for i in keys.values.indices {
            keys.values[i].observations.removeAll()
            keys.values[i].firstInconsistent = nil
        }
    }

    /// Whether the key changed in the shadow map within [from, to].
    public func isQuiet(watch: Int, key: ShadowKey, from: Double, to: Double) -> Bool {
        guard let st = keys[WatchKey(watch: watch, key: key)] else { return true }
        return !st.changes.contains { $0.at >= from && $0.at <= to }
    }

    // MARK: - The rule

    /// A read of `redis` at `at` that matched a shadow value other than the one in effect then:
    /// the change that applied that value tells how far Redis was ahead (it applied later) or
    /// behind (Redis still held the value a change at or before `at` replaced).
    private mutating func recordLead(_ st: KeyState, redis: String, at: Double, expected: ShadowValue?, tol: Tolerances) {
        guard !st.changes.isEmpty, !exactlyEqual(.value(redis), expected) else { return }
        // Ahead: the first change after `at` that applied this value.
        if let c = st.changes.first(where: { $0.at > at && $0.at <= at + tol.lead && exactlyEqual(.value(redis), $0.new) }) {
            leadSamples.append(c.at - at)
            return
        }
        // Behind: the latest change at or before `at` that replaced this value.
        if let c = st.changes.last(where: { $0.at <= at && $0.at >= at - tol.lag && exactlyEqual(.value(redis), $0.old) }) {
            leadSamples.append(c.at - at)
        }
    }

    /// The value in effect at `t`.
    func value(_ st: KeyState, at t: Double, current: ShadowValue?) -> ShadowValue? {
        if let last = st.changes.last(where: { $0.at <= t }) { return last.new }
        if let first = st.changes.first { return first.old }
        return current
    }

    /// The value in effect at `from` and every value applied in (from, to]; `.some(nil)` is "no row".
    func values(_ st: KeyState, from: Double, to: Double, current: ShadowValue?) -> [ShadowValue?] {
        var out: [ShadowValue?] = [value(st, at: from, current: current)]
        for c in st.changes where c.at > from && c.at <= to && !out.contains(c.new) { out.append(c.new) }
        return out
    }

    func text(_ r: RedisObservation) -> String? {
        if case .value(let s) = r { return s }
        return nil
    }

    func exactlyEqual(_ r: RedisObservation, _ v: ShadowValue?) -> Bool {
        switch (r, v) {
        case (.missing, nil): return true
        case (.missing, .some(let s)): return s == .null
        case (.value(let s), .some(let e)):
            if s == e.redisText { return true }
            if let a = NumericText(s), let b = NumericText(e) { return a == b }
            return false
        default: return false
        }
    }

    func isConsistent(_ r: RedisObservation, with window: [ShadowValue?], watch: Int) -> Bool {
        switch r {
        case .wrongType:
            return false
        case .missing:
            // A missing key matches only a missing row (or a NULL value), unless eviction is normal.
            if window.contains(where: { $0 == nil || $0 == .null }) { return true }
            return tolerances[watch].missingIsNormal
        case .value(let s):
            let rows = window.compactMap { $0 }
            guard !rows.isEmpty else { return false }
            let numbers = rows.compactMap { NumericText($0) }
            if numbers.count == rows.count, let r = NumericText(s), let lo = numbers.min(), let hi = numbers.max() {
                return lo <= r && r <= hi
            }
            return rows.contains { $0.redisText == s }
        }
    }

    private func classify(_ r: RedisObservation, window: [ShadowValue?], expected: ShadowValue?, watch: Int) -> DivergenceKind {
        switch r {
        case .wrongType: return .wrongType
        case .missing: return .missing
        case .value(let s):
            let rows = window.compactMap { $0 }
            guard !rows.isEmpty else { return .orphan }
            let numbers = rows.compactMap { NumericText($0) }
            if numbers.count == rows.count {
                guard let v = NumericText(s) else { return .notANumber }
                if let hi = numbers.max(), v > hi { return .redisHigher }
                return .redisLower
            }
            return .mismatch
        }
    }
}
