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

public struct FlashSaleError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// One fault of the deterministic schedule.
public struct PlannedFault: Sendable {
    public var id: String
    public var kind: SaleFaultKind
    /// Injected just before this order (0-based) is sent.
    public var atOrder: Int
    /// Candidate products, in the order they are tried (the first that fits the kind is taken).
    public var candidates: [Int]
}

/// The products, their stock and popularity, and the fault schedule: all fixed by the seed.
public struct SalePlan: Sendable {
    public let options: FlashSaleOptions
    /// Product ids (1...N) by popularity rank.
    public let byRank: [Int]
    /// Initial stock, indexed by id − 1.
    public let initialStock: [Int]
    public let faults: [PlannedFault]

    public init(_ o: FlashSaleOptions) throws(FlashSaleError) {
        guard o.products >= 10 else { throw FlashSaleError("--products must be at least 10") }
        guard o.orders >= 100, o.ordersPerSecond > 0 else { throw FlashSaleError("--orders must be at least 100 and --rate positive") }
        options = o
        var rng = SaleRandom(seed: o.seed)
        var ids = Array(1...o.products)
        ids.shuffle(using: &rng)
        byRank = ids
        var stockRNG = rng.fork(1)
        initialStock = (0..<o.products).map { _ in stockRNG.int(in: o.stockRange) }

        var faultRNG = rng.fork(2)
        var planned: [PlannedFault] = []
        let restart = o.kinds.contains(.redisRestart) && o.redisRestartCommand != nil && o.faults > 0
        var others = o.kinds.filter { $0 != .redisRestart }
        let remaining = o.faults - (restart ? 1 : 0)
        if remaining > 0 && others.isEmpty { throw FlashSaleError("no fault kind left to inject (only redis_restart, and no --redis-restart-command)") }
        others.shuffle(using: &faultRNG)
        var first = Int(Double(o.orders) * 0.1)
        if restart {
            planned.append(PlannedFault(id: "f01", kind: .redisRestart, atOrder: first, candidates: []))
            // The other faults start once the reload is done and its divergences are closed.
            first += Int((o.warmup + o.lag + o.confirm + o.lead + 3) * o.ordersPerSecond)
        }
        let last = Int(Double(o.orders) * 0.85)
        if remaining > 0 {
            guard first < last else {
                throw FlashSaleError(
                    "the sale is too short for its fault schedule: the faults after the Redis restart start at order \(first) but must end by order \(last) (85 %); raise --orders or lower --rate")
            }
            let spacing = Double(last - first) / Double(remaining)
            // Popular products are where errors hide; cold ones are quiet. Alternate.
            let hotCount = max(10, o.products / 50)
            let hot = Array(byRank.prefix(hotCount))
            let cold = Array(byRank.dropFirst(hotCount))
            for j in 0..<remaining {
                let jitter = (faultRNG.unit() - 0.5) * spacing * 0.5
                let at = first + Int(spacing * (Double(j) + 0.5) + jitter)
                // Every kind alternates between popular and cold products from one round to the next.
                let wantsHot = (j + j / others.count) % 2 == 0
                var candidates = (wantsHot ? hot : cold)
                candidates.shuffle(using: &faultRNG)
                var rest = (wantsHot ? cold : hot)
                rest.shuffle(using: &faultRNG)
                candidates += rest
                let n = planned.count + 1
                planned.append(PlannedFault(id: n < 10 ? "f0\(n)" : "f\(n)", kind: others[j % others.count], atOrder: at, candidates: candidates))
            }
        }
        faults = planned
    }
}

/// Runs the sale: the order stream against Redis (Lua pre-deduct), the worker pool against MySQL,
/// the faults, the samples, and the final comparison. Everything that happened goes to the
/// ground-truth log.
public final class FlashSale: @unchecked Sendable {
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

