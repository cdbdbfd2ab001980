import BinlogReconciler
import Foundation
import Logging

/// The worker pool that commits orders to MySQL, the sampler, and the final comparison.
extension FlashSale {
    func takeBatch(worker w: Int) -> [Order]? {
        state.withLock { s in
            let now = SaleTime.now()
            var batch: [Order] = []
            while s.queueHead < s.queue.count && batch.count < options.ordersPerTransaction && s.queue[s.queueHead].due <= now {
                batch.append(s.queue[s.queueHead])
                s.queueHead += 1
            }
            if s.queueHead > 100_000 {
                s.queue.removeFirst(s.queueHead)
                s.queueHead = 0
            }
            if batch.isEmpty { return s.closed && s.queueHead >= s.queue.count ? nil : [] }
            s.inFlightOldest[w] = batch.map(\.acceptedAt).min()
            return batch
        }
    }

    func worker(_ w: Int) {
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
                        if let gtid { state.withLock { s in s.commitLog.append("\(gtid) \(String(format: "%.6f", t))") } }
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

    func committed(_ results: [(Order, UInt64, UInt64?)], worker w: Int) {
        let t = SaleTime.now()
        var faultRecords: [(Order, Int, Int, Int?, Bool)] = []
        var anomalies: [GroundTruthRecord] = []
        state.withLock { s in
            s.summary.transactions += 1
            s.inFlightOldest[w] = nil
            for (o, n, second) in results {
                let before = s.mysqlValue[o.product - 1]
                let applied = Int(n) + Int(second ?? 0)
                s.mysqlValue[o.product - 1] -= applied * o.qty
                if applied > 0 { s.changes[o.product - 1].append(t) }
                if n == 0 {
                    s.summary.anomalies += 1
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
                    faultRecords.append((o, before, s.mysqlValue[o.product - 1], s.redisValue[o.product - 1], changed))
                }
            }
        }
        for a in anomalies {
            truth.write(a)
            // The first anomaly of a product is logged; the others are in the ground truth.
            let first = state.withLock { s in s.anomalousProducts.insert(a.key ?? "").inserted }
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

    func sampler() {
        while true {
            let done = state.withLock { s in s.stopSampler }
            if done { return }
            let now = SaleTime.now()
            var r = GroundTruthRecord(record: "sample")
            r.t = (now * 1000).rounded() / 1000
            state.withLock { s in
                r.backlog = s.queue.count - s.queueHead + s.inFlightOldest.count(where: { $0 != nil })
                let oldest = s.oldestPending(now)
                r.leadSeconds = (oldest * 1000).rounded() / 1000
                s.summary.maxOldestPending = max(s.summary.maxOldestPending, oldest)
                r.values = s.charted.map { GroundTruthRecord.ChartValue(key: $0, redis: s.redisValue[$0 - 1], mysql: s.mysqlValue[$0 - 1]) }
            }
            truth.write(r)
            usleep(200_000)
        }
    }

    /// Reads every product from MySQL and Redis; records those that differ.
    func finalComparison() throws -> Int {
        let c = try SQLConnection(configuration: sql)
        let rows = try c.query("SELECT id, stock FROM `\(options.database)`.products ORDER BY id")
        let r = try connectRedis()
        defer { r.close() }
        let ids = rows.compactMap { $0[0].flatMap { Int($0) } }
        let redisValues = try r.getAll(ids.map(options.redisKey))
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
