import Foundation
import Testing
import BinlogParser
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

@Suite struct AnalyzerTests {
    static func run(_ file: String, table: String, key: String, value: String, configure: (inout BinlogAnalyzer.Options) -> Void = { _ in }) throws -> [String: String] {
        var options = BinlogAnalyzer.Options(table: table, keyColumns: key.split(separator: ",").map(String.init), valueColumn: value)
        configure(&options)
        var a = BinlogAnalyzer(options: options)
        try a.replay(path: TestEnv.fixture(file))
        a.finish()
        var out: [String: String] = [:]
        for (k, e) in a.sortedState() { out[a.keyText(k)] = ShadowValue(e.value).description }
        return out
    }

    /// Expected state worked out from ddl-pk-change.sql: 1: 10-1-2, 2: 500+10-3, 3 deleted,
    /// 4 and 6 untouched (their updates were rolled back), 5 renamed 105, 7 inserted.
    @Test func ddlAndPrimaryKeyChange() throws {
        let state = try Self.run("ddl-pk-change.binlog", table: "shop.products", key: "id", value: "stock")
        #expect(state == ["1": "7", "2": "507", "4": "7", "6": "60", "7": "9", "105": "42"])
    }

    @Test func untilTimeStopsBeforeLaterTransactions() throws {
        // At 1700000015 only the inserts, the first UPDATE of id 1 and the 5 -> 105 change happened.
        let state = try Self.run("ddl-pk-change.binlog", table: "shop.products", key: "id", value: "stock") { $0.stop = .time(1_700_000_015) }
        #expect(state == ["1": "9", "2": "500", "3": "3", "4": "7", "6": "60", "105": "42"])
    }

    /// 0-1-6 is the first UPDATE of id 1 (10 -> 9); its XID ends at 2495.
    @Test func untilGTIDAndUntilPosStopAfterThatTransaction() throws {
        let expected = ["1": "9", "2": "500", "3": "3", "4": "7", "5": "42", "6": "60"]
        let byGTID = try Self.run("ddl-pk-change.binlog", table: "shop.products", key: "id", value: "stock") { $0.stop = .gtid("0-1-6") }
        #expect(byGTID == expected)
        let byPos = try Self.run("ddl-pk-change.binlog", table: "shop.products", key: "id", value: "stock") { $0.stop = .position(file: "ddl-pk-change.binlog", pos: 2495) }
        #expect(byPos == expected)
        let before = try Self.run("ddl-pk-change.binlog", table: "shop.products", key: "id", value: "stock") { $0.stop = .position(file: "ddl-pk-change.binlog", pos: 2494) }
        #expect(before["1"] == "10")
    }

