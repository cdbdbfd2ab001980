import BinlogParser
import Foundation
import Logging

/// The keys a read covers: the integer keys of a sweep as they are stored (8 bytes each), or any
/// row keys.
enum ReadKeys {
    case ints([Int64])
    case keys([ShadowKey])

    var count: Int {
        switch self {
        case .ints(let a): a.count
        case .keys(let a): a.count
        }
    }

    @inline(__always)
    subscript(i: Int) -> ShadowKey {
        switch self {
        case .ints(let a): .int(a[i])
        case .keys(let a): a[i]
        }
    }
}

/// What a read of some keys found.
struct ReadTally {
    var checked = 0
    /// Keys missing in Redis while their row exists.
    var missing = 0

    static func += (a: inout ReadTally, b: ReadTally) {
        a.checked += b.checked
        a.missing += b.missing
    }
}

extension Reconciler {
    /// Reads keys from Redis (pipelined) and feeds the observations to the engine (change,
    /// notification and confirmation reads, and the orphan scan's).
    /// - Returns: how many of them were missing in Redis while their row exists.
    @discardableResult
    func read(_ keys: [(watch: Int, key: ShadowKey)], redis: RedisRoute, trigger: ReconcilerMetrics.ReadTrigger) throws -> Int {
        var missing = 0
        for w in configuration.watches.indices {
            let mine = keys.compactMap { $0.watch == w ? $0.key : nil }
            guard !mine.isEmpty else { continue }
            missing += try read(watch: w, .keys(mine), mine.indices, redis: redis, trigger: trigger).missing
        }
        return missing
    }

    /// Reads `keys[range]` of one watch with the one pipelined value read (MGET batches, or HGETs
    /// for hash fields, `sweep_batch` per batch, eight batches in flight) and compares each reply
    /// as it arrives, while the next batches travel: the key names are rendered straight into the
    /// request, and a value is compared as bytes with the shadow value, so a key that agrees costs
    /// no string. Keys MGET answers nil for are asked their TYPE (another type is `wrong_type`).
    /// With a `deadline` (a sweep's slice), no batch is sent after it and the read ends with the
    /// batches in flight: it covers a prefix of `range`, at least eight batches.
    /// - Returns: `checked`, the keys read (the prefix of `range` covered), and the missing ones.
    /// - Parameters:
    ///   - policy: the retries of a connection that fails (a cluster node: one attempt, the
    ///     cluster read retries with the map read again).
    ///   - oneByOne: string keys are read with pipelined `GET`s, not `MGET` (a cluster node).
    ///   - replicaSince: `redis` is a replica that has every write its master made before this
    ///     time (``RedisReplicaPool/Stamp``): each observation is taken when its reply arrived,
    ///     with the staleness that gives (``VerdictEngine/observe(watch:key:result:at:current:replicaSince:)``).
    func read(
        watch w: Int, _ keys: ReadKeys, _ range: Range<Int>, redis: RedisConnection, trigger: ReconcilerMetrics.ReadTrigger,
        until deadline: Double? = nil, policy: RedisRetryPolicy = Reconciler.readRetry, oneByOne: Bool = false,
        replicaSince: Double? = nil
    ) throws -> ReadTally {
        guard !range.isEmpty else { return ReadTally() }
        let watch = configuration.watches[w]
        let batch = configuration.reconcile.sweepBatch
        // Every key read is read once: a value, or nil (then its TYPE below).
        var tally = ReadTally()
        var nils: [ShadowKey] = []
        let keepSending: () -> Bool = deadline.map { d in { monotonicSeconds() < d } } ?? { true }
        try redis.withRetry(policy) { conn throws(RedisError) in
            nils.removeAll(keepingCapacity: true)
            var scratch: [UInt8] = []
            scratch.reserveCapacity(128)
            let at = monotonicSeconds()
            let kind: RedisConnection.ValueReads
            switch watch.target {
            case .string: kind = oneByOne ? .stringGets : .strings
            case .hash: kind = .hashFields
            }
            tally.checked = try conn.readValueBatches(kind, count: range.count, batchSize: batch, pipelineDepth: 8, keepSending: keepSending) { i, frame in
                let key = keys[range.lowerBound + i]
                switch watch.target {
                case .string(let t):
                    t.appendRendered(key, to: &scratch)
                    frame.appendArgument(scratch)
                case .hash(let k, let f):
                    k.appendRendered(key, to: &scratch)
                    frame.appendArgument(scratch)
                    f.appendRendered(key, to: &scratch)
                    frame.appendArgument(scratch)
                }
            } visit: { values in
                // One lock per reply (a batch of `sweep_batch` keys for MGET).
                let base = range.lowerBound + values.first
                // A replica's reply shows data up to its arrival (a master's: as of the request).
                let seenAt = replicaSince == nil ? at : monotonicSeconds()
                let missed = shared.withLock { s -> [ShadowKey] in
                    var missed: [ShadowKey] = []
                    for j in 0..<values.count {
                        let key = keys[base + j]
                        guard let value = values[j] else {
                            missed.append(key)
                            continue
                        }
                        let current = s.shadow.maps[w][key]
                        // A quiet key that agrees costs its comparison only.
                        if s.engine.agreesAtOnce(watch: w, key: key, bytes: value, current: current) { continue }
                        s.engine.observe(
                            watch: w, key: key, result: .value(String(decoding: value, as: UTF8.self)), at: seenAt, current: current,
                            replicaSince: replicaSince)
                    }
                    return missed
                }
                nils.append(contentsOf: missed)
            }
        }
        if !nils.isEmpty {
            // MGET answers nil for a key of another type: ask TYPE for those.
            var results = [RedisObservation](repeating: .missing, count: nils.count)
            if case .string(let t) = watch.target {
                let names = nils.map { t.render($0) }
                let types = try redis.withRetry(policy) { conn throws(RedisError) in try conn.types(names) }
                for i in nils.indices where types[i] != .none { results[i] = .wrongType }
            }
            let at = monotonicSeconds()
            let observed = results
            let missingNil = nils
            tally.missing += shared.withLock { s in
                var missing = 0
                for (i, k) in missingNil.enumerated() {
                    let current = s.shadow.maps[w][k]
                    if observed[i] == .missing && current != nil { missing += 1 }
                    s.engine.observe(watch: w, key: k, result: observed[i], at: at, current: current, replicaSince: replicaSince)
                }
                return missing
            }
        }
        let checked = tally.checked
        shared.withLock { $0.keysChecked += checked }
        metrics.recordReads(checked, trigger: trigger)
        return tally
    }
}

extension RedisKeyTemplate {
    /// Renders `key` into `out` (replacing its contents) as ``render(_:)`` does, without a String.
    func appendRendered(_ key: ShadowKey, to out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        for p in parts {
            switch p {
            case .literal(let s): out.append(contentsOf: s.utf8)
            case .column(let i):
                switch key {
                case .int(let v): Self.appendDecimal(v, to: &out)
                case .text(let s): out.append(contentsOf: s.utf8)
                case .composite(let parts): if i < parts.count { out.append(contentsOf: parts[i].utf8) }
                }
            }
        }
    }

    @inline(__always)
    static func appendDecimal(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(truncatingIfNeeded: m % 10) + UInt8(ascii: "0"))
            m /= 10
        } while m > 0
        out[start...].reverse()
    }
}
