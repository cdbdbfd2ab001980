import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

enum TestEnv {
    static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/binlogs")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// The private MariaDB of scripts/mariadb-start (root over its socket via scripts/mariadb).
    static var stateDir: String {
        ProcessInfo.processInfo.environment["BR_STATE_DIR"] ?? repoRoot.appendingPathComponent(".state").path
    }

    static var mariadbDataDir: String { stateDir + "/mariadb/data" }

    @discardableResult
    static func run(_ executable: String, _ args: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        p.arguments = executable.hasPrefix("/") ? args : [executable] + args
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Runs SQL as root on the private MariaDB; returns tab-separated rows.
    static func sql(_ statements: String) throws -> [[String]] {
        let r = try run(repoRoot.appendingPathComponent("scripts/mariadb").path, ["-N", "-B"], stdin: statements)
        guard r.status == 0 else { throw TestFailure("SQL failed (is the private MariaDB running? scripts/mariadb-start): \(r.stderr)") }
        return r.stdout.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    static var mariadbAvailable: Bool { (try? sql("SELECT 1")) != nil }

    static var cli: String { repoRoot.appendingPathComponent(".build/debug/binlog-reconciler").path }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// `binlog-reconciler run` in the background, its report and log in files.
final class RunningDaemon {
    let process = Process()
    let dir: String
    var outPath: String { dir + "/report.jsonl" }
    var errPath: String { dir + "/stderr.log" }

    init(config: String, name: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("br-run-\(name)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/report.jsonl", contents: nil)
        FileManager.default.createFile(atPath: dir + "/stderr.log", contents: nil)
        process.executableURL = URL(fileURLWithPath: TestEnv.cli)
        process.arguments = ["run", "--config", config, "--log-level", "info"]
        var env = ProcessInfo.processInfo.environment
        env["BR_TEST_MYSQL_PASSWORD"] = "reconciler"
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        Thread.sleep(forTimeInterval: 3)
    }

    var records: [[String: Any]] {
        ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    var log: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    var report: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

    /// The records of `event` once there is at least one (checked every 0.25 s, up to `seconds`).
    func waitForRecords(_ event: String, seconds: Double) -> [[String: Any]] {
        var found: [[String: Any]] = []
        for _ in 0..<Int(seconds * 4) {
            Thread.sleep(forTimeInterval: 0.25)
            found = records.filter { $0["event"] as? String == event }
            if !found.isEmpty { break }
        }
        return found
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
