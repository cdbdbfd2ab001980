import BinlogReconciler
import Foundation
import Logging
import Synchronization

/// Runs the sale: the order stream against Redis (Lua pre-deduct), the worker pool against MySQL,
/// the faults, the samples, and the final comparison. Everything that happened goes to the
/// ground-truth log.
public final class FlashSale: Sendable {
    struct Order {
        var id: Int
        var product: Int
        var qty: Int
        var acceptedAt: Double
        var due: Double
        var fault: (id: String, kind: SaleFaultKind)?
    }

    public struct Summary: Sendable {
        public var orders = 0, accepted = 0, rejected = 0, transactions = 0, anomalies = 0, differing = 0
        public var faultsInjected = 0
        public var maxOldestPending = 0.0
    }

    public let plan: SalePlan
    let options: FlashSaleOptions
    let sql: SourceConfiguration
    let redisConfiguration: RedisConfiguration
    let truth: GroundTruthLog
    let logger: Logger

    /// What the order stream, the workers, the faults and the sampler share.
    struct SaleState {
        var redisValue: [Int?]
        var mysqlValue: [Int]
        var changes: [[Double]]
        var queue: [Order] = []
        var queueHead = 0
        var inFlightOldest: [Double?]
        var closed = false
        var summary = Summary()
        var charted: [Int]
        var faulted = Set<Int>()
        var anomalousProducts = Set<String>()
        var commitLog: [String] = []
        var stopSampler = false

        /// Seconds since the oldest order that is accepted and not yet committed was accepted.
        func oldestPending(_ now: Double) -> Double {
            var oldest: Double? = queueHead < queue.count ? queue[queueHead].acceptedAt : nil
            for t in inFlightOldest { if let t { oldest = min(oldest ?? t, t) } }
            return oldest.map { now - $0 } ?? 0
        }
    }
    let state: Mutex<SaleState>

    static let preDeduct = """
        local v = redis.call('GET', KEYS[1])
        if not v then return -1 end
        local n = tonumber(v)
        local q = tonumber(ARGV[1])
        if n == nil or n < q then return -2 end
        return redis.call('DECRBY', KEYS[1], q)
        """

    public init(plan: SalePlan, sql: SourceConfiguration, redis: RedisConfiguration, truth: GroundTruthLog, logger: Logger) {
        self.plan = plan
        self.options = plan.options
        self.sql = sql
        self.redisConfiguration = redis
        self.truth = truth
        self.logger = logger
        let n = plan.options.products
        // The popular products, and the first candidates of each fault (usually the one it takes),
        // so that the charts show the faulted products from the start of the sale.
        var chart = Array(plan.byRank.prefix(plan.options.chartedHotProducts))
        for f in plan.faults { for p in f.candidates.prefix(2) where !chart.contains(p) { chart.append(p) } }
        state = Mutex(SaleState(
            redisValue: plan.initialStock.map { Optional($0) }, mysqlValue: plan.initialStock,
            changes: Array(repeating: [], count: n), inFlightOldest: Array(repeating: nil, count: plan.options.workers),
            charted: chart))
    }

    // MARK: Setup

