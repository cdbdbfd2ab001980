import ReconcilerCore
import RedisClient
import BinlogParser

/// The lag-aware verdict rule (docs/reconcile.md, "The rule"), as a pure state machine: time comes in as
/// arguments (monotonic seconds), reads are requested through `dueReads` and their results fed
/// back through `observe`; `decide` turns observations old enough into divergence / resolved
/// records. Nothing here does I/O, so every worked example in docs/reconcile.md is a unit test.
///
/// A value type: its owner keeps it under its lock and calls the mutating methods there.
///
/// Memory: state is kept only for keys that changed within G + L + 2C, have reads waiting for a
/// decision or a confirmation, or have an open divergence (``trackedKeys``). A read of a quiet key
/// that agrees with its shadow value — every key of a sweep of a consistent catalogue — is decided
/// at once and leaves nothing behind. Containers give their storage back when they empty (a
/// Dictionary keeps its capacity when entries are removed), checked once a second in `decide`.
public struct VerdictEngine: Sendable {
    public let watchNames: [String]
    public let tolerances: [Tolerances]
    public let redisKey: @Sendable (Int, ShadowKey) -> String
    /// Wall clock = monotonic + this offset (for report timestamps).
    public var wallOffset: Double

    /// Per-key history and pending observations (see ``VerdictEngine/KeyState``). Every key in
    /// `open` has an entry here.
    var keys: [WatchKey: KeyState] = [:]
    /// Open divergences: the record reported, until resolved or repaired.
    var open: [WatchKey: ReportRecord] = [:]
    /// Open divergences whose latest decided read still disagrees, with that read: what a repair
    /// may compare-and-set from. A consistent read, a resolution or a repair removes the entry;
    /// the next inconsistent decided read puts it back.
    var repairable: [WatchKey: RedisObservation] = [:]
    /// Keys reported but never to be written (a Redis key name that maps to several rows).
    var reportOnly = Set<WatchKey>()
    /// Values held by XA transactions prepared and not yet completed: legitimate values of their
    /// keys while prepared (Redis may show them already, as with a pre-deduct).
    var held: [WatchKey: [ShadowValue?]] = [:]
    var heldByXID: [String: [(WatchKey, ShadowValue?)]] = [:]
    /// Values held by XA transactions since committed or rolled back, with when: legitimate for a
    /// read at t while t − G ≤ that time (the lag rule, as for a replaced value), so an application
    /// undoing a pre-deduct after an XA ROLLBACK has G to do it, and a read taken while prepared
    /// but decided after the completion still counts the held value.
    var released: [WatchKey: [(at: Double, value: ShadowValue?)]] = [:]
    /// Scheduled reads: a min-heap on time with lazy deletion; `scheduledAt` holds the live entry
    /// of each key (an entry whose time differs is stale and skipped when popped).
    var schedule = MinHeap<Scheduled>()
    var scheduledAt: [WatchKey: PendingRead] = [:]
    /// Keys with observations to decide, by when they can first be decided (t + L).
    var decideQueue = MinHeap<Scheduled>()
    var lastCollect = -Double.infinity
    /// Redis-vs-MySQL timings seen in decided observations (see `drainLeadSamples`).
    var leadSamples: [Double] = []
    var seq: UInt64 = 0

    public init(watchNames: [String], tolerances: [Tolerances], wallOffset: Double, redisKey: @escaping @Sendable (Int, ShadowKey) -> String) {
        self.watchNames = watchNames
        self.tolerances = tolerances
        self.wallOffset = wallOffset
        self.redisKey = redisKey
    }

    /// Keys with history, pending observations or an open divergence.
    public var trackedKeys: Int { keys.count }
    public var openDivergences: [ReportRecord] { Array(open.values) }
    public var pendingReads: Int { scheduledAt.count }
    /// Keys whose last read disagreed and that wait for a decision (the `suspects` gauge).
    public var suspects: Int {
        keys.reduce(0) { $0 + ((open[$1.key] == nil && ($1.value.awaitingConfirmation || $1.value.firstInconsistent != nil)) ? 1 : 0) }
    }
    /// Keys tracked (history, pending reads or observations, open divergence), per watch.
    public func trackedKeys(watch: Int) -> Int { keys.keys.reduce(0) { $0 + ($1.watch == watch ? 1 : 0) } }

    /// Entries the engine's containers have storage for, in all (what it holds on to; tests).
    package var retainedCapacity: Int {
        keys.capacity + open.capacity + repairable.capacity + reportOnly.capacity + held.capacity + heldByXID.capacity
            + released.capacity + schedule.capacity + scheduledAt.capacity + decideQueue.capacity + leadSamples.capacity
    }

