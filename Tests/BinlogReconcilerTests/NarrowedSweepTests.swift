import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient

/// The pieces of a narrowed sweep (after a Redis Cluster node's incident): the slot set, the
/// sweep requests (union of slots; every key wins) and the slot filter of a watch's keys.
struct NarrowedSweepTests {
    @Test func slotSetRangesUnionAndSuperset() {
        var a = RedisClusterSlotSet([0...5460, 10923...10923])
        #expect(a.count == 5462)
        #expect(a.contains(0) && a.contains(5460) && a.contains(10923))
        #expect(!a.contains(5461) && !a.contains(-1) && !a.contains(16384) && !a.contains(Int.max))
        #expect(a.ranges == [0...5460, 10923...10923])
        #expect(RedisClusterSlotSet([16000...20000, -5...(-1)]).ranges == [16000...16383])
        #expect(RedisClusterSlotSet().isEmpty && RedisClusterSlotSet().ranges.isEmpty)
        let b = RedisClusterSlotSet([5461...5470, 16383...16383])
        #expect(!a.isSuperset(of: b) && !b.isSuperset(of: a))
        a.formUnion(b)
        #expect(a.ranges == [0...5470, 10923...10923, 16383...16383])
        #expect(a.isSuperset(of: b) && a.isSuperset(of: RedisClusterSlotSet()))
        #expect(RedisClusterSlotSet([0...16383]).count == RedisClusterSlot.count)
    }

    static func state() -> LiveState {
        let engine = VerdictEngine(watchNames: ["stock"], tolerances: [.init(lead: 2, lag: 1, confirm: 1)], wallOffset: 0) { _, k in "p:\(k)" }
        var s = LiveState(shadow: ShadowState(watchCount: 1, position: BinlogCoordinates(file: "", position: 4)), engine: engine)
        let first = s.takeSweepRequest(due: false), second = s.takeSweepRequest(due: false)
        #expect(first == .every, "a sweep of every key at start")
        #expect(second == nil)
        return s
    }

    @Test func incidentsOfNodesRequestTheUnionOfTheirSlotsAndAFullRequestWins() {
        var s = Self.state()
        let x = RedisClusterSlotSet([0...5460]), y = RedisClusterSlotSet([10923...16383])
        let new = s.noteIncident(.flush, slots: x, now: 100)
        let merged = !s.noteIncident(.restart, slots: y, now: 100.2)
        #expect(new)
        #expect(merged, "merged into one incident")
        #expect(s.incident?.slots?.ranges == [0...5460, 10923...16383], "the summary names both nodes' slots")
        let taken1 = s.takeSweepRequest(due: false)
        #expect(taken1 == .slots(RedisClusterSlotSet([0...5460, 10923...16383])))
        let taken2 = s.takeSweepRequest(due: false)
        #expect(taken2 == nil)

        // A full request (or the periodic sweep) meanwhile: every key.
        _ = s.noteIncident(.restart, slots: x, now: 101)
        s.requestSweep(slots: nil)
        let taken3 = s.takeSweepRequest(due: false)
        #expect(taken3 == .every)
        _ = s.noteIncident(.restart, slots: x, now: 101)
        let taken4 = s.takeSweepRequest(due: true)
        #expect(taken4 == .every)
        let taken5 = s.takeSweepRequest(due: false)
        #expect(taken5 == nil)
    }

    @Test func aNarrowedRequestAlsoReadsTheSlotsOfTheIncidentWaitingForItsSummary() {
        var s = Self.state()
        _ = s.noteIncident(.flush, slots: RedisClusterSlotSet([0...99]), now: 100)
        let taken6 = s.takeSweepRequest(due: false)
        #expect(taken6 == .slots(RedisClusterSlotSet([0...99])))
        // Another node's signal while that sweep runs: merged into the incident, so the next
        // sweep reads both nodes' slots (the summary is written after a sweep of all of them).
        _ = s.noteIncident(.restart, slots: RedisClusterSlotSet([200...299]), now: 100.5)
        let taken7 = s.takeSweepRequest(due: false)
        #expect(taken7 == .slots(RedisClusterSlotSet([0...99, 200...299])))
        // A master's announced flush without an incident: its slots only.
        s.incident?.summaryWritten = true
        s.requestSweep(slots: RedisClusterSlotSet([500...510]))
        let taken8 = s.takeSweepRequest(due: false)
        #expect(taken8 == .slots(RedisClusterSlotSet([500...510])))
    }

    @Test func anIncidentOfOneRedisStillSweepsEveryKey() {
        var s = Self.state()
        _ = s.noteIncident(.flush, slots: RedisClusterSlotSet([0...99]), now: 100)
        _ = s.noteIncident(.restart, now: 100.1)
        #expect(s.incident?.slots == nil, "a signal without slots makes the incident's sweep a full one")
        let taken9 = s.takeSweepRequest(due: false)
        #expect(taken9 == .every)
    }

    /// The filter keeps exactly the keys whose rendered name hashes into the set, in order, for
    /// integer keys and other keys, with and without a hash tag.
    @Test func slotFilterKeepsTheKeysOfTheSlots() throws {
        let slots = RedisClusterSlotSet([0...5460, 9000...9100])
        for source in ["product:{id}:stock", "product:{{{id}}}:stock"] {
            let t = try RedisKeyTemplate(source, keyColumns: ["id"])
            let f = SweepSlotFilter(template: t, slots: slots)
            let ids = (Int64(-50)...5000).map { $0 }
            let kept = f.keep(ids)
            #expect(kept == ids.filter { slots.contains(RedisClusterSlot.slot(of: t.render(.int($0)))) })
            #expect(kept.count > 1000 && kept.count < 3000, "\(kept.count)")
            let texts: [ShadowKey] = ids.map { .text("k\($0)") }
            #expect(f.keep(texts) == texts.filter { slots.contains(RedisClusterSlot.slot(of: t.render($0))) })
        }
    }
}
