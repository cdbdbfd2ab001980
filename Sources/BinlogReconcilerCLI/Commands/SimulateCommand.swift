import ArgumentParser
import BinlogParser
import BinlogReconciler
import BinlogSimulator
import Foundation
import Logging

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "A flash sale with injected faults, and the scoreboard of what the reconciler reported.",
        discussion: """
            setup loads the products into MySQL and Redis; run sells them while injecting faults and
            writes the ground truth; score compares the ground truth with the reconciler's report.
            The simulator writes to MySQL: give it a user that may (--mysql-user, password in MYSQL_PWD).
            Definitions: docs/simulator.md.

            Example (the reconciler runs beside it with the same config, report in report.jsonl):
              MYSQL_PWD=... binlog-reconciler simulate setup --config shop.toml --mysql-user admin
              MYSQL_PWD=... binlog-reconciler simulate run --config shop.toml --mysql-user admin \\
                  --truth truth.jsonl --report report.jsonl --html sale.html
            """,
        subcommands: [SimulateSetup.self, SimulateRun.self, SimulateScore.self]
    )
}

/// What setup and run share: where the servers are and what the sale looks like.
struct SaleOptions: ParsableArguments {
    @Option(help: "The reconciler's TOML file: servers, the watch on <database>.products, L, G, C and the sweep interval.")
    var config: String

    @Option(help: "MySQL user with write access to the database (default: the config's [source] user). Password: MYSQL_PWD, else the config's.")
    var mysqlUser: String?

    @Option(help: "Database holding products and orders.") var database = "shop"
    @Option(help: "Number of products.") var products = 1000
    @Option(help: "Seed: products, stock, popularity, the order stream and the fault schedule follow from it.") var seed: UInt64 = 1
    @Option(help: "Initial stock of each product: MIN-MAX.") var stock = "100-1000"
    @Option(help: "Log level.") var logLevel = "info"

    func load() throws -> (ReconcilerConfiguration, FlashSaleOptions, SourceConfiguration, RedisConfiguration) {
        let env = ProcessInfo.processInfo.environment
        let c: ReconcilerConfiguration
        do { c = try ReconcilerConfiguration.load(path: config, environment: env) } catch {
            printError("binlog-reconciler: \(error.description)")
            throw ExitCode(2)
        }
        var o = FlashSaleOptions()
        o.database = database
        o.products = products
        o.seed = seed
        let parts = stock.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 1, parts[0] <= parts[1] else { throw ValidationError("--stock wants MIN-MAX, e.g. 100-1000") }
        o.stockRange = parts[0]...parts[1]
        if let w = c.watches.first(where: { $0.database == database && $0.table == "products" }) ?? c.watches.first {
            o.lead = w.leadSeconds
            o.lag = w.lagSeconds
            o.confirm = w.confirmSeconds
            if case .string(let t) = w.target { o.redisKeyPattern = t.source.replacing("{\(w.keyColumns.first ?? "id")}", with: "{id}") }
        }
        o.sweepInterval = c.reconcile.sweepIntervalSeconds
        var source = c.source
        if let mysqlUser { source.user = mysqlUser }
        if let pw = env["MYSQL_PWD"] { source.password = Secret(value: pw, source: "MYSQL_PWD") }
        let sql: SourceConfiguration
        let redis: RedisConfiguration
        do {
            sql = try source.replicationConfiguration()
            redis = try c.redis.redisConfiguration()
            if c.redis.mode == .cluster { o.clusterSeeds = try c.redis.clusterSeeds() }
            if c.redis.mode == .sentinel {
                let r = try c.redis.sentinelResolver()
                o.sentinel = SaleSentinel(sentinels: r.sentinels, masterName: r.masterName, sentinelBase: r.sentinelBase)
            }
        } catch {
            printError("binlog-reconciler: \(error.description)")
            throw ExitCode(2)
        }
        return (c, o, sql, redis)
    }

