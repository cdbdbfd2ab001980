import Synchronization
import ArgumentParser
import BinlogParser
import BinlogReconciler
import Foundation
import Logging

/// Hidden benchmark: runs the daemon in this process on `--config` while a writer thread commits
/// single-row UPDATEs of the first watch's table at a steady rate, each setting the value column
/// to a unique number. Apply lag of one transaction = the monotonic time the daemon applied it to
/// the shadow map (``ReconcilerDaemon/onApplied``) minus the monotonic time its COMMIT returned
/// to the writer (autocommit: the UPDATE's OK). Prints one JSON line.
struct BenchApplyLagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply-lag",
        abstract: "Measure apply lag under a steady write rate (benchmark).",
        discussion: """
            The writer connects as --writer-user with the password from the environment variable
            named by --writer-password-env and updates rows 1…--keys of the first watch (integer
            key and value columns, rows must exist). Prints {"transactions":…, "rate":…, "lag_ms":
            {"p50":…, "p99":…, …}, "cpu_seconds":…, "rss_kb":…}.
            """)

    @Option(help: "Daemon configuration (TOML).") var config: String
    @Option(help: "Transactions per second.") var rate = 1000
    @Option(help: "Seconds to write.") var seconds = 60.0
    @Option(help: "Rows to update, ids 1…keys.") var keys = 1000
    @Option(name: .customLong("writer-user")) var writerUser = "br_admin"
    @Option(name: .customLong("writer-password-env")) var writerPasswordEnv = "BR_WRITER_PASSWORD"
    @Flag(name: .customLong("bootstrap-memory"), help: "Instead: bootstrap the watches (as the daemon does) and print the RSS before and after.")
    var bootstrapMemory = false

    func run() throws {
        let cfg = try ReconcilerConfiguration.load(path: config, environment: ProcessInfo.processInfo.environment)
        if bootstrapMemory {
            var logger = Logger(label: "bench-apply-lag")
            logger.logLevel = .warning
            let sql = try SQLConnection(configuration: try cfg.source.replicationConfiguration())
            let before = residentKB()
            let started = monotonic()
            let state = try Bootstrap.run(sql, watches: cfg.watches, logger: logger)
            let seconds = monotonic() - started
            let after = residentKB()
            let keys = state.maps.map(\.count).reduce(0, +)
            var w = JSONWriter()
            w.beginObject()
            w.field("keys", keys)
            w.field("rss_before_kb", before)
            w.field("rss_after_kb", after)
            w.key("bytes_per_key"); w.double(keys == 0 ? .nan : (Double(after - before) * 1024 / Double(keys) * 10).rounded() / 10)
            w.key("bootstrap_seconds"); w.double((seconds * 100).rounded() / 100)
            w.endObject()
            let out = OutputSink.standardOutput()
            out.writeLine(&w)
            out.flush()
            withExtendedLifetime(state) {}
            return
        }
        guard let watch = cfg.watches.first, watch.keyColumns.count == 1 else { throw ValidationError("needs one watch with one key column") }
        var logger = Logger(label: "bench-apply-lag")
        logger.logLevel = .warning
        let daemon = ReconcilerDaemon(configuration: cfg, options: .init(), sink: try ReportSink(path: "/dev/null"), logger: logger)
        let total = Int(Double(rate) * seconds)
        let base: Int64 = 1_000_000_000
        // Indexed by value - base: when COMMIT returned, when the daemon applied it (monotonic s).
        let times = TimeTable(count: total + 1)
        daemon.onApplied = { tx, at in
            for c in tx.changes {
                if case .int(let v)? = c.new, v >= base - 1, v - base < Int64(total) { times.applied(Int(v - base + 1), at) }
            }
        }
        let runner = Thread { do { _ = try daemon.run() } catch { FileHandle.standardError.write(Data("daemon: \(error)\n".utf8)) } }
        runner.start()

        var source = try cfg.source.replicationConfiguration()
        source.user = writerUser
        guard let pw = SourcePassword.fromEnvironment(writerPasswordEnv) else { throw ValidationError("set \(writerPasswordEnv)") }
        source.password = pw
        let conn = try SQLConnection(configuration: source)
        let q = { (s: String) in "`" + s + "`" }
        let table = q(watch.database) + "." + q(watch.table)
        let update = { (value: Int64, id: Int) in "UPDATE \(table) SET \(q(watch.valueColumn)) = \(value) WHERE \(q(watch.keyColumns[0])) = \(id)" }
        // Warm-up: wait until the daemon applies a first change (bootstrap done, tailing). The
        // change is made again every second (through base - 2, which is not recorded): one made
        // while the daemon still bootstraps is in its snapshot and never applied from the binlog.
        let deadline = monotonic() + 120
        var nextWarmUp = 0.0
        while times.appliedAt(0) == 0 {
            guard monotonic() < deadline else { throw ValidationError("the daemon did not apply the warm-up change within 120 s") }
            if monotonic() >= nextWarmUp {
                _ = try conn.execute(update(base - 2, 1))
                _ = try conn.execute(update(base - 1, 1))
                nextWarmUp = monotonic() + 1
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let cpu0 = cpuSeconds()
        var writerCPU = 0.0
        let start = monotonic()
        for i in 0..<total {
            let due = start + Double(i) / Double(rate)
            let wait = due - monotonic()
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            let t0 = threadCPU()
            _ = try conn.execute(update(base + Int64(i), i % keys + 1))
            times.committed(i + 1, monotonic())
            writerCPU += threadCPU() - t0
        }
        let writeSeconds = monotonic() - start
        let end = monotonic() + 30
        while times.pendingCount(1...total) > 0 && monotonic() < end { Thread.sleep(forTimeInterval: 0.05) }
        let cpu = cpuSeconds() - cpu0 - writerCPU
        let rss = residentKB()
        daemon.requestShutdown()

        var lags = (1...total).compactMap { i -> Double? in
            let a = times.appliedAt(i), c = times.committedAt(i)
            return a > 0 && c > 0 ? (a - c) * 1000 : nil
        }
        lags.sort()
        func p(_ q: Double) -> Double { lags.isEmpty ? .nan : (lags[min(lags.count - 1, Int(Double(lags.count) * q))] * 1000).rounded() / 1000 }
        var w = JSONWriter()
        w.beginObject()
        w.field("transactions", total)
        w.field("applied", lags.count)
        w.key("rate_achieved"); w.double((Double(total) / writeSeconds).rounded())
        w.key("lag_ms")
        w.beginObject()
        for (name, q) in [("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] { w.key(name); w.double(p(q)) }
        w.key("max"); w.double(((lags.last ?? .nan) * 1000).rounded() / 1000)
        w.endObject()
        w.key("sidecar_cpu_seconds"); w.double((cpu * 1000).rounded() / 1000)
        w.key("sidecar_cpu_percent"); w.double((cpu / writeSeconds * 1000).rounded() / 10)
        w.field("rss_kb", rss)
        w.endObject()
        let out = OutputSink.standardOutput()
        out.writeLine(&w)
        out.flush()
        Foundation.exit(0)
    }

    func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    func residentKB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }
}

/// Two time columns written by two threads.
final class TimeTable: Sendable {
    private struct Columns {
        var commit: [Double]
        var apply: [Double]
    }
    private let columns: Mutex<Columns>
    init(count: Int) {
        columns = Mutex(Columns(commit: Array(repeating: 0, count: count), apply: Array(repeating: 0, count: count)))
    }
    func committed(_ i: Int, _ t: Double) { columns.withLock { $0.commit[i] = t } }
    func applied(_ i: Int, _ t: Double) { columns.withLock { if $0.apply[i] == 0 { $0.apply[i] = t } } }
    func committedAt(_ i: Int) -> Double { columns.withLock { $0.commit[i] } }
    func appliedAt(_ i: Int) -> Double { columns.withLock { $0.apply[i] } }
    func pendingCount(_ r: ClosedRange<Int>) -> Int { columns.withLock { c in r.filter { c.apply[$0] == 0 }.count } }
}
