import ReconcilerCore
import RedisClient
extension VerdictEngine {
    /// The tolerances of one watch (docs/reconcile.md, "The rule"), in seconds.
    public struct Tolerances: Sendable {
        /// L: how long Redis may show a value before the binlog applies it.
        public var lead: Double
        /// G: how long Redis may keep a value after the binlog replaced it.
        public var lag: Double
        /// C: the interval between a read that matched nothing and its confirmation.
        public var confirm: Double
        /// A missing Redis key is never a divergence (a cache that evicts).
        public var missingIsNormal: Bool
        public init(lead: Double, lag: Double, confirm: Double, missingIsNormal: Bool = false) {
            self.lead = lead
            self.lag = lag
            self.confirm = confirm
            self.missingIsNormal = missingIsNormal
        }
        /// G + L + C.
        var window: Double { lead + lag + confirm }
        /// How long a committed change is kept in a key's history: G + L + C and one more C.
        var historyHorizon: Double { window + confirm }
    }

    /// Why a read was scheduled.
    public enum ReadTrigger: Sendable, Hashable {
        /// G after a committed change in the binlog.
        case change
        /// A Redis notification for the key.
        case notification
        /// C after a read that matched no known value.
        case confirm
        /// A read on a replica did not agree, or could not count (see
        /// ``VerdictEngine/observe(watch:key:result:at:current:replicaSince:)``): read again on the master.
        case recheck

        /// Whether the read goes to a master even when routine reads go to replicas: the
        /// confirming read of a suspected divergence, and the recheck of a replica's read.
        public var onMaster: Bool { self == .confirm || self == .recheck }
    }

    /// A read due now, with what scheduled it.
    public struct DueRead: Sendable {
        public var watch: Int
        public var key: ShadowKey
        public var trigger: ReadTrigger
        /// When it was due (requested last): a read on a replica answers for it only when the
        /// replica has every write its master made by then.
        public var dueAt: Double
        /// When the oldest request it serves was made (a read put back to wait for a replica).
        public var waitingSince: Double
    }
}
