import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

/// The password-protected Redis Cluster and Sentinel topology that `scripts/test` starts on their
/// own ports (scripts/redis-cluster-start with BR_REDIS_CLUSTER_PASSWORD, scripts/redis-sentinel-start
/// with BR_REDIS_SENTINEL_PASSWORD, BR_REDIS_SENTINELS_USER and BR_REDIS_SENTINELS_PASSWORD).
enum RedisAuthTestEnv {
    static let env = ProcessInfo.processInfo.environment
    /// Base ports: the cluster's six nodes on BASE..BASE+5; the Sentinel primary and replica on
    /// BASE, BASE+1, its sentinels on BASE+10..BASE+12.
    static let clusterPort: Int? = env["BR_REDIS_AUTH_CLUSTER_PORT"].flatMap { Int($0) }
    static let sentinelPort: Int? = env["BR_REDIS_AUTH_SENTINEL_PORT"].flatMap { Int($0) }
    /// The data nodes' password (every cluster node; the Sentinel primary and replica).
    static let password = env["BR_REDIS_AUTH_PASSWORD"] ?? ""
    /// The sentinels' own ACL user and password.
    static let sentinelsUser = env["BR_REDIS_AUTH_SENTINELS_USER"] ?? ""
    static let sentinelsPassword = env["BR_REDIS_AUTH_SENTINELS_PASSWORD"] ?? ""
    static var configured: Bool { (clusterPort != nil || sentinelPort != nil) && !password.isEmpty }

    static func data(_ port: Int) -> RedisConfiguration {
        RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port), password: password, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
    }

    static var sentinels: [RedisConfiguration.Endpoint] { (10...12).map { .tcp(host: "127.0.0.1", port: (sentinelPort ?? 0) + $0) } }

    /// The Sentinel primary now (a quorum of the sentinels, asked with their own credentials).
    static func sentinelPrimary() throws -> RedisConnection {
        let base = RedisConfiguration(
            endpoint: sentinels[0], username: sentinelsUser, password: sentinelsPassword, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
        return try RedisSentinelResolver(sentinels: sentinels, masterName: "shop", sentinelBase: base).connectPrimary(dataBase: data(sentinelPort ?? 0)).1
    }
}

/// The reconciler with Redis passwords (from `password_env`, never argv) in cluster mode (the
/// password on every node) and in Sentinel mode (the data nodes' password, and the sentinels' own
/// ACL user and password through `sentinel_username` / `sentinel_password_env`): `check` finds
/// divergences, `run` follows a Sentinel failover, `doctor` passes; a wrong password is a clear
/// error naming the node, in `doctor` and in `run`; no password appears in any output.
@Suite(.serialized, .enabled(if: RedisAuthTestEnv.configured, "BR_REDIS_AUTH_CLUSTER_PORT / BR_REDIS_AUTH_SENTINEL_PORT and BR_REDIS_AUTH_PASSWORD are not set (scripts/test)"))
struct DaemonRedisAuthTests {
    typealias Env = RedisAuthTestEnv
    /// What the configs name: the right passwords, or wrong ones.
    static let wrongEnvironment = ["BR_TEST_WRONG_REDIS_PASSWORD": "not-the-password-4711", "BR_TEST_MYSQL_PASSWORD": "reconciler"]

    /// No password of the topology in `text` (logs, reports, findings).
    static func expectNoPassword(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in [Env.password, Env.sentinelsPassword, wrongEnvironment["BR_TEST_WRONG_REDIS_PASSWORD"]!] where !secret.isEmpty {
            #expect(!text.contains(secret), "a password appears in \(what)", sourceLocation: sourceLocation)
        }
    }