    /// The Redis-vs-MySQL timings observed since the last call, in seconds: positive when Redis
    /// showed a value before the binlog applied it (lead), negative when it still showed a value
    /// the binlog had replaced (lag, at least that long). Only reads that matched a value other than
    /// the one in effect at the read tell a timing; the samples feed the `redis_lead_seconds`
    /// histogram, from which L and G can be chosen.
    public mutating func drainLeadSamples() -> [Double] {
        let samples = leadSamples
        leadSamples = []
        return samples
    }

    // MARK: - Inputs

    /// A committed transaction was applied to the shadow map at `at`.
    public mutating func noteCommit(_ tx: CommittedTransaction, at: Double) {
        for c in tx.changes {
            let wk = WatchKey(watch: c.watch, key: c.key)
            keys[wk, default: KeyState()].changes.append(Change(at: at, old: c.old, new: c.new))
            scheduleRead(wk, at: at + tolerances[c.watch].lag + 0.001, trigger: .change)
        }
    }

    /// Redis said a key changed (tracking invalidation or keyspace notification).
    public mutating func noteNotification(watch: Int, key: ShadowKey, at: Double) {
        scheduleRead(WatchKey(watch: watch, key: key), at: at, trigger: .notification)
    }

    /// An XA transaction was prepared: until ``releaseHeld(xid:at:rolledBack:)`` the values it holds count as
    /// values of their keys for the verdict rule.
    public mutating func noteHeld(xid: String, changes: [CommittedChange]) {
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
    public mutating func releaseHeld(xid: String, at: Double, rolledBack: Bool = false) {
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
    func heldValues(_ wk: WatchKey, since: Double) -> [ShadowValue?] {
        var out = held[wk] ?? []
        if let r = released[wk] { for e in r where e.at >= since { out.append(e.value) } }
        return out
    }

    /// XA transactions whose held values count now.
    public var heldTransactions: Int { heldByXID.count }

    /// Restores an open divergence (from a checkpoint), so it is not reported again as new.
    /// Its first inconsistent read after the restart makes it repairable like a new one.
    public mutating func restore(open record: ReportRecord, watch: Int, key: ShadowKey) {
        var record = record
        record.rowKey = key
        record.watchIndex = watch
        let wk = WatchKey(watch: watch, key: key)
        if keys[wk] == nil { keys[wk] = KeyState() }
        open[wk] = record
        scheduleRead(wk, at: 0, trigger: .change)
    }

    // MARK: - Reads

    /// The reads due at `now` (removed from the schedule).
    public mutating func dueReads(now: Double) -> [(watch: Int, key: ShadowKey)] {
        takeDueReads(now: now).map { ($0.watch, $0.key) }
    }

    /// Puts reads back in the schedule (they came due while the sidecar was behind the source).
    public mutating func reschedule(_ reads: [DueRead], at: Double) {
        for r in reads {
            scheduleRead(WatchKey(watch: r.watch, key: r.key), at: at, trigger: r.trigger, requestedAt: r.dueAt, waitingSince: r.waitingSince)
        }
    }

    /// The reads due at `now` with their triggers (removed from the schedule).
    public mutating func takeDueReads(now: Double) -> [DueRead] {
        var out: [DueRead] = []
        while let top = schedule.min, top.at <= now {
            schedule.removeMin()
            guard let live = scheduledAt[top.key], live.at == top.at else { continue }
            scheduledAt.removeValue(forKey: top.key)
            let due = live.requestedAt ?? top.at
            out.append(DueRead(watch: top.key.watch, key: top.key.key, trigger: live.trigger, dueAt: due, waitingSince: min(due, live.waitingSince ?? due)))
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

    /// When the next scheduled read is due (stale schedule entries on top are dropped).
    public var nextReadAt: Double? {
        mutating get {
            while let top = schedule.min {
                if let live = scheduledAt[top.key], live.at == top.at { return top.at }
                schedule.removeMin()
            }
            return nil
        }
    }

    /// A Redis read of one key at `at`; `current` is the shadow value now.
    ///
    /// A key with no state (no change within the history horizon, no read waiting for a decision
    /// or a confirmation, no open divergence), no pending read, and a reading equal to `current`
    /// is consistent whatever the binlog applies before the decision at `at` + L: every change
    /// then starts from `current`, which stays in the window. Such a read is decided here and
    /// kept nowhere — the common case of a sweep. Its only trace would have been the key's
    /// `last_agreed`, which a key without state does not keep past its decision anyway.
    ///
    /// A read on a replica (`replicaSince`: the replica had every write its master had made by
    /// that time, see docs/redis-cluster.md, "Reads from replicas") saw the master's data of some
    /// time in [`replicaSince`, `at`]: its G grows by `at` − `replicaSince`. One that matches no
    /// value of its widened window is a suspect like a master's read: the confirmation C later is
    /// read on the master (`.confirm` reads go there), and only that read can report. One that is
    /// more than C behind, or about a key inconsistent or reported, is dropped and the key read on
    /// the master at once (trigger `.recheck`); one about a key awaiting its confirmation is
    /// dropped. A replica never confirms or resolves a divergence.
    public mutating func observe(
        watch: Int, key: ShadowKey, result: RedisObservation, at: Double, current: ShadowValue?, replicaSince: Double? = nil
    ) {
        let wk = WatchKey(watch: watch, key: key)
        if keys[wk] == nil, scheduledAt[wk] == nil, agreesAtOnce(result, current, watch: watch) { return }
        var staleness = 0.0
        var suspect = false
        if let since = replicaSince {
            staleness = max(at - since, 1e-6)
            switch judgeReplicaRead(wk, result: result, at: at, staleness: staleness, current: current) {
            case .recheck:
                scheduleRead(wk, at: at, trigger: .recheck)
                return
            case .ignore:
                return
            case .consistent:
                break
            case .suspect:
                suspect = true
            }
        }
        seq &+= 1
        decideQueue.insert(Scheduled(at: at + tolerances[watch].lead, seq: seq, key: wk))
        // Taken out while it changes, so its arrays are not shared (and copied) on the way.
        var st = keys.removeValue(forKey: wk) ?? KeyState()
        st.observations.append(Observation(at: at, result: result, staleness: staleness))
        if suspect {
            // It matches nothing known so far even with its widened window: the master is read C
            // later, as the confirmation of a master's read would be (it decides; the replica never does).
            st.awaitingConfirmation = true
            keys[wk] = st
            scheduleRead(wk, at: at + tolerances[watch].confirm, trigger: .confirm)
            return
        }
        if staleness > 0 {
            // Consistent with its widened window (checked above): no confirmation to ask for. When
            // only the widening made it so (it showed a value replaced more than G ago: the replica
            // lags, or Redis missed the change), the key is read again once the replica has had
            // time to catch up: a stale replica never hides a lost write for longer than that.
            let g = tolerances[watch].lag
            var recent = values(st, from: at - g, to: at, current: current)
            if !held.isEmpty || !released.isEmpty { recent += heldValues(wk, since: at - g) }
            if !isConsistent(result, with: recent, watch: watch) { scheduleRead(wk, at: at + staleness, trigger: .change) }
            keys[wk] = st
            return
        }
        // A read that matches no value known so far for [t − G, t] asks for a confirmation read.
        // (Not for a read that is itself the confirmation, nor for a key already reported.)
        if st.awaitingConfirmation {
            st.awaitingConfirmation = false
        } else if open[wk] == nil {
            let g = tolerances[watch].lag
            var known = values(st, from: at - g, to: at, current: current)
            if !held.isEmpty || !released.isEmpty { known += heldValues(wk, since: at - g) }
            if !isConsistent(result, with: known, watch: watch) {
                st.awaitingConfirmation = true
                scheduleRead(wk, at: at + tolerances[watch].confirm, trigger: .confirm)
            }
        }
        keys[wk] = st
    }

    /// What a replica's read of a key is: see ``observe(watch:key:result:at:current:replicaSince:)``.
    enum ReplicaRead {
        /// Consistent with its window widened by its staleness.
        case consistent
        /// It matches nothing known so far: a suspect, confirmed (or not) on the master C later.
        case suspect
        /// It cannot count: more than C stale, or the key is reported or inconsistent (the master
        /// is read at once).
        case recheck
        /// A confirmation on the master is already on its way.
        case ignore
    }

    func judgeReplicaRead(_ wk: WatchKey, result: RedisObservation, at: Double, staleness: Double, current: ShadowValue?) -> ReplicaRead {
        let tol = tolerances[wk.watch]
        // History is kept for G + L + 2C: a window reaching back more than C beyond G is not known whole.
        guard staleness <= tol.confirm, open[wk] == nil else { return .recheck }
        let st = keys[wk]
        // A confirmation on the master is on its way (a read is scheduled: merged requests keep its
        // master trigger); without one, the master is read now.
        if let st, st.awaitingConfirmation { return scheduledAt[wk] == nil ? .recheck : .ignore }
        if let st, st.firstInconsistent != nil { return .recheck }
        let from = at - tol.lag - staleness
        var known = st.map { values($0, from: from, to: at, current: current) } ?? [current]
        if !held.isEmpty || !released.isEmpty { known += heldValues(wk, since: from) }
        return isConsistent(result, with: known, watch: wk.watch) ? .consistent : .suspect
    }

    /// The sweep's fast path: what `observe` decides for a quiet key that agrees, from the reply's
    /// bytes, without building a string. True when `bytes` are the shadow value (an integer as
    /// `Int64` reads it, text byte for byte) and the key has no state and no pending read: then the
    /// read is decided consistent and nothing is kept. False sends the caller to `observe`.
    public func agreesAtOnce(watch: Int, key: ShadowKey, bytes: UnsafeBufferPointer<UInt8>, current: ShadowValue?) -> Bool {
        switch current {
        case .int(let i)?:
            guard Self.int64(bytes) == i else { return false }
        case .text(let t)?:
            guard t.utf8.elementsEqual(bytes) else { return false }
        case .null?, nil:
            return false
        }
        // During a quiet sweep nothing has state: no key to hash.
        if keys.isEmpty && scheduledAt.isEmpty { return true }
        let wk = WatchKey(watch: watch, key: key)
        return keys[wk] == nil && scheduledAt[wk] == nil
    }

    /// A decimal integer as `Int64(String)` reads it (an optional sign, then digits), or nil.
    @inline(__always)
    static func int64(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            i = 1
        }
        guard i < bytes.count else { return nil }
        var v: Int64 = 0
        while i < bytes.count {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (n, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { return nil }
            v = n
            i += 1
        }
        return v
    }

    /// Whether a read of a key without state is decided consistent on the spot: equal to the
    /// shadow value (as `exactlyEqual`), or missing where that is normal.
    func agreesAtOnce(_ r: RedisObservation, _ current: ShadowValue?, watch: Int) -> Bool {
        switch (r, current) {
        case (.value(let s), .int(let i)?):
            // The common case without building text or NumericText: an integer reading of an
            // integer value (`Int64` takes what NumericText reads as the same integer, or nil).
            if let n = Int64(s) { return n == i }
            return exactlyEqual(r, current)
        case (.missing, _):
            return exactlyEqual(r, current) || tolerances[watch].missingIsNormal
        default:
            return exactlyEqual(r, current)
        }
    }

    /// - Parameters:
    ///   - requestedAt: for a read put back (``reschedule(_:at:)``), when it was requested; `at` otherwise.
    ///   - waitingSince: for a read put back, when the oldest request it serves was made.
    mutating func scheduleRead(_ wk: WatchKey, at: Double, trigger: ReadTrigger, requestedAt: Double? = nil, waitingSince: Double? = nil) {
        // The earlier of the two is scheduled; the later one follows it (the latest one only:
        // one read after all pending requests covers them).
        // Requests merged into one read keep a master's trigger (a confirmation, a recheck): with
        // reads from replicas, the read that serves them must be on the master.
        func keeping(_ a: ReadTrigger, _ b: ReadTrigger) -> ReadTrigger { a.onMaster || !b.onMaster ? a : b }
        if var live = scheduledAt[wk] {
            if live.at <= at {
                if at <= live.at + 0.001 {
                    // Requested for the same moment: a read on the master serves both.
                    live.trigger = keeping(live.trigger, trigger)
                } else if let f = live.followUp, f.at >= at {
                    live.followUp = (f.at, keeping(f.trigger, trigger))
                } else {
                    live.followUp = (at, live.followUp.map { keeping(trigger, $0.trigger) } ?? trigger)
                }
                scheduledAt[wk] = live
                return
            }
            var later: (at: Double, trigger: ReadTrigger) = (live.followUp?.at ?? 0) > live.at ? live.followUp! : (live.at, live.trigger)
            if later.at != live.at { later.trigger = keeping(later.trigger, live.trigger) }
            // The oldest request waiting is kept: a read waiting for a replica goes to the master
            // after C / 2 however often it is requested again.
            let oldest = min(waitingSince ?? requestedAt ?? at, live.waitingSince ?? live.requestedAt ?? live.at)
            scheduledAt[wk] = PendingRead(at: at, trigger: trigger, followUp: later, requestedAt: requestedAt, waitingSince: oldest)
        } else {
            scheduledAt[wk] = PendingRead(at: at, trigger: trigger, requestedAt: requestedAt, waitingSince: waitingSince)
        }
        seq &+= 1
        schedule.insert(Scheduled(at: at, seq: seq, key: wk))
    }

    /// Gives back the storage of containers that emptied or shrank far below their capacity.
    mutating func releaseUnusedCapacity() {
        keys.releaseUnusedCapacity()
        open.releaseUnusedCapacity()
        repairable.releaseUnusedCapacity()
        held.releaseUnusedCapacity()
        heldByXID.releaseUnusedCapacity()
        released.releaseUnusedCapacity()
        scheduledAt.releaseUnusedCapacity()
        schedule.releaseUnusedCapacity()
        decideQueue.releaseUnusedCapacity()
    }

    /// `2026-11-25T14:03:07.123Z`.
    public static func rfc3339(_ unix: Double) -> String { ReportTime.format(unix) }
}
