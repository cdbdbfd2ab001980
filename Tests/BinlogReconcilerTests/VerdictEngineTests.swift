import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The worked examples of docs/reconcile.md, with L = 2 s, G = 1 s, C = 1 s.
@Suite struct VerdictEngineTests {
    /// A tiny harness: a shadow map for one key, Redis's value for it, and a clock.
    final class World {
        var engine: VerdictEngine
        var shadow: ShadowValue? = .int(100)
        var redis: RedisObservation = .value("100")
        var now = 0.0
        var records: [ReportRecord] = []
        let key = ShadowKey.int(7)

        init(missingIsNormal: Bool = false) {
            engine = VerdictEngine(watchNames: ["stock"], tolerances: [.init(lead: 2, lag: 1, confirm: 1, missingIsNormal: missingIsNormal)], wallOffset: 1_700_000_000) { _, k in "product:\(k):stock" }
        }

        func commit(_ new: ShadowValue?) {
            let tx = CommittedTransaction(gtid: "0-1-\(Int(now * 1000))", end: BinlogCoordinates(file: "b.1", position: 4), timestamp: 0, changes: [CommittedChange(watch: 0, key: key, old: shadow, new: new)])
            shadow = new
            engine.noteCommit(tx, at: now)
        }

        func notify() { engine.noteNotification(watch: 0, key: key, at: now) }

        /// An XA transaction prepares a change of the key (held, not applied).
        func prepare(_ xid: String, _ new: ShadowValue?) {
            engine.noteHeld(xid: xid, changes: [CommittedChange(watch: 0, key: key, old: shadow, new: new)])
        }

        func rollback(_ xid: String) { engine.releaseHeld(xid: xid, at: now, rolledBack: true) }

        /// Runs the clock forward in 1 ms steps, doing due reads and decisions.
        func run(until t: Double) {
            while now < t {
                now = (now * 1000 + 1).rounded() / 1000
                for (w, k) in engine.dueReads(now: now) {
                    engine.observe(watch: w, key: k, result: redis, at: now, current: shadow)
                }
                records += engine.decide(now: now, current: { _, _ in self.shadow }, position: BinlogCoordinates(file: "b.1", position: 4), gtid: "0-1-1")
            }
        }

        var divergences: [ReportRecord] { records.filter { $0.event == .divergence } }
        var resolved: [ReportRecord] { records.filter { $0.event == .resolved } }
    }

    @Test func redisBehindWithinLagIsNormal() {
        let w = World()
        w.run(until: 10)
        w.commit(.int(99))  // MySQL applies an order; a cache-aside writer updates Redis 0.8 s later
        w.run(until: 10.8)
        w.redis = .value("99")
        w.run(until: 20)
        #expect(w.records.isEmpty)
    }

    @Test func redisAheadWithinLeadIsNormal() {
        let w = World()
        w.run(until: 20)
        w.redis = .value("97")  // pre-deduct of 3 in Redis, notified
        w.notify()
        w.run(until: 21.5)
        w.commit(.int(97))  // MySQL catches up 1.5 s later
        w.run(until: 30)
        #expect(w.records.isEmpty)
    }

    @Test func batchedTransactionsPassThroughValuesMySQLNeverHolds() {
        let w = World()
        w.run(until: 5)
        w.redis = .value("99"); w.notify(); w.run(until: 5.2)
        w.redis = .value("98"); w.notify(); w.run(until: 5.4)
        w.redis = .value("96"); w.notify(); w.run(until: 5.6)
        w.commit(.int(96))  // one transaction for the three orders
        w.run(until: 15)
        #expect(w.records.isEmpty)
    }

    @Test func lostMySQLWriteOnAQuietKeyIsReportedAfterCPlusL() throws {
        let w = World()
        w.run(until: 30)
        w.redis = .value("99")  // Redis pre-deducted, the MySQL write is lost
        w.notify()
        w.run(until: 40)
        let d = try #require(w.divergences.first)
        #expect(w.divergences.count == 1)
        #expect(d.kind == .redisLower && d.expected == "100" && d.redis == "99")
        #expect(abs(d.firstSeen - 1_700_000_030) < 0.01)
        #expect(abs((d.detectedAt - d.firstSeen) - 3) < 0.01, "C + L = 3 s after a notified Redis-side change")
    }

    @Test func manualMySQLUpdateNotReachingRedisIsReportedAfterGPlusCPlusL() throws {
        let w = World()
        w.run(until: 40)
        w.commit(.int(150))  // restock written only to MySQL
        w.run(until: 50)
        let d = try #require(w.divergences.first)
        #expect(w.divergences.count == 1)
        #expect(d.kind == .redisLower && d.expected == "150")
        #expect(abs(d.detectedAt - (1_700_000_040 + 4)) < 0.01, "G + C + L = 4 s after the commit")
    }