    /// Creates `<db>.products` and `<db>.orders` and loads the stock into MySQL and Redis. Tables
    /// that already exist are dropped only with `replace` (they could be somebody's real shop).
    public func setup(replace: Bool = false) throws {
        let db = options.database
        let c = try SQLConnection(configuration: sql)
        if !replace {
            let existing = try c.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = \(try c.quoted(db)) AND table_name IN ('products', 'orders')")
            if !existing.isEmpty {
                let names = existing.compactMap { $0.first ?? nil }.map { "\(db).\($0)" }.sorted().joined(separator: ", ")
                throw FlashSaleError("\(names) already exist\(existing.count == 1 ? "s" : ""); pass --replace to drop and recreate them (and overwrite \(options.redisKeyPattern) in Redis)")
            }
        }
        _ = try c.execute("CREATE DATABASE IF NOT EXISTS `\(db)`")
        _ = try c.execute("DROP TABLE IF EXISTS `\(db)`.orders, `\(db)`.products")
        _ = try c.execute("""
            CREATE TABLE `\(db)`.products (id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, stock INT NOT NULL,
              updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB
            """)
        _ = try c.execute("""
            CREATE TABLE `\(db)`.orders (id BIGINT PRIMARY KEY, product_id BIGINT NOT NULL, qty INT NOT NULL,
              created_at TIMESTAMP(6) NOT NULL, KEY (product_id)) ENGINE=InnoDB
            """)
        var start = 1
        while start <= options.products {
            let end = min(start + 999, options.products)
            let rows = (start...end).map { "(\($0),'product \($0)',\(plan.initialStock[$0 - 1]))" }.joined(separator: ",")
            _ = try c.execute("INSERT INTO `\(db)`.products (id, name, stock) VALUES \(rows)")
            start = end + 1
        }
        let r = try connectRedis()
        defer { r.close() }
        try r.setAll((1...options.products).map { (options.redisKey($0), String(plan.initialStock[$0 - 1])) })
        logger.info("loaded \(options.products) products into \(db).products and Redis (\(options.redisKeyPattern))")
    }

    /// The simulator's Redis: the server, the cluster of `clusterSeeds`, or the Sentinel primary.
    func connectRedis() throws(RedisError) -> SaleRedis {
        try SaleRedis(configuration: redisConfiguration, clusterSeeds: options.clusterSeeds, sentinel: options.sentinel)
    }

    // MARK: The sale

