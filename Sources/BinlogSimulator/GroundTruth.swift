import Synchronization
import BinlogParser
import BinlogReconciler
import Foundation

/// The faults the simulator injects (docs/simulator.md describes each).
public enum SaleFaultKind: String, CaseIterable, Sendable, Codable {
    /// The order pre-deducted Redis, its MySQL write never happens. Takes effect at the Redis decrement.
    case lostMySQLWrite = "lost_mysql_write"
    /// The order is written to MySQL, its Redis decrement was lost. Takes effect at the MySQL commit.
    case lostRedisWrite = "lost_redis_write"
    /// A retried order decrements MySQL twice. Takes effect at the MySQL commit.
    case doubleDecrement = "double_decrement"
    /// The Redis key is evicted (DEL); orders for it are then refused.
    case evicted
    /// A slow cache-aside writer writes back the value it read long ago.
    case staleWriteback = "stale_writeback"
    /// A manual `UPDATE` in MySQL (a restock) that never reaches Redis.
    case manualUpdate = "manual_update"
    /// Redis restarts without persistence; the application reloads stock from MySQL later.
    case redisRestart = "redis_restart"
}

/// One line of the ground-truth log (JSON lines). `record` says which fields are set:
///
/// - `sale`: the parameters (`seed`, `products`, `orders`, `orders_per_second`, `lead_s`, `lag_s`,
///   `confirm_s`, `sweep_interval_s`, ...), `at` = start of the sale.
/// - `fault`: `id`, `kind`, `key` (product id; absent for `redis_restart`), `redis_key`,
///   `injected_at`, `effective_at`, `redis_before`/`redis_after`, `mysql_before`/`mysql_after`
///   (null = absent), `gap_changed`; for the restart also `keys`.
/// - `reload`: the simulated application reloaded every key from MySQL (`at`, `keys`).
/// - `anomaly`: a worker's `UPDATE ... WHERE stock >= qty` matched no row (`at`, `key`, `order`, `qty`).
/// - `sample`: every 200 ms, `t` (Unix seconds), `backlog` (orders pre-deducted in Redis and not
///   yet committed in MySQL), `lead_s` (age of the oldest of them), `values` (Redis and MySQL stock
///   of the charted products).
/// - `changes`: for each faulted product, `times`: every moment either side changed it (Unix s).
/// - `differs`: a product whose Redis and MySQL values differ at the end (`key`, `redis`, `mysql`).
/// - `reshard` / `failover` (Redis Cluster only): the topology changed during the sale: `at` (the
///   command started), `ended_at` (it returned, the cluster healthy again), `nodes` (the ports
///   named in its output: the reshard's source and target, the failover's old and new master),
///   `detail` (the command and its output). They cause no divergence and are not scored as faults.
/// - `end`: totals (`orders`, `accepted`, `rejected`, `transactions`, `anomalies`, `differing`,
///   `drained_at`, `at` = when the final comparison was taken).
///
/// Times named `*_at` are RFC 3339 UTC with milliseconds, like the report's.
public struct GroundTruthRecord: Codable, Sendable {
    public struct ChartValue: Codable, Sendable {
        public var key: Int
        public var redis: Int?
        public var mysql: Int
    }

    public var record: String
    public var at: String?
    // sale
    public var seed: UInt64?
    public var products: Int?
    public var orders: Int?
    public var ordersPerSecond: Double?
    public var workers: Int?
    public var ordersPerTransaction: Int?
    public var workerDelayS: Double?
    public var zipfExponent: Double?
    public var leadS: Double?
    public var lagS: Double?
    public var confirmS: Double?
    public var sweepIntervalS: Double?
    public var warmupS: Double?
    public var redisKeyPattern: String?
    public var hotKeys: [Int]?
    // fault
    public var id: String?
    public var kind: SaleFaultKind?
    public var key: String?
    public var redisKey: String?
    public var injectedAt: String?
    public var effectiveAt: String?
    public var redisBefore: String?
    public var redisAfter: String?
    public var mysqlBefore: String?
    public var mysqlAfter: String?
    public var gapChanged: Bool?
    public var keys: Int?
    // anomaly
    public var order: Int?
    public var qty: Int?
    public var detail: String?
    // sample
    public var t: Double?
    public var backlog: Int?
    public var leadSeconds: Double?
    public var values: [ChartValue]?
    // changes
    public var times: [Double]?
    // differs
    public var redis: String?
    public var mysql: String?
    // end
    public var accepted: Int?
    public var rejected: Int?
    public var transactions: Int?
    public var anomalies: Int?
    public var differing: Int?
    public var drainedAt: String?
    // reshard, failover (a Redis Cluster's topology changed during the sale; `at` = start)
    public var endedAt: String?
    public var nodes: [String]?

    public init(record: String) { self.record = record }

    enum CodingKeys: String, CodingKey {
        case record, at, seed, products, orders, workers, id, kind, key, keys, order, qty, detail, t, backlog, values, times, redis, mysql
        case accepted, rejected, transactions, anomalies, differing
        case ordersPerSecond = "orders_per_second", ordersPerTransaction = "orders_per_transaction"
        case workerDelayS = "worker_delay_s", zipfExponent = "zipf_exponent", leadS = "lead_s", lagS = "lag_s"
        case confirmS = "confirm_s", sweepIntervalS = "sweep_interval_s", warmupS = "warmup_s"
        case redisKeyPattern = "redis_key_pattern", hotKeys = "hot_keys", redisKey = "redis_key"
        case injectedAt = "injected_at", effectiveAt = "effective_at", redisBefore = "redis_before"
        case redisAfter = "redis_after", mysqlBefore = "mysql_before", mysqlAfter = "mysql_after"
        case gapChanged = "gap_changed", leadSeconds = "oldest_pending_s", drainedAt = "drained_at"
        case endedAt = "ended_at", nodes
    }

