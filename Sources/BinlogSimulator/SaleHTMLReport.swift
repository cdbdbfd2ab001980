import BinlogReconciler
import Foundation

/// A self-contained HTML page (inline SVG and CSS, no script, no network) with the sale's charts:
/// stock over time in MySQL and in Redis for the hottest and the faulted products with fault and
/// divergence markers, the MySQL backlog (how far Redis leads) over time, and the scoreboard.
public enum SaleHTMLReport {
    public static func render(truth: [GroundTruthRecord], report: [ScoredReportRecord], scoreboard: Scoreboard) -> String {
        let sale = truth.first { $0.record == "sale" }
        let samples = truth.filter { $0.record == "sample" }
        let t0 = samples.first?.t ?? sale?.at.flatMap(SaleTime.parse) ?? 0
        let tEnd = max(samples.last?.t ?? t0 + 1, t0 + 1)
        let hot = sale?.hotKeys ?? []
        let faults = truth.filter { $0.record == "fault" }
        let restart = faults.first { $0.kind == .redisRestart }
        let restartAt = restart?.effectiveAt.flatMap(SaleTime.parse)
        let reloadAt = truth.first { $0.record == "reload" }?.at.flatMap(SaleTime.parse)
        let lead = sale?.leadS ?? 2

        var charted: [Int] = hot
        for f in faults { if let k = f.key.flatMap({ Int($0) }), !charted.contains(k) { charted.append(k) } }

        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>binlog-reconciler flash-sale report</title>
            <style>
            body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;background:#fff}
            h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .sub{color:#5a6270;margin:0 0 16px}
            table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #d5d9e0;padding:3px 8px;text-align:left}
            th{background:#f2f4f7} .pass{color:#16803c;font-weight:600} .fail{color:#b42318;font-weight:600}
            .grid{display:flex;flex-wrap:wrap;gap:12px} .card{border:1px solid #e3e6eb;border-radius:6px;padding:6px}
            .legend span{display:inline-block;margin-right:14px;font-size:13px} .sw{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
            svg text{font-size:10px;fill:#5a6270}
            </style></head><body>
            <h1>Flash sale: binlog-reconciler scoreboard</h1>

            """
        let s = scoreboard
        let p50 = Scoreboard.percentile(s.latencies, 50).map { String(format: "%.2f s", $0) } ?? "-"
        let p99 = Scoreboard.percentile(s.latencies, 99).map { String(format: "%.2f s", $0) } ?? "-"
        html += "<p class=\"sub\">seed \(sale?.seed ?? 0), \(sale?.products ?? 0) products, \(sale?.orders ?? 0) orders at \(Int(sale?.ordersPerSecond ?? 0))/s, "
        html += "L = \(fmt(sale?.leadS)) s, G = \(fmt(sale?.lagS)) s, C = \(fmt(sale?.confirmS)) s, sweep every \(fmt(sale?.sweepIntervalS)) s; started \(esc(sale?.at ?? ""))</p>\n"
        html += "<p><span class=\"\(s.passed ? "pass" : "fail")\">\(s.passed ? "PASS" : "FAIL")</span> — recall \(s.found)/\(s.differing), "
        html += "false alarms \(s.falseAlarms.count), duplicates \(s.duplicates), late \(s.late), latency p50 \(p50), p99 \(p99)"
        if s.restartInjected { html += ", Redis restart \(s.restartFound ? "found" : "missed")" }
        html += "</p>\n"

        html += "<h2>Faults</h2>\n<table><tr><th>fault</th><th>kind</th><th>product</th><th>effective at</th><th>reported at</th><th>latency</th><th>quiet</th><th>target</th><th>verdict</th></tr>\n"
        for f in s.faults.sorted(by: { $0.effectiveAt < $1.effectiveAt }) {
            let verdict: String
            if f.kind == .redisRestart { verdict = f.found ? "found (summary)" : "<span class=\"fail\">missed</span>" } else if f.inFinalDiff {
                verdict = !f.found ? "<span class=\"fail\">missed</span>" : f.withinTarget == true ? "<span class=\"pass\">found</span>" : "<span class=\"fail\">late</span>"
            } else { verdict = "not scored: " + esc(f.note ?? "") }
            html += "<tr><td>\(esc(f.id))</td><td>\(f.kind.rawValue)</td><td>\(esc(f.key ?? "all"))</td><td>\(clock(f.effectiveAt))</td><td>\(f.detectedAt.map(clock) ?? "-")</td>"
            html += "<td>\(f.latency.map { String(format: "%.2f s", $0) } ?? "-")</td><td>\(f.quiet.map { $0 ? "yes" : "no" } ?? "-")</td>"
            html += "<td>\(f.deadline.map { String(format: "%.1f s", $0 - f.effectiveAt) } ?? "-")</td><td>\(verdict)</td></tr>\n"
        }
        html += "</table>\n"
        if !s.clusterEvents.isEmpty {
            let topology = s.clusterEvents.allSatisfy { $0.kind == "sentinel_failover" } ? "Redis Sentinel" : "Redis Cluster"
            html += "<h2>\(topology) events (no fault: a divergence reported for them is a false alarm)</h2>\n<table><tr><th>event</th><th>started</th><th>ended</th><th>nodes</th><th>detail</th></tr>\n"
            for e in s.clusterEvents {
                html += "<tr><td>\(esc(e.kind))</td><td>\(clock(e.at))</td><td>\(e.endedAt.map(clock) ?? "-")</td><td>\(esc(e.nodes.joined(separator: " ")))</td><td>\(esc(e.detail ?? ""))</td></tr>\n"
            }
            html += "</table>\n"
        }
        if !s.falseAlarms.isEmpty {
            html += "<h2>False alarms</h2><table><tr><th>product</th><th>kind</th><th>detected</th><th>why</th></tr>"
            for a in s.falseAlarms { html += "<tr><td>\(esc(a.key))</td><td>\(esc(a.kind ?? ""))</td><td>\(clock(a.detectedAt))</td><td>\(esc(a.why))</td></tr>" }
            html += "</table>\n"
        }

        html += "<h2>Redis lead over MySQL (orders pre-deducted in Redis, not yet committed in MySQL)</h2>\n"
        html += leadChart(samples: samples, t0: t0, tEnd: tEnd, lead: lead, restart: restartAt, reload: reloadAt, clusterEvents: s.clusterEvents)

        html += "<h2>Stock over time, MySQL and Redis</h2>\n"
        html += "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#2563eb\"></i>MySQL</span><span><i class=\"sw\" style=\"background:#ea580c\"></i>Redis</span>"
        html += "<span><i class=\"sw\" style=\"background:#111\"></i>fault</span><span><i class=\"sw\" style=\"background:#dc2626\"></i>divergence reported</span>"
        html += "<span><i class=\"sw\" style=\"background:#16a34a\"></i>resolved</span><span><i class=\"sw\" style=\"background:#cbd5e1;height:8px\"></i>Redis down / reloading</span></p>\n<div class=\"grid\">\n"
        var reportByKey: [String: [ScoredReportRecord]] = [:]
        for r in report { if let k = r.key { reportByKey[k, default: []].append(r) } }
        for k in charted {
            let key = String(k)
            let series = samples.compactMap { smp -> (Double, Int?, Int)? in
                guard let t = smp.t, let v = smp.values?.first(where: { $0.key == k }) else { return nil }
                return (t, v.redis, v.mysql)
            }
            guard !series.isEmpty else { continue }
            let faultTimes = faults.filter { $0.key == key }.compactMap { f in f.effectiveAt.flatMap(SaleTime.parse).map { ($0, f.kind?.rawValue ?? "") } }
            let title = "product \(k)" + (hot.contains(k) ? " (popularity #\((hot.firstIndex(of: k) ?? 0) + 1))" : "") + (faultTimes.isEmpty ? "" : " — " + faultTimes.map(\.1).joined(separator: ", "))
            html += "<div class=\"card\">" + stockChart(title: title, series: series, t0: t0, tEnd: tEnd, faults: faultTimes.map(\.0), records: reportByKey[key] ?? [], restart: restartAt, reload: reloadAt) + "</div>\n"
        }
        html += "</div>\n<p class=\"sub\">Generated by binlog-reconciler simulate from the ground-truth log and the reconciler's report.</p>\n</body></html>\n"
        return html
    }

    private static func fmt(_ x: Double?) -> String { x.map { $0 == $0.rounded() ? String(Int($0)) : String($0) } ?? "?" }
    private static func clock(_ t: Double) -> String { String(SaleTime.format(t).dropFirst(11).dropLast()) }
    private static func esc(_ s: String) -> String {
        s.replacing("&", with: "&amp;").replacing("<", with: "&lt;").replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
    }

    private struct Frame {
        var w = 430.0
        let h = 170.0, left = 44.0, right = 10.0, top = 20.0, bottom = 22.0
        let t0: Double, tEnd: Double, yMax: Double
        init(w: Double = 430, t0: Double, tEnd: Double, yMax: Double) {
            self.w = w
            self.t0 = t0
            self.tEnd = tEnd
            self.yMax = yMax
        }
        func x(_ t: Double) -> Double { left + (t - t0) / (tEnd - t0) * (w - left - right) }
        func y(_ v: Double) -> Double { top + (1 - v / yMax) * (h - top - bottom) }
    }

    private static func axes(_ f: Frame, title: String, yLabel: String) -> String {
        var s = "<text x=\"\(f.left)\" y=\"12\" style=\"font-size:11px;fill:#1d2330\">\(esc(title))</text>"
        s += "<line x1=\"\(f.left)\" y1=\"\(f.y(0))\" x2=\"\(f.w - f.right)\" y2=\"\(f.y(0))\" stroke=\"#9aa3af\"/>"
        s += "<line x1=\"\(f.left)\" y1=\"\(f.top)\" x2=\"\(f.left)\" y2=\"\(f.y(0))\" stroke=\"#9aa3af\"/>"
        for i in 0...4 {
            let v = f.yMax * Double(i) / 4
            s += "<text x=\"\(f.left - 4)\" y=\"\(r(f.y(v)) + 3)\" text-anchor=\"end\">\(yLabel == "s" ? String(format: "%.1f", v) : String(Int(v.rounded())))</text>"
        }
        let span = f.tEnd - f.t0
        let step = [1.0, 2, 5, 10, 15, 30, 60, 120, 300, 600].first { span / $0 <= 8 } ?? 1200
        var t = 0.0
        while t <= span {
            s += "<text x=\"\(r(f.x(f.t0 + t)))\" y=\"\(f.h - 6)\" text-anchor=\"middle\">\(Int(t))s</text>"
            t += step
        }
        return s
    }

    private static func r(_ x: Double) -> Double { (x * 10).rounded() / 10 }

    private static func band(_ f: Frame, restart: Double?, reload: Double?) -> String {
        guard let a = restart else { return "" }
        let b = reload ?? a + 1
        return "<rect x=\"\(r(f.x(a)))\" y=\"\(f.top)\" width=\"\(r(max(1, f.x(b) - f.x(a))))\" height=\"\(r(f.y(0) - f.top))\" fill=\"#cbd5e1\" opacity=\"0.6\"/>"
    }

    private static func stepPath(_ f: Frame, _ points: [(Double, Double?)]) -> String {
        var d = ""
        var pen = false
        for (t, v) in points {
            guard let v else {
                pen = false
                continue
            }
            let x = r(f.x(t)), y = r(f.y(v))
            d += pen ? "H\(x)V\(y)" : "M\(x),\(y)"
            pen = true
        }
        return d
    }

    private static func stockChart(title: String, series: [(Double, Int?, Int)], t0: Double, tEnd: Double, faults: [Double], records: [ScoredReportRecord], restart: Double?, reload: Double?) -> String {
        let yMax = max(1, Double(series.map { max($0.1 ?? 0, $0.2) }.max() ?? 1)) * 1.08
        let f = Frame(t0: t0, tEnd: tEnd, yMax: yMax)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(f.w))\" height=\"\(Int(f.h))\" viewBox=\"0 0 \(Int(f.w)) \(Int(f.h))\">"
        s += band(f, restart: restart, reload: reload)
        s += axes(f, title: title, yLabel: "")
        s += "<path d=\"\(stepPath(f, series.map { ($0.0, Double($0.2)) }))\" fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.6\"/>"
        s += "<path d=\"\(stepPath(f, series.map { ($0.0, $0.1.map(Double.init)) }))\" fill=\"none\" stroke=\"#ea580c\" stroke-width=\"1.2\"/>"
        for t in faults { s += marker(f, t, "#111", dash: true) }
        for rec in records {
            switch rec.event {
            case "divergence": s += marker(f, rec.detectedAt, "#dc2626", dash: false)
            case "resolved", "repaired": s += marker(f, rec.detectedAt, "#16a34a", dash: false)
            default: break
            }
        }
        return s + "</svg>"
    }

    private static func marker(_ f: Frame, _ t: Double, _ color: String, dash: Bool) -> String {
        guard t >= f.t0, t <= f.tEnd else { return "" }
        return "<line x1=\"\(r(f.x(t)))\" y1=\"\(f.top)\" x2=\"\(r(f.x(t)))\" y2=\"\(r(f.y(0)))\" stroke=\"\(color)\" stroke-width=\"1.3\"\(dash ? " stroke-dasharray=\"3,2\"" : "")/>"
    }

    private static func leadChart(
        samples: [GroundTruthRecord], t0: Double, tEnd: Double, lead: Double, restart: Double?, reload: Double?, clusterEvents: [SaleClusterEvent]
    ) -> String {
        let points = samples.compactMap { s -> (Double, Double)? in s.t.map { ($0, s.leadSeconds ?? 0) } }
        let yMax = max(lead * 1.2, points.map(\.1).max() ?? 0) * 1.05
        let f = Frame(w: 900, t0: t0, tEnd: tEnd, yMax: yMax)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(f.w))\" height=\"\(Int(f.h))\" viewBox=\"0 0 \(Int(f.w)) \(Int(f.h))\">"
        s += band(f, restart: restart, reload: reload)
        // A Redis Cluster reshard or failover, or a Sentinel failover: a purple band from its start to its end.
        for e in clusterEvents where e.at >= f.t0 && e.at <= f.tEnd {
            let b = min(f.tEnd, max(e.endedAt ?? e.at, e.at + (f.tEnd - f.t0) / 400))
            s += "<rect x=\"\(r(f.x(e.at)))\" y=\"\(f.top)\" width=\"\(r(f.x(b) - f.x(e.at)))\" height=\"\(r(f.y(0) - f.top))\" fill=\"#c4b5fd\" opacity=\"0.5\"><title>\(esc(e.kind))</title></rect>"
        }
        s += axes(f, title: "age of the oldest order Redis has and MySQL has not (s); dashed: L; purple bands: Redis Cluster reshard / failover, Sentinel failover", yLabel: "s")
        s += "<line x1=\"\(f.left)\" y1=\"\(r(f.y(lead)))\" x2=\"\(f.w - f.right)\" y2=\"\(r(f.y(lead)))\" stroke=\"#dc2626\" stroke-dasharray=\"4,3\"/>"
        s += "<path d=\"\(stepPath(f, points.map { ($0.0, Optional($0.1)) }))\" fill=\"none\" stroke=\"#7c3aed\" stroke-width=\"1.3\"/>"
        return s + "</svg>\n"
    }
}
