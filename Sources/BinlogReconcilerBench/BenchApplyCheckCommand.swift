import ArgumentParser
import BinlogParser
import BinlogReconciler
import Foundation

/// Hidden benchmark: the daemon's apply-and-check path fed by replaying recorded binlog files.
struct BenchApplyCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply-check",
        abstract: "Replay binlog files through the apply-and-check path at a given change rate; print one JSON line.",
        discussion: """
            Per event, what the daemon's binlog tail does (decode, TransactionAssembler into the
            shadow map, VerdictEngine.noteCommit, under the daemon's mutex); every 10 ms, what its
            reconcile loop does (the due reads, fed back as observations, and the decisions).
            Reads are answered from the shadow map (Redis agreeing with MySQL) unless --redis-port
            is given: then each batch of due reads is also a real pipelined MGET against that Redis
            (the values read are ignored). CPU is getrusage(RUSAGE_SELF), read-ahead thread included.

            Example (scripts/gen-bench-binlog makes the files):
              binlog-reconciler-bench apply-check --table shop.products --key id --value stock \\
                --rate 50000 $(sed "s|^|.state/bench/|" .state/bench/files.txt)
            """
    )

    @Argument(help: "Binlog files, in order.") var files: [String]
    @Option(help: "db.table of the watch.") var table = "shop.products"
    @Option(help: "Key column.") var key = "id"
    @Option(help: "Value column.") var value = "stock"
    @Option(help: "Row changes per second to replay at; 0 = as fast as possible.") var rate: Double = 50000
    @Option(help: "Also MGET each batch of due reads from the Redis on 127.0.0.1:PORT.") var redisPort: Int?
    @Option(help: "Stop after this many row changes (0 = all).") var limit = 0

    func run() throws {
        let parts = table.split(separator: ".").map(String.init)
        guard parts.count == 2 else { throw ValidationError("--table is db.table") }
        let watch = WatchConfiguration(
            name: "stock", database: parts[0], table: parts[1], keyColumns: [key], valueColumn: value,
            target: .string(try RedisKeyTemplate("product:{\(key)}:stock", keyColumns: [key])))
        var assembler = TransactionAssembler(watches: [watch]) { _, _ in nil }
        var state = ShadowState(watchCount: 1, position: BinlogCoordinates(file: "", position: 4))
        var engine = VerdictEngine(
            watchNames: ["stock"], tolerances: [.init(lead: 2, lag: 1, confirm: 1)], wallOffset: 0,
            redisKey: { _, k in watch.target.keyTemplate.render(k) })
        let lock = MutexLock()
        let redis = try redisPort.map { try RedisConnection(configuration: RedisConfiguration(host: "127.0.0.1", port: $0)) }

        var changes = 0, transactions = 0, reads = 0, records = 0
        var nextCheck = 0.0
        let started = monotonicSeconds()
        let cpuStart = cpuSeconds()
        func check(_ now: Double) throws {
            let due = lock.withLock { engine.takeDueReads(now: now) }
            if !due.isEmpty {
                if let redis {
                    _ = try redis.mget(keys: due.map { watch.target.keyTemplate.render($0.key) })
                }
                lock.withLock {
                    for r in due {
                        let v = state.maps[0][r.key]
                        engine.observe(watch: 0, key: r.key, result: v.flatMap { $0.redisText }.map { RedisObservation.value($0) } ?? .missing, at: now, current: v)
                    }
                }
                reads += due.count
            }
            records += lock.withLock {
                engine.decide(now: now, current: { w, k in state.maps[w][k] }, position: state.position, gtid: "").count
            }
        }
        outer: for path in files {
            let events = try BinlogFileEvents(path: path, verifyChecksums: true)
            let name = (path as NSString).lastPathComponent
            while let located = try events.next() {
                let event = located.event
                let end = BinlogCoordinates(file: name, position: UInt64(event.header.logPosition))
                let now = monotonicSeconds()
                let tx = try lock.withLock { () -> CommittedTransaction? in
                    let tx = try assembler.consume(event, end: end, state: &state)
                    if let tx, !tx.changes.isEmpty { engine.noteCommit(tx, at: now) }
                    return tx
                }
                if let tx {
                    changes += tx.changes.count
                    transactions += 1
                    if rate > 0 {
                        let due = started + Double(changes) / rate
                        while monotonicSeconds() < due {
                            let t = monotonicSeconds()
                            if t >= nextCheck { try check(t); nextCheck = t + 0.01 }
                            let wait = min(due, nextCheck) - monotonicSeconds()
                            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                        }
                    }
                    if limit > 0 && changes >= limit { break outer }
                }
                if now >= nextCheck { try check(now); nextCheck = now + 0.01 }
            }
        }
        // Drain: every read scheduled by the replay is done and decided.
        let drainUntil = monotonicSeconds() + 3.1
        while monotonicSeconds() < drainUntil {
            try check(monotonicSeconds())
            Thread.sleep(forTimeInterval: 0.01)
        }
        let wall = monotonicSeconds() - started
        let cpu = cpuSeconds() - cpuStart
        var w = JSONWriter()
        w.beginObject()
        w.field("changes", changes)
        w.field("transactions", transactions)
        w.field("reads", reads)
        w.field("records", records)
        w.key("rate"); w.double(rate)
        w.field("redis", redisPort != nil)
        w.key("wall_seconds"); w.double((wall * 1000).rounded() / 1000)
        w.key("cpu_seconds"); w.double((cpu * 1000).rounded() / 1000)
        w.key("cpu_seconds_per_million_changes"); w.double((cpu / Double(max(1, changes)) * 1e6 * 1000).rounded() / 1000)
        w.key("percent_of_one_core"); w.double((cpu / wall * 1000).rounded() / 10)
        w.endObject()
        let out = OutputSink.standardOutput()
        out.writeLine(&w)
        out.flush()
    }

    func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }
}