    // Shared state, under `lock`.
    private let lock = MutexLock()
    private var redisValue: [Int?]
    private var mysqlValue: [Int]
    private var changes: [[Double]]
    private var queue: [Order] = []
    private var queueHead = 0
    private var inFlightOldest: [Double?]
    private var closed = false
    private var summary = Summary()
    private var charted: [Int]
    private var faulted = Set<Int>()
    private var anomalousProducts = Set<String>()
    private var commitLog: [String] = []
    private var stopSampler = false

    private static let preDeduct = """
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
        redisValue = plan.initialStock.map { Optional($0) }
        mysqlValue = plan.initialStock
        changes = Array(repeating: [], count: n)
        inFlightOldest = Array(repeating: nil, count: plan.options.workers)
        // The popular products, and the first candidates of each fault (usually the one it takes),
        // so that the charts show the faulted products from the start of the sale.
        var chart = Array(plan.byRank.prefix(plan.options.chartedHotProducts))
        for f in plan.faults { for p in f.candidates.prefix(2) where !chart.contains(p) { chart.append(p) } }
        charted = chart
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
        let r = try RedisConnection(configuration: redisConfiguration)
        var batch: [[String]] = []
        for id in 1...options.products {
            batch.append(["SET", options.redisKey(id), String(plan.initialStock[id - 1])])
            if batch.count == 1000 || id == options.products {
                for reply in try r.pipeline(batch) where reply.errorMessage != nil { throw FlashSaleError("Redis SET: \(reply)") }
                batch.removeAll(keepingCapacity: true)
            }
        }
        logger.info("loaded \(options.products) products into \(db).products and Redis (\(options.redisKeyPattern))")
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
        head.hotKeys = charted
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

        try generate(startedAt: startedAt)

        lock.withLock { closed = true }
        group.wait()
        let drainedAt = SaleTime.now()
        let settle = o.settle ?? (o.lag + o.confirm + o.lead + o.sweepInterval + 1)
        logger.info("workers drained; waiting \(String(format: "%.1f", settle)) s (G + C + L + one sweep + 1 s) before the final comparison")
        Thread.sleep(forTimeInterval: settle)
        lock.withLock { stopSampler = true }
        samplerDone.wait()

        let differing = try finalComparison()
        if let path = o.commitLogPath {
            let text = lock.withLock { commitLog.joined(separator: "\n") + "\n" }
            if !FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) {
                logger.warning("cannot write the commit log \(path)")
            }
        }
        let faultedKeys = lock.withLock { faulted.sorted() }
        for p in faultedKeys {
            var r = GroundTruthRecord(record: "changes")
            r.key = String(p)
            r.times = lock.withLock { changes[p - 1].sorted().map { ($0 * 1000).rounded() / 1000 } }
            truth.write(r)
        }
        var end = GroundTruthRecord(record: "end")
        let s = lock.withLock { () -> Summary in
            summary.differing = differing
            return summary
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
        return s
    }

    /// The order stream: paced to the rate, Zipf-popular products, one Lua pre-deduct per order.
    private func generate(startedAt: Double) throws {
        let o = options
        var rng = SaleRandom(seed: o.seed).fork(3)
        let zipf = ZipfSampler(count: o.products, exponent: o.zipfExponent)
        var redis: RedisConnection? = try RedisConnection(configuration: redisConfiguration)
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
                redis = try? RedisConnection(configuration: redisConfiguration)
            }
            guard let r = redis else { return nil }
            do {
                let reply = try r.command(["EVAL", Self.preDeduct, "1", o.redisKey(p), String(q)])
                return reply.integer.map { Int($0) }
            } catch {
                redis = nil
                return nil
            }
        }

        for i in 0..<o.orders {
            let due = monoStart + Double(i) / o.ordersPerSecond
            let wait = due - monotonicSeconds()
            if wait > 0.0005 { usleep(UInt32(wait * 1_000_000)) }

            if let at = reloadAt, SaleTime.now() >= at {
                redis = try? RedisConnection(configuration: redisConfiguration)
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
                    if redis == nil { redis = try? RedisConnection(configuration: redisConfiguration) }
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
            lock.withLock {
                summary.orders += 1
                if let v = result, v >= 0 {
                    summary.accepted += 1
                    redisValue[p - 1] = v
                    changes[p - 1].append(now)
                    queue.append(Order(id: i + 1, product: p, qty: q, acceptedAt: now, due: now + o.workerDelay, fault: nil))
                } else {
                    summary.rejected += 1
                }
            }
            let m = monotonicSeconds()
            if m - lastProgress >= 5 {
                lastProgress = m
                let (s, backlog, oldest) = lock.withLock { (summary, queue.count - queueHead, oldestPending(SaleTime.now())) }
                logger.info(
                    "sale: \(s.orders)/\(o.orders) orders (accepted \(s.accepted), rejected \(s.rejected)), MySQL backlog \(backlog) orders, oldest \(String(format: "%.2f", oldest)) s, faults \(nextFault)/\(plan.faults.count)")
            }
        }
        if let at = reloadAt {
            let wait = at - SaleTime.now()
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            if let r = try? RedisConnection(configuration: redisConfiguration) { try reload(redis: r, admin: admin) }
        }
    }

    private func oldestPending(_ now: Double) -> Double {
        var oldest: Double? = queueHead < queue.count ? queue[queueHead].acceptedAt : nil
        for t in inFlightOldest { if let t { oldest = min(oldest ?? t, t) } }
        return oldest.map { now - $0 } ?? 0
    }

    // MARK: Faults

    private func record(_ f: PlannedFault, product p: Int?, injectedAt: Double, effectiveAt: Double,
                        redis: (Int?, Int?), mysql: (Int?, Int?), gapChanged: Bool, keys: Int? = nil, detail: String? = nil) {
        var r = GroundTruthRecord(record: "fault")
        r.id = f.id
        r.kind = f.kind
        r.key = p.map(String.init)
        r.redisKey = p.map(options.redisKey)
        r.injectedAt = SaleTime.format(injectedAt)
        r.effectiveAt = SaleTime.format(effectiveAt)
        r.redisBefore = redis.0.map(String.init)
        r.redisAfter = redis.1.map(String.init)
        r.mysqlBefore = mysql.0.map(String.init)
        r.mysqlAfter = mysql.1.map(String.init)
        r.gapChanged = gapChanged
        r.keys = keys
        r.detail = detail
        truth.write(r)
        lock.withLock { summary.faultsInjected += 1 }
        logger.notice("fault \(f.id) \(f.kind.rawValue)\(p.map { " on product \($0)" } ?? "")")
    }

    /// Picks the first candidate that is not faulted yet and fits the kind.
    private func choose(_ f: PlannedFault) -> Int? {
        lock.withLock {
            for p in f.candidates where !faulted.contains(p) {
                let r = redisValue[p - 1]
                let m = mysqlValue[p - 1]
                let fits: Bool
                switch f.kind {
                case .lostMySQLWrite: fits = (r ?? 0) >= 3
                case .lostRedisWrite: fits = (r ?? 0) >= 3 && m >= 3
                case .doubleDecrement: fits = (r ?? 0) >= 3 && m >= 6
                case .evicted: fits = r != nil
                case .staleWriteback: fits = r != nil && r != plan.initialStock[p - 1]
                case .manualUpdate: fits = true
                case .redisRestart: fits = false
                }
                if fits {
                    faulted.insert(p)
                    if !charted.contains(p) { charted.append(p) }
                    return p
                }
            }
            return nil
        }
    }

    private func inject(_ f: PlannedFault, orderID: Int, redis r: RedisConnection, admin: SQLConnection, rng: inout SaleRandom) throws {
        guard let p = choose(f) else {
            logger.warning("fault \(f.id) (\(f.kind.rawValue)) skipped: no product fits")
            return
        }
        let key = options.redisKey(p)
        let q = rng.int(in: 1...3)
        let mysqlNow = lock.withLock { mysqlValue[p - 1] }
        switch f.kind {
        case .lostMySQLWrite:
            let t = SaleTime.now()
            guard let v = try faultPreDeduct(f, product: p, qty: q, at: t, redis: r) else { return }
            record(f, product: p, injectedAt: t, effectiveAt: t, redis: (v + q, v), mysql: (mysqlNow, mysqlNow), gapChanged: true)
        case .lostRedisWrite, .doubleDecrement:
            let t = SaleTime.now()
            if f.kind == .doubleDecrement {
                guard try faultPreDeduct(f, product: p, qty: q, at: t, redis: r) != nil else { return }
            }
            // The worker that commits it writes the fault record (it takes effect at the commit).
            lock.withLock {
                queue.append(Order(id: orderID, product: p, qty: q, acceptedAt: t, due: t + options.workerDelay, fault: (f.id, f.kind)))
            }
        case .evicted:
            let before = lock.withLock { redisValue[p - 1] }
            let t = SaleTime.now()
            _ = try r.command(["DEL", key])
            lock.withLock {
                redisValue[p - 1] = nil
                changes[p - 1].append(t)
            }
            record(f, product: p, injectedAt: t, effectiveAt: t, redis: (before, nil), mysql: (mysqlNow, mysqlNow), gapChanged: true)
        case .staleWriteback:
            let stale = plan.initialStock[p - 1]
            let t = SaleTime.now()
            let before = try r.command(["GET", key]).string.flatMap { Int($0) }
            _ = try r.command(["SET", key, String(stale)])
            lock.withLock {
                redisValue[p - 1] = stale
                changes[p - 1].append(t)
            }
            record(f, product: p, injectedAt: t, effectiveAt: t, redis: (before, stale), mysql: (mysqlNow, mysqlNow), gapChanged: before != stale)
        case .manualUpdate:
            let t0 = SaleTime.now()
            let n = try admin.execute("UPDATE `\(options.database)`.products SET stock = stock + 50 WHERE id = \(p)")
            let t = SaleTime.now()
            let (b, a, rv) = lock.withLock { () -> (Int, Int, Int?) in
                let b = mysqlValue[p - 1]
                if n == 1 { mysqlValue[p - 1] += 50 }
                changes[p - 1].append(t)
                return (b, mysqlValue[p - 1], redisValue[p - 1])
            }
            record(f, product: p, injectedAt: t0, effectiveAt: t, redis: (rv, rv), mysql: (b, a), gapChanged: n == 1, detail: "restock of 50 in MySQL only")
        case .redisRestart:
            break
        }
    }

    /// The order's Redis pre-deduct, done by a fault: the new stock, or nil (logged) when refused.
    private func faultPreDeduct(_ f: PlannedFault, product p: Int, qty q: Int, at t: Double, redis r: RedisConnection) throws -> Int? {
        let v = try r.command(["EVAL", Self.preDeduct, "1", options.redisKey(p), String(q)]).integer.map { Int($0) } ?? -1
        guard v >= 0 else {
            logger.warning("fault \(f.id): the pre-deduct was refused (\(v)); skipped")
            return nil
        }
        lock.withLock {
            redisValue[p - 1] = v
            changes[p - 1].append(t)
        }
        return v
    }

    /// Restarts Redis (all keys are lost); returns when the application will reload them.
    private func restartRedis(_ f: PlannedFault) throws -> Double {
        guard let command = options.redisRestartCommand else { return SaleTime.now() }
        let keys = options.products
        let t = SaleTime.now()
        let status = ChildProcess.shell(command, output: .standardError)
        guard status == 0 else {
            throw FlashSaleError("the Redis restart command failed (status \(status)): \(command)")
        }
        lock.withLock {
            for i in 0..<redisValue.count {
                redisValue[i] = nil
                changes[i].append(t)
            }
        }
        record(f, product: nil, injectedAt: t, effectiveAt: t, redis: (nil, nil), mysql: (nil, nil), gapChanged: true, keys: keys,
               detail: "restarted with: \(command); reload from MySQL \(options.warmup) s later")
        return t + options.warmup
    }

    /// The application's cache warm-up: once the workers have written every pending order, reads
    /// the stock of every product from MySQL and SETs it in Redis.
    private func reload(redis r: RedisConnection, admin: SQLConnection) throws {
        while lock.withLock({ queueHead < queue.count || inFlightOldest.contains { $0 != nil } }) { usleep(10_000) }
        let rows = try admin.query("SELECT id, stock FROM `\(options.database)`.products")
        var batch: [[String]] = []
        var values: [(Int, Int)] = []
        for row in rows {
            guard let id = row[0].flatMap({ Int($0) }), let stock = row[1].flatMap({ Int($0) }) else { continue }
            batch.append(["SET", options.redisKey(id), String(stock)])
            values.append((id, stock))
        }
        let t = SaleTime.now()
        var start = 0
        while start < batch.count {
            let end = min(start + 1000, batch.count)
            _ = try r.pipeline(Array(batch[start..<end]))
            start = end
        }
        lock.withLock {
            for (id, stock) in values where id >= 1 && id <= redisValue.count {
                redisValue[id - 1] = stock
                mysqlValue[id - 1] = stock
                changes[id - 1].append(t)
            }
        }
        var rec = GroundTruthRecord(record: "reload")
        rec.at = SaleTime.format(t)
        rec.keys = values.count
        truth.write(rec)
        logger.notice("application reloaded \(values.count) keys from MySQL")
    }

    // MARK: Workers

    private func takeBatch(worker w: Int) -> [Order]? {
        lock.withLock {
            let now = SaleTime.now()
            var batch: [Order] = []
            while queueHead < queue.count && batch.count < options.ordersPerTransaction && queue[queueHead].due <= now {
                batch.append(queue[queueHead])
                queueHead += 1
            }
            if queueHead > 100_000 {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            if batch.isEmpty { return closed && queueHead >= queue.count ? nil : [] }
            inFlightOldest[w] = batch.map(\.acceptedAt).min()
            return batch
        }
    }

    private func worker(_ w: Int) {
        var conn: SQLConnection?
        let db = options.database
        while let batch = takeBatch(worker: w) {
            if batch.isEmpty {
                usleep(2000)
                continue
            }
            var attempt = 0
            while true {
                attempt += 1
                do {
                    if conn == nil { conn = try SQLConnection(configuration: sql) }
                    let c = conn!
                    _ = try c.execute("START TRANSACTION")
                    let created = SaleTime.format(SaleTime.now()).replacing("T", with: " ").replacing("Z", with: "")
                    let values = batch.map { "(\($0.id),\($0.product),\($0.qty),'\(created)')" }.joined(separator: ",")
                    _ = try c.execute("INSERT INTO `\(db)`.orders (id, product_id, qty, created_at) VALUES \(values)")
                    var affected: [(Order, UInt64, UInt64?)] = []
                    // Sorted by product so that concurrent batches lock rows in the same order.
                    for o in batch.sorted(by: { $0.product < $1.product }) {
                        let sql = "UPDATE `\(db)`.products SET stock = stock - \(o.qty) WHERE id = \(o.product) AND stock >= \(o.qty)"
                        let n = try c.execute(sql)
                        let second: UInt64? = o.fault?.kind == .doubleDecrement ? try c.execute(sql) : nil
                        affected.append((o, n, second))
                    }
                    _ = try c.execute("COMMIT")
                    if options.commitLogPath != nil {
                        let t = SaleTime.now()
                        let gtid = (try? c.query("SELECT @@last_gtid").first?.first ?? nil) ?? nil
                        if let gtid { lock.withLock { commitLog.append("\(gtid) \(String(format: "%.6f", t))") } }
                    }
                    committed(affected, worker: w)
                    break
                } catch {
                    logger.warning("worker \(w): \(error); retrying the batch of \(batch.count) orders (attempt \(attempt))")
                    conn?.close()
                    conn = nil
                    usleep(UInt32(min(attempt, 20)) * 50_000)
                }
            }
        }
    }

    private func committed(_ results: [(Order, UInt64, UInt64?)], worker w: Int) {
        let t = SaleTime.now()
        var faultRecords: [(Order, Int, Int, Int?, Bool)] = []
        var anomalies: [GroundTruthRecord] = []
        lock.withLock {
            summary.transactions += 1
            inFlightOldest[w] = nil
            for (o, n, second) in results {
                let before = mysqlValue[o.product - 1]
                let applied = Int(n) + Int(second ?? 0)
                mysqlValue[o.product - 1] -= applied * o.qty
                if applied > 0 { changes[o.product - 1].append(t) }
                if n == 0 {
                    summary.anomalies += 1
                    var a = GroundTruthRecord(record: "anomaly")
                    a.at = SaleTime.format(t)
                    a.key = String(o.product)
                    a.order = o.id
                    a.qty = o.qty
                    a.detail = "UPDATE ... WHERE stock >= \(o.qty) matched no row (MySQL stock \(before))"
                    anomalies.append(a)
                }
                if let f = o.fault {
                    let changed = f.kind == .doubleDecrement ? (second ?? 0) > 0 : n > 0
                    faultRecords.append((o, before, mysqlValue[o.product - 1], redisValue[o.product - 1], changed))
                }
            }
        }
        for a in anomalies {
            truth.write(a)
            // The first anomaly of a product is logged; the others are in the ground truth.
            let first = lock.withLock { anomalousProducts.insert(a.key ?? "").inserted }
            if first {
                logger.warning("anomaly: \(a.detail ?? "") for order \(a.order ?? 0), product \(a.key ?? "") (later ones for it: ground truth only)")
            }
        }
        for (o, before, after, rv, changed) in faultRecords {
            guard let f = o.fault, let planned = plan.faults.first(where: { $0.id == f.id }) else { continue }
            // Redis does not change at the commit: before and after are its value then.
            record(planned, product: o.product, injectedAt: o.acceptedAt, effectiveAt: t, redis: (rv, rv), mysql: (before, after), gapChanged: changed)
        }
    }

    // MARK: Samples and the end

    private func sampler() {
        while true {
            let done = lock.withLock { stopSampler }
            if done { return }
            let now = SaleTime.now()
            var r = GroundTruthRecord(record: "sample")
            r.t = (now * 1000).rounded() / 1000
            lock.withLock {
                r.backlog = queue.count - queueHead + inFlightOldest.count(where: { $0 != nil })
                let oldest = oldestPending(now)
                r.leadSeconds = (oldest * 1000).rounded() / 1000
                summary.maxOldestPending = max(summary.maxOldestPending, oldest)
                r.values = charted.map { GroundTruthRecord.ChartValue(key: $0, redis: redisValue[$0 - 1], mysql: mysqlValue[$0 - 1]) }
            }
            truth.write(r)
            usleep(200_000)
        }
    }

    /// Reads every product from MySQL and Redis; records those that differ.
    private func finalComparison() throws -> Int {
        let c = try SQLConnection(configuration: sql)
        let rows = try c.query("SELECT id, stock FROM `\(options.database)`.products ORDER BY id")
        let r = try RedisConnection(configuration: redisConfiguration)
        let ids = rows.compactMap { $0[0].flatMap { Int($0) } }
        let redisValues = try r.mget(keys: ids.map(options.redisKey))
        var differing = 0
        for (i, row) in rows.enumerated() {
            let m = row[1] ?? ""
            let rv = redisValues[i]
            if rv.flatMap({ Int($0) }) != Int(m) {
                differing += 1
                var d = GroundTruthRecord(record: "differs")
                d.key = String(ids[i])
                d.redis = rv
                d.mysql = m
                truth.write(d)
            }
        }
        logger.notice("final comparison: \(differing) of \(rows.count) products differ between Redis and MySQL")
        return differing
    }
}

