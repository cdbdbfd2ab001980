import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

@Suite(.serialized) struct DoctorAndRepairTests {
    static func doctor(_ configPath: String, password: String = "reconciler") throws -> (status: Int32, findings: [[String: Any]]) {
        let r = try TestEnv.run(TestEnv.cli, ["doctor", "--config", configPath, "--json"], environment: ["BR_TEST_MYSQL_PASSWORD": password])
        let f = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (r.status, f)
    }

    static func severity(_ findings: [[String: Any]], _ check: String) -> String? {
        findings.first { $0["check"] as? String == check }?["severity"] as? String
    }

    @Test func doctorPassesOnAGoodSetupAndNamesTheFixesOnABadOne() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 3)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        let path = try DaemonCheckTests.config(db: db, prefix: prefix)
        let good = try Self.doctor(path)
        #expect(good.status == 0, "\(good.findings)")
        #expect(Self.severity(good.findings, "binlog_format") == "ok")
        #expect(Self.severity(good.findings, "grant.replication_slave") == "ok")

        // A deliberately misconfigured server: STATEMENT format, minimal row metadata, and a user
        // without replication grants.
        _ = try TestEnv.sql("SET GLOBAL binlog_format = 'STATEMENT'; SET GLOBAL binlog_row_metadata = 'MINIMAL'; CREATE USER IF NOT EXISTS 'br_nogrants'@'127.0.0.1' IDENTIFIED BY 'nogrants'; GRANT SELECT ON \(db).* TO 'br_nogrants'@'127.0.0.1';")
        defer { _ = try? TestEnv.sql("SET GLOBAL binlog_format = 'ROW'; SET GLOBAL binlog_row_metadata = 'FULL'; DROP USER IF EXISTS 'br_nogrants'@'127.0.0.1';") }
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "user = \"reconciler\"", with: "user = \"br_nogrants\"")
        let badPath = path + ".bad.toml"
        try text.write(toFile: badPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: badPath) }
        let bad = try Self.doctor(badPath, password: "nogrants")
        #expect(bad.status == 1)
        #expect(Self.severity(bad.findings, "binlog_format") == "error")
        #expect(Self.severity(bad.findings, "binlog_row_metadata") == "warning")
        #expect(Self.severity(bad.findings, "grant.replication_slave") == "error")
        let fix = bad.findings.first { $0["check"] as? String == "grant.replication_slave" }?["fix"] as? String
        #expect(fix?.contains("GRANT REPLICATION SLAVE") == true)
        #expect(bad.findings.first { $0["check"] as? String == "binlog_format" }?["fix"] as? String == "SET GLOBAL binlog_format = 'ROW'; and binlog_format=ROW in my.cnf")
        // `check` refuses to start on such a server (exit 2).
        let r = try TestEnv.run(TestEnv.cli, ["check", "--config", badPath], environment: ["BR_TEST_MYSQL_PASSWORD": "nogrants"])
        #expect(r.status == 2)
    }

    @Test func repairWritesTheExpectedValueWithCompareAndSet() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 10)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        var text = try String(contentsOfFile: try DaemonCheckTests.config(db: db, prefix: prefix), encoding: .utf8)
        text = text.replacingOccurrences(of: "sweep_interval_seconds = 5", with: "sweep_interval_seconds = 5\nrepair = true")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("br-repair-\(prefix).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try DaemonCheckTests.redis(["SET", "\(prefix):2:stock", "7"])
        _ = try DaemonCheckTests.redis(["DEL", "\(prefix):3:stock"])
        // `check` never repairs without --repair, whatever the file says.
        let plain = try TestEnv.run(TestEnv.cli, ["check", "--config", path], environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        #expect(plain.status == 1, "\(plain.stderr.suffix(1500))")
        #expect(!plain.stdout.contains("\"repaired\""))
        #expect(plain.stderr.contains("check does not repair without --repair"))
        #expect(try DaemonCheckTests.redis(["GET", "\(prefix):2:stock"]).trimmingCharacters(in: .whitespacesAndNewlines) == "7")
        let r = try TestEnv.run(TestEnv.cli, ["check", "--config", path, "--repair"], environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        let records = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let repaired = records.filter { $0["event"] as? String == "repaired" }
        #expect(Set(repaired.compactMap { $0["key"] as? String }) == ["2", "3"], "\(records) \(r.stderr.suffix(1500))")
        #expect(repaired.first { $0["key"] as? String == "2" }?["redis"] as? String == "7")
        #expect(try DaemonCheckTests.redis(["GET", "\(prefix):2:stock"]).trimmingCharacters(in: .whitespacesAndNewlines) == "102")
        #expect(try DaemonCheckTests.redis(["GET", "\(prefix):3:stock"]).trimmingCharacters(in: .whitespacesAndNewlines) == "103")
        // Keys that agreed were not touched.
        #expect(try DaemonCheckTests.redis(["GET", "\(prefix):4:stock"]).trimmingCharacters(in: .whitespacesAndNewlines) == "104")
        #expect(r.status == 0, "repaired divergences are closed: \(r.stderr.suffix(1500))")
    }

    /// doctor says how long a sweep takes at the configured pace, and warns when it is longer than
    /// the interval.
    @Test func doctorSaysHowLongASweepTakesAtThePace() {
        var r = ReconcileSettings()
        r.sweepIntervalSeconds = 30
        let unpaced = Doctor.sweepFinding(estimatedKeys: 2_000_000, reconcile: r)
        #expect(unpaced.severity == .ok && unpaced.detail.contains("unpaced") && unpaced.fix != nil)
        r.sweepKeysPerSecond = 100_000
        let paced = Doctor.sweepFinding(estimatedKeys: 2_000_000, reconcile: r)
        #expect(paced.severity == .ok && paced.detail.contains("takes about 20 s"), "\(paced.detail)")
        r.sweepKeysPerSecond = 10_000
        let slow = Doctor.sweepFinding(estimatedKeys: 2_000_000, reconcile: r)
        #expect(slow.severity == .warning && slow.detail.contains("200 s"), "\(slow.detail)")
        #expect(slow.fix?.contains("66667") == true, "\(slow.fix ?? "")")
    }
}
