import BinlogSimulator
import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// `simulate setup` against the test MariaDB and Redis: it loads what the plan says, and it does
/// not drop tables that already exist unless told to.
@Suite struct SimulateSetupTests {
    @Test func setupLoadsThePlanAndRefusesToDropExistingTablesWithoutReplace() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let db = "br_sim_\(getpid())"
        let prefix = "brsim\(getpid())"
        let config = try DaemonCheckTests.config(db: db, prefix: prefix)
        defer {
            _ = try? TestEnv.sql("DROP DATABASE IF EXISTS \(db)")
            _ = try? TestEnv.run("sh", ["-c", "redis-cli -p \(DaemonCheckTests.redisPort) --scan --pattern '\(prefix):*' | xargs -r redis-cli -p \(DaemonCheckTests.redisPort) DEL"])
        }
        let env = ["BR_TEST_MYSQL_PASSWORD": "reconciler", "MYSQL_PWD": "br_admin"]
        let args = ["simulate", "setup", "--config", config, "--mysql-user", "br_admin", "--database", db, "--products", "50", "--seed", "7"]
        let first = try TestEnv.run(TestEnv.cli, args, environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        // MySQL and Redis hold the plan's stock.
        var o = FlashSaleOptions()
        o.products = 50
        o.seed = 7
        let plan = try SalePlan(o)
        let rows = try TestEnv.sql("SELECT id, stock FROM \(db).products ORDER BY id")
        #expect(rows.map { Int($0[1]) ?? -1 } == plan.initialStock)
        let r = try DaemonCheckTests.redis(["GET", "\(prefix):17:stock"])
        #expect(r.trimmingCharacters(in: .whitespacesAndNewlines) == String(plan.initialStock[16]))
        // A second setup refuses; with --replace it reloads.
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = 0 WHERE id = 17")
        let second = try TestEnv.run(TestEnv.cli, args, environment: env)
        #expect(second.status == 2)
        #expect(second.stderr.contains("already exist") && second.stderr.contains("--replace"), "\(second.stderr)")
        #expect(try TestEnv.sql("SELECT stock FROM \(db).products WHERE id = 17").first?.first == "0")
        let third = try TestEnv.run(TestEnv.cli, args + ["--replace"], environment: env)
        #expect(third.status == 0, "\(third.stderr)")
        #expect(try TestEnv.sql("SELECT stock FROM \(db).products WHERE id = 17").first?.first == String(plan.initialStock[16]))
    }
}
