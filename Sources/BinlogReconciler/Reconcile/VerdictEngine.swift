/// What a Redis read found for one key.
public enum RedisObservation: Sendable, Hashable {
    case value(String)
    case missing
    /// The key holds a non-string type (or the hash field's key is not a hash).
    case wrongType
}

/// The kinds of divergence reported.
public enum DivergenceKind: String, Sendable {
    /// The row exists, the Redis key does not.
    case missing
    /// A Redis key for a row that does not exist.
    case orphan
    /// Redis holds more than MySQL: oversell risk.
    case redisHigher = "redis_higher"
    case redisLower = "redis_lower"
    /// The column is numeric, the Redis value is not a number.
    case notANumber = "not_a_number"
    case wrongType = "wrong_type"
    /// A non-numeric value differs.
    case mismatch
}

/// One report line (a contract: see docs/reconcile.md).
public struct ReportRecord: Sendable {
    public enum Event: String, Sendable { case divergence, resolved, repaired, summary }
    public var event: Event
    public var id: String
    public var watch: String
    public var key: String
    public var redisKey: String
    public var expected: String?
    public var redis: String?
    public var kind: DivergenceKind
    /// Wall-clock Unix seconds.
    public var firstSeen: Double
    public var detectedAt: Double
    public var lastAgreedAt: Double?
    public var lastAgreedGTID: String?
    public var binlog: BinlogPosition
    public var binlogGTID: String
    /// For `summary` records.
    public var reason: String? = nil
    public var keys: Int? = nil
}

/// The lag-aware verdict rule of the reconcile issue, as a pure state machine: time comes in as
/// arguments (monotonic seconds), reads are requested through `dueReads` and their results fed
/// back through `observe`; `decide` turns observations old enough into divergence / resolved
/// records. Nothing here does I/O, so every worked example in docs/reconcile.md is a unit test.
public final class VerdictEngine {
    public struct Tolerances: Sendable {
        public var lead: Double
        public var lag: Double
        public var confirm: Double
        public var missingIsNormal: Bool
        public init(lead: Double, lag: Double, confirm: Double, missingIsNormal: Bool = false) {
            self.lead = lead
            self.lag = lag
            self.confirm = confirm
            self.missingIsNormal = missingIsNormal
        }
        var window: Double { lead + lag + confirm }
    }

    struct Change {
        var at: Double
        var old: ShadowValue?
        var new: ShadowValue?
    }

    struct Observation {
        var at: Double
        var result: RedisObservation
    }

    struct KeyState {
        var changes: [Change] = []
        var observations: [Observation] = []
        /// The earliest inconsistent decided observation since the last consistent one.
        var firstInconsistent: (at: Double, kind: DivergenceKind, redis: String?)?
        var open: ReportRecord?
        var lastAgreedAt: Double?
        var lastAgreedGTID: String?
        /// A confirmation read is scheduled for this key.
        var awaitingConfirmation = false

        var isIdle: Bool { changes.isEmpty && observations.isEmpty && open == nil && firstInconsistent == nil && !awaitingConfirmation }
    }

    struct WatchKey: Hashable {
        var watch: Int
        var key: ShadowKey
    }

    public let watchNames: [String]
    public let tolerances: [Tolerances]
    public let redisKey: (Int, ShadowKey) -> String
    /// Wall clock = monotonic + this offset (for report timestamps).
    public var wallOffset: Double

    private var keys: [WatchKey: KeyState] = [:]
    /// Scheduled reads: time → keys (a small heap would do; the list is kept sorted).
    private var schedule: [(at: Double, key: WatchKey)] = []
    private var scheduled = Set<WatchKey>()

    public init(watchNames: [String], tolerances: [Tolerances], wallOffset: Double, redisKey: @escaping (Int, ShadowKey) -> String) {
        self.watchNames = watchNames
        self.tolerances = tolerances
        self.wallOffset = wallOffset
        self.redisKey = redisKey
    }

    /// Keys with history, pending observations or an open divergence.
    public var trackedKeys: Int { keys.count }
    public var openDivergences: [ReportRecord] { keys.values.compactMap(\.open) }
    public var pendingReads: Int { schedule.count }

    // MARK: - Inputs

    /// A committed transaction was applied to the shadow map at `at`.
    public func noteCommit(_ tx: CommittedTransaction, at: Double) {
        for c in tx.changes {
            let wk = WatchKey(watch: c.watch, key: c.key)
            keys[wk, default: KeyState()].changes.append(Change(at: at, old: c.old, new: c.new))
            scheduleRead(wk, at: at + tolerances[c.watch].lag + 0.001)
        }
    }

    /// Redis said a key changed (tracking invalidation or keyspace notification).
    public func noteNotification(watch: Int, key: ShadowKey, at: Double) {
        scheduleRead(WatchKey(watch: watch, key: key), at: at)
    }