    public func run() throws -> Summary {
        let o = options
        let startedAt = SaleTime.now()
        var head = GroundTruthRecord(record: "sale")
        head.at = SaleTime.format(startedAt)
        head.seed = o.seed
        head.products = o.products
        head.orders = o.orders
        head.ordersPerSecond = o.ordersPerSecond
        head.workers = o.workers
        head.ordersPerTransaction = o.ordersPerTransaction
        head.workerDelayS = o.workerDelay
        head.zipfExponent = o.zipfExponent
        head.leadS = o.lead
        head.lagS = o.lag
        head.confirmS = o.confirm
        head.sweepIntervalS = o.sweepInterval
        head.warmupS = o.warmup
        head.redisKeyPattern = o.redisKeyPattern
        head.hotKeys = state.withLock { $0.charted }
        truth.write(head)

        let group = DispatchGroup()
        for w in 0..<o.workers {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                worker(w)
            }
        }
        let samplerDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [self] in
            sampler()
            samplerDone.signal()
        }
        let clusterEventsDone = DispatchSemaphore(value: 0)
        let clusterEventFailures = Mutex<[String]>([])
        Thread.detachNewThread { [self] in
            clusterEventFailures.withLock { $0 = runClusterEvents(startedAt: startedAt) }
            clusterEventsDone.signal()
        }

        try generate(startedAt: startedAt)

        state.withLock { s in s.closed = true }
        group.wait()
        clusterEventsDone.wait()
        let drainedAt = SaleTime.now()
        let settle = o.settle ?? (o.lag + o.confirm + o.lead + o.sweepInterval + 1)
        logger.info("workers drained; waiting \(String(format: "%.1f", settle)) s (G + C + L + one sweep + 1 s) before the final comparison")
        Thread.sleep(forTimeInterval: settle)
        state.withLock { s in s.stopSampler = true }
        samplerDone.wait()

        let differing = try finalComparison()
        if let path = o.commitLogPath {
            let text = state.withLock { s in s.commitLog.joined(separator: "\n") + "\n" }
            if !FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) {
                logger.warning("cannot write the commit log \(path)")
            }
        }
        let faultedKeys = state.withLock { s in s.faulted.sorted() }
        for p in faultedKeys {
            var r = GroundTruthRecord(record: "changes")
            r.key = String(p)
            r.times = state.withLock { s in s.changes[p - 1].sorted().map { ($0 * 1000).rounded() / 1000 } }
            truth.write(r)
        }
        var end = GroundTruthRecord(record: "end")
        let s = state.withLock { s -> Summary in
            s.summary.differing = differing
            return s.summary
        }
        end.at = SaleTime.format(SaleTime.now())
        end.drainedAt = SaleTime.format(drainedAt)
        end.orders = s.orders
        end.accepted = s.accepted
        end.rejected = s.rejected
        end.transactions = s.transactions
        end.anomalies = s.anomalies
        end.differing = differing
        truth.write(end)
        let failures = clusterEventFailures.withLock { $0 }
        if !failures.isEmpty { throw FlashSaleError(failures.joined(separator: "; ")) }
        return s
    }

    /// The order stream: paced to the rate, Zipf-popular products, one Lua pre-deduct per order.
    func generate(startedAt: Double) throws {
        let o = options
        var rng = SaleRandom(seed: o.seed).fork(3)
        let zipf = ZipfSampler(count: o.products, exponent: o.zipfExponent)
        var redis: SaleRedis? = try connectRedis()
        var lastReconnectTry = 0.0
        let admin = try SQLConnection(configuration: sql)
        var nextFault = 0
        var reloadAt: Double?
        let monoStart = monotonicSeconds()
        var lastProgress = monoStart

        func evalPreDeduct(_ p: Int, _ q: Int) -> Int? {
            if redis == nil {
                let now = monotonicSeconds()
                guard now - lastReconnectTry > 0.1 else { return nil }
                lastReconnectTry = now
                redis = try? connectRedis()
            }
            guard let r = redis else { return nil }
            do {
                return try r.preDeduct(key: o.redisKey(p), qty: q, believed: state.withLock { s in s.redisValue[p - 1] })
            } catch {
                logger.warning("order pre-deduct of product \(p) failed: \(error); refused")
                redis = nil
                return nil
            }
        }

        for i in 0..<o.orders {
            let due = monoStart + Double(i) / o.ordersPerSecond
            let wait = due - monotonicSeconds()
            if wait > 0.0005 { usleep(UInt32(wait * 1_000_000)) }

            if let at = reloadAt, SaleTime.now() >= at {
                redis = try? connectRedis()
                if let r = redis { try reload(redis: r, admin: admin) }
                reloadAt = nil
            }
            while nextFault < plan.faults.count && plan.faults[nextFault].atOrder <= i {
                let f = plan.faults[nextFault]
                nextFault += 1
                if f.kind == .redisRestart {
                    redis?.close()
                    redis = nil
                    reloadAt = try restartRedis(f)
                    lastReconnectTry = monotonicSeconds()
                } else {
                    if redis == nil { redis = try? connectRedis() }
                    guard let r = redis else {
                        logger.warning("fault \(f.id) (\(f.kind.rawValue)) skipped: Redis unreachable")
                        continue
                    }
                    try inject(f, orderID: o.orders + nextFault, redis: r, admin: admin, rng: &rng)
                }
            }

            let p = plan.byRank[zipf.sample(&rng)]
            let q = rng.int(in: 1...3)
            let now = SaleTime.now()
            let result = evalPreDeduct(p, q)
            state.withLock { s in
                s.summary.orders += 1
                if let v = result, v >= 0 {
                    s.summary.accepted += 1
                    s.redisValue[p - 1] = v
                    s.changes[p - 1].append(now)
                    s.queue.append(Order(id: i + 1, product: p, qty: q, acceptedAt: now, due: now + o.workerDelay, fault: nil))
                } else {
                    s.summary.rejected += 1
                }
            }
            let m = monotonicSeconds()
            if m - lastProgress >= 5 {
                lastProgress = m
                let (s, backlog, oldest) = state.withLock { s in (s.summary, s.queue.count - s.queueHead, s.oldestPending(SaleTime.now())) }
                logger.info(
                    "sale: \(s.orders)/\(o.orders) orders (accepted \(s.accepted), rejected \(s.rejected)), MySQL backlog \(backlog) orders, oldest \(String(format: "%.2f", oldest)) s, faults \(nextFault)/\(plan.faults.count)")
            }
        }
        if let r = redis?.redirections { logger.notice("order stream on the \(r)") }
        if let at = reloadAt {
            let wait = at - SaleTime.now()
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            if let r = try? connectRedis() { try reload(redis: r, admin: admin) }
        }
    }
}