    @Test func resolvedOnceSeenEqualWhileQuietAndNoDuplicates() throws {
        let w = World()
        w.run(until: 10)
        w.redis = .value("120"); w.notify()  // oversell risk
        w.run(until: 20)
        w.notify(); w.run(until: 25)  // another notification on the same wrong value: no duplicate
        #expect(w.divergences.count == 1)
        #expect(w.divergences.first?.kind == .redisHigher)
        w.redis = .value("100.0"); w.notify()  // fixed (formatting differences are not divergences)
        w.run(until: 30)
        #expect(w.resolved.count == 1)
        #expect(w.resolved.first?.id == w.divergences.first?.id)
    }

    @Test func missingKeyAndMissingIsNormal() {
        let w = World()
        w.run(until: 5)
        w.redis = .missing; w.notify()
        w.run(until: 15)
        #expect(w.divergences.map(\.kind) == [.missing])
        let normal = World(missingIsNormal: true)
        normal.run(until: 5)
        normal.redis = .missing; normal.notify()
        normal.run(until: 15)
        #expect(normal.records.isEmpty)
    }

    /// A hot key evicted (e.g. a Redis restart), reloaded while it keeps selling: the `missing`
    /// divergence closes when the key is back with a consistent value, even though the key is
    /// never quiet; a `redis_higher` divergence on the same hot key stays open (its error could
    /// be hiding among the values the key sweeps through).
    @Test func missingResolvesWhenTheKeyIsBackEvenIfHotButAWrongValueDoesNot() throws {
        let w = World()
        w.run(until: 5)
        w.redis = .missing; w.notify()
        w.run(until: 15)
        #expect(w.divergences.map(\.kind) == [.missing])
        // Reloaded from MySQL at 15.0 (100); it sells one unit every 0.5 s, Redis leading MySQL by 0.2 s.
        w.redis = .value("100"); w.notify()
        var stock = 100
        var t = 15.0
        while t < 25 {
            t += 0.5; w.run(until: t)
            stock -= 1; w.redis = .value("\(stock)"); w.notify()
            w.run(until: t + 0.2); w.commit(.int(Int64(stock)))
        }
        w.run(until: 26)
        #expect(w.resolved.count == 1)
        #expect(w.resolved.first?.id == w.divergences.first?.id)
        #expect(w.divergences.count == 1)

        let h = World()
        h.run(until: 5)
        h.redis = .value("110"); h.notify()  // stale write-back: Redis 10 higher, on a key that then sells
        stock = 100
        t = 5.0
        while t < 15 {
            t += 0.5; h.run(until: t)
            stock -= 1; h.redis = .value("\(stock + 10)"); h.notify()
            h.run(until: t + 0.2); h.commit(.int(Int64(stock)))
        }
        h.run(until: 30)  // quiet from 15.2: the wrong value is confirmed then and stays open
        #expect(h.divergences.map(\.kind) == [.redisHigher])
        #expect(h.resolved.isEmpty)
    }

    @Test func orphanNotANumberAndWrongType() {
        let orphan = World()
        orphan.run(until: 5)
        orphan.commit(nil)  // row deleted, Redis keeps the key
        orphan.run(until: 15)
        #expect(orphan.divergences.map(\.kind) == [.orphan])
        let nan = World()
        nan.run(until: 5)
        nan.redis = .value("lots"); nan.notify()
        nan.run(until: 15)
        #expect(nan.divergences.map(\.kind) == [.notANumber])
        let wt = World()
        wt.run(until: 5)
        wt.redis = .wrongType; wt.notify()
        wt.run(until: 15)
        #expect(wt.divergences.map(\.kind) == [.wrongType])
    }

    @Test func aSingleInconsistentReadIsNotADivergence() {
        let w = World()
        w.run(until: 5)
        w.redis = .value("90"); w.notify()
        w.run(until: 5.5)
        w.redis = .value("100")  // it was a blip: the confirmation read agrees
        w.run(until: 15)
        #expect(w.records.isEmpty)
    }

    @Test func preparedXAValueIsLegitimateAndRollbackGivesTheApplicationGToUndoIt() {
        let w = World()
        w.run(until: 10)
        w.prepare("x1", .int(97))  // XA PREPARE of an order of 3; the application pre-deducts
        w.redis = .value("97")
        w.notify()
        w.run(until: 11.5)
        w.notify()  // a read while prepared: legitimate
        w.run(until: 12)
        w.rollback("x1")  // XA ROLLBACK: the application gives the 3 back 0.9 s later (< G)
        w.run(until: 12.6)
        w.notify()  // Redis still shows the held value 0.6 s after the rollback: within G
        w.run(until: 12.9)
        w.redis = .value("100")
        w.run(until: 30)
        #expect(w.records.isEmpty)
    }

