import BinlogReconciler
import Foundation

/// One record of the reconciler's report, as the scoreboard needs it (read back from JSON lines).
public struct ScoredReportRecord: Sendable {
    public var event: String
    public var id: String?
    public var key: String?
    public var kind: String?
    public var firstSeen: Double?
    public var detectedAt: Double
    public var reason: String?
    public var keys: Int?

    public init(event: String, id: String?, key: String?, kind: String?, firstSeen: Double?, detectedAt: Double, reason: String? = nil, keys: Int? = nil) {
        self.event = event
        self.id = id
        self.key = key
        self.kind = kind
        self.firstSeen = firstSeen
        self.detectedAt = detectedAt
        self.reason = reason
        self.keys = keys
    }

    /// Reads a report file (JSON lines, the contract of docs/reconcile.md). Lines that are not
    /// JSON objects with an `event` are an error naming the line.
    public static func read(path: String) throws(ConfigurationError) -> [ScoredReportRecord] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigurationError("report file \(path): \(error.localizedDescription)")
        }
        var out: [ScoredReportRecord] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], let event = obj["event"] as? String else {
                throw ConfigurationError("report file \(path), line \(n + 1): not a report record")
            }
            let detected = (obj["detected_at"] as? String).flatMap(SaleTime.parse)
            guard let detectedAt = detected else {
                throw ConfigurationError("report file \(path), line \(n + 1): no detected_at")
            }
            out.append(
                ScoredReportRecord(
                    event: event, id: obj["id"] as? String, key: obj["key"] as? String, kind: obj["kind"] as? String,
                    firstSeen: (obj["first_seen"] as? String).flatMap(SaleTime.parse), detectedAt: detectedAt,
                    reason: obj["reason"] as? String, keys: obj["keys"] as? Int))
        }
        return out
    }
}

/// The flash-sale scoreboard, computed from the ground truth and the report. The
/// definitions (docs/simulator.md) in short:
///
/// - D: the products whose Redis and MySQL values differ at the end.
/// - A product of D is found when a `divergence` for it is detected after its last effective fault
///   and no later `resolved` closes it (a later `repaired` counts as found). Recall = found / |D|.
/// - A false alarm: a `divergence` for a product no fault changed, or first seen more than L before
///   the product's first fault (the Redis restart changes every product).
/// - A duplicate: a second `divergence` for a key that is already open.
/// - Latency: detected_at − the product's last effective fault. Quiet: no change on either side
///   within G + L before and after the fault. Target: ≤ G + C + L + 1 s when quiet; otherwise
///   detected by G + C + L + one sweep interval after the product went quiet (the first moment
///   after the fault followed by G + L without change).
/// - The Redis restart is found when a `summary` record follows it; its keys are left out of the
///   latency figures.
public struct Scoreboard: Sendable {
    public struct FaultScore: Sendable {
        public var id: String
        public var kind: SaleFaultKind
        public var key: String?
        public var effectiveAt: Double
        public var gapChanged: Bool
        /// The product differs at the end and this is its last effective fault.
        public var inFinalDiff: Bool
        public var found: Bool
        public var detectedAt: Double?
        public var reportedKind: String?
        public var latency: Double?
        public var quiet: Bool?
        public var deadline: Double?
        public var withinTarget: Bool?
        public var note: String?
    }

    public struct FalseAlarm: Sendable {
        public var key: String
        public var id: String?
        public var kind: String?
        public var detectedAt: Double
        public var why: String
    }

