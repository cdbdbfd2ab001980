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
    }

    /// A read due now, with what scheduled it.
    public struct DueRead: Sendable {
        public var watch: Int
        public var key: ShadowKey
        public var trigger: ReadTrigger
    }
}
