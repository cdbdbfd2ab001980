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
