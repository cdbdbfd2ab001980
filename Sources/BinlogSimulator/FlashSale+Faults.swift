import BinlogReconciler
import Foundation
import Logging

/// The faults: choosing each one's product, injecting it, recording it in the ground truth.
extension FlashSale {
    func record(_ f: PlannedFault, product p: Int?, injectedAt: Double, effectiveAt: Double,
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
        state.withLock { s in s.summary.faultsInjected += 1 }
        logger.notice("fault \(f.id) \(f.kind.rawValue)\(p.map { " on product \($0)" } ?? "")")
    }

    /// Picks the first candidate that is not faulted yet and fits the kind.
    func choose(_ f: PlannedFault) -> Int? {
        state.withLock { s in
            for p in f.candidates where !s.faulted.contains(p) {
                let r = s.redisValue[p - 1]
                let m = s.mysqlValue[p - 1]
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
                    s.faulted.insert(p)
                    if !s.charted.contains(p) { s.charted.append(p) }
                    return p
                }
            }
            return nil
        }
    }

    func inject(_ f: PlannedFault, orderID: Int, redis r: SaleRedis, admin: SQLConnection, rng: inout SaleRandom) throws {
        guard let p = choose(f) else {
            logger.warning("fault \(f.id) (\(f.kind.rawValue)) skipped: no product fits")
            return
        }
        let key = options.redisKey(p)
        let q = rng.int(in: 1...3)
        let mysqlNow = state.withLock { s in s.mysqlValue[p - 1] }
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
            state.withLock { s in
                s.queue.append(Order(id: orderID, product: p, qty: q, acceptedAt: t, due: t + options.workerDelay, fault: (f.id, f.kind)))
            }
        case .evicted:
            let before = state.withLock { s in s.redisValue[p - 1] }
            let t = SaleTime.now()
            _ = try r.command(key: key, ["DEL", key])
            state.withLock { s in
                s.redisValue[p - 1] = nil
                s.changes[p - 1].append(t)
            }
            record(f, product: p, injectedAt: t, effectiveAt: t, redis: (before, nil), mysql: (mysqlNow, mysqlNow), gapChanged: true)
        case .staleWriteback:
            let stale = plan.initialStock[p - 1]
            let t = SaleTime.now()
            let before = try r.command(key: key, ["GET", key]).string.flatMap { Int($0) }
            _ = try r.command(key: key, ["SET", key, String(stale)])
            state.withLock { s in
                s.redisValue[p - 1] = stale
                s.changes[p - 1].append(t)
            }
            record(f, product: p, injectedAt: t, effectiveAt: t, redis: (before, stale), mysql: (mysqlNow, mysqlNow), gapChanged: before != stale)
        case .manualUpdate:
            let t0 = SaleTime.now()
            let n = try admin.execute("UPDATE `\(options.database)`.products SET stock = stock + 50 WHERE id = \(p)")
            let t = SaleTime.now()
            let (b, a, rv) = state.withLock { s -> (Int, Int, Int?) in
                let b = s.mysqlValue[p - 1]
                if n == 1 { s.mysqlValue[p - 1] += 50 }
                s.changes[p - 1].append(t)
                return (b, s.mysqlValue[p - 1], s.redisValue[p - 1])
            }
            record(f, product: p, injectedAt: t0, effectiveAt: t, redis: (rv, rv), mysql: (b, a), gapChanged: n == 1, detail: "restock of 50 in MySQL only")
        case .redisRestart:
            break
        }
    }

    /// The order's Redis pre-deduct, done by a fault: the new stock, or nil (logged) when refused.
    func faultPreDeduct(_ f: PlannedFault, product p: Int, qty q: Int, at t: Double, redis r: SaleRedis) throws -> Int? {
        let v = try r.preDeduct(key: options.redisKey(p), qty: q, believed: state.withLock { s in s.redisValue[p - 1] })
        guard v >= 0 else {
            logger.warning("fault \(f.id): the pre-deduct was refused (\(v)); skipped")
            return nil
        }
        state.withLock { s in
            s.redisValue[p - 1] = v
            s.changes[p - 1].append(t)
        }
        return v
    }

    /// Restarts Redis (all keys are lost); returns when the application will reload them.
    func restartRedis(_ f: PlannedFault) throws -> Double {
        guard let command = options.redisRestartCommand else { return SaleTime.now() }
        let keys = options.products
        let t = SaleTime.now()
        let status = ChildProcess.shell(command, output: .standardError)
        guard status == 0 else {
            throw FlashSaleError("the Redis restart command failed (status \(status)): \(command)")
        }
        state.withLock { s in
            for i in 0..<s.redisValue.count {
                s.redisValue[i] = nil
                s.changes[i].append(t)
            }
        }
        record(f, product: nil, injectedAt: t, effectiveAt: t, redis: (nil, nil), mysql: (nil, nil), gapChanged: true, keys: keys,
               detail: "restarted with: \(command); reload from MySQL \(options.warmup) s later")
        return t + options.warmup
    }

    /// The application's cache warm-up: once the workers have written every pending order, reads
    /// the stock of every product from MySQL and SETs it in Redis.
    func reload(redis r: SaleRedis, admin: SQLConnection) throws {
        while state.withLock({ s in s.queueHead < s.queue.count || s.inFlightOldest.contains { $0 != nil } }) { usleep(10_000) }
        let rows = try admin.query("SELECT id, stock FROM `\(options.database)`.products")
        var values: [(Int, Int)] = []
        for row in rows {
            guard let id = row[0].flatMap({ Int($0) }), let stock = row[1].flatMap({ Int($0) }) else { continue }
            values.append((id, stock))
        }
        let t = SaleTime.now()
        try r.setAll(values.map { (options.redisKey($0.0), String($0.1)) })
        state.withLock { s in
            for (id, stock) in values where id >= 1 && id <= s.redisValue.count {
                s.redisValue[id - 1] = stock
                s.mysqlValue[id - 1] = stock
                s.changes[id - 1].append(t)
            }
        }
        var rec = GroundTruthRecord(record: "reload")
        rec.at = SaleTime.format(t)
        rec.keys = values.count
        truth.write(rec)
        logger.notice("application reloaded \(values.count) keys from MySQL")
    }

}
