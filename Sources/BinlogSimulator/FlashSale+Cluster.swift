import BinlogReconciler
import Foundation

/// The Redis Cluster's topology changes during the sale: a reshard a third into it and a failover
/// two thirds into it, each a shell command (`--reshard-command`, `--failover-command`). With
/// Sentinel, the failover command half-way into it (`sentinel_failover`).
extension FlashSale {
    /// Runs the cluster's events at their planned times while the orders flow (on its own thread;
    /// nothing here talks to Redis) and records each in the ground truth. Returns what failed.
    func runClusterEvents(startedAt: Double) -> [String] {
        guard !options.clusterSeeds.isEmpty || options.sentinel != nil else { return [] }
        let duration = Double(options.orders) / options.ordersPerSecond
        let planned: [(record: String, command: String?, fraction: Double)] = options.sentinel != nil
            ? [("sentinel_failover", options.failoverCommand, 0.5)]
            : [("reshard", options.reshardCommand, 1.0 / 3), ("failover", options.failoverCommand, 2.0 / 3)]
        var failures: [String] = []
        for event in planned {
            guard let command = event.command else { continue }
            let wait = startedAt + duration * event.fraction - SaleTime.now()
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            if state.withLock({ s in s.closed }) {
                failures.append("the sale ended before the \(event.record) (\(command)) could start")
                continue
            }
            let outputPath = NSTemporaryDirectory() + "/flash-sale-\(getpid())-\(event.record).log"
            logger.notice("Redis \(event.record): \(command)")
            let t0 = SaleTime.now()
            let status = ChildProcess.shell(command, output: .file(outputPath))
            let t1 = SaleTime.now()
            let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: outputPath)
            let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            var r = GroundTruthRecord(record: event.record)
            r.at = SaleTime.format(t0)
            r.endedAt = SaleTime.format(t1)
            r.nodes = Self.addresses(in: output)
            r.detail = (status == 0 ? "" : "FAILED (status \(status)): ") + command + (lines.isEmpty ? "" : ": " + lines.joined(separator: "; "))
            truth.write(r)
            if status == 0 {
                logger.notice("Redis \(event.record) done in \(String(format: "%.1f", t1 - t0)) s (\((r.nodes ?? []).joined(separator: " ")))")
            } else {
                logger.error("Redis \(event.record) failed (status \(status)): \(lines.suffix(3).joined(separator: "; "))")
                failures.append("the \(event.record) command failed (status \(status)): \(command)")
            }
        }
        return failures
    }

    /// The `a.b.c.d:port` addresses a command's output names, in order of appearance, each once.
    static func addresses(in text: String) -> [String] {
        var found: [String] = []
        for word in text.split(whereSeparator: { !($0.isNumber || $0 == "." || $0 == ":") }) {
            let parts = word.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0].split(separator: ".").count == 4, Int(parts[1]) != nil else { continue }
            let address = String(word)
            if !found.contains(address) { found.append(address) }
        }
        return found
    }
}
