import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// kill -9 at random moments while a writer keeps changing the table: after each restart the
/// sidecar resumes from its newest checkpoint, and at the end its state equals SELECT, with no
/// divergence reported for keys that never diverged.
@Suite(.serialized) struct DaemonCrashResumeTests {
    @Test func resumesAfterKillNineWithNothingLost() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 50)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("br-ckpt-\(prefix)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try String(contentsOfFile: try DaemonCheckTests.config(db: db, prefix: prefix), encoding: .utf8)
        config += "\n[checkpoint]\ndirectory = \"\(dir)\"\ninterval_seconds = 0.3\nevery_transactions = 20\nkeep = 3\n"
        let path = dir + ".toml"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let outPath = dir + ".out"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: outPath) }

        // The writer: orders applied to MySQL, then to Redis (consistent, Redis behind by < G).
        let stopWriter = LockedFlag()
        let writer = Thread {
            var n = 0
            while !stopWriter.value {
                let id = Int.random(in: 1...50)
                _ = try? TestEnv.sql("UPDATE \(db).products SET stock = stock - 1 WHERE id = \(id)")
                _ = try? DaemonCheckTests.redis(["DECR", "\(prefix):\(id):stock"])
                n += 1
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        writer.start()

        let errPath = dir + ".err"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        func start(logLevel: String = "warning") throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.cli)
            p.arguments = ["run", "--config", path, "--log-level", logLevel]
            var env = ProcessInfo.processInfo.environment
            env["BR_TEST_MYSQL_PASSWORD"] = "reconciler"
            // Checkpoint writes pause 150 ms before their rename, so that many kills land inside one.
            env["BR_TEST_CHECKPOINT_PAUSE_MS"] = "150"
            p.environment = env
            let out = FileHandle(forWritingAtPath: outPath)
            out?.seekToEndOfFile()
            p.standardOutput = out
            p.standardError = logLevel == "warning" ? FileHandle.nullDevice : FileHandle(forWritingAtPath: errPath)
            try p.run()
            return p
        }
        for _ in 0..<10 {
            let p = try start()
            Thread.sleep(forTimeInterval: Double.random(in: 0.8...2.0))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        // Kills inside a write leave only a temporary file behind, never a torn checkpoint.
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.contains(".tmp.") } ?? []
        print("temporary files left by kills inside a checkpoint write: \(leftovers.count)")
        stopWriter.value = true
        while writer.isExecuting { Thread.sleep(forTimeInterval: 0.05) }
        // A last clean run: resume, catch up, stop with SIGTERM (final checkpoint).
        let p = try start(logLevel: "notice")
        Thread.sleep(forTimeInterval: 4)
        p.terminate()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let log = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        #expect(log.contains("resuming from checkpoint"), "the last run did not resume from a checkpoint: \(log.suffix(1500))")
        #expect(log.contains("final checkpoint written"))

        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
        let newest = try #require(files.last, "no checkpoint written")
        let inspect = try TestEnv.run(TestEnv.cli, ["checkpoint", "inspect", "--values", dir + "/" + newest])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        var shadow: [String: String] = [:]
        for line in inspect.stdout.split(separator: "\n").dropFirst() {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            shadow["\(o["key"] ?? "")"] = "\(o["value"] ?? "")"
        }
        let expected = Dictionary(uniqueKeysWithValues: try TestEnv.sql("SELECT id, stock FROM \(db).products").map { ($0[0], $0[1]) })
        #expect(shadow == expected, "checkpoint state differs from SELECT")
        let records = ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(!records.contains { $0.contains("\"divergence\"") }, "no key diverged, yet: \(records.prefix(5))")
    }
}

