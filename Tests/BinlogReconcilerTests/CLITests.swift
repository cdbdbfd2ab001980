import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The command line as a user runs it: stdout carries only JSON lines, errors name file, offset
/// and event, exit codes mean what the docs say.
@Suite struct CLITests {
    @Test func eventsPrintsOnlyJSONLines() throws {
        let r = try TestEnv.run(TestEnv.cli, ["events", TestEnv.fixture("compressed.binlog")])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count > 10)
        for line in lines {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(obj?["pos"] != nil && obj?["type"] != nil && obj?["next_pos"] != nil)
        }
    }

    @Test func corruptFileErrorNamesFileOffsetAndEvent() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestEnv.fixture("ddl-pk-change.binlog"))))
        bytes[2000] ^= 0x55
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corrupt-\(UUID().uuidString).binlog").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try TestEnv.run(TestEnv.cli, ["events", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains(path + ":"), "\(r.stderr)")
        #expect(r.stderr.contains("event "), "\(r.stderr)")
        #expect(r.stderr.contains("checksum"), "\(r.stderr)")
        // Everything before the bad event was printed.
        let printed = r.stdout.split(separator: "\n").count
        #expect(printed > 3)
        let relaxed = try TestEnv.run(TestEnv.cli, ["events", "--no-verify-checksum", path])
        #expect(relaxed.stdout.split(separator: "\n").count >= printed)
    }

    @Test func notABinlogIsNamedAsSuch() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("notes-\(UUID().uuidString).txt").path
        try Data("hello, world\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try TestEnv.run(TestEnv.cli, ["events", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("not a binlog"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func analyzePrintsSortedKeysAndASummaryOnStderr() throws {
        let r = try TestEnv.run(TestEnv.cli, ["analyze", TestEnv.fixture("ddl-pk-change.binlog"), "--table", "shop.products", "--key", "id", "--value", "stock"])
        #expect(r.status == 0, "\(r.stderr)")
        let keys = r.stdout.split(separator: "\n").compactMap { line -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["key"] as? Int
        }
        #expect(keys == [1, 2, 4, 6, 7, 105])
        #expect(r.stderr.contains("transactions"))
        let t = try TestEnv.run(TestEnv.cli, ["analyze", TestEnv.fixture("ddl-pk-change.binlog"), "--table", "shop.products", "--key", "id", "--value", "stock", "--timeline", "1"])
        #expect(t.stdout.split(separator: "\n").count == 3)
    }

    @Test func versionAndHelp() throws {
        let v = try TestEnv.run(TestEnv.cli, ["--version"])
        #expect(v.status == 0 && v.stdout.contains(BinlogReconcilerVersion.string))
        let h = try TestEnv.run(TestEnv.cli, ["analyze", "--help"])
        #expect(h.stdout.contains("--until-gtid"))
    }
}
