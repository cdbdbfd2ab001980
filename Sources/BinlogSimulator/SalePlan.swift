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
        let restart = o.kinds.contains(.redisRestart) && o.redisRestartCommand != nil && o.clusterSeeds.isEmpty && o.sentinel == nil && o.faults > 0
        var others = o.kinds.filter { $0 != .redisRestart }
        let remaining = o.faults - (restart ? 1 : 0)
        if remaining > 0 && others.isEmpty { throw FlashSaleError("no fault kind left to inject (only redis_restart, and no --redis-restart-command or a Redis Cluster)") }
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