    func logger() -> Logger { standardErrorLogger(label: "simulate", level: logLevel) }
}

struct SimulateSetup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup", abstract: "Create <database>.products and .orders and load the stock into MySQL and Redis (--replace drops existing ones).")

    @OptionGroup var sale: SaleOptions
    @Flag(help: "Drop and recreate <database>.products and .orders if they exist (and overwrite their Redis keys).")
    var replace = false

    func run() throws {
        let (_, o, sql, redis) = try sale.load()
        let logger = sale.logger()
        let plan = try SalePlan(o)
        let truth = try GroundTruthLog(path: "/dev/null")
        do { try FlashSale(plan: plan, sql: sql, redis: redis, truth: truth, logger: logger).setup(replace: replace) } catch {
            logger.critical("setup failed: \(error)")
            throw ExitCode(2)
        }
    }
}

struct SimulateRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the sale with faults; write the ground truth; score the report if one is given.",
        discussion: """
            stdout: the scoreboard as JSON lines when --report is given (the table goes to stderr).
            Exit status: 0 done (and the scoreboard passed), 1 the scoreboard failed, 2 operational error.
            """)

    @OptionGroup var sale: SaleOptions
    @Option(help: "Orders to send.") var orders = 50_000
    @Option(help: "Orders per second.") var rate = 1000.0
    @Option(help: "MySQL worker threads.") var workers = 4
    @Option(help: "Orders per MySQL transaction (at most).") var batch = 10
    @Option(help: "Seconds between an order's Redis pre-deduct and its MySQL write (at least).") var workerDelay = 0.2
    @Option(help: "Zipf exponent of product popularity.") var zipf = 1.1
    @Option(help: "Number of faults to inject.") var faults = 10
    @Option(help: "Fault kinds, comma-separated (default: all): lost_mysql_write, lost_redis_write, double_decrement, evicted, stale_writeback, manual_update, redis_restart.")
    var kinds: String?
    @Option(help: "Shell command that restarts Redis without persistence (no restart fault without it).") var redisRestartCommand: String?
    @Option(help: "Redis Cluster only: shell command that reshards slots, run a third into the sale (recorded as `reshard`).")
    var reshardCommand: String?
    @Option(help: "Redis Cluster or Sentinel: shell command that fails a master over, run two thirds into the sale on a cluster (recorded as `failover`), half-way with Sentinel (`sentinel_failover`).")
    var failoverCommand: String?
    @Option(help: "Seconds from the Redis restart to the application's reload from MySQL.") var warmup = 10.0
    @Option(help: "Seconds to wait after the workers drain before the final comparison (default G + C + L + sweep + 1).") var settle: Double?
    @Option(help: "Ground-truth log (JSON lines).") var truth: String
    @Option(help: "The reconciler's report to score (JSON lines).") var report: String?
    @Option(help: "Write the scoreboard JSON lines here instead of stdout.") var scoreboard: String?
    @Option(help: "Write the HTML report here.") var html: String?
    @Option(help: "Write each MySQL transaction's GTID and commit time here (MariaDB), to measure the reconciler's apply lag.")
    var commitLog: String?

    func run() throws {
        let (_, base, sql, redis) = try sale.load()
        var o = base
        o.orders = orders
        o.ordersPerSecond = rate
        o.workers = max(1, workers)
        o.ordersPerTransaction = max(1, batch)
        o.workerDelay = workerDelay
        o.zipfExponent = zipf
        o.faults = faults
        o.warmup = warmup
        o.settle = settle
        o.redisRestartCommand = redisRestartCommand
        o.reshardCommand = reshardCommand
        o.failoverCommand = failoverCommand
        if o.clusterSeeds.isEmpty && (reshardCommand != nil || (failoverCommand != nil && o.sentinel == nil)) {
            throw ValidationError("--reshard-command needs [redis] mode = \"cluster\", --failover-command mode = \"cluster\" or \"sentinel\"")
        }
        o.commitLogPath = commitLog
        if let kinds {
            var list: [SaleFaultKind] = []
            for k in kinds.split(separator: ",") {
                guard let kind = SaleFaultKind(rawValue: k.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("unknown fault kind \(k)") }
                list.append(kind)
            }
            o.kinds = list
        }
        let logger = sale.logger()
        let plan: SalePlan
        do { plan = try SalePlan(o) } catch {
            logger.critical("\(error)")
            throw ExitCode(2)
        }
        if (!o.clusterSeeds.isEmpty || o.sentinel != nil) && o.kinds.contains(.redisRestart) {
            logger.warning("Redis Cluster or Sentinel: the redis_restart fault (a standalone server's restart) is not injected")
        } else if o.kinds.contains(.redisRestart) && redisRestartCommand == nil {
            logger.warning("no --redis-restart-command: the redis_restart fault is not injected")
        }
        let log: GroundTruthLog
        do { log = try GroundTruthLog(path: truth) } catch {
            logger.critical("\(error.description)")
            throw ExitCode(2)
        }
        let summary: FlashSale.Summary
        do { summary = try FlashSale(plan: plan, sql: sql, redis: redis, truth: log, logger: logger).run() } catch {
            logger.critical("sale failed: \(error)")
            throw ExitCode(2)
        }
        log.close()
        logger.notice(
            "sale done: \(summary.orders) orders, \(summary.accepted) accepted, \(summary.rejected) refused, \(summary.transactions) MySQL transactions, \(summary.anomalies) anomalies, \(summary.faultsInjected) faults, \(summary.differing) products differ; max MySQL backlog age \(String(format: "%.2f", summary.maxOldestPending)) s"
        )
        guard let report else { return }
        try Score.write(truthPath: truth, reportPath: report, scoreboardPath: scoreboard, htmlPath: html)
    }
}

