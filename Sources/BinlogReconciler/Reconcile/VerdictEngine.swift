import BinlogParser
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
    public var binlog: BinlogCoordinates
    public var binlogGTID: String
    /// For `summary` records.
    public var reason: String? = nil
    public var keys: Int? = nil
    public var summary: SummaryDetails? = nil
    /// The row key and watch index a divergence is about (not printed: `key` and `watch` are). A
    /// repair works from these, never from `redisKey` parsed back.
    public var rowKey: ShadowKey? = nil
    public var watchIndex: Int? = nil
}

/// The extra fields of a `summary` record (a Redis flush or restart).
public struct SummaryDetails: Sendable {
    /// Watched keys the sweep after the incident read.
    public var keysChecked: Int
    /// When the incident was first noticed (wall-clock Unix seconds).
    public var noticedAt: Double
    public var runID: String?
    public var previousRunID: String?
    /// Keys in the configured Redis database before and after (INFO keyspace), when known.
    public var redisKeysBefore: Int?
    public var redisKeysAfter: Int?
}

/// The lag-aware verdict rule (docs/reconcile.md, "The rule"), as a pure state machine: time comes in as
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
    /// Open divergences whose latest decided read still disagrees, with that read: what a repair
    /// may compare-and-set from. A consistent read, a resolution or a repair removes the entry;
    /// the next inconsistent decided read puts it back.
    private var repairable: [WatchKey: RedisObservation] = [:]
    /// Keys reported but never to be written (a Redis key name that maps to several rows).
    private var reportOnly = Set<WatchKey>()
    /// Values held by XA transactions prepared and not yet completed: legitimate values of their
    /// keys while prepared (Redis may show them already, as with a pre-deduct).
    private var held: [WatchKey: [ShadowValue?]] = [:]
    private var heldByXID: [String: [(WatchKey, ShadowValue?)]] = [:]
    /// Values held by XA transactions since committed or rolled back, with when: legitimate for a
    /// read at t while t − G ≤ that time (the lag rule, as for a replaced value), so an application
    /// undoing a pre-deduct after an XA ROLLBACK has G to do it, and a read taken while prepared
    /// but decided after the completion still counts the held value.
    private var released: [WatchKey: [(at: Double, value: ShadowValue?)]] = [:]
    /// Scheduled reads: a min-heap on time with lazy deletion; `scheduledAt` holds the live entry
    /// of each key (an entry whose time differs is stale and skipped when popped).
    private var schedule = MinHeap<Scheduled>()
    private var scheduledAt: [WatchKey: PendingRead] = [:]

    /// The next read of a key, and the latest later one requested meanwhile (scheduled when the
    /// first is taken, so that a read after a change at τ + G is not lost to an earlier
    /// notification or confirmation read).
    struct PendingRead {
        var at: Double
        var trigger: ReadTrigger
        var followUp: (at: Double, trigger: ReadTrigger)?
    }
    /// Keys with observations to decide, by when they can first be decided (t + L).
    private var decideQueue = MinHeap<Scheduled>()
    private var lastCollect = -Double.infinity
    /// Redis-vs-MySQL timings seen in decided observations (see `drainLeadSamples`).
    private var leadSamples: [Double] = []

    /// Why a read was scheduled.
    public enum ReadTrigger: Sendable, Hashable {
        /// G after a committed change in the binlog.
        case change
        /// A Redis notification for the key.
        case notification
        /// C after a read that matched no known value.
        case confirm
    }

    /// A read due now, with what scheduled it.
    public struct DueRead: Sendable {
        public var watch: Int
        public var key: ShadowKey
        public var trigger: ReadTrigger
    }

    struct Scheduled: Comparable {
        var at: Double
        var seq: UInt64
        var key: WatchKey
        static func < (a: Scheduled, b: Scheduled) -> Bool { a.at < b.at || (a.at == b.at && a.seq < b.seq) }
        static func == (a: Scheduled, b: Scheduled) -> Bool { a.at == b.at && a.seq == b.seq }
    }
    private var seq: UInt64 = 0

    public init(watchNames: [String], tolerances: [Tolerances], wallOffset: Double, redisKey: @escaping (Int, ShadowKey) -> String) {
        self.watchNames = watchNames
        self.tolerances = tolerances
        self.wallOffset = wallOffset
        self.redisKey = redisKey
    }

    /// Keys with history, pending observations or an open divergence.
    public var trackedKeys: Int { keys.count }
    public var openDivergences: [ReportRecord] { keys.values.compactMap(\.open) }
    public var pendingReads: Int { scheduledAt.count }
    /// Keys whose last read disagreed and that wait for a decision (the `suspects` gauge).
    public var suspects: Int { keys.values.reduce(0) { $0 + (($1.open == nil && ($1.awaitingConfirmation || $1.firstInconsistent != nil)) ? 1 : 0) } }
    /// Keys tracked (history, pending reads or observations, open divergence), per watch.
    public func trackedKeys(watch: Int) -> Int { keys.keys.reduce(0) { $0 + ($1.watch == watch ? 1 : 0) } }

    /// The Redis-vs-MySQL timings observed since the last call, in seconds: positive when Redis
    /// showed a value before the binlog applied it (lead), negative when it still showed a value
    /// the binlog had replaced (lag, at least that long). Only reads that matched a value other than
    /// the one in effect at the read tell a timing; the samples feed the `redis_lead_seconds`
    /// histogram, from which L and G can be chosen.
    public func drainLeadSamples() -> [Double] {
        defer { leadSamples.removeAll(keepingCapacity: true) }
        return leadSamples
    }

    // MARK: - Inputs

    /// A committed transaction was applied to the shadow map at `at`.
    public func noteCommit(_ tx: CommittedTransaction, at: Double) {
        for c in tx.changes {
            let wk = WatchKey(watch: c.watch, key: c.key)
            keys[wk, default: KeyState()].changes.append(Change(at: at, old: c.old, new: c.new))
            scheduleRead(wk, at: at + tolerances[c.watch].lag + 0.001, trigger: .change)
        }
    }

    /// Redis said a key changed (tracking invalidation or keyspace notification).
    public func noteNotification(watch: Int, key: ShadowKey, at: Double) {
        scheduleRead(WatchKey(watch: watch, key: key), at: at, trigger: .notification)
    }

    /// An XA transaction was prepared: until ``releaseHeld(xid:at:rolledBack:)`` the values it holds count as
    /// values of their keys for the verdict rule.
    public func noteHeld(xid: String, changes: [CommittedChange]) {
        var list: [(WatchKey, ShadowValue?)] = []
        for c in changes {
            let wk = WatchKey(watch: c.watch, key: c.key)
            held[wk, default: []].append(c.new)
            list.append((wk, c.new))
        }
        heldByXID[xid, default: []] += list
    }

    /// The XA transaction was committed (its values are now changes of the shadow map) or rolled
    /// back at `at`: its held values count only for reads up to G after that, as a replaced value
    /// does. After a rollback the keys are read G later (the application should have undone what
    /// it pre-deducted by then).
    public func releaseHeld(xid: String, at: Double, rolledBack: Bool = false) {
        guard let list = heldByXID.removeValue(forKey: xid) else { return }
        for (wk, v) in list {
            released[wk, default: []].append((at, v))
            if rolledBack { scheduleRead(wk, at: at + tolerances[wk.watch].lag + 0.001, trigger: .change) }
            guard var values = held[wk], let i = values.firstIndex(where: { $0 == v }) else { continue }
            values.remove(at: i)
            held[wk] = values.isEmpty ? nil : values
        }
    }

    /// The values XA transactions hold for `wk` now, and those they held until a completion at or
    /// after `since`.
    private func heldValues(_ wk: WatchKey, since: Double) -> [ShadowValue?] {
        var out = held[wk] ?? []
        if let r = released[wk] { for e in r where e.at >= since { out.append(e.value) } }
        return out
    }

    /// XA transactions whose held values count now.
    public var heldTransactions: Int { heldByXID.count }

    /// Restores an open divergence (from a checkpoint), so it is not reported again as new.
    /// Its first inconsistent read after the restart makes it repairable like a new one.
    public func restore(open record: ReportRecord, watch: Int, key: ShadowKey) {
        var record = record
        record.rowKey = key
        record.watchIndex = watch
        keys[WatchKey(watch: watch, key: key), default: KeyState()].open = record
        scheduleRead(WatchKey(watch: watch, key: key), at: 0, trigger: .change)
    }

    /// The reads due at `now` (removed from the schedule).
    public func dueReads(now: Double) -> [(watch: Int, key: ShadowKey)] {
        takeDueReads(now: now).map { ($0.watch, $0.key) }
    }

    /// Puts reads back in the schedule (they came due while the sidecar was behind the source).
    public func reschedule(_ reads: [DueRead], at: Double) {
        for r in reads { scheduleRead(WatchKey(watch: r.watch, key: r.key), at: at, trigger: r.trigger) }
    }

    /// The reads due at `now` with their triggers (removed from the schedule).
    public func takeDueReads(now: Double) -> [DueRead] {
        var out: [DueRead] = []
        while let top = schedule.min, top.at <= now {
            schedule.removeMin()
            guard let live = scheduledAt[top.key], live.at == top.at else { continue }
            scheduledAt.removeValue(forKey: top.key)
            out.append(DueRead(watch: top.key.watch, key: top.key.key, trigger: live.trigger))
            if let f = live.followUp {
                if f.at <= now {
                    // Due as well: this read serves both.
                } else {
                    scheduleRead(top.key, at: f.at, trigger: f.trigger)
                }
            }
        }
        return out
    }

    /// When the next scheduled read is due.
    public var nextReadAt: Double? {
        while let top = schedule.min {
            if let live = scheduledAt[top.key], live.at == top.at { return top.at }
            schedule.removeMin()
        }
        return nil
    }

    /// A Redis read of one key at `at`; `current` is the shadow value now.
    public func observe(watch: Int, key: ShadowKey, result: RedisObservation, at: Double, current: ShadowValue?) {
        let wk = WatchKey(watch: watch, key: key)
        var st = keys[wk] ?? KeyState()
        st.observations.append(Observation(at: at, result: result))
        seq &+= 1
        decideQueue.insert(Scheduled(at: at + tolerances[watch].lead, seq: seq, key: wk))
        // A read that matches no value known so far for [t − G, t] asks for a confirmation read.
        // (Not for a read that is itself the confirmation, nor for a key already reported.)
        let g = tolerances[watch].lag
        var known = values(st, from: at - g, to: at, current: current)
        if !held.isEmpty || !released.isEmpty { known += heldValues(wk, since: at - g) }
        if st.awaitingConfirmation {
            st.awaitingConfirmation = false
            keys[wk] = st
        } else if st.open == nil && !isConsistent(result, with: known, watch: watch) {
            st.awaitingConfirmation = true
            keys[wk] = st
            scheduleRead(wk, at: at + tolerances[watch].confirm, trigger: .confirm)
        } else {
            keys[wk] = st
        }
    }

    /// Decides every observation with t + L ≤ now. `current` gives the shadow value of a key now,
    /// `position` the applied binlog position and GTID for the records.
    public func decide(now: Double, current: (Int, ShadowKey) -> ShadowValue?, position: BinlogCoordinates, gtid: String) -> [ReportRecord] {
        var out: [ReportRecord] = []
        // Only keys with an observation old enough are visited; every second a full pass also
        // drops history older than G + L + 2C and forgets idle keys.
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
                let kept = list.filter { $0.at >= now - tol.window - tol.confirm }
                released[wk] = kept.isEmpty ? nil : kept
            }
        }
        for wk in visit {
            guard var st = keys[wk] else { continue }
            let tol = tolerances[wk.watch]
            let cur = current(wk.watch, wk.key)
            var remaining: [Observation] = []
            for obs in st.observations {
                guard obs.at + tol.lead <= now else { remaining.append(obs); continue }
                var window = values(st, from: obs.at - tol.lag, to: obs.at + tol.lead, current: cur)
                if !held.isEmpty || !released.isEmpty { window += heldValues(wk, since: obs.at - tol.lag) }
                let consistent = isConsistent(obs.result, with: window, watch: wk.watch)
                let expectedAtT = value(st, at: obs.at, current: cur)
                if consistent {
                    repairable.removeValue(forKey: wk)
                    if case .value(let r) = obs.result { recordLead(st, redis: r, at: obs.at, expected: expectedAtT, tol: tol) }
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
                        repairable.removeValue(forKey: wk)
                        reportOnly.remove(wk)
                    }
                    continue
                }
                let kind = classify(obs.result, window: window, expected: expectedAtT, watch: wk.watch)
                guard st.open == nil else {
                    if !reportOnly.contains(wk) { repairable[wk] = obs.result }
                    continue
                }
                if let first = st.firstInconsistent {
                    if obs.at - first.at >= tol.confirm - 1e-9 {
                        let record = ReportRecord(
                            event: .divergence,
                            id: "\(watchNames[wk.watch])|\(wk.key)|\(Self.rfc3339(first.at + wallOffset))",
                            watch: watchNames[wk.watch], key: wk.key.description, redisKey: redisKey(wk.watch, wk.key),
                            expected: (cur ?? expectedAtT)?.redisText, redis: text(obs.result), kind: kind,
                            firstSeen: first.at + wallOffset, detectedAt: now + wallOffset,
                            lastAgreedAt: st.lastAgreedAt.map { $0 + wallOffset }, lastAgreedGTID: st.lastAgreedGTID,
                            binlog: position, binlogGTID: gtid, rowKey: wk.key, watchIndex: wk.watch)
                        st.open = record
                        if !reportOnly.contains(wk) { repairable[wk] = obs.result }
                        out.append(record)
                    }
                } else {
                    st.firstInconsistent = (obs.at, kind, text(obs.result))
                }
            }
            st.observations = remaining
            // History is kept only for keys changed within the last G + L + C (and one more C).
            let horizon = now - tol.window - tol.confirm
            st.changes.removeAll { $0.at < horizon }
            if st.changes.isEmpty && st.observations.isEmpty && st.open == nil && st.firstInconsistent == nil && !st.awaitingConfirmation && scheduledAt[wk] == nil {
                keys.removeValue(forKey: wk)
            } else {
                keys[wk] = st
            }
        }
        return out
    }

    /// Marks an open divergence as repaired (the caller wrote the expected value with CAS).
    public func repaired(watch: Int, key: ShadowKey) -> ReportRecord? {
        let wk = WatchKey(watch: watch, key: key)
        repairable.removeValue(forKey: wk)
        guard var st = keys[wk], let open = st.open else { return nil }
        st.open = nil
        st.firstInconsistent = nil
        // Reads taken before the repair saw the value it replaced: deciding them now would open
        // the divergence again.
        st.observations.removeAll()
        st.awaitingConfirmation = false
        keys[wk] = st
        return open
    }

    /// Open divergences a repair may act on now: each with its row key and the Redis reading of
    /// its latest decided (inconsistent) read, which the compare-and-set must still find.
    public func repairCandidates(limit: Int) -> [(watch: Int, key: ShadowKey, redis: RedisObservation, record: ReportRecord)] {
        var out: [(watch: Int, key: ShadowKey, redis: RedisObservation, record: ReportRecord)] = []
        for (wk, observed) in repairable {
            guard out.count < limit else { break }
            guard let open = keys[wk]?.open else { continue }
            out.append((wk.watch, wk.key, observed, open))
        }
        return out
    }

    /// Keys with an open divergence a repair may act on.
    public var repairableCount: Int { repairable.count }

    /// A repair did not write (Redis changed since the read, or a dry run logged it): the key waits
    /// for its next inconsistent decided read before it is tried again.
    public func repairDeferred(watch: Int, key: ShadowKey) {
        repairable.removeValue(forKey: WatchKey(watch: watch, key: key))
    }

    /// The key's divergences are reported but never repaired (its Redis name maps to several rows).
    public func markReportOnly(watch: Int, key: ShadowKey) {
        let wk = WatchKey(watch: watch, key: key)
        reportOnly.insert(wk)
        repairable.removeValue(forKey: wk)
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

    private func scheduleRead(_ wk: WatchKey, at: Double, trigger: ReadTrigger) {
        // The earlier of the two is scheduled; the later one follows it (the latest one only:
        // one read after all pending requests covers them).
        if var live = scheduledAt[wk] {
            if live.at <= at {
                if at > live.at + 0.001 && (live.followUp == nil || live.followUp!.at < at) { live.followUp = (at, trigger) }
                scheduledAt[wk] = live
                return
            }
            let later = (live.followUp?.at ?? 0) > live.at ? live.followUp! : (live.at, live.trigger)
            scheduledAt[wk] = PendingRead(at: at, trigger: trigger, followUp: later)
        } else {
            scheduledAt[wk] = PendingRead(at: at, trigger: trigger)
        }
        seq &+= 1
        schedule.insert(Scheduled(at: at, seq: seq, key: wk))
    }

    /// A read of `redis` at `at` that matched a shadow value other than the one in effect then:
    /// the change that applied that value tells how far Redis was ahead (it applied later) or
    /// behind (Redis still held the value a change at or before `at` replaced).
    private func recordLead(_ st: KeyState, redis: String, at: Double, expected: ShadowValue?, tol: Tolerances) {
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
    public static func rfc3339(_ unix: Double) -> String { ReportTime.format(unix) }
}

/// A binary min-heap (the engine's read schedule and decision queue).
struct MinHeap<Element: Comparable> {
    private(set) var items: [Element] = []
    var count: Int { items.count }
    var min: Element? { items.first }

    mutating func insert(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i] < items[p] else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func removeMin() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l] < items[m] { m = l }
            if r < items.count && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
    }
}