    @Test func xaRollbackTheApplicationNeverUndoesIsReported() throws {
        let w = World()
        w.run(until: 10)
        w.prepare("x1", .int(97))
        w.redis = .value("97")
        w.notify()
        w.run(until: 12)
        w.rollback("x1")  // the application never gives the 3 back: read G after the rollback
        w.run(until: 30)
        let d = try #require(w.divergences.first)
        #expect(w.divergences.count == 1)
        #expect(d.kind == .redisLower)
        #expect(d.expected == "100" && d.redis == "97")
        // First seen at the read G after the rollback (no notification came after it).
        #expect(abs(d.firstSeen - (1_700_000_000 + 13.001)) < 0.01)
    }

    /// Issue 12: a sweep of a consistent catalogue leaves nothing behind. Each read of a quiet key
    /// that agrees is decided at once: no record, no scheduled decision, no storage.
    @Test func aSweepOfConsistentKeysLeavesTheEngineTrackingNoKey() {
        var engine = VerdictEngine(watchNames: ["stock"], tolerances: [.init(lead: 2, lag: 1, confirm: 1)], wallOffset: 0) { _, k in "product:\(k):stock" }
        let n = 100_000
        let value = { (id: Int) -> ShadowValue in .int(Int64(id % 1000)) }
        for id in 1...n {
            engine.observe(watch: 0, key: .int(Int64(id)), result: .value("\(id % 1000)"), at: 10, current: value(id))
        }
        #expect(engine.trackedKeys == 0)
        #expect(engine.pendingReads == 0)
        #expect(engine.retainedCapacity == 0, "the sweep allocated per-key storage")
        var records: [ReportRecord] = []
        for t in stride(from: 10.0, through: 20.0, by: 0.5) {
            records += engine.decide(now: t, current: { _, k in
                guard case .int(let i) = k else { return nil }
                return value(Int(i))
            }, position: BinlogCoordinates(file: "b.1", position: 4), gtid: "0-1-1")
        }
        #expect(records.isEmpty)
        #expect(engine.trackedKeys == 0)
        // A formatting difference still agrees at once (`100.0` is 100); a disagreeing read is kept.
        engine.observe(watch: 0, key: .int(1), result: .value("1.0"), at: 21, current: .int(1))
        #expect(engine.trackedKeys == 0)
        engine.observe(watch: 0, key: .int(2), result: .value("3"), at: 21, current: .int(2))
        #expect(engine.trackedKeys == 1)
        #expect(engine.pendingReads == 1, "a confirmation read")
    }

    /// Issue 12: the storage of the per-key state is given back once the keys are quiet again (a
    /// Dictionary keeps its capacity when entries are removed).
    @Test func storageIsGivenBackWhenTheTrackedKeysEmpty() {
        var engine = VerdictEngine(watchNames: ["stock"], tolerances: [.init(lead: 2, lag: 1, confirm: 1)], wallOffset: 0) { _, k in "product:\(k):stock" }
        let n = 100_000
        // A restock of every product: 100 → 150, applied at 1.0; Redis updated at once.
        let changes = (1...n).map { CommittedChange(watch: 0, key: .int(Int64($0)), old: .int(100), new: .int(150)) }
        engine.noteCommit(CommittedTransaction(gtid: "0-1-2", end: BinlogCoordinates(file: "b.1", position: 4), timestamp: 0, changes: changes), at: 1)
        #expect(engine.trackedKeys == n)
        #expect(engine.pendingReads == n)
        let peak = engine.retainedCapacity
        #expect(peak >= 3 * n)
        var records: [ReportRecord] = []
        var t = 1.0
        while t < 12 {
            t += 0.25
            for (w, k) in engine.dueReads(now: t) {
                engine.observe(watch: w, key: k, result: .value("150"), at: t, current: .int(150))
            }
            records += engine.decide(now: t, current: { _, _ in .int(150) }, position: BinlogCoordinates(file: "b.1", position: 4), gtid: "0-1-2")
        }
        #expect(records.isEmpty)
        #expect(engine.trackedKeys == 0)
        #expect(engine.pendingReads == 0)
        #expect(engine.retainedCapacity <= 4 * 1024, "storage for \(engine.retainedCapacity) entries kept after the keys went quiet (peak \(peak))")
    }

    @Test func numericTextComparesExactly() {
        #expect(NumericText("7") == NumericText("07.000"))
        #expect(NumericText("-0") == NumericText("0"))
        #expect(NumericText("12.50")! < NumericText("12.51")!)
        #expect(NumericText("-3")! < NumericText("-2.5")!)
        #expect(NumericText("1e5") == nil)
        #expect(NumericText("abc") == nil)
        #expect(VerdictEngine.rfc3339(1_700_000_000.123) == "2023-11-14T22:13:20.123Z")
    }
}
