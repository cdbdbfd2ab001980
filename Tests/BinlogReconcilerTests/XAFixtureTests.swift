import BinlogFold
import BinlogParser
import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// Our captured MariaDB XA fixtures (`scripts/capture-fixtures`: `xa-*.binlog`; the scenario with a
/// server restart spans `xa-restart.000001.binlog` and `xa-restart.000002.binlog`) against what the
/// server itself said at capture time: its rows after the scenario (`NAME.select.tsv`, a `SELECT …
/// ORDER BY id`) and the XA transactions it still held prepared (`NAME.xa-recover.tsv`, `XA
/// RECOVER`). Both folds — `analyze`'s and the live tail's, fed as `FoldEquivalenceTests` feeds it
/// — must end in the server's rows, column by column, hold exactly the transactions the server
/// holds prepared, and see no XA COMMIT whose prepare they missed.
@Suite struct XAFixtureTests {
    static let table = "shop.products"

    /// The XA scenarios: every `xa-*.select.tsv` beside the binlogs.
    static var scenarios: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: TestEnv.fixtures.path)) ?? []
        return names.filter { $0.hasPrefix("xa-") && $0.hasSuffix(".select.tsv") }
            .map { String($0.dropLast(".select.tsv".count)) }.sorted()
    }

    /// The server's rows: the column names (first is the key, `id`) and, per column, key → value as
    /// `mariadb -B` prints it (NULL as `NULL`).
    static func serverRows(_ name: String) throws -> (columns: [String], byColumn: [String: [String: String]]) {
        let text = try String(contentsOfFile: TestEnv.fixture(name + ".select.tsv"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(lines.first, "\(name).select.tsv is empty")
        var byColumn: [String: [String: String]] = [:]
        for row in lines.dropFirst() {
            try #require(row.count == header.count, "\(name).select.tsv: a row with \(row.count) fields, header has \(header.count)")
            // `mariadb -B` escapes tab, newline, backslash and NUL; the scenarios hold none.
            try #require(!row.contains { $0.contains("\\") }, "\(name).select.tsv: escaped field")
            for (c, v) in zip(header, row).dropFirst() { byColumn[c, default: [:]][row[0]] = v }
        }
        return (header, byColumn)
    }

    /// The XA transactions the server still held prepared, from `XA RECOVER` (formatID,
    /// gtrid_length, bqual_length, data), as the canonical xid mariadb-binlog prints:
    /// `X'<gtrid hex>',X'<bqual hex>',<formatID>`.
    static func serverPrepared(_ name: String) throws -> [String] {
        let text = try String(contentsOfFile: TestEnv.fixture(name + ".xa-recover.tsv"), encoding: .utf8)
        var out: [String] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            try #require(f.count == 4, "\(name).xa-recover.tsv: \(line)")
            let g = try #require(Int(f[1])), b = try #require(Int(f[2]))
            let data = Array(f[3].utf8)
            try #require(data.count == g + b, "\(name).xa-recover.tsv: data is not gtrid + bqual")
            out.append(xid(gtrid: Array(data[..<g]), bqual: Array(data[g...]), formatID: String(f[0])))
        }
        return out.sorted()
    }

    static func xid(gtrid: [UInt8], bqual: [UInt8], formatID: String) -> String {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        return "X'\(hex(gtrid))',X'\(hex(bqual))',\(formatID)"
    }

    /// The table's column names, from the files' table maps.
    static func columnNames(_ files: [String]) throws -> [String] {
        var names: [String]?
        for f in files { if let n = FoldEquivalenceTests.tables(f)[table] { names = n } }
        return try #require(names, "no rows of \(table) in \(files)")
    }

    static func files(_ name: String) throws -> [String] {
        let files = FoldEquivalenceTests.fixtureFiles(name)
        try #require(!files.isEmpty, "no binlog for \(name)")
        return files
    }

    /// Counts of statements in NAME.sql starting with `prefix` (what the server was asked to do).
    static func statements(_ name: String, _ prefix: String) throws -> Int {
        let sql = try String(contentsOfFile: TestEnv.fixture(name + ".sql"), encoding: .utf8)
        return sql.split(separator: "\n").filter { $0.hasPrefix(prefix) }.count
    }

    /// (a) `analyze` over the scenario's files ends in the server's rows, for every column; (c) no
    /// XA COMMIT without its prepare, nothing open, and prepared at the end exactly what `XA
    /// RECOVER` listed.
    @Test(arguments: scenarios)
    func analyzeEndsInTheServersRows(_ name: String) throws {
        let files = try Self.files(name)
        let names = try Self.columnNames(files)
        let truth = try Self.serverRows(name)
        let prepared = try Self.serverPrepared(name)
        #expect(truth.columns.first == names.first, "\(name): the key column")
        for column in truth.columns.dropFirst() {
            let (state, analyzer) = try FoldEquivalenceTests.offlineAnalyzer(files, table: Self.table, names: names, value: column)
            #expect(state == truth.byColumn[column] ?? [:], "\(name) \(column): analyze \(state.sorted { $0.key < $1.key }), server \((truth.byColumn[column] ?? [:]).sorted { $0.key < $1.key })")
            #expect(analyzer.warnings.isEmpty, "\(name): \(analyzer.warnings)")
            #expect(!analyzer.warnings.contains { $0.contains("XA PREPARE is not in the files given") })
            #expect(analyzer.preparedAtEnd == prepared, "\(name): prepared at the end \(analyzer.preparedAtEnd), server \(prepared)")
            #expect(!analyzer.summary.openTransactionAtEnd, "\(name): a transaction open at the end")
        }
    }

    /// (b) The live tail's fold over the same files ends in the same rows, and holds exactly the
    /// transactions the server holds prepared.
    @Test(arguments: scenarios)
    func liveFoldEndsInTheServersRows(_ name: String) throws {
        let files = try Self.files(name)
        let names = try Self.columnNames(files)
        let truth = try Self.serverRows(name)
        let prepared = try Self.serverPrepared(name)
        for column in truth.columns.dropFirst() {
            let (state, shadow) = try FoldEquivalenceTests.liveState(files, table: Self.table, names: names, value: column)
            #expect(state == truth.byColumn[column] ?? [:], "\(name) \(column): live \(state.sorted { $0.key < $1.key }), server \((truth.byColumn[column] ?? [:]).sorted { $0.key < $1.key })")
            #expect(shadow.heldXA.byXID.keys.sorted() == prepared, "\(name): held \(shadow.heldXA.byXID.keys.sorted()), server \(prepared)")
        }
    }

    /// The files hold what the scenario's SQL asked for: one XA_PREPARE event (one_phase 0, in a GTID
    /// group flagged prepared-XA with the same xid) per `XA PREPARE`, one group flagged
    /// completed-XA per `XA COMMIT`/`XA ROLLBACK` after a prepare, and nothing XA for `… ONE PHASE`.
    @Test(arguments: scenarios)
    func theFilesHoldTheScenariosXAEvents(_ name: String) throws {
        var prepares = 0
        var completions = 0
        var preparedGroupXID: String?
        for path in try Self.files(name) {
            let events = try BinlogFileEvents(path: path)
            while let e = try events.next() {
                switch e.event.body {
                case .mariadbGTID(let g):
                    preparedGroupXID = g.flags & MariaDBGTIDEvent.preparedXA != 0 ? g.xid : nil
                    if g.flags & MariaDBGTIDEvent.completedXA != 0 { completions += 1 }
                case .xaPrepare(let p):
                    prepares += 1
                    #expect(!p.onePhase, "\(name): MariaDB logs ONE PHASE as a plain transaction")
                    #expect(preparedGroupXID == p.xid, "\(name): XA_PREPARE \(p.xid) in a group flagged \(preparedGroupXID ?? "not prepared-XA")")
                default: break
                }
            }
        }
        let sql = try String(contentsOfFile: TestEnv.fixture(name + ".sql"), encoding: .utf8)
        let onePhase = sql.components(separatedBy: " ONE PHASE;").count - 1
        let commits = try Self.statements(name, "XA COMMIT") - onePhase
        let rollbacks = try Self.statements(name, "XA ROLLBACK") - Self.rolledBackBeforePrepare(name)
        #expect(prepares == (try Self.statements(name, "XA PREPARE")), "\(name): \(prepares) XA_PREPARE events")
        #expect(completions == commits + rollbacks, "\(name): \(completions) completed-XA groups, the SQL has \(commits) XA COMMIT and \(rollbacks) XA ROLLBACK after a prepare")
    }

    /// `XA ROLLBACK` of a transaction never prepared (after `XA END`, nothing binlogged).
    static func rolledBackBeforePrepare(_ name: String) throws -> Int {
        let sql = try String(contentsOfFile: TestEnv.fixture(name + ".sql"), encoding: .utf8)
        var prepared = Set<String>()
        var n = 0
        for line in sql.split(separator: "\n") {
            if line.hasPrefix("XA PREPARE ") { prepared.insert(String(line.dropFirst(11).dropLast())) }
            if line.hasPrefix("XA ROLLBACK "), !prepared.contains(String(line.dropFirst(12).dropLast())) { n += 1 }
        }
        return n
    }

    /// The checks above can fail on a real file: the second file of xa-restart alone holds an XA
    /// COMMIT and an XA ROLLBACK whose prepares are in the first. `analyze` warns with the xid and
    /// does not reach the server's rows; the live fold stops (naming --rebootstrap).
    @Test func theSecondFileOfTheRestartAloneMissesItsPrepares() throws {
        let files = try Self.files("xa-restart")
        try #require(files.count == 2)
        let names = try Self.columnNames(files)
        let truth = try Self.serverRows("xa-restart")
        let (state, analyzer) = try FoldEquivalenceTests.offlineAnalyzer([files[1]], table: Self.table, names: names, value: "stock")
        let survivor = Self.xid(gtrid: Array("survivor-1".utf8), bqual: [], formatID: "1")
        #expect(analyzer.warnings.contains { $0.contains("XA COMMIT \(survivor)") && $0.contains("XA PREPARE is not in the files given") }, "\(analyzer.warnings)")
        #expect(state != truth.byColumn["stock"])
        #expect(throws: ApplyError.self) { try FoldEquivalenceTests.liveState([files[1]], table: Self.table, names: names, value: "stock") }
        // And the first file alone ends with both transactions prepared.
        let first = try FoldEquivalenceTests.offlineAnalyzer([files[0]], table: Self.table, names: names, value: "stock").analyzer
        #expect(first.preparedAtEnd == [survivor, Self.xid(gtrid: Array("survivor-2".utf8), bqual: [], formatID: "1")].sorted())
    }

    /// `analyze` (the command) lists the transaction xa-left-prepared leaves prepared, with its xid.
    @Test func analyzeListsTheTransactionLeftPrepared() throws {
        let prepared = try Self.serverPrepared("xa-left-prepared")
        try #require(prepared.count == 1)
        let r = try TestEnv.run(TestEnv.cli, ["analyze", TestEnv.fixture("xa-left-prepared.binlog"), "--table", Self.table, "--key", "id", "--value", "stock"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("1 XA transaction(s) prepared and not committed") && r.stderr.contains(prepared[0]), "\(r.stderr)")
        #expect(!r.stderr.contains("warning"), "\(r.stderr)")
    }
}