    /// A relay log holds several FORMAT_DESCRIPTION events: two files back to back decode as one.
    @Test func severalFormatDescriptionsInOneFile() throws {
        let a = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestEnv.fixture("gtid-domains.binlog"))))
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestEnv.fixture("gtid-domains-next.binlog"))))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString).bin").path
        try Data(a + b.dropFirst(4)).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = try BinlogFileEvents(path: path)
        var n = 0
        var fdes = 0
        while let e = try events.next() {
            n += 1
            if case .formatDescription = e.event.body { fdes += 1 }
        }
        #expect(fdes == 2)
        #expect(n == (try Fixtures_events(TestEnv.fixture("gtid-domains.binlog")).count + (try Fixtures_events(TestEnv.fixture("gtid-domains-next.binlog")).count)))
    }

    @Test func timelineOfOneKey() throws {
        var options = BinlogAnalyzer.Options(table: "shop.products", keyColumns: ["id"], valueColumn: "stock")
        options.timelineKey = "1"
        var a = BinlogAnalyzer(options: options)
        try a.replay(path: TestEnv.fixture("ddl-pk-change.binlog"))
        a.finish()
        let changes = a.timeline.map { c in "\(c.before.map { ShadowValue($0).description } ?? "-")>\(c.after.map { ShadowValue($0).description } ?? "-")" }
        #expect(changes == ["->10", "10>9", "9>7"])
        #expect(a.timeline.allSatisfy { $0.gtid != nil })
    }

    /// MINIMAL images: unchanged columns are absent; the value follows the key through a PK change.
    @Test func minimalImages() throws {
        let state = try Self.run("image-minimal.binlog", table: "fx.img", key: "id", value: "n")
        #expect(state == ["1": "11", "4": "NULL", "5": "NULL", "30": "30"])
        let noblob = try Self.run("image-noblob.binlog", table: "fx.img", key: "id", value: "n")
        #expect(noblob == state)
    }

    @Test func columnsFromTheCommandLineWhenTheLogHasNoNames() throws {
        // types-nolog-meta has binlog_row_metadata=NO_LOG: no names in the table maps.
        #expect(throws: BinlogDecodingError.self) {
            _ = try Self.run("types-nolog-meta.binlog", table: "fx.all_types", key: "id", value: "c_int")
        }
        let byPosition = try Self.run("types-nolog-meta.binlog", table: "fx.all_types", key: "@1", value: "@8")
        let byNames = try Self.run("types-full.binlog", table: "fx.all_types", key: "id", value: "c_int")
        #expect(byPosition == byNames)
        #expect(!byNames.isEmpty)
    }

    /// Random transactions on the live MariaDB, then the binlog files replayed: the result equals
    /// SELECT at the end.
    @Test func replayOfALiveServerEqualsSelect() throws {
        guard TestEnv.mariadbAvailable else {
            Issue.record("the private MariaDB is not running (scripts/mariadb-start; scripts/test starts it)")
            return
        }
        let db = "analyze_live_\(UInt32.random(in: 0...UInt32.max))"
        var sql = "CREATE DATABASE \(db); CREATE TABLE \(db).t (id BIGINT PRIMARY KEY, stock INT, note VARCHAR(20)) ENGINE=InnoDB;\n"
        var rng = SystemRandomNumberGenerator()
        var ids = Set<Int>()
        for _ in 0..<300 {
            let begin = Bool.random(using: &rng)
            if begin { sql += "BEGIN;\n" }
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let id = Int.random(in: 1...60, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0, 1: sql += "INSERT INTO \(db).t VALUES (\(id), \(Int.random(in: 0...999, using: &rng)), 'x') ON DUPLICATE KEY UPDATE stock = stock + 1;\n"; ids.insert(id)
                case 2: sql += "UPDATE \(db).t SET stock = stock - 1 WHERE id = \(id);\n"
                case 3: sql += "UPDATE IGNORE \(db).t SET id = \(id + 100) WHERE id = \(id);\n"
                default: sql += "DELETE FROM \(db).t WHERE id = \(id);\n"
                }
            }
            if begin { sql += Bool.random(using: &rng) ? "COMMIT;\n" : "ROLLBACK;\n" }
        }
        _ = try TestEnv.sql("FLUSH BINARY LOGS;\n" + sql + "FLUSH BINARY LOGS;")
        defer { _ = try? TestEnv.sql("DROP DATABASE \(db)") }
        let files = try TestEnv.sql("SHOW BINARY LOGS").map { $0[0] }
        let expected = Dictionary(uniqueKeysWithValues: try TestEnv.sql("SELECT id, stock FROM \(db).t").map { ($0[0], $0[1] == "NULL" ? "NULL" : $0[1]) })
        var a = BinlogAnalyzer(options: BinlogAnalyzer.Options(table: "\(db).t", keyColumns: ["id"], valueColumn: "stock"))
        for f in files { try a.replay(path: TestEnv.mariadbDataDir + "/" + f) }
        a.finish()
        var got: [String: String] = [:]
        for (k, e) in a.sortedState() { got[a.keyText(k)] = ShadowValue(e.value).description }
        #expect(got == expected)
        #expect(!expected.isEmpty)
    }
}

extension AnalyzerTests {
    /// --until-pos orders files of one series by their number: a stop in mysql-bin.999999 is
    /// before every transaction of mysql-bin.1000000, and one in .1000000 after all of .999999.
    @Test func untilPosOrdersFilesBySequenceNumber() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("until-pos-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func copy(_ name: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try FileManager.default.copyItem(atPath: TestEnv.fixture("ddl-pk-change.binlog"), toPath: path)
            return path
        }
        let later = try copy("mysql-bin.1000000"), earlier = try copy("mysql-bin.999999")
        func replay(_ path: String, stop: StopPoint) throws -> (state: [String: String], stopped: Bool) {
            var options = BinlogAnalyzer.Options(table: "shop.products", keyColumns: ["id"], valueColumn: "stock")
            options.stop = stop
            var a = BinlogAnalyzer(options: options)
            try a.replay(path: path)
            a.finish()
            var out: [String: String] = [:]
            for (k, e) in a.sortedState() { out[a.keyText(k)] = ShadowValue(e.value).description }
            return (out, a.isStopped)
        }
        let all = try Self.run("ddl-pk-change.binlog", table: "shop.products", key: "id", value: "stock")
        // The stop point is in an earlier file: nothing of .1000000 is applied (text order put
        // "mysql-bin.999999" after "mysql-bin.1000000", so everything was).
        let past = try replay(later, stop: .position(file: "mysql-bin.999999", pos: 1 << 40))
        #expect(past.state.isEmpty)
        #expect(past.stopped)
        // The stop point is in a later file: all of .999999 is applied and replay goes on.
        let before = try replay(earlier, stop: .position(file: "mysql-bin.1000000", pos: 4))
        #expect(before.state == all)
        #expect(!before.stopped)
        // In the stop file itself the offset decides, as before.
        let within = try replay(later, stop: .position(file: "mysql-bin.1000000", pos: 2495))
        #expect(within.state == ["1": "9", "2": "500", "3": "3", "4": "7", "5": "42", "6": "60"])
    }
}
