import BinlogReconciler
import Foundation
import Logging

/// What the flash sale does (docs/simulator.md).
public struct FlashSaleOptions: Sendable {
    public var database = "shop"
    public var products = 1000
    public var orders = 50_000
    public var ordersPerSecond = 1000.0
    public var workers = 4
    public var ordersPerTransaction = 10
    /// Seconds between an order's Redis pre-deduct and the earliest moment a worker writes it.
    public var workerDelay = 0.2
    public var zipfExponent = 1.1
    public var stockRange = 100...1000
    public var faults = 10
    public var seed: UInt64 = 1
    public var kinds: [SaleFaultKind] = SaleFaultKind.allCases
    /// The reconciler's tolerances and sweep interval: the end of the sale waits G + C + L plus
    /// one sweep, and the scoreboard's targets use them.
    public var lead = 2.0, lag = 1.0, confirm = 1.0, sweepInterval = 10.0
    /// Seconds between a Redis restart and the application's reload of every key from MySQL.
    public var warmup = 10.0
    /// Shell command that restarts Redis without persistence; without it no restart is injected.
    public var redisRestartCommand: String?
    /// Redis Cluster seeds (`[redis] mode = "cluster"`); empty: one Redis server. In cluster mode
    /// there is no Redis restart fault (it restarts a standalone server).
    public var clusterSeeds: [RedisConfiguration.Endpoint] = []
    /// Redis Sentinel (`[redis] mode = "sentinel"`): every command goes to the primary a quorum of
    /// the sentinels names (followed through a failover); nil: no Sentinel. No Redis restart fault.
    public var sentinel: SaleSentinel?
    /// Shell commands run during the sale on a cluster (a third and two thirds into it): a reshard
    /// and a failover. Each is recorded in the ground truth (`reshard`, `failover`) with its output.
    /// With Sentinel, `failoverCommand` runs half-way into the sale (recorded as `sentinel_failover`).
    public var reshardCommand: String?
    public var failoverCommand: String?
    /// Seconds to wait after the workers drained before the final comparison (default G + C + L + sweep + 1).
    public var settle: Double?
    /// The stock key of a product; `{id}` is replaced by the product id.
    public var redisKeyPattern = "product:{id}:stock"
    /// How many of the most popular products the samples (and the HTML charts) follow.
    public var chartedHotProducts = 5
    /// When set, every worker transaction's GTID (MariaDB `@@last_gtid`) and the wall-clock time its
    /// COMMIT returned go to this file ("GTID seconds" per line), to measure the reconciler's apply lag.
    public var commitLogPath: String?

    public init() {}

    func redisKey(_ id: Int) -> String { redisKeyPattern.replacing("{id}", with: String(id)) }
}

/// Where the sale's Sentinel-monitored primary is found: the sentinels, the master's name, and the
/// sentinels' own credentials and timeouts (`sentinelBase`; the data nodes' are the sale's Redis
/// configuration).
public struct SaleSentinel: Sendable {
    public var sentinels: [RedisConfiguration.Endpoint]
    public var masterName: String
    public var sentinelBase: RedisConfiguration

    public init(sentinels: [RedisConfiguration.Endpoint], masterName: String, sentinelBase: RedisConfiguration) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.sentinelBase = sentinelBase
    }
}
