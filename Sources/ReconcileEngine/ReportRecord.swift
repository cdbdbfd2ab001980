import ReconcilerCore
import RedisClient
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

    /// The memberwise initializer, for the library's other targets.
    package init(event: Event, id: String, watch: String, key: String, redisKey: String, expected: String? = nil, redis: String? = nil, kind: DivergenceKind, firstSeen: Double, detectedAt: Double, lastAgreedAt: Double? = nil, lastAgreedGTID: String? = nil, binlog: BinlogCoordinates, binlogGTID: String, reason: String? = nil, keys: Int? = nil, summary: SummaryDetails? = nil, rowKey: ShadowKey? = nil, watchIndex: Int? = nil) {
        self.event = event
        self.id = id
        self.watch = watch
        self.key = key
        self.redisKey = redisKey
        self.expected = expected
        self.redis = redis
        self.kind = kind
        self.firstSeen = firstSeen
        self.detectedAt = detectedAt
        self.lastAgreedAt = lastAgreedAt
        self.lastAgreedGTID = lastAgreedGTID
        self.binlog = binlog
        self.binlogGTID = binlogGTID
        self.reason = reason
        self.keys = keys
        self.summary = summary
        self.rowKey = rowKey
        self.watchIndex = watchIndex
    }
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
    /// Redis Cluster: the node the incident is about (`host:port`), its node id, and the slot
    /// ranges it serves (`0-5460,10923`); nil for one Redis.
    public var node: String? = nil
    public var nodeID: String? = nil
    public var slots: String? = nil

    /// The memberwise initializer, for the library's other targets.
    package init(
        keysChecked: Int, noticedAt: Double, runID: String? = nil, previousRunID: String? = nil, redisKeysBefore: Int? = nil, redisKeysAfter: Int? = nil,
        node: String? = nil, nodeID: String? = nil, slots: String? = nil
    ) {
        self.node = node
        self.nodeID = nodeID
        self.slots = slots
        self.keysChecked = keysChecked
        self.noticedAt = noticedAt
        self.runID = runID
        self.previousRunID = previousRunID
        self.redisKeysBefore = redisKeysBefore
        self.redisKeysAfter = redisKeysAfter
    }
}
