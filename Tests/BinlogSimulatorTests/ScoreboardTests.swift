import Foundation
import Testing
import BinlogReconciler
@testable import BinlogSimulator

/// The scoreboard's definitions (docs/simulator.md) on small hand-made ground truths and reports;
/// the live sale itself is scored by scripts/flash-sale in scripts/test.
@Suite struct ScoreboardTests {
    let t0 = 1_780_000_000.0  // sale start, Unix seconds

    func sale() -> GroundTruthRecord {
        var r = GroundTruthRecord(record: "sale")
        r.at = SaleTime.format(t0)
        r.leadS = 2
        r.lagS = 1
        r.confirmS = 1
        r.sweepIntervalS = 5
        return r
    }

    func fault(_ id: String, _ kind: SaleFaultKind, key: Int?, at: Double, gapChanged: Bool = true) -> GroundTruthRecord {
        var r = GroundTruthRecord(record: "fault")
        r.id = id
        r.kind = kind
        r.key = key.map(String.init)
        r.effectiveAt = SaleTime.format(t0 + at)
        r.injectedAt = r.effectiveAt
        r.gapChanged = gapChanged
        return r
    }

    func changes(_ key: Int, _ times: [Double]) -> GroundTruthRecord {
        var r = GroundTruthRecord(record: "changes")
        r.key = String(key)
        r.times = times.map { t0 + $0 }
        return r
    }

    func differs(_ key: Int) -> GroundTruthRecord {
        var r = GroundTruthRecord(record: "differs")
        r.key = String(key)
        r.redis = "1"
        r.mysql = "2"
        return r
    }

    func divergence(_ key: Int, firstSeen: Double, detected: Double, kind: String = "redis_lower") -> ScoredReportRecord {
        ScoredReportRecord(event: "divergence", id: "stock|\(key)|\(firstSeen)", key: String(key), kind: kind, firstSeen: t0 + firstSeen, detectedAt: t0 + detected)
    }

    func resolved(_ key: Int, firstSeen: Double, detected: Double) -> ScoredReportRecord {
        ScoredReportRecord(event: "resolved", id: "stock|\(key)|\(firstSeen)", key: String(key), kind: "redis_lower", firstSeen: t0 + firstSeen, detectedAt: t0 + detected)
    }

    @Test func aQuietFaultFoundInTimePasses() throws {
        let truth = [sale(), fault("f01", .lostMySQLWrite, key: 7, at: 30), changes(7, [10, 30]), differs(7)]
        let board = try Scoreboard(truth: truth, report: [divergence(7, firstSeen: 30.01, detected: 33.02)])
        #expect(board.found == 1 && board.differing == 1 && board.recall == 1)
        let f = try #require(board.faults.first)
        #expect(f.quiet == true)
        #expect(abs((f.latency ?? 0) - 3.02) < 0.01)
        #expect(f.withinTarget == true)  // G + C + L + 1 = 5 s
        #expect(board.passed)
    }

    @Test func aQuietFaultReportedTooLateFails() throws {
        let truth = [sale(), fault("f01", .manualUpdate, key: 7, at: 30), changes(7, [30]), differs(7)]
        let board = try Scoreboard(truth: truth, report: [divergence(7, firstSeen: 31, detected: 35.5)])
        #expect(board.found == 1)
        #expect(board.faults.first?.withinTarget == false)
        #expect(board.late == 1)
        #expect(!board.passed)
    }

    @Test func aHotProductIsJudgedFromWhenItWentQuiet() throws {
        // Changes every 0.5 s until 40, then nothing: quiet from 40; deadline 40 + 4 + 5 = 49.
        let sells = stride(from: 20.0, through: 40.0, by: 0.5).map { $0 }
        let truth = [sale(), fault("f01", .staleWriteback, key: 3, at: 25), changes(3, sells), differs(3)]
        let inTime = try Scoreboard(truth: truth, report: [divergence(3, firstSeen: 44, detected: 48.9, kind: "redis_higher")])
        #expect(inTime.faults.first?.quiet == false)
        #expect(abs((inTime.faults.first?.deadline ?? 0) - (t0 + 49)) < 0.01)
        #expect(inTime.passed)
        let late = try Scoreboard(truth: truth, report: [divergence(3, firstSeen: 44, detected: 49.5, kind: "redis_higher")])
        #expect(!late.passed)
    }