    /// Fault records always carry their value fields, null when absent (the others omit nils).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(record, forKey: .record)
        try c.encodeIfPresent(at, forKey: .at)
        try c.encodeIfPresent(seed, forKey: .seed)
        try c.encodeIfPresent(products, forKey: .products)
        try c.encodeIfPresent(orders, forKey: .orders)
        try c.encodeIfPresent(ordersPerSecond, forKey: .ordersPerSecond)
        try c.encodeIfPresent(workers, forKey: .workers)
        try c.encodeIfPresent(ordersPerTransaction, forKey: .ordersPerTransaction)
        try c.encodeIfPresent(workerDelayS, forKey: .workerDelayS)
        try c.encodeIfPresent(zipfExponent, forKey: .zipfExponent)
        try c.encodeIfPresent(leadS, forKey: .leadS)
        try c.encodeIfPresent(lagS, forKey: .lagS)
        try c.encodeIfPresent(confirmS, forKey: .confirmS)
        try c.encodeIfPresent(sweepIntervalS, forKey: .sweepIntervalS)
        try c.encodeIfPresent(warmupS, forKey: .warmupS)
        try c.encodeIfPresent(redisKeyPattern, forKey: .redisKeyPattern)
        try c.encodeIfPresent(hotKeys, forKey: .hotKeys)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encodeIfPresent(kind, forKey: .kind)
        try c.encodeIfPresent(key, forKey: .key)
        try c.encodeIfPresent(redisKey, forKey: .redisKey)
        try c.encodeIfPresent(injectedAt, forKey: .injectedAt)
        try c.encodeIfPresent(effectiveAt, forKey: .effectiveAt)
        if record == "fault" {
            try c.encode(redisBefore, forKey: .redisBefore)
            try c.encode(redisAfter, forKey: .redisAfter)
            try c.encode(mysqlBefore, forKey: .mysqlBefore)
            try c.encode(mysqlAfter, forKey: .mysqlAfter)
        }
        try c.encodeIfPresent(gapChanged, forKey: .gapChanged)
        try c.encodeIfPresent(keys, forKey: .keys)
        try c.encodeIfPresent(order, forKey: .order)
        try c.encodeIfPresent(qty, forKey: .qty)
        try c.encodeIfPresent(detail, forKey: .detail)
        try c.encodeIfPresent(t, forKey: .t)
        try c.encodeIfPresent(backlog, forKey: .backlog)
        try c.encodeIfPresent(leadSeconds, forKey: .leadSeconds)
        try c.encodeIfPresent(values, forKey: .values)
        try c.encodeIfPresent(times, forKey: .times)
        if record == "differs" {
            try c.encode(redis, forKey: .redis)
            try c.encode(mysql, forKey: .mysql)
        }
        try c.encodeIfPresent(accepted, forKey: .accepted)
        try c.encodeIfPresent(rejected, forKey: .rejected)
        try c.encodeIfPresent(transactions, forKey: .transactions)
        try c.encodeIfPresent(anomalies, forKey: .anomalies)
        try c.encodeIfPresent(differing, forKey: .differing)
        try c.encodeIfPresent(drainedAt, forKey: .drainedAt)
        try c.encodeIfPresent(endedAt, forKey: .endedAt)
        try c.encodeIfPresent(nodes, forKey: .nodes)
    }
}

/// Appends ground-truth records to a file, one JSON object per line, from any thread.
public final class GroundTruthLog: Sendable {
    private struct Output {
        var handle: FileHandle
        var encoder: JSONEncoder
    }
    private let output: Mutex<Output>
    public let path: String

    public init(path: String) throws(ConfigurationError) {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw ConfigurationError("ground-truth file \(path): cannot create it")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        output = Mutex(Output(handle: h, encoder: encoder))
    }

    public func write(_ record: GroundTruthRecord) {
        output.withLock { o in
            guard var data = try? o.encoder.encode(record) else { return }
            data.append(0x0A)
            o.handle.write(data)
        }
    }

    public func close() { output.withLock { o in try? o.handle.close() } }

    /// Reads a ground-truth file (or any JSON-lines file of these records).
    public static func read(path: String) throws(ConfigurationError) -> [GroundTruthRecord] {
        let decoder = JSONDecoder()
        var out: [GroundTruthRecord] = []
        var lineNumber = 0
        do {
            for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true) {
                lineNumber += 1
                out.append(try decoder.decode(GroundTruthRecord.self, from: Data(line.utf8)))
            }
        } catch {
            throw ConfigurationError("ground-truth file \(path), line \(lineNumber): \(error)")
        }
        return out
    }
}

/// The sale's clock, and the report's timestamps (RFC 3339 UTC with milliseconds,
/// `ReportTime`) both ways.
public enum SaleTime {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static func format(_ unix: Double) -> String { ReportTime.format(unix) }

    /// Parses `2026-11-25T14:03:07.123Z` (also without fraction, or with up to 9 digits).
    public static func parse(_ s: String) -> Double? { ReportTime.parse(s) }
}
