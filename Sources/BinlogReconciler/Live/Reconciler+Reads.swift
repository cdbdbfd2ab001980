import BinlogParser
import Foundation
import Logging

extension Reconciler {
    /// Reads keys from Redis (pipelined) and feeds the observations to the engine.
    /// - Returns: how many of them were missing in Redis while their row exists.
    @discardableResult
    func read(_ keys: [(watch: Int, key: ShadowKey)], redis: RedisConnection, trigger: ReconcilerMetrics.ReadTrigger) throws -> Int {
        let watches = configuration.watches
        var missingRows = 0
        for (w, watch) in watches.enumerated() {
            let mine = keys.filter { $0.watch == w }.map(\.key)
            guard !mine.isEmpty else { continue }
            let at = monotonicSeconds()
            let values: [String?]
            switch watch.target {
            case .string(let t):
                values = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.mget(keys: mine.map { t.render($0) }, batchSize: configuration.reconcile.sweepBatch) }
            case .hash(let k, let f):
                values = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.hmget(mine.map { RedisHashField(key: k.render($0), field: f.render($0)) }, batchSize: configuration.reconcile.sweepBatch) }
            }
            // MGET answers nil for a key of another type: ask TYPE for those.
            var results: [RedisObservation] = values.map { $0.map(RedisObservation.value) ?? .missing }
            let nilIndexes = results.indices.filter { results[$0] == .missing }
            if !nilIndexes.isEmpty, case .string(let t) = watch.target {
                let types = try redis.withRetry(Self.readRetry) { conn throws(RedisError) in try conn.types(nilIndexes.map { t.render(mine[$0]) }) }
                for (n, i) in nilIndexes.enumerated() where types[n] != .none { results[i] = .wrongType }
            }
            let observed = results
            missingRows += shared.withLock { s in
                var missing = 0
                for (i, k) in mine.enumerated() {
                    let current = s.shadow.maps[w][k]
                    if observed[i] == .missing && current != nil { missing += 1 }
                    s.engine.observe(watch: w, key: k, result: observed[i], at: at, current: current)
                }
                s.keysChecked += mine.count
                return missing
            }
            metrics.recordReads(mine.count, trigger: trigger)
        }
        return missingRows
    }

    /// A full pipelined sweep of every watched key (the backstop that catches what events miss).
    /// - Returns: the keys read, and how many were missing in Redis while their row exists.
    @discardableResult
    func sweep(_ redis: RedisConnection) throws -> (checked: Int, missing: Int) {
        let started = monotonicSeconds()
        var total = 0
        var missing = 0
        for w in configuration.watches.indices {
            let keys: [ShadowKey] = shared.withLock { s in
                var out: [ShadowKey] = []
                out.reserveCapacity(s.shadow.maps[w].count)
                s.shadow.maps[w].forEach { k, _ in out.append(k) }
                return out
            }
            var i = 0
            let batch = max(1000, configuration.reconcile.sweepBatch * 8)
            while i < keys.count {
                let slice = Array(keys[i..<min(keys.count, i + batch)])
                missing += try read(slice.map { (w, $0) }, redis: redis, trigger: .sweep)
                i += batch
            }
            total += keys.count
            if configuration.watches[w].scanOrphans { try scanOrphans(watch: w, redis: redis) }
        }
        let secs = monotonicSeconds() - started
        metrics.recordSweep(keys: total, duration: .nanoseconds(Int64(secs * 1e9)))
        logger.debug("sweep", metadata: ["keys": "\(total)", "ms": "\(Int(secs * 1000))"])
        return (total, missing)
    }

    /// `scan_orphans`: the Redis keys of a watch's pattern whose row does not exist, read like
    /// any other key (so a value without a row is reported).
    func scanOrphans(watch w: Int, redis: RedisConnection) throws {
        let t = configuration.watches[w].target.keyTemplate
        let found = try redis.withRetry { conn throws(RedisError) in try conn.scanAll(pattern: t.scanPattern) }
        let integers = keyIntegerColumns[w]
        // A name is an orphan only when no row key that renders to it has a row. One that several
        // row keys render to (a separator inside a text column, or unknown column types) is
        // reported under its first reading and never written or deleted.
        // Names are read back outside the lock; only the lookups hold it.
        let keyCount = configuration.watches[w].keyColumns.count
        let readings = found.map { t.candidates($0, integerColumns: integers, keyColumnCount: keyCount) }.filter { !$0.isEmpty }
        let (orphans, ambiguous) = shared.withLock { s -> ([ShadowKey], [ShadowKey]) in
            var ambiguous: [ShadowKey] = []
            let orphans = readings.compactMap { candidates -> ShadowKey? in
                guard let first = candidates.first, !candidates.contains(where: { s.shadow.maps[w][$0] != nil }) else { return nil }
                if candidates.count > 1 {
                    ambiguous.append(first)
                    s.engine.markReportOnly(watch: w, key: first)
                }
                return first
            }
            return (orphans, ambiguous)
        }
        guard !orphans.isEmpty else { return }
        logger.info("orphan scan: Redis keys without a row", metadata: ["watch": "\(configuration.watches[w].name)", "keys": "\(orphans.count)"])
        if !ambiguous.isEmpty {
            logger.warning("orphan scan: Redis keys that several row keys could render to; reported, never repaired", metadata: [
                "watch": "\(configuration.watches[w].name)", "keys": "\(ambiguous.count)", "example": "\(t.render(ambiguous[0]))",
            ])
        }
        try read(orphans.map { (w, $0) }, redis: redis, trigger: .sweep)
    }
}