    @Test func aDivergenceClosedByALaterResolvedIsNotFound() throws {
        let truth = [sale(), fault("f01", .evicted, key: 9, at: 30), changes(9, [30]), differs(9)]
        let board = try Scoreboard(truth: truth, report: [divergence(9, firstSeen: 30, detected: 33, kind: "missing"), resolved(9, firstSeen: 30, detected: 40)])
        #expect(board.found == 0)
        #expect(board.recall == 0)
        #expect(!board.passed)
    }

    @Test func falseAlarmsAndDuplicates() throws {
        let truth = [sale(), fault("f01", .lostRedisWrite, key: 5, at: 30), changes(5, [30]), differs(5)]
        let report = [
            divergence(5, firstSeen: 20, detected: 23),  // before the product's first fault
            divergence(5, firstSeen: 31, detected: 34),  // a second one while the first is open: duplicate
            divergence(6, firstSeen: 31, detected: 34),  // no fault touched product 6
        ]
        let board = try Scoreboard(truth: truth, report: report)
        #expect(board.falseAlarms.map(\.key).sorted() == ["5", "6"])
        #expect(board.duplicates == 1)
        #expect(!board.passed)
    }

    @Test func aDivergenceFirstSeenLessThanLBeforeItsFaultIsTheFaults() throws {
        // A restock of a hot product at 30 s: MySQL never takes the value Redis leads with at
        // 29.8 s, so the reconciler's observation then is inconsistent (decided at 29.8 + L).
        let truth = [sale(), fault("f01", .manualUpdate, key: 5, at: 30), changes(5, [29.5, 29.8, 30, 30.4]), differs(5)]
        let board = try Scoreboard(truth: truth, report: [divergence(5, firstSeen: 29.8, detected: 33)])
        #expect(board.falseAlarms.isEmpty && board.found == 1)
        let early = try Scoreboard(truth: truth, report: [divergence(5, firstSeen: 27.9, detected: 33)])  // more than L = 2 s before
        #expect(early.falseAlarms.map(\.key) == ["5"] && !early.passed)
    }

    @Test func theRedisRestartTouchesEveryProductAndIsFoundByItsSummary() throws {
        let truth = [sale(), fault("f01", .redisRestart, key: nil, at: 10)]
        let report = [
            ScoredReportRecord(event: "summary", id: nil, key: nil, kind: nil, firstSeen: nil, detectedAt: t0 + 10.6, reason: "redis_restart", keys: 100),
            divergence(42, firstSeen: 10.1, detected: 14, kind: "missing"),
            resolved(42, firstSeen: 10.1, detected: 21),
        ]
        let board = try Scoreboard(truth: truth, report: report)
        #expect(board.restartFound)
        #expect(abs((board.restartLatency ?? 0) - 0.6) < 0.01)
        #expect(board.falseAlarms.isEmpty)
        #expect(board.passed)
        let missed = try Scoreboard(truth: truth, report: Array(report.dropFirst()))
        #expect(!missed.restartFound && !missed.passed)
    }

    @Test func onlyTheLastEffectiveFaultOfAProductIsScored() throws {
        let truth = [
            sale(), fault("f01", .evicted, key: 8, at: 20), fault("f02", .staleWriteback, key: 8, at: 30, gapChanged: false),
            fault("f03", .manualUpdate, key: 8, at: 40), changes(8, [20, 30, 40]), differs(8),
        ]
        let report = [divergence(8, firstSeen: 20, detected: 23, kind: "missing"), resolved(8, firstSeen: 20, detected: 31), divergence(8, firstSeen: 41, detected: 44)]
        let board = try Scoreboard(truth: truth, report: report)
        #expect(board.faults.filter(\.inFinalDiff).map(\.id) == ["f03"])
        #expect(board.found == 1 && board.passed)
    }

    @Test func reportFilesAreReadAndBadLinesNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("br-score-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("r.jsonl").path
        try """
            {"event":"summary","reason":"redis_restart","watch":"stock","keys":3,"detected_at":"2026-11-25T16:38:16.344Z"}
            {"id":"stock|7|x","event":"divergence","watch":"stock","key":"7","kind":"missing","first_seen":"2026-11-25T16:38:13.731Z","detected_at":"2026-11-25T16:38:18.324Z"}

            """.write(toFile: good, atomically: true, encoding: .utf8)
        let records = try ScoredReportRecord.read(path: good)
        #expect(records.map(\.event) == ["summary", "divergence"])
        #expect(records[1].detectedAt == SaleTime.parse("2026-11-25T16:38:18.324Z"))
        let bad = dir.appendingPathComponent("bad.jsonl").path
        try "{\"event\":\"divergence\",\"detected_at\":\"2026-11-25T16:38:18.324Z\"}\nnot json\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try ScoredReportRecord.read(path: bad) }
        do { _ = try ScoredReportRecord.read(path: bad) } catch { #expect(error.description.contains("line 2")) }
    }

    @Test func timesRoundTrip() {
        for t in [0.0, 1_780_000_000.123, 1_764_087_496.5, 951_782_400.001] {
            #expect(abs((SaleTime.parse(SaleTime.format(t)) ?? -1) - t) < 0.0006)
        }
        #expect(SaleTime.parse("2026-11-25T16:38:18Z") == SaleTime.parse("2026-11-25T16:38:18.000Z"))
        #expect(SaleTime.parse("yesterday") == nil)
    }

    /// A Redis Cluster or Sentinel event of the ground truth (`reshard`, `failover`, `sentinel_failover`).
    func topologyEvent(_ kind: String, from: Double, to: Double, nodes: [String]) -> GroundTruthRecord {
        var r = GroundTruthRecord(record: kind)
        r.at = SaleTime.format(t0 + from)
        r.endedAt = SaleTime.format(t0 + to)
        r.nodes = nodes
        return r
    }

    /// A sale of 30 s (first and last sample) with `events`, and fault f01 (evicted) on product 3 at 12 s.
    func saleTruth(_ events: [GroundTruthRecord]) -> [GroundTruthRecord] {
        var first = GroundTruthRecord(record: "sample"), last = GroundTruthRecord(record: "sample")
        first.t = t0
        last.t = t0 + 30
        return [sale(), first] + events + [fault("f01", .evicted, key: 3, at: 12), changes(3, [12]), differs(3), last]
    }

    @Test func clusterEventsAreShownAndADivergenceTheyCauseIsAFalseAlarm() throws {
        let reshard = topologyEvent("reshard", from: 10, to: 14, nodes: ["127.0.0.1:27100", "127.0.0.1:27101"])
        let failover = topologyEvent("failover", from: 20, to: 21.5, nodes: ["127.0.0.1:27104", "127.0.0.1:27101"])
        let truth = saleTruth([failover, reshard])
        let report = [divergence(3, firstSeen: 12.1, detected: 13)]
        let board = try Scoreboard(truth: truth, report: report)
        #expect(board.clusterEvents.map(\.kind) == ["reshard", "failover"])
        #expect(board.clusterEvents.first?.nodes == ["127.0.0.1:27100", "127.0.0.1:27101"])
        #expect(board.passed)
        let lines = board.jsonLines()
        #expect(lines.filter { $0.contains("\"record\":\"cluster_event\"") }.count == 2)
        #expect(board.table().contains("cluster failover at") && board.table().contains("(1.5 s)"))
        let page = SaleHTMLReport.render(truth: truth, report: report, scoreboard: board)
        #expect(page.contains("Redis Cluster events") && page.contains("<title>failover</title>"))
        // A divergence on a product no fault touched, during the reshard: a false alarm.
        let alarm = try Scoreboard(truth: truth, report: report + [divergence(9, firstSeen: 11, detected: 12.5)])
        #expect(alarm.falseAlarms.map(\.key) == ["9"])
        #expect(!alarm.passed)
    }

    @Test func aSentinelFailoverIsShownAndADivergenceItCausesIsAFalseAlarm() throws {
        let truth = saleTruth([topologyEvent("sentinel_failover", from: 15, to: 16.3, nodes: ["127.0.0.1:27300", "127.0.0.1:27301"])])
        let report = [divergence(3, firstSeen: 12.1, detected: 13)]
        let board = try Scoreboard(truth: truth, report: report)
        #expect(board.clusterEvents.map(\.kind) == ["sentinel_failover"])
        #expect(board.passed)
        #expect(board.table().contains("Sentinel failover at") && board.table().contains("(1.3 s): 127.0.0.1:27300 127.0.0.1:27301"))
        let page = SaleHTMLReport.render(truth: truth, report: report, scoreboard: board)
        #expect(page.contains("Redis Sentinel events") && page.contains("<title>sentinel_failover</title>"))
        let alarm = try Scoreboard(truth: truth, report: report + [divergence(9, firstSeen: 15.5, detected: 16)])
        #expect(alarm.falseAlarms.map(\.key) == ["9"])
        #expect(!alarm.passed)
    }

    @Test func theClusterEventsOutputNamesItsNodes() {
        let text = "[redis-cluster] CLUSTER FAILOVER on 127.0.0.1:27104 (replica of 127.0.0.1:27101)\n[redis-cluster] 127.0.0.1:27104 is the master now; 127.0.0.1:27101 its replica\n27104\n"
        #expect(FlashSale.addresses(in: text) == ["127.0.0.1:27104", "127.0.0.1:27101"])
        #expect(FlashSale.addresses(in: "at 20:31:02 nothing") == [])
    }
}

@Suite struct SalePlanTests {
    @Test func theSameSeedGivesTheSameSaleAndAnotherSeedAnother() throws {
        var o = FlashSaleOptions()
        o.products = 500
        o.orders = 50_000
        o.faults = 10
        o.redisRestartCommand = "true"
        let a = try SalePlan(o), b = try SalePlan(o)
        #expect(a.byRank == b.byRank && a.initialStock == b.initialStock)
        #expect(a.faults.map(\.atOrder) == b.faults.map(\.atOrder))
        #expect(a.faults.map(\.kind) == b.faults.map(\.kind))
        #expect(a.faults.map(\.candidates) == b.faults.map(\.candidates))
        o.seed = 2
        let c = try SalePlan(o)
        #expect(c.byRank != a.byRank)
        // One restart first, then every other kind at least once; all inside the sale.
        #expect(a.faults.first?.kind == .redisRestart)
        #expect(Set(a.faults.dropFirst().map(\.kind)) == Set(SaleFaultKind.allCases.filter { $0 != .redisRestart }))
        #expect(a.faults.allSatisfy { $0.atOrder > 0 && $0.atOrder < o.orders })
        #expect(a.initialStock.allSatisfy { o.stockRange.contains($0) })
    }

