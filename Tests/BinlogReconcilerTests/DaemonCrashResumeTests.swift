import Foundation
import Testing
@testable import BinlogReconciler

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

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var v = false
    var value: Bool {
        get { lock.withLock { v } }
        set { lock.withLock { v = newValue } }
    }
}