    public var faults: [FaultScore] = []
    public var falseAlarms: [FalseAlarm] = []
    public var duplicates = 0
    public var duplicateKeys: [String] = []
    public var differing = 0
    public var found = 0
    /// Products of D that no fault explains (e.g. an anomaly); they still count in recall.
    public var unexplained: [String] = []
    public var latencies: [Double] = []
    public var restartInjected = false
    public var restartFound = false
    public var restartLatency: Double?
    /// The Redis Cluster's reshards and failovers during the sale (not scored).
    public var clusterEvents: [SaleClusterEvent] = []
    public var recall: Double { differing == 0 ? 1 : Double(found) / Double(differing) }
    public var late: Int { faults.count(where: { $0.inFinalDiff && $0.withinTarget == false }) }
    public var passed: Bool {
        found == differing && falseAlarms.isEmpty && duplicates == 0 && late == 0 && (!restartInjected || restartFound)
    }

    public static func percentile(_ xs: [Double], _ p: Double) -> Double? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        let rank = Int((p / 100 * Double(s.count)).rounded(.up))
        return s[max(0, min(s.count - 1, rank - 1))]
    }

    public init(truth: [GroundTruthRecord], report: [ScoredReportRecord]) throws(ConfigurationError) {
        guard let sale = truth.first(where: { $0.record == "sale" }) else { throw ConfigurationError("ground truth has no `sale` record") }
        clusterEvents = SaleClusterEvent.all(in: truth)
        let g = sale.lagS ?? 1, l = sale.leadS ?? 2, c = sale.confirmS ?? 1, sweep = sale.sweepIntervalS ?? 30
        let d = Set(truth.filter { $0.record == "differs" }.compactMap(\.key))
        differing = d.count
        var changes: [String: [Double]] = [:]
        for r in truth where r.record == "changes" { if let k = r.key { changes[k] = r.times ?? [] } }
        let faultRecords = truth.filter { $0.record == "fault" }
        let restart = faultRecords.first { $0.kind == .redisRestart }
        let restartAt = restart?.effectiveAt.flatMap(SaleTime.parse)
        restartInjected = restart != nil

        // Per product: its faults in time order.
        var byKey: [String: [GroundTruthRecord]] = [:]
        for f in faultRecords where f.kind != .redisRestart { if let k = f.key { byKey[k, default: []].append(f) } }
        for k in byKey.keys { byKey[k]!.sort { (SaleTime.parse($0.effectiveAt ?? "") ?? 0) < (SaleTime.parse($1.effectiveAt ?? "") ?? 0) } }

        // Report records by key, in detection order.
        let records = report.sorted { $0.detectedAt < $1.detectedAt }
        var recordsByKey: [String: [ScoredReportRecord]] = [:]
        for r in records where r.event != "summary" { if let k = r.key { recordsByKey[k, default: []].append(r) } }

        // Duplicates: a divergence for a key that is already open.
        for (k, rs) in recordsByKey {
            var open = false
            for r in rs {
                switch r.event {
                case "divergence":
                    if open {
                        duplicates += 1
                        duplicateKeys.append(k)
                    }
                    open = true
                case "resolved", "repaired": open = false
                default: break
                }
            }
        }

        // False alarms.
        for r in records where r.event == "divergence" {
            guard let k = r.key else { continue }
            let dated = r.firstSeen ?? r.detectedAt
            var firstFault = byKey[k]?.compactMap { SaleTime.parse($0.effectiveAt ?? "") }.min()
            if let restartAt { firstFault = min(firstFault ?? restartAt, restartAt) }
            if let ff = firstFault {
                // The reconciler decides an observation at t against the values MySQL takes up to
                // t + L: a fault that makes MySQL skip the value Redis leads with (a restock of a hot
                // product) makes an observation up to L before it inconsistent.
                if dated < ff - l { falseAlarms.append(FalseAlarm(key: k, id: r.id, kind: r.kind, detectedAt: r.detectedAt, why: "first seen more than L before the product's first fault")) }
            } else {
                falseAlarms.append(FalseAlarm(key: k, id: r.id, kind: r.kind, detectedAt: r.detectedAt, why: "no fault changed this product"))
            }
        }

        // Each fault.
        for f in faultRecords {
            guard let kind = f.kind, let eff = f.effectiveAt.flatMap(SaleTime.parse) else { continue }
            var s = FaultScore(id: f.id ?? "?", kind: kind, key: f.key, effectiveAt: eff, gapChanged: f.gapChanged ?? false, inFinalDiff: false, found: false)
            if kind == .redisRestart {
                if let summary = records.first(where: { $0.event == "summary" && $0.detectedAt >= eff }) {
                    s.found = true
                    s.detectedAt = summary.detectedAt
                    s.latency = summary.detectedAt - eff
                    s.reportedKind = summary.reason
                    restartFound = true
                    restartLatency = s.latency
                }
                s.note = "found when a summary record follows it; its keys are left out of the latency figures"
                faults.append(s)
                continue
            }
            guard let k = f.key else { continue }
            let lastEffective = byKey[k]?.last(where: { $0.gapChanged == true })
            s.inFinalDiff = d.contains(k) && lastEffective?.id == f.id
            if d.contains(k) && lastEffective?.id != f.id { s.note = "a later fault on the same product is the one scored" }
            if !d.contains(k) { s.note = f.gapChanged == true ? "the product agrees at the end" : "the fault did not change the Redis−MySQL gap" }
            // The first divergence detected after the fault that no later resolved closes.
            let rs = recordsByKey[k] ?? []
            for (i, r) in rs.enumerated() where r.event == "divergence" && r.detectedAt >= eff {
                let closed = rs[(i + 1)...].contains { $0.event == "resolved" && ($0.id == r.id || $0.id == nil) }
                if !closed || !s.inFinalDiff {
                    s.found = !closed
                    s.detectedAt = r.detectedAt
                    s.reportedKind = r.kind
                    s.latency = r.detectedAt - eff
                    break
                }
            }
            // Quiet or not, and the deadline.
            let times = (changes[k] ?? []).filter { abs($0 - eff) > 0.005 }
            let window = g + l
            let quiet = !times.contains { abs($0 - eff) <= window }
            s.quiet = quiet
            if quiet {
                s.deadline = eff + g + c + l + 1
            } else {
                var quietSince = eff
                for t in times.sorted() where t > eff {
                    if t - quietSince > window { break }
                    quietSince = t
                }
                s.deadline = quietSince + g + c + l + sweep
            }
            if s.inFinalDiff {
                if s.found { found += 1 }
                if let at = s.detectedAt, let deadline = s.deadline, s.found {
                    s.withinTarget = at <= deadline + 0.0005
                    if let lat = s.latency { latencies.append(lat) }
                } else {
                    s.withinTarget = false
                }
            }
            faults.append(s)
        }
        let explained = Set(faults.filter(\.inFinalDiff).compactMap(\.key))
        unexplained = d.subtracting(explained).sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
        for k in unexplained {
            // Found if an open divergence exists for it at the end.
            let rs = recordsByKey[k] ?? []
            if let last = rs.last(where: { $0.event != "summary" }), last.event == "divergence" || last.event == "repaired" { found += 1 }
        }
    }

    // MARK: Output

    /// The scoreboard as JSON lines: one `fault` line per fault, one `false_alarm` line each, then `score`.
    public func jsonLines() -> [String] {
        func obj(_ pairs: [(String, Any?)]) -> String {
            var dict: [String: Any] = [:]
            for (k, v) in pairs { dict[k] = v ?? NSNull() }
            let data = (try? JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        func ms(_ x: Double?) -> Any? { x.map { ($0 * 1000).rounded() / 1000 } }
        var out: [String] = []
        for f in faults {
            out.append(obj([
                ("record", "fault"), ("id", f.id), ("kind", f.kind.rawValue), ("key", f.key), ("effective_at", SaleTime.format(f.effectiveAt)),
                ("in_final_diff", f.inFinalDiff), ("found", f.found), ("detected_at", f.detectedAt.map(SaleTime.format)), ("reported_kind", f.reportedKind),
                ("latency_s", ms(f.latency)), ("quiet", f.quiet), ("deadline", f.deadline.map(SaleTime.format)), ("within_target", f.withinTarget), ("note", f.note),
            ]))
        }
        for a in falseAlarms {
            out.append(obj([("record", "false_alarm"), ("key", a.key), ("id", a.id), ("kind", a.kind), ("detected_at", SaleTime.format(a.detectedAt)), ("why", a.why)]))
        }
        for e in clusterEvents {
            out.append(obj([
                ("record", "cluster_event"), ("kind", e.kind), ("at", SaleTime.format(e.at)), ("ended_at", e.endedAt.map(SaleTime.format)),
                ("nodes", e.nodes), ("detail", e.detail),
            ]))
        }
        out.append(obj([
            ("record", "score"), ("differing", differing), ("found", found), ("recall", (recall * 10000).rounded() / 10000),
            ("false_alarms", falseAlarms.count), ("duplicates", duplicates), ("late", late), ("unexplained", unexplained),
            ("latency_p50_s", ms(Self.percentile(latencies, 50))), ("latency_p99_s", ms(Self.percentile(latencies, 99))),
            ("latency_max_s", ms(latencies.max())), ("restart_injected", restartInjected), ("restart_found", restartFound),
            ("restart_summary_after_s", ms(restartLatency)), ("passed", passed),
        ]))
        return out
    }

    /// A table for people.
    public func table() -> String {
        func f(_ x: Double?, _ digits: Int = 2) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        func time(_ x: Double?) -> String { x.map { String(SaleTime.format($0).dropFirst(11).dropLast()) } ?? "-" }
        var lines: [String] = []
        lines.append("fault  kind              product  injected at   reported at   latency  quiet  target   verdict")
        for s in faults.sorted(by: { $0.effectiveAt < $1.effectiveAt }) {
            let verdict: String
            if s.kind == .redisRestart {
                verdict = s.found ? "found (summary)" : "MISSED"
            } else if s.inFinalDiff {
                verdict = !s.found ? "MISSED" : s.withinTarget == true ? "found" : "LATE"
            } else {
                verdict = "not scored: \(s.note ?? "")"
            }
            let target = s.deadline.map { f($0 - s.effectiveAt, 1) + " s" } ?? "-"
            lines.append(
                s.id.padding(toLength: 7, withPad: " ", startingAt: 0) + s.kind.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + (s.key ?? "all").padding(toLength: 9, withPad: " ", startingAt: 0) + time(s.effectiveAt).padding(toLength: 14, withPad: " ", startingAt: 0)
                    + time(s.detectedAt).padding(toLength: 14, withPad: " ", startingAt: 0) + (f(s.latency) + " s").padding(toLength: 9, withPad: " ", startingAt: 0)
                    + (s.quiet.map { $0 ? "yes" : "no" } ?? "-").padding(toLength: 7, withPad: " ", startingAt: 0)
                    + target.padding(toLength: 9, withPad: " ", startingAt: 0) + verdict)
        }
        for e in clusterEvents { lines.append(e.tableLine) }
        for a in falseAlarms { lines.append("FALSE ALARM: product \(a.key) (\(a.kind ?? "?")) at \(time(a.detectedAt)): \(a.why)") }
        lines.append("")
        lines.append(
            "recall \(found)/\(differing) = \(f(recall * 100, 1)) %, false alarms \(falseAlarms.count), duplicates \(duplicates), late \(late), "
                + "latency p50 \(f(Self.percentile(latencies, 50))) s, p99 \(f(Self.percentile(latencies, 99))) s"
                + (restartInjected ? ", Redis restart \(restartFound ? "found (summary after \(f(restartLatency)) s)" : "MISSED")" : "")
                + (unexplained.isEmpty ? "" : ", differing without a fault: \(unexplained.joined(separator: " "))"))
        lines.append(passed ? "PASS" : "FAIL")
        return lines.joined(separator: "\n")
    }
}