    @Test func aClusterSaleHasNoRedisRestart() throws {
        var o = FlashSaleOptions()
        o.orders = 30_000
        o.faults = 8
        o.redisRestartCommand = "true"
        #expect(try SalePlan(o).faults.contains { $0.kind == .redisRestart })
        o.clusterSeeds = [.tcp(host: "127.0.0.1", port: 27100)]
        let plan = try SalePlan(o)
        #expect(plan.faults.count == 8 && !plan.faults.contains { $0.kind == .redisRestart })
    }

    @Test func aSaleTooShortForItsFaultsIsRefused() {
        var o = FlashSaleOptions()
        o.orders = 5_000
        o.ordersPerSecond = 1000
        o.redisRestartCommand = "true"
        #expect(throws: FlashSaleError.self) { try SalePlan(o) }
    }

    @Test func zipfPopularityFavoursTheFirstRanks() {
        let z = ZipfSampler(count: 1000, exponent: 1.1)
        var rng = SaleRandom(seed: 9)
        var counts = [Int](repeating: 0, count: 1000)
        for _ in 0..<100_000 { counts[z.sample(&rng)] += 1 }
        #expect(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[500])
        // The most popular product gets close to its probability.
        #expect(abs(Double(counts[0]) / 100_000 - z.weight(0)) < 0.01)
    }
}