    /// Restores an open divergence (from a checkpoint), so it is not reported again as new.
    public func restore(open record: ReportRecord, watch: Int, key: ShadowKey) {
        keys[WatchKey(watch: watch, key: key), default: KeyState()].open = record
        scheduleRead(WatchKey(watch: watch, key: key), at: 0)
    }

    /// The reads due at `now` (removed from the schedule).
    public func dueReads(now: Double) -> [(watch: Int, key: ShadowKey)] {
        var out: [(Int, ShadowKey)] = []
        var i = 0
        while i < schedule.count && schedule[i].at <= now {
            out.append((schedule[i].key.watch, schedule[i].key.key))
            scheduled.remove(schedule[i].key)
            i += 1
        }
        schedule.removeFirst(i)
        return out
    }

    /// Puts reads back in the schedule (they came due while the sidecar was behind the source).
    public func reschedule(_ reads: [(watch: Int, key: ShadowKey)], at: Double) {
        for r in reads { scheduleRead(WatchKey(watch: r.watch, key: r.key), at: at) }
    }

    /// When the next scheduled read is due.
    public var nextReadAt: Double? { schedule.first?.at }

    /// A Redis read of one key at `at`; `current` is the shadow value now.
    public func observe(watch: Int, key: ShadowKey, result: RedisObservation, at: Double, current: ShadowValue?) {
        let wk = WatchKey(watch: watch, key: key)
        var st = keys[wk] ?? KeyState()
        st.observations.append(Observation(at: at, result: result))
        // A read that matches no value known so far for [t − G, t] asks for a confirmation read.
        // (Not for a read that is itself the confirmation, nor for a key already reported.)
        let g = tolerances[watch].lag
        let known = values(st, from: at - g, to: at, current: current)
        if st.awaitingConfirmation {
            st.awaitingConfirmation = false
            keys[wk] = st
        } else if st.open == nil && !isConsistent(result, with: known, watch: watch) {
            st.awaitingConfirmation = true
            keys[wk] = st
            scheduleRead(wk, at: at + tolerances[watch].confirm)
        } else {
            keys[wk] = st
        }
    }

    /// Decides every observation with t + L ≤ now. `current` gives the shadow value of a key now,
    /// `position` the applied binlog position and GTID for the records.
    public func decide(now: Double, current: (Int, ShadowKey) -> ShadowValue?, position: BinlogPosition, gtid: String) -> [ReportRecord] {
        var out: [ReportRecord] = []
        var idle: [WatchKey] = []
        // Each key's state is changed in place (`keys.values[i]`): assigning back into the
        // dictionary while iterating it would copy the whole dictionary for every key.
        var i = keys.startIndex
        while i != keys.endIndex {
            let wk = keys.keys[i]
            let tol = tolerances[wk.watch]
            let horizon = now - tol.window - tol.confirm
            let due = keys.values[i].observations.first.map { $0.at + tol.lead <= now } ?? false
            let stale = keys.values[i].changes.first.map { $0.at < horizon } ?? false
            if due || stale || keys.values[i].isIdle {
                if decide(wk, &keys.values[i], now: now, current: current, position: position, gtid: gtid, into: &out) { idle.append(wk) }
            }
            keys.formIndex(after: &i)
        }
        for wk in idle where !scheduled.contains(wk) { keys.removeValue(forKey: wk) }
        return out
    }

