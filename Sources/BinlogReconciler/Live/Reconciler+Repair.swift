import Foundation
import Logging

/// The repair rate limit: a token bucket of at least one token, refilled at
/// `repair_per_second`, so a rate below 1/s repairs one key every 1/rate s. Owned by the
/// reconcile loop.
struct RepairBudget {
    var tokens = 1.0
    var refilledAt = monotonicSeconds()
    var limitLoggedAt = -Double.infinity

    mutating func refill(now: Double, rate: Double) {
        tokens = min(max(1, rate), tokens + (now - refilledAt) * rate)
        refilledAt = now
    }
}

extension Reconciler {
    /// The tail fell behind during a repair pass: the pass ends, the candidates stay.
    struct RepairPaused: Error {}

    typealias RepairCandidate = (watch: Int, key: ShadowKey, redis: RedisObservation, record: ReportRecord)

    /// Repairs what the rate limit allows of the open divergences whose latest decided read still
    /// disagrees (new ones, ones restored from a checkpoint, ones skipped earlier). Called only
    /// while the tail is caught up. A repair that cannot run now stays a candidate.
    func repairPass(_ redis: RedisRoute, budget: inout RepairBudget) {
        let rate = configuration.reconcile.repairPerSecond
        let now = monotonicSeconds()
        budget.refill(now: now, rate: rate)
        let limit = Int(budget.tokens)
        let (candidates, waiting) = shared.withLock { ($0.engine.repairCandidates(limit: limit), $0.engine.repairableCount) }
        if waiting > candidates.count && now - budget.limitLoggedAt >= 10 {
            budget.limitLoggedAt = now
            logger.warning("repair rate limit reached; the rest are repaired later", metadata: ["waiting": "\(waiting - candidates.count)", "repair_per_second": "\(rate)"])
        }
        for c in candidates {
            do {
                if try repair(c, redis: redis) { budget.tokens -= 1 }
            } catch is RepairPaused {
                return
            } catch {
                metrics.recordRepair(.failed)
                metrics.recordRedisError()
                logger.warning("repair failed", metadata: ["key": "\(c.record.redisKey)", "error": "\(error)"])
                return
            }
        }
    }

    /// Writes the shadow value of a divergent row key with compare-and-set against the Redis
    /// reading the verdict was made on, only while caught up and when the key is quiet on the
    /// binlog side. The Redis key is rendered from the row key; a row the shadow map does not hold
    /// (looked up by that row key) is the only case that deletes. Returns whether it used a token.
    func repair(_ c: RepairCandidate, redis: RedisRoute) throws -> Bool {
        let watch = configuration.watches[c.watch]
        let now = monotonicSeconds()
        let checkOnce = options.checkOnce
        let (quiet, expected, caught) = shared.withLock { s in
            (s.engine.isQuiet(watch: c.watch, key: c.key, from: now - watch.lagSeconds - watch.leadSeconds, to: now), s.shadow.maps[c.watch][c.key],
             s.isCaughtUp(now: now, checkOnce: checkOnce))
        }
        guard caught else { throw RepairPaused() }
        guard quiet else {
            // It changed in the binlog: its next inconsistent decided read makes it a candidate
            // again (so the others are not starved behind it).
            deferRepair(c)
            return false
        }
        let observed: String?
        switch c.redis {
        case .value(let v): observed = v
        case .missing: observed = nil
        case .wrongType:
            // Not a value compare-and-set can replace: left to a person.
            deferRepair(c)
            logger.warning("not repaired: the Redis key holds another type", metadata: ["key": "\(c.record.redisKey)"])
            return false
        }
        let target = expected?.redisText
        let redisKey = watch.target.keyTemplate.render(c.key)
        if configuration.reconcile.repairDryRun {
            deferRepair(c)
            logger.notice("dry run: would repair", metadata: ["key": "\(redisKey)", "from": "\(observed ?? "nil")", "to": "\(target ?? "nil (delete)")"])
            return true
        }
        let wrote: Bool
        switch watch.target {
        case .string:
            wrote = try redis.withKeyOwner(redisKey, policy: Self.readRetry, doing: "EVAL") { conn throws(RedisError) in try conn.compareAndSet(key: redisKey, expected: observed, new: target) }
        case .hash(_, let f):
            wrote = try redis.withKeyOwner(redisKey, policy: Self.readRetry, doing: "EVAL") { conn throws(RedisError) in try conn.compareAndSetHashField(key: redisKey, field: f.render(c.key), expected: observed, new: target) }
        }
        guard wrote else {
            deferRepair(c)
            metrics.recordRepair(.conflict)
            logger.info("repair skipped: Redis changed since it was read", metadata: ["key": "\(redisKey)"])
            return true
        }
        metrics.recordRepair(.repaired)
        let closed = shared.withLock { $0.engine.repaired(watch: c.watch, key: c.key) }
        var record = closed ?? c.record
        record.event = .repaired
        record.expected = target
        record.redis = observed
        record.detectedAt = Date().timeIntervalSince1970
        sink.write(record)
        return true
    }

    private func deferRepair(_ c: RepairCandidate) {
        shared.withLock { $0.engine.repairDeferred(watch: c.watch, key: c.key) }
    }
}