extension DaemonCrashResumeTests {
    /// The checkpoint's binlog file is purged on the source: the sidecar resumes by GTID and ends
    /// equal to SELECT.
    @Test func resumesByGTIDWhenItsFileWasPurged() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let (db, prefix) = try DaemonCheckTests.setUp(rows: 20)
        defer { DaemonCheckTests.tearDown(db, prefix) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("br-gtid-\(prefix)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try String(contentsOfFile: try DaemonCheckTests.config(db: db, prefix: prefix), encoding: .utf8)
        config += "\n[checkpoint]\ndirectory = \"\(dir)\"\ninterval_seconds = 0.5\n"
        let path = dir + ".toml"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        func runFor(_ seconds: Double, _ extra: [String] = []) throws -> String {
            let errPath = dir + ".err"
            FileManager.default.createFile(atPath: errPath, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: errPath) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.cli)
            p.arguments = ["run", "--config", path, "--log-level", "info"] + extra
            var env = ProcessInfo.processInfo.environment
            env["BR_TEST_MYSQL_PASSWORD"] = "reconciler"
            p.environment = env
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle(forWritingAtPath: errPath)
            try p.run()
            Thread.sleep(forTimeInterval: seconds)
            p.terminate()
            p.waitUntilExit()
            return (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        }
        func purgeAllButCurrent() throws {
            let current = try TestEnv.sql("SHOW MASTER STATUS")[0][0]
            // MariaDB keeps a file until its binlog checkpoint moves on: retry until it is gone.
            for _ in 0..<50 {
                _ = try TestEnv.sql("PURGE BINARY LOGS TO '\(current)'")
                if try TestEnv.sql("SHOW BINARY LOGS").first?.first == current { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            #expect(try TestEnv.sql("SHOW BINARY LOGS").first?.first == current, "could not purge the older binlogs")
        }
        func newestFile() throws -> String {
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
            return dir + "/" + (files.last ?? "")
        }
        func newestShadow() throws -> [String: String] {
            let inspect = try TestEnv.run(TestEnv.cli, ["checkpoint", "inspect", "--values", try newestFile()])
            var shadow: [String: String] = [:]
            for line in inspect.stdout.split(separator: "\n").dropFirst() {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                shadow["\(o["key"] ?? "")"] = "\(o["value"] ?? "")"
            }
            return shadow
        }
        func selectAll() throws -> [String: String] {
            Dictionary(uniqueKeysWithValues: try TestEnv.sql("SELECT id, stock FROM \(db).products").map { ($0[0], $0[1]) })
        }
        _ = try runFor(3)
        // While it is down: the file of its checkpoint is purged, then changes are made (in the
        // current file, which the source can still serve after the checkpoint's GTID).
        _ = try TestEnv.sql("FLUSH BINARY LOGS")
        try purgeAllButCurrent()
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = stock + 5 WHERE id <= 10")
        for i in 1...10 { _ = try DaemonCheckTests.redis(["INCRBY", "\(prefix):\(i):stock", "5"]) }
        let log = try runFor(4)
        #expect(log.contains("resuming by GTID"), "\(log.suffix(2000))")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }.sorted()
        let inspect = try TestEnv.run(TestEnv.cli, ["checkpoint", "inspect", "--values", dir + "/" + (files.last ?? "")])
        var shadow: [String: String] = [:]
        for line in inspect.stdout.split(separator: "\n").dropFirst() {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            shadow["\(o["key"] ?? "")"] = "\(o["value"] ?? "")"
        }
        let expected = Dictionary(uniqueKeysWithValues: try TestEnv.sql("SELECT id, stock FROM \(db).products").map { ($0[0], $0[1]) })
        #expect(shadow == expected, "\(log.suffix(3000))")

        // Transactions it never applied were purged: it must refuse, naming --rebootstrap.
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = stock + 1 WHERE id = 1; FLUSH BINARY LOGS;")
        try purgeAllButCurrent()
        let refused = try runFor(3)
        #expect(refused.contains("--rebootstrap"), "\(refused.suffix(2000))")

        // --rebootstrap: the saved state is discarded and the tables are read again.
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = 7 WHERE id = 2; DELETE FROM \(db).products WHERE id = 3;")
        let reboot = try runFor(3, ["--rebootstrap"])
        #expect(reboot.contains("--rebootstrap: discarding saved state"), "\(reboot.suffix(2000))")
        #expect(reboot.contains("bootstrapped from a consistent snapshot"), "\(reboot.suffix(2000))")
        #expect(!reboot.contains("resuming from checkpoint") && !reboot.contains("binlog tail stopped"), "\(reboot.suffix(2000))")
        #expect(try newestShadow() == selectAll(), "\(reboot.suffix(2000))")
        // The next plain run resumes from the checkpoint --rebootstrap wrote, and follows changes.
        _ = try TestEnv.sql("UPDATE \(db).products SET stock = 11 WHERE id = 4; INSERT INTO \(db).products VALUES (99, 'p99', 9);")
        let resumed = try runFor(3)
        #expect(resumed.contains("resuming from checkpoint"), "\(resumed.suffix(2000))")
        #expect(try newestShadow() == selectAll(), "\(resumed.suffix(2000))")

        // The checkpoint records the real source: flavour from its version string, its own
        // @@server_id (not the replica id of the configuration).
        let header = try TestEnv.run(TestEnv.cli, ["checkpoint", "inspect", newestFile()])
        let h = try #require(try JSONSerialization.jsonObject(with: Data(header.stdout.utf8)) as? [String: Any])
        let source = try #require(h["source"] as? [String: Any])
        let version = try TestEnv.sql("SELECT VERSION(), @@server_id")[0]
        #expect(source["flavour"] as? String == ServerFlavor.detect(version: version[0]).rawValue)
        #expect(source["flavour"] as? String == "mariadb")
        #expect("\(source["server_id"] ?? "")" == version[1])
        #expect(source["server_uuid"] is NSNull)

        // A checkpoint from a server of the other flavour is refused, naming --rebootstrap.
        let store = try CheckpointStore(directory: dir, keep: 3)
        var foreign = try #require(try store.loadNewestValid()).checkpoint
        foreign.header.source.flavour = .mysql
        foreign.header.source.serverUUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
        try store.write(foreign)
        let mismatch = try runFor(2)
        #expect(mismatch.contains("taken from a mysql source but the source is mariadb") && mismatch.contains("--rebootstrap"), "\(mismatch.suffix(2000))")
    }

}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var v = false
    var value: Bool {
        get { lock.withLock { v } }
        set { lock.withLock { v = newValue } }
    }
}
