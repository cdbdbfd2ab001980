import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The ShadowMap overlay used while a checkpoint snapshot is open.
@Suite struct CheckpointSnapshotTests {
    /// The map must always equal a plain dictionary model.
    func expectEqual(
        _ m: ShadowMap,
        _ model: [ShadowKey: ShadowValue],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(m.count == model.count, sourceLocation: sourceLocation)
        let entries = m.sortedEntries()
        #expect(entries.count == model.count, sourceLocation: sourceLocation)
        for (k, v) in entries where model[k] != v {
            Issue.record("\(k): map \(v), model \(String(describing: model[k]))", sourceLocation: sourceLocation)
        }
        for (k, v) in model where m[k] != v {
            Issue.record("\(k): lookup \(String(describing: m[k])), model \(v)", sourceLocation: sourceLocation)
        }
    }

    @Test func mutationsDuringASnapshotAreVisibleAndMergedAfter() {
        var m = ShadowMap()
        for i in Int64(1)...1000 { m[.int(i)] = .int(i) }
        m[.text("t")] = .text("x")
        m[.int(5000)] = .null
        var model: [ShadowKey: ShadowValue] = [:]
        m.forEach { model[$0] = $1 }

        var snap: ShadowMapSnapshot? = m.beginSnapshot()
        #expect(m.isSnapshotOpen)
        // Update, insert, delete, int→NULL, NULL→int, text keys, composite keys.
        let changes: [(ShadowKey, ShadowValue?)] = [
            (.int(1), .int(-1)), (.int(2000), .int(2)), (.int(3), nil), (.int(4), .null), (.int(5000), .int(7)),
            (.text("t"), nil), (.text("u"), .text("y")), (.composite(["a", "b"]), .int(1)), (.int(2000), nil),
            (.int(3), .int(33)),
        ]
        for (k, v) in changes {
            m[k] = v
            model[k] = v
            #expect(m[k] == v)
        }
        expectEqual(m, model)
        #expect(m.pendingOverlayCount == 8)  // distinct keys changed
        // The snapshot still shows the state at beginSnapshot.
        #expect(snap?.count == 1002)
        #expect(snap?[.int(1)] == .int(1))
        #expect(snap?[.int(3)] == .int(3))
        #expect(snap?[.int(2000)] == nil)
        #expect(snap?[.text("t")] == .text("x"))

        // Ending while the snapshot is still held: nothing is merged (that would copy the base).
        let ended = m.endSnapshot()
        #expect(ended == false)
        #expect(!m.isSnapshotOpen)
        m[.int(6)] = .int(66)
        model[.int(6)] = .int(66)
        #expect(m.pendingOverlayCount == 9)
        expectEqual(m, model)

        snap = nil
        let partly = m.mergeOverlay(limit: 3)
        #expect(partly == false)
        #expect(m.pendingOverlayCount == 6)
        expectEqual(m, model)
        // Writes during the merge go to the base and supersede pending entries.
        m[.int(1)] = .int(111)
        model[.int(1)] = .int(111)
        m[.int(7)] = nil
        model[.int(7)] = nil
        expectEqual(m, model)
        let merged = m.mergeOverlay()
        #expect(merged)
        #expect(m.pendingOverlayCount == 0)
        expectEqual(m, model)
        #expect(m.overlay == nil)
    }

    @Test func removeAllDuringASnapshot() {
        var m = ShadowMap()
        for i in Int64(1)...100 { m[.int(i)] = .int(i) }
        let snap = m.beginSnapshot()
        m.removeAll()
        #expect(m.count == 0)
        #expect(m[.int(1)] == nil)
        m[.int(1)] = .int(9)
        #expect(m.count == 1)
        #expect(snap.count == 100)
        _ = consume snap
        let done = m.endSnapshot()
        #expect(done)
        expectEqual(m, [.int(1): .int(9)])
    }

    @Test func beginWhileThePreviousOverlayIsStillPending() {
        var m = ShadowMap()
        for i in Int64(1)...100 { m[.int(i)] = .int(i) }
        let first = m.beginSnapshot()
        m[.int(1)] = .int(-1)
        m.endSnapshot()  // `first` is alive: overlay kept
        let second = m.beginSnapshot()  // merges into private copies first
        #expect(first[.int(1)] == .int(1))
        #expect(second[.int(1)] == .int(-1))
        m[.int(2)] = nil
        #expect(second[.int(2)] == .int(2))
        #expect(m[.int(2)] == nil && m.count == 99)
    }

    @Test func randomizedAgainstAModel() {
        var rng = SplitMix(seed: 99)
        var m = ShadowMap()
        var model: [ShadowKey: ShadowValue] = [:]
        var snap: ShadowMapSnapshot? = nil
        var snapModel: [ShadowKey: ShadowValue] = [:]
        func randomKey() -> ShadowKey {
            switch rng.next() % 10 {
            case 0: return .text("k\(rng.next() % 50)")
            case 1: return .composite(["a", "\(rng.next() % 20)"])
            default: return .int(Int64(rng.next() % 400) - 50)
            }
        }
        func randomValue() -> ShadowValue? {
            switch rng.next() % 10 {
            case 0: return nil
            case 1: return .null
            case 2: return .text("v\(rng.next() % 5)")
            default: return .int(Int64(rng.next() % 1000))
            }
        }
        for step in 0..<20_000 {
            switch rng.next() % 100 {
            case 0:
                if !m.isSnapshotOpen {
                    snap = m.beginSnapshot()
                    snapModel = model
                }
            case 1: m.endSnapshot(mergeLimit: Int(rng.next() % 8))
            case 2: snap = nil
            case 3: m.mergeOverlay(limit: Int(rng.next() % 16))
            case 4 where rng.next() % 10 == 0:
                m.removeAll()
                model.removeAll()
            default:
                let k = randomKey()
                let v = randomValue()
                m[k] = v
                model[k] = v
            }
            #expect(m.count == model.count, "step \(step)")
            if step % 500 == 0 {
                expectEqual(m, model)
                if let snap {
                    #expect(snap.count == snapModel.count)
                    snap.forEach { k, v in #expect(snapModel[k] == v) }
                }
            }
        }
        snap = nil
        m.endSnapshot(mergeLimit: Int.max)
        let finished = m.mergeOverlay()
        #expect(finished)
        expectEqual(m, model)
    }
}