    /// Decides one key's observations old enough; returns true when nothing about it is left to keep.
    private func decide(
        _ wk: WatchKey, _ st: inout KeyState, now: Double, current: (Int, ShadowKey) -> ShadowValue?, position: BinlogPosition, gtid: String,
        into out: inout [ReportRecord]
    ) -> Bool {
        let tol = tolerances[wk.watch]
        let cur = current(wk.watch, wk.key)
        var remaining: [Observation] = []
        for obs in st.observations {
            guard obs.at + tol.lead <= now else { remaining.append(obs); continue }
            let window = values(st, from: obs.at - tol.lag, to: obs.at + tol.lead, current: cur)
            let consistent = isConsistent(obs.result, with: window, watch: wk.watch)
            let expectedAtT = value(st, at: obs.at, current: cur)
            if consistent {
                st.lastAgreedAt = obs.at
                st.lastAgreedGTID = gtid
                if st.open == nil { st.firstInconsistent = nil }
                // Resolved only when seen exactly equal while the key is quiet; a `missing`
                // divergence also when the key is back with a consistent value (an absent key
                // cannot be masked by a hot key's passing values; a wrong value that comes
                // back is a new divergence with its own first_seen).
                let quiet = !st.changes.contains(where: { $0.at >= obs.at - tol.lag && $0.at <= obs.at + tol.lead })
                let keyIsBack: Bool = {
                    if case .value = obs.result { return st.open?.kind == .missing }
                    return false
                }()
                if var open = st.open, (quiet && exactlyEqual(obs.result, expectedAtT)) || keyIsBack {
                    open.event = .resolved
                    open.detectedAt = now + wallOffset
                    open.expected = expectedAtT?.redisText
                    open.redis = text(obs.result)
                    open.binlog = position
                    open.binlogGTID = gtid
                    out.append(open)
                    st.open = nil
                    st.firstInconsistent = nil
                }
                continue
            }
            let kind = classify(obs.result, window: window, expected: expectedAtT, watch: wk.watch)
            guard st.open == nil else { continue }
            if let first = st.firstInconsistent {
                if obs.at - first.at >= tol.confirm - 1e-9 {
                    let record = ReportRecord(
                        event: .divergence,
                        id: "\(watchNames[wk.watch])|\(wk.key)|\(Self.rfc3339(first.at + wallOffset))",
                        watch: watchNames[wk.watch], key: wk.key.description, redisKey: redisKey(wk.watch, wk.key),
                        expected: (cur ?? expectedAtT)?.redisText, redis: text(obs.result), kind: kind,
                        firstSeen: first.at + wallOffset, detectedAt: now + wallOffset,
                        lastAgreedAt: st.lastAgreedAt.map { $0 + wallOffset }, lastAgreedGTID: st.lastAgreedGTID,
                        binlog: position, binlogGTID: gtid)
                    st.open = record
                    out.append(record)
                }
            } else {
                st.firstInconsistent = (obs.at, kind, text(obs.result))
            }
        }
        st.observations = remaining
        // History is kept only for keys changed within the last G + L + C (and one more C).
        let horizon = now - tol.window - tol.confirm
        if let firstKept = st.changes.firstIndex(where: { $0.at >= horizon }) {
            if firstKept > 0 { st.changes.removeFirst(firstKept) }
        } else if !st.changes.isEmpty {
            st.changes.removeAll()
        }
        return st.isIdle
    }

    /// Marks an open divergence as repaired (the caller wrote the expected value with CAS).
    public func repaired(watch: Int, key: ShadowKey) -> ReportRecord? {
        let wk = WatchKey(watch: watch, key: key)
        guard var st = keys[wk], let open = st.open else { return nil }
        st.open = nil
        st.firstInconsistent = nil
        keys[wk] = st
        return open
    }

    /// Forgets pending observations (after a reconnect: reads taken while behind are discarded).
    public func discardPendingObservations() {
        for (k, var st) in keys {
            st.observations.removeAll()
            st.firstInconsistent = nil
            keys[k] = st
        }
    }

    /// Whether the key changed in the shadow map within [from, to].
    public func isQuiet(watch: Int, key: ShadowKey, from: Double, to: Double) -> Bool {
        guard let st = keys[WatchKey(watch: watch, key: key)] else { return true }
        return !st.changes.contains { $0.at >= from && $0.at <= to }
    }

    // MARK: - The rule

    private func scheduleRead(_ wk: WatchKey, at: Double) {
        if scheduled.contains(wk) {
            // Keep the earlier of the two; a later read is re-requested by its own trigger.
            if let i = schedule.firstIndex(where: { $0.key == wk }), schedule[i].at <= at { return }
            schedule.removeAll { $0.key == wk }
        }
        scheduled.insert(wk)
        let idx = schedule.firstIndex { $0.at > at } ?? schedule.count
        schedule.insert((at, wk), at: idx)
    }

    /// The value in effect at `t`.
    private func value(_ st: KeyState, at t: Double, current: ShadowValue?) -> ShadowValue? {
        if let last = st.changes.last(where: { $0.at <= t }) { return last.new }
        if let first = st.changes.first { return first.old }
        return current
    }

    /// The value in effect at `from` and every value applied in (from, to]; `.some(nil)` is "no row".
    private func values(_ st: KeyState, from: Double, to: Double, current: ShadowValue?) -> [ShadowValue?] {
        var out: [ShadowValue?] = [value(st, at: from, current: current)]
        for c in st.changes where c.at > from && c.at <= to && !out.contains(c.new) { out.append(c.new) }
        return out
    }

    private func text(_ r: RedisObservation) -> String? {
        if case .value(let s) = r { return s }
        return nil
    }

    private func exactlyEqual(_ r: RedisObservation, _ v: ShadowValue?) -> Bool {
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

    /// `2026-11-25T14:03:07.123Z`.
    public static func rfc3339(_ unix: Double) -> String {
        let ms = Int64((unix * 1000).rounded())
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let frac = Int(ms - secs * 1000)
        let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rem = Int(secs - days * 86400)
        let (y, m, d) = civil(days)
        func p(_ v: Int, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(rem / 3600, 2)):\(p(rem / 60 % 60, 2)):\(p(rem % 60, 2)).\(p(frac, 3))Z"
    }

    private static func civil(_ z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), Int(m), Int(d))
    }
}
