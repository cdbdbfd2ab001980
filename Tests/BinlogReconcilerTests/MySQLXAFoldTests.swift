import BinlogFold
@testable import BinlogParser
import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// MySQL XA as MySQL 5.7+ logs it (no MySQL server runs here, and the public fixtures hold no MySQL
/// XA file): real row transactions from MySQL-written fixtures, rewritten into the documented XA
/// form — `XA START X'..',X'..',1` … `XA END …`, XA_PREPARE (one_phase 0 or 1), and later, as a
/// group of its own, `XA COMMIT …` / `XA ROLLBACK …` — fed through the live fold. The XA form must
/// give the state of the plain form (commit), or of the log without that transaction (rollback).
@Suite struct MySQLXAFoldTests {
    /// The first MySQL fixture with a `BEGIN, table map, rows…, XID` transaction on a table of at
    /// least two columns, and that file's events.
    static func sample() throws -> (events: [BinlogEvent], begin: Int, xid: Int, names: [String], table: String)? {
        let dir = TestEnv.repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/binlogs").path
        for name in ["write-full-row.binlog", "update-full-row.binlog", "binlog_transaction_with_GTID.000001", "mysql-bin.sakila", "json.binlog.000001"] {
            let path = dir + "/" + name
            guard FileManager.default.fileExists(atPath: path), let file = try? BinlogFileEvents(path: path) else { continue }
            var events: [BinlogEvent] = []
            while let e = try file.next() { events.append(e.event) }
            for (i, e) in events.enumerated() {
                guard case .query(let q) = e.body, q.query == "BEGIN" else { continue }
                var j = i + 1
                var table: TableMapEvent?
                while j < events.count {
                    if case .tableMap(let t) = events[j].body { table = t; j += 1; continue }
                    if case .rows = events[j].body { j += 1; continue }
                    break
                }
                guard j < events.count, case .xid = events[j].body, let t = table, t.columns.count >= 2, j > i + 2 else { continue }
                let names = t.hasColumnNames ? t.columns.map { $0.name ?? "" } : (1...t.columns.count).map { "@\($0)" }
                return (events, i, j, names, t.qualifiedName)
            }
        }
        return nil
    }

    static func query(_ sql: String, like e: BinlogEvent) -> BinlogEvent {
        var out = e
        out.header.type = .query
        out.body = .query(QueryEvent(threadID: 1, executionTime: 0, errorCode: 0, statusVariables: [], database: "", query: sql))
        return out
    }

    static func prepare(onePhase: Bool, like e: BinlogEvent) -> BinlogEvent {
        var out = e
        out.header.type = BinlogEventType(38)
        out.body = .xaPrepare(XAPrepareEvent(onePhase: onePhase, formatID: 1, gtrid: Array("tx1".utf8), bqual: []))
        return out
    }

    static func fold(_ events: [BinlogEvent], table: String, names: [String]) throws -> (state: [String: String], held: Int) {
        let parts = table.split(separator: ".", maxSplits: 1).map(String.init)
        let watch = WatchConfiguration(
            name: "w", database: parts[0], table: parts[1], keyColumns: [names[0]], valueColumn: names[1],
            target: .string(try RedisKeyTemplate("k:{\(names[0])}", keyColumns: [names[0]])))
        var assembler = TransactionAssembler(watches: [watch]) { _, _ in names }
        var state = ShadowState(watchCount: 1, position: BinlogCoordinates(file: "", position: 4))
        for (n, e) in events.enumerated() { _ = try assembler.consume(e, end: BinlogCoordinates(file: "f", position: UInt64(n + 1)), state: &state) }
        var out: [String: String] = [:]
        state.maps[0].forEach { k, v in out[k.description] = v.description }
        return (out, state.heldXA.count)
    }