    /// `run` with a config whose Redis credentials are wrong: it must exit (not retry for ever)
    /// with a non-zero status; returns its stderr.
    static func runExpectingFailure(_ config: String) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestEnv.cli)
        p.arguments = ["run", "--config", config]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in wrongEnvironment { env[k] = v }
        p.environment = env
        let errPath = NSTemporaryDirectory() + "br-auth-run-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        p.standardError = FileHandle(forWritingAtPath: errPath)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            throw TestFailure("run with a wrong Redis password was still running after 60 s: \((try? String(contentsOfFile: errPath, encoding: .utf8))?.suffix(2000) ?? "")")
        }
        return (p.terminationStatus, (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    static func doctor(_ config: String, environment: [String: String]) throws -> (findings: [[String: Any]], text: String) {
        let r = try TestEnv.run(TestEnv.cli, ["doctor", "--config", config, "--json"], environment: environment)
        let findings = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (findings, r.stdout + r.stderr)
    }

    static func errors(_ findings: [[String: Any]]) -> [String] {
        findings.filter { $0["severity"] as? String == "error" }.map { "\($0["check"] ?? "?"): \($0["detail"] ?? "")" }
    }

    // MARK: Cluster

    /// The password on every node: `check` reads all three masters and finds a divergence on
    /// each; `doctor` passes. A wrong password: `doctor` and `run` name a node and AUTH.
    @Test(.enabled(if: RedisAuthTestEnv.clusterPort != nil)) func clusterWithPasswordOnEveryNode() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let port = try #require(Env.clusterPort)
        let rows = 2000
        let (db, prefix, template, cluster) = try DaemonClusterTests.setUp(rows: rows, base: Env.data(port))
        defer { DaemonClusterTests.tearDown(db, prefix, cluster, rows: rows) }
        // The AUTH is needed: without it a node refuses.
        #expect(throws: RedisError.self) { _ = try RedisConnection(configuration: RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: port))).command(["GET", "x"]) }

        // One key on each master, each wrong in its own way.
        let picked = DaemonClusterTests.oneKeyPerMaster(cluster, prefix: prefix, rows: rows)
        try #require(picked.count == 3, "three masters serve the keys")
        try DaemonClusterTests.set(cluster, DaemonClusterTests.key(prefix, picked[0]), "1")
        try DaemonClusterTests.set(cluster, DaemonClusterTests.key(prefix, picked[1]), nil)
        try DaemonClusterTests.set(cluster, DaemonClusterTests.key(prefix, picked[2]), "99999")

        let good = try DaemonClusterTests.config(db: db, template: template, extra: "password_env = \"BR_REDIS_AUTH_PASSWORD\"", port: port)
        let r = try DaemonCheckTests.check(good)
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        let found = Dictionary(uniqueKeysWithValues: r.records.filter { $0["event"] as? String == "divergence" }.compactMap { d -> (String, String)? in
            guard let k = d["key"] as? String, let kind = d["kind"] as? String else { return nil }
            return (k, kind)
        })
        #expect(found == [String(picked[0]): "redis_lower", String(picked[1]): "missing", String(picked[2]): "redis_higher"], "\(r.records)")
        Self.expectNoPassword(r.stderr + "\(r.records)", "check's output")

        let doctor = try Self.doctor(good, environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        let clusterFindings = doctor.findings.filter { ($0["check"] as? String)?.hasPrefix("redis.cluster") == true }
        #expect(!clusterFindings.isEmpty && clusterFindings.allSatisfy { $0["severity"] as? String == "ok" }, "\(clusterFindings)")
        Self.expectNoPassword(doctor.text, "doctor's output")

        // A wrong password: doctor and run say AUTH and name the node.
        let wrong = try DaemonClusterTests.config(db: db, template: template, extra: "password_env = \"BR_TEST_WRONG_REDIS_PASSWORD\"", port: port)
        let bad = try Self.doctor(wrong, environment: Self.wrongEnvironment)
        let badErrors = Self.errors(bad.findings)
        #expect(badErrors.contains { $0.contains("AUTH") && $0.contains("127.0.0.1:\(port)") }, "\(bad.findings)")
        // A seed that refuses the password is an error (not "unreachable, remove it"), with the fix.
        let seeds = bad.findings.filter { $0["check"] as? String == "redis.cluster.seed" }
        #expect(seeds.count == 2 && seeds.allSatisfy { $0["severity"] as? String == "error" && ($0["fix"] as? String)?.contains("password_env") == true }, "\(seeds)")
        Self.expectNoPassword(bad.text, "doctor's output with a wrong password")
        let run = try Self.runExpectingFailure(wrong)
        #expect(run.status != 0)
        #expect(run.stderr.contains("AUTH") && run.stderr.contains("127.0.0.1:\(port)"), "\(run.stderr.suffix(3000))")
        Self.expectNoPassword(run.stderr, "run's log with a wrong password")
    }

    // MARK: Sentinel

    /// A Sentinel-mode config for the password-protected topology: the data nodes' password and
    /// the sentinels' own user and password from these variables.
    static func sentinelConfig(db: String, prefix: String, data: String = "BR_REDIS_AUTH_PASSWORD", sentinels: String = "BR_REDIS_AUTH_SENTINELS_PASSWORD") throws -> String {
        let extra = "password_env = \"\(data)\"\nsentinel_username = \"\(Env.sentinelsUser)\"\nsentinel_password_env = \"\(sentinels)\""
        return try DaemonSentinelTests.config(db: db, prefix: prefix, extra: extra, sentinels: Env.sentinels)
    }

    /// The data nodes' password and the sentinels' own user and password: `check` and `doctor`
    /// work, `run` follows a failover (made by `scripts/redis-sentinel failover` with the same
    /// credentials) and finds a divergence planted on the new primary. A wrong data password or
    /// a wrong sentinel password: doctor and run name the node (or the sentinels) and AUTH.
    @Test(.enabled(if: RedisAuthTestEnv.sentinelPort != nil)) func sentinelWithDataAndSentinelCredentials() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let base = try #require(Env.sentinelPort)
        try #require(!Env.sentinelsUser.isEmpty && !Env.sentinelsPassword.isEmpty, "BR_REDIS_AUTH_SENTINELS_USER / _PASSWORD are not set")
        let rows = 2000
        let (db, prefix) = try DaemonSentinelTests.setUp(rows: rows, primary: Env.sentinelPrimary)
        defer { DaemonSentinelTests.tearDown(db, prefix, rows: rows, primary: Env.sentinelPrimary) }
        _ = try Env.sentinelPrimary().command(["SET", "\(prefix):77:stock", "1"])
        // The sentinels need their own credentials: without them a sentinel refuses.
        let anonymous = try RedisConnection(configuration: RedisConfiguration(endpoint: Env.sentinels[0]))
        #expect(throws: RedisError.self) { _ = try anonymous.command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "shop"]) }

        let good = try Self.sentinelConfig(db: db, prefix: prefix)
        let r = try DaemonCheckTests.check(good)
        #expect(r.status == 1, "\(r.stderr.suffix(3000))")
        #expect(r.records.filter { $0["event"] as? String == "divergence" }.compactMap { $0["key"] as? String } == ["77"], "\(r.records)")
        Self.expectNoPassword(r.stderr + "\(r.records)", "check's output")
        let doctor = try Self.doctor(good, environment: ["BR_TEST_MYSQL_PASSWORD": "reconciler"])
        #expect(DoctorAndRepairTests.severity(doctor.findings, "redis.sentinel") == "ok", "\(doctor.findings)")
        Self.expectNoPassword(doctor.text, "doctor's output")
        _ = try Env.sentinelPrimary().command(["SET", "\(prefix):77:stock", "177"])

        // run, and a failover during it.
        let run = try RunningDaemon(config: good, name: "auth-\(db)")
        defer { run.stop() }
        #expect(run.process.isRunning, "\(run.log.suffix(3000))")
        let before = try Env.sentinelPrimary().configuration.endpoint
        let script = TestEnv.repoRoot.appendingPathComponent("scripts/redis-sentinel").path
        let out = NSTemporaryDirectory() + "br-auth-failover-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: out) }
        // system(3) with the credentials in the environment, not the command line.
        setenv("BR_REDIS_SENTINEL_PASSWORD", Env.password, 1)
        setenv("BR_REDIS_SENTINELS_PASSWORD", Env.sentinelsPassword, 1)
        setenv("BR_REDIS_SENTINELS_USER", Env.sentinelsUser, 1)
        defer { unsetenv("BR_REDIS_SENTINEL_PASSWORD"); unsetenv("BR_REDIS_SENTINELS_PASSWORD"); unsetenv("BR_REDIS_SENTINELS_USER") }
        let status = system("BR_REDIS_SENTINEL_PORT=\(base) bash '\(script)' failover </dev/null >'\(out)' 2>&1")
        let failoverLog = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        try #require(status == 0, "scripts/redis-sentinel failover: \(failoverLog)")
        let after = try Env.sentinelPrimary().configuration.endpoint
        #expect(after != before, "\(failoverLog)")
        var followed = false
        for _ in 0..<100 where !followed {
            Thread.sleep(forTimeInterval: 0.1)
            followed = run.log.contains("first successful Redis command on the new primary")
        }
        #expect(followed, "\(run.log.suffix(3000))")
        _ = try Env.sentinelPrimary().command(["SET", "\(prefix):1500:stock", "0"])
        let found = run.waitForRecords("divergence", seconds: 10)
        #expect(found.compactMap { $0["key"] as? String } == ["1500"], "\(run.report.prefix(3000))")
        run.stop()
        Self.expectNoPassword(run.log + run.report, "run's log and report")

        // A wrong data-node password: the primary is named, its AUTH refused.
        let wrongData = try Self.sentinelConfig(db: db, prefix: prefix, data: "BR_TEST_WRONG_REDIS_PASSWORD")
        let primaryPort: Int = { if case .tcp(_, let p) = after { return p } else { return 0 } }()
        let bad = try Self.doctor(wrongData, environment: Self.wrongEnvironment)
        #expect(Self.errors(bad.findings).contains { $0.contains("AUTH") && $0.contains("127.0.0.1:\(primaryPort)") }, "\(bad.findings)")
        Self.expectNoPassword(bad.text, "doctor's output with a wrong data password")
        let badRun = try Self.runExpectingFailure(wrongData)
        #expect(badRun.status != 0)
        #expect(badRun.stderr.contains("AUTH") && badRun.stderr.contains("127.0.0.1:\(primaryPort)"), "\(badRun.stderr.suffix(3000))")
        Self.expectNoPassword(badRun.stderr, "run's log with a wrong data password")

        // A wrong sentinel password: every sentinel's AUTH refused, each named.
        let wrongSentinel = try Self.sentinelConfig(db: db, prefix: prefix, sentinels: "BR_TEST_WRONG_REDIS_PASSWORD")
        let badS = try Self.doctor(wrongSentinel, environment: Self.wrongEnvironment)
        let sentinelErrors = Self.errors(badS.findings).joined(separator: "\n")
        #expect(sentinelErrors.contains("AUTH") && Env.sentinels.allSatisfy { sentinelErrors.contains("\($0)") }, "\(badS.findings)")
        Self.expectNoPassword(badS.text, "doctor's output with a wrong sentinel password")
        let badSRun = try Self.runExpectingFailure(wrongSentinel)
        #expect(badSRun.status != 0)
        #expect(badSRun.stderr.contains("AUTH") && badSRun.stderr.contains("\(Env.sentinels[0])"), "\(badSRun.stderr.suffix(3000))")
        Self.expectNoPassword(badSRun.stderr, "run's log with a wrong sentinel password")
    }
}
