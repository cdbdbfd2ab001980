import ReconcilerCore
import RedisClient
/// The engine's per-key records. A key has them only while it changed within the history horizon
/// (G + L + 2C), has reads waiting for a decision or a confirmation, or has an open divergence; a
/// quiet key that reads consistent has none (``VerdictEngine/observe(watch:key:result:at:current:)``).
extension VerdictEngine {
    /// A committed change of a key's shadow value, at the monotonic time it was applied.
    struct Change: Sendable {
        var at: Double
        var old: ShadowValue?
        var new: ShadowValue?
    }

    /// A Redis read waiting for its decision at `at` + L.
    struct Observation: Sendable {
        var at: Double
        var result: RedisObservation
        /// A read on a replica: how far behind its master the replica's data may be (the read
        /// saw the master's data of some time in [`at` − `staleness`, `at`]), added to G for it.
        /// 0 for a read on a master.
        var staleness: Double = 0
        var onReplica: Bool { staleness > 0 }
    }

    /// The earliest inconsistent decided read since the last consistent one.
    struct FirstInconsistent: Sendable {
        var at: Double
        var kind: DivergenceKind
        var redis: String?
    }

    struct KeyState: Sendable {
        var changes: [Change] = []
        var observations: [Observation] = []
        var firstInconsistent: FirstInconsistent?
        var lastAgreedAt: Double?
        var lastAgreedGTID: String?
        /// A confirmation read is scheduled for this key.
        var awaitingConfirmation = false
    }

    struct WatchKey: Hashable, Sendable {
        var watch: Int
        var key: ShadowKey
    }

    /// The next read of a key, and the latest later one requested meanwhile (scheduled when the
    /// first is taken, so that a read after a change at τ + G is not lost to an earlier
    /// notification or confirmation read).
    struct PendingRead: Sendable {
        var at: Double
        var trigger: ReadTrigger
        var followUp: (at: Double, trigger: ReadTrigger)?
        /// For a read put back to wait (a replica catching up): when it was requested last, and
        /// when the oldest request it serves was made (merged requests keep the oldest); nil: `at`.
        var requestedAt: Double?
        var waitingSince: Double?
    }

    struct Scheduled: Comparable, Sendable {
        var at: Double
        var seq: UInt64
        var key: WatchKey
        static func < (a: Scheduled, b: Scheduled) -> Bool { a.at < b.at || (a.at == b.at && a.seq < b.seq) }
        static func == (a: Scheduled, b: Scheduled) -> Bool { a.at == b.at && a.seq == b.seq }
    }
}
