import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient

/// Reads on replicas (`read_from = "replica"`): the engine's rule for them and the replication
/// clock that measures their staleness. L = 2 s, G = 0.2 s, C = 1 s.
@Suite struct ReplicaReadTests {
    /// One key on a master whose value follows the binlog, and a replica that shows the master's
    /// value of `replicaDelay` seconds ago; reads meant for a replica see the replica (with the
    /// staleness the clock would measure), confirmations and rechecks the master.
    final class World {
        var engine = VerdictEngine(watchNames: ["stock"], tolerances: [.init(lead: 2, lag: 0.2, confirm: 1)], wallOffset: 0) { _, k in "product:\(k):stock" }
        var shadow: ShadowValue? = .int(100)
        /// The master's value over time (ascending).
        var master: [(at: Double, value: RedisObservation)] = [(0, .value("100"))]
        var replicaDelay = 0.3
        /// What the clock measures: the delay plus the sampling interval.
        var measured: Double { replicaDelay + 0.1 }
        var now = 0.0
        var records: [ReportRecord] = []
        var triggers: [VerdictEngine.ReadTrigger: Int] = [:]
        /// Reads that waited for the replica and went to the master.
        var onMasterAfterWaiting = 0
        var replicaReads = 0
        let key = ShadowKey.int(7)

        func masterValue(at t: Double) -> RedisObservation { master.last(where: { $0.at <= t })?.value ?? .missing }

        func commit(_ new: Int64, redisToo: Bool = true) {
            let tx = CommittedTransaction(gtid: "0-1-\(Int(now * 1000))", end: BinlogCoordinates(file: "b.1", position: 4), timestamp: 0, changes: [CommittedChange(watch: 0, key: key, old: shadow, new: .int(new))])
            shadow = .int(new)
            engine.noteCommit(tx, at: now)
            if redisToo { master.append((now, .value("\(new)"))) }
        }

        func setRedis(_ v: RedisObservation) { master.append((now, v)) }

        func notify() { engine.noteNotification(watch: 0, key: key, at: now) }

        func run(until t: Double) {
            while now < t {
                now = (now * 1000 + 1).rounded() / 1000
                for r in engine.takeDueReads(now: now) {
                    // As Reconciler.readDue routes them: on the replica once it has caught up with
                    // the moment the read was due; waiting for that up to C / 2; then the master.
                    let since = now - measured
                    if !r.trigger.onMaster && since < r.dueAt && now - r.waitingSince < 0.5 {
                        engine.reschedule([r], at: now + 0.05)
                        continue
                    }
                    triggers[r.trigger, default: 0] += 1
                    if r.trigger.onMaster || since < r.dueAt {
                        engine.observe(watch: 0, key: r.key, result: masterValue(at: now), at: now, current: shadow)
                        if !r.trigger.onMaster { onMasterAfterWaiting += 1 }
                    } else {
                        replicaReads += 1
                        engine.observe(
                            watch: 0, key: r.key, result: masterValue(at: now - replicaDelay), at: now, current: shadow,
                            replicaSince: now - measured)
                    }
                }
                records += engine.decide(now: now, current: { _, _ in self.shadow }, position: BinlogCoordinates(file: "b.1", position: 4), gtid: "0-1-1")
            }
        }

        var divergences: [ReportRecord] { records.filter { $0.event == .divergence } }
    }

    /// An order a second; Redis follows at once, the replica 0.3 s late (more than G): the reads go
    /// to the replica once it has caught up with the moment they were due, and nothing is reported.
    @Test func replicaBehindGivesNoAlarm() {
        let w = World()
        w.run(until: 1)
        for i in 1...8 {
            w.commit(Int64(100 - i))
            w.notify()
            w.run(until: w.now + 1)
        }
        w.run(until: 12)
        #expect(w.records.isEmpty)
        #expect(w.triggers[.recheck, default: 0] == 0, "\(w.triggers)")
        #expect(w.replicaReads >= 8 && w.onMasterAfterWaiting == 0, "replica \(w.replicaReads), master \(w.onMasterAfterWaiting)")
    }

    /// A hot key (an order every 100 ms, each notified) whose replica needs 0.4 s to show a
    /// notified write: its reads wait at most C / 2 for the replica, then go to the master; a
    /// request again and again never starves it.
    @Test func aHotKeyIsReadOnTheMasterAfterWaitingHalfC() {
        let w = World()
        w.run(until: 1)
        for i in 1...40 {
            w.commit(Int64(100 - i))
            w.notify()
            w.run(until: w.now + 0.1)
        }
        w.run(until: 10)
        #expect(w.records.isEmpty)
        #expect(w.onMasterAfterWaiting >= 6, "replica \(w.replicaReads), master \(w.onMasterAfterWaiting)")
    }

    /// A lost write on the master, copied to the replica: the replica's read is the first
    /// inconsistent one, and the confirmation C later, on the master, reports it, once.
    @Test func divergenceIsConfirmedOnTheMaster() {
        let w = World()
        w.run(until: 1)
        w.commit(99, redisToo: false)  // Redis missed the order
        w.run(until: 6)
        #expect(w.divergences.count == 1)
        #expect(w.triggers[.confirm, default: 0] >= 1, "\(w.triggers)")
        // The change read at 1.2 s (replica: 100, the master's of 0.9 s) is within its staleness
        // of 0.4 s; the follow-up read once the replica had time to catch up (1.6 s) is not, and
        // matches nothing: the confirmation on the master at 2.6 s reports it.
        let first = w.divergences[0].firstSeen
        #expect(first >= 1.6 && first < 1.7, "\(first)")
    }