    @Test func mysqlXAIsHeldUntilItsCommitAndDroppedAtItsRollback() throws {
        guard let s = try Self.sample() else {
            Issue.record("no MySQL row transaction found in ../shared/fixtures/binlogs")
            return
        }
        let xid = "X'747831',X'',1"
        #expect(XAStatement.parse("XA COMMIT \(xid)")?.xid == (XAPrepareEvent(onePhase: false, formatID: 1, gtrid: Array("tx1".utf8), bqual: [])).xid)
        let before = Array(s.events[..<s.begin])
        let body = Array(s.events[(s.begin + 1)..<s.xid])
        let after = Array(s.events[(s.xid + 1)...])
        let plain = try Self.fold(s.events, table: s.table, names: s.names)
        let without = try Self.fold(before + after, table: s.table, names: s.names)
        #expect(plain.state != without.state, "the sample transaction changes the table")
        let start = Self.query("XA START \(xid)", like: s.events[s.begin])
        let end = Self.query("XA END \(xid)", like: s.events[s.begin])

        // Two phases, the commit after the rest of the log (another connection, later).
        var twoPhase = before + [start] + body + [end, Self.prepare(onePhase: false, like: s.events[s.xid])] + after
        let prepared = try Self.fold(twoPhase, table: s.table, names: s.names)
        #expect(prepared.held == 1)
        #expect(prepared.state == without.state, "nothing applied before XA COMMIT")
        twoPhase.append(Self.query("XA COMMIT \(xid)", like: s.events[s.begin]))
        let committed = try Self.fold(twoPhase, table: s.table, names: s.names)
        #expect(committed.held == 0)
        // The commit comes after the rest of the log here; the keys the rest changes later must
        // agree with the plain log only when the rest does not touch them again, so compare keys
        // the transaction changed and the rest did not.
        let touched = Set(plain.state.keys).union(without.state.keys).filter { plain.state[$0] != without.state[$0] }
        for k in touched { #expect(committed.state[k] == plain.state[k], "key \(k)") }

        // Rolled back: as if the transaction never happened.
        var rolledBack = before + [start] + body + [end, Self.prepare(onePhase: false, like: s.events[s.xid])] + after
        rolledBack.append(Self.query("XA ROLLBACK \(xid)", like: s.events[s.begin]))
        let rb = try Self.fold(rolledBack, table: s.table, names: s.names)
        #expect(rb.state == without.state)
        #expect(rb.held == 0)

        // One phase (XA_PREPARE with one_phase=1): the plain transaction.
        let onePhase = before + [start] + body + [end, Self.prepare(onePhase: true, like: s.events[s.xid])] + after
        #expect(try Self.fold(onePhase, table: s.table, names: s.names).state == plain.state)

        // An XA COMMIT whose prepare was never seen stops the live fold with a message.
        #expect(throws: ApplyError.self) {
            _ = try Self.fold(before + after + [Self.query("XA COMMIT X'6f74686572',X'',1", like: s.events[s.begin])], table: s.table, names: s.names)
        }
    }

    @Test func boundaryStepsOfBothFlavours() {
        var b = TransactionBoundaries()
        func q(_ sql: String) -> BinlogEvent {
            BinlogEvent(header: EventHeader(timestamp: 1, type: .query, serverID: 1, eventSize: 0, logPosition: 0, flags: 0), offset: 0,
                        body: .query(QueryEvent(threadID: 1, executionTime: 0, errorCode: 0, statusVariables: [], database: "", query: sql)))
        }
        #expect(b.step(q("XA START X'01',X'',1")) == .begin)
        #expect(b.step(q("XA END X'01',X'',1")) == .none)
        let p = BinlogEvent(header: EventHeader(timestamp: 1, type: BinlogEventType(38), serverID: 1, eventSize: 0, logPosition: 0, flags: 0), offset: 0,
                            body: .xaPrepare(XAPrepareEvent(onePhase: false, formatID: 1, gtrid: [1], bqual: [])))
        #expect(b.step(p) == .prepare(xid: "X'01',X'',1"))
        #expect(!b.inTransaction)
        #expect(b.step(q("XA COMMIT X'01',X'',1")) == .xaCommit(xid: "X'01',X'',1"))
        #expect(b.step(q("XA ROLLBACK X'01',X'',1")) == .xaRollback(xid: "X'01',X'',1"))
        #expect(b.step(q("BEGIN")) == .begin)
        #expect(b.step(q("SAVEPOINT a")) == .statement(begin: false, commit: false))
        #expect(b.step(q("COMMIT")) == .commit)
        #expect(b.step(q("TRUNCATE t")) == .statement(begin: true, commit: true))
        // MySQL `XA COMMIT … ONE PHASE` inside the transaction commits what is pending.
        #expect(b.step(q("XA START X'02',X'',1")) == .begin)
        #expect(b.step(q("XA COMMIT X'02',X'',1 ONE PHASE")) == .commit)
        #expect(b.step(q("  xa rollback X'02',X'',1")) == .xaRollback(xid: "X'02',X'',1"))

        // MariaDB: a prepared-XA group flagged standalone still ends at its XA_PREPARE, not at a
        // statement inside it; a completed-XA group's XA COMMIT completes the prepared one; an
        // XA COMMIT in a plain group commits that group.
        func g(_ flags: UInt8) -> BinlogEvent {
            var e = MariaDBGTIDEvent(domainID: 0, serverID: 1, sequence: 9, flags: flags)
            e.xid = "X'01',X'',1"
            return BinlogEvent(header: EventHeader(timestamp: 1, type: .mariadbGTID, serverID: 1, eventSize: 0, logPosition: 0, flags: 0), offset: 0, body: .mariadbGTID(e))
        }
        #expect(b.step(g(MariaDBGTIDEvent.preparedXA | MariaDBGTIDEvent.standalone)) == .begin)
        #expect(b.step(q("SAVEPOINT s")) == .statement(begin: false, commit: false))
        #expect(b.step(p) == .prepare(xid: "X'01',X'',1"))
        #expect(b.step(g(MariaDBGTIDEvent.completedXA | MariaDBGTIDEvent.standalone)) == .begin)
        #expect(b.step(q("XA COMMIT X'01',X'',1")) == .xaCommit(xid: "X'01',X'',1"))
        #expect(b.step(g(MariaDBGTIDEvent.transactional)) == .begin)
        #expect(b.step(q("XA COMMIT X'03',X'',1")) == .commit)
    }
}