struct SimulateScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score a reconciler report against a ground-truth log (both JSON lines).",
        discussion: "stdout: the scoreboard as JSON lines (the table goes to stderr). Exit status: 0 passed, 1 failed, 2 unreadable input.")

    @Option(help: "Ground-truth log written by `simulate run`.") var truth: String
    @Option(help: "The reconciler's report.") var report: String
    @Option(help: "Write the scoreboard JSON lines here instead of stdout.") var scoreboard: String?
    @Option(help: "Write the HTML report here.") var html: String?

    func run() throws {
        try Score.write(truthPath: truth, reportPath: report, scoreboardPath: scoreboard, htmlPath: html)
    }
}

enum Score {
    static func write(truthPath: String, reportPath: String, scoreboardPath: String?, htmlPath: String?) throws {
        let board: Scoreboard
        let truth: [GroundTruthRecord]
        let report: [ScoredReportRecord]
        do {
            truth = try GroundTruthLog.read(path: truthPath)
            report = try ScoredReportRecord.read(path: reportPath)
            board = try Scoreboard(truth: truth, report: report)
        } catch {
            printError("binlog-reconciler: \(error.description)")
            throw ExitCode(2)
        }
        let text = board.jsonLines().joined(separator: "\n") + "\n"
        if let scoreboardPath {
            do { try text.write(toFile: scoreboardPath, atomically: true, encoding: .utf8) } catch {
                printError("binlog-reconciler: cannot write \(scoreboardPath): \(error.localizedDescription)")
                throw ExitCode(2)
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        printError(board.table())
        if let htmlPath {
            let page = SaleHTMLReport.render(truth: truth, report: report, scoreboard: board)
            do { try page.write(toFile: htmlPath, atomically: true, encoding: .utf8) } catch {
                printError("binlog-reconciler: cannot write \(htmlPath): \(error.localizedDescription)")
                throw ExitCode(2)
            }
            printError("HTML report: \(htmlPath)")
        }
        if !board.passed { throw ExitCode(1) }
    }
}