    /// A replica further behind than C: its reads go to the master (no alarm, no record).
    @Test func replicaBeyondCIsReadOnTheMaster() {
        let w = World()
        w.replicaDelay = 1.5
        w.run(until: 1)
        for i in 1...10 {
            w.commit(Int64(100 - i))
            w.notify()
            w.run(until: w.now + 0.6)
        }
        w.run(until: 10)
        #expect(w.records.isEmpty)
        #expect(w.replicaReads == 0 && w.onMasterAfterWaiting >= 10, "replica \(w.replicaReads), master \(w.onMasterAfterWaiting)")
        // A sweep's read of the quiet key on that replica (1.6 s stale: more than C) is read again on the master.
        w.engine.observe(watch: 0, key: w.key, result: .value("1"), at: w.now, current: w.shadow, replicaSince: w.now - 1.6)
        w.run(until: w.now + 0.01)
        #expect(w.triggers[.recheck, default: 0] == 1, "\(w.triggers)")
    }

    /// A divergence stays open while the master is wrong, even when a lagging replica shows the
    /// right value; the master's read resolves it once the master is right.
    @Test func replicaNeverResolves() {
        let w = World()
        w.run(until: 1)
        w.setRedis(.value("55"))  // a bad write on the master
        w.notify()
        w.run(until: 5)
        #expect(w.divergences.count == 1)
        // The replica still shows the right value (it is 3 s behind, measured 0.5 s: a lie the
        // engine cannot see); its reads must not resolve the divergence.
        w.replicaDelay = 4.4
        w.master.append((w.now, .value("55")))
        for _ in 0..<5 {
            w.notify()
            w.run(until: w.now + 0.5)
        }
        #expect(!w.records.contains { $0.event == .resolved })
        // A sweep's read on a fresh replica that shows the right value: dropped, read on the master.
        let rechecks = w.triggers[.recheck, default: 0]
        w.engine.observe(watch: 0, key: w.key, result: .value("100"), at: w.now, current: w.shadow, replicaSince: w.now - 0.1)
        w.run(until: w.now + 3)
        #expect(w.triggers[.recheck, default: 0] == rechecks + 1, "\(w.triggers)")
        #expect(!w.records.contains { $0.event == .resolved })
        w.replicaDelay = 0.3
        w.setRedis(.value("100"))
        w.notify()
        w.run(until: w.now + 5)
        #expect(w.records.filter { $0.event == .resolved }.count == 1)
    }

    /// A confirmation (on the master) merged with a later read keeps its master trigger: the read
    /// that serves both goes to the master (a cluster sale missed two faults before this).
    @Test func mergedRequestsKeepTheMastersTrigger() {
        var e = VerdictEngine(watchNames: ["stock"], tolerances: [.init(lead: 2, lag: 0.2, confirm: 1)], wallOffset: 0) { _, k in "\(k)" }
        let wk = VerdictEngine.WatchKey(watch: 0, key: .int(7))
        e.scheduleRead(wk, at: 1.0, trigger: .change)
        e.scheduleRead(wk, at: 2.0, trigger: .confirm)  // follows the change read
        e.scheduleRead(wk, at: 3.0, trigger: .notification)  // replaces the follow-up: a read at 3.0 serves both
        #expect(e.takeDueReads(now: 1.0).map(\.trigger) == [.change])
        #expect(e.takeDueReads(now: 2.5).isEmpty)
        #expect(e.takeDueReads(now: 3.0).map(\.trigger) == [.confirm])
        // An earlier request that takes the place of a pending confirmation hands it its trigger.
        e.scheduleRead(wk, at: 5.0, trigger: .confirm)
        e.scheduleRead(wk, at: 6.0, trigger: .notification)
        e.scheduleRead(wk, at: 4.0, trigger: .change)
        #expect(e.takeDueReads(now: 4.0).map(\.trigger) == [.change])
        #expect(e.takeDueReads(now: 6.0).map(\.trigger) == [.confirm])
    }

    @Test func replicationClockBoundsStaleness() {
        var c = ReplicationClock(horizon: 10)
        #expect(c.safeSince(replicaOffset: 100) == nil)
        c.record(offset: 100, sentAt: 1.0)
        c.record(offset: 150, sentAt: 1.1)
        c.record(offset: 150, sentAt: 1.2)
        c.record(offset: 400, sentAt: 1.3)
        #expect(c.safeSince(replicaOffset: 99) == nil)  // behind everything kept
        #expect(c.safeSince(replicaOffset: 100) == 1.0)
        #expect(c.safeSince(replicaOffset: 160) == 1.2)  // has all of 150: the last time it was 150
        #expect(c.safeSince(replicaOffset: 400) == 1.3)
        #expect(c.safeSince(replicaOffset: 10_000) == 1.3)
        // A new master (lower offsets) starts the clock again.
        c.record(offset: 20, sentAt: 2.0)
        #expect(c.safeSince(replicaOffset: 150) == 2.0)
        #expect(c.safeSince(replicaOffset: 19) == nil)
        // Samples older than the horizon are dropped (the latest one is always kept).
        for i in 0..<3000 { c.record(offset: 20 + Int64(i), sentAt: 3.0 + Double(i) * 0.01) }
        #expect(c.safeSince(replicaOffset: 25) == nil)
        #expect(c.safeSince(replicaOffset: 3019) == 3.0 + 2999 * 0.01)
    }
}
