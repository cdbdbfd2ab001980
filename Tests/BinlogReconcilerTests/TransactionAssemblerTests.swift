import Foundation
import Testing
import BinlogParser
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

@Suite struct TransactionAssemblerTests {
    static func watch(_ table: String, key: [String] = ["id"], value: String = "stock") throws -> WatchConfiguration {
        let parts = table.split(separator: ".").map(String.init)
        return WatchConfiguration(name: table, database: parts[0], table: parts[1], keyColumns: key, valueColumn: value, target: .string(try RedisKeyTemplate("k:{\(key[0])}", keyColumns: key)))
    }

    /// Replays files through the assembler; returns the final state and every committed transaction.
    static func replay(_ paths: [String], watches: [WatchConfiguration], names: @escaping (String, String) throws -> [String]? = { _, _ in nil }) throws -> (ShadowState, [CommittedTransaction]) {
        var assembler = TransactionAssembler(watches: watches, columnNames: names)
        var state = ShadowState(watchCount: watches.count, position: BinlogCoordinates(file: "", position: 4))
        var txs: [CommittedTransaction] = []
        for path in paths {
            let events = try BinlogFileEvents(path: path)
            let file = (path as NSString).lastPathComponent
            while let e = try events.next() {
                if let tx = try assembler.consume(e.event, end: BinlogCoordinates(file: file, position: e.resumeOffset), state: &state) { txs.append(tx) }
            }
        }
        return (state, txs)
    }

    static func dump(_ map: ShadowMap) -> [String: String] {
        var out: [String: String] = [:]
        map.forEach { k, v in out[k.description] = v.description }
        return out
    }

    @Test func fixtureWithDDLAndPrimaryKeyChange() throws {
        let (state, txs) = try Self.replay([TestEnv.fixture("ddl-pk-change.binlog")], watches: [Self.watch("shop.products")])
        #expect(Self.dump(state.maps[0]) == ["1": "7", "2": "507", "4": "7", "6": "60", "7": "9", "105": "42"])
        // Positions are transaction boundaries: each commit's end is the end of an XID or COMMIT/DDL query.
        let events = try Fixtures_events(TestEnv.fixture("ddl-pk-change.binlog"))
        let commitEnds = Set(events.compactMap { e -> UInt64? in
            switch e.event.body {
            case .xid: return e.event.nextOffset
            case .query(let q) where q.query.uppercased() != "BEGIN": return e.event.nextOffset
            default: return nil
            }
        })
        for tx in txs { #expect(commitEnds.contains(tx.end.position), "commit at \(tx.end) is not a transaction boundary") }
        #expect(state.gtid.description.hasPrefix("0-1-"))
        // The PK change is a delete of 5 and a set of 105 in one transaction.
        let pk = txs.first { tx in tx.changes.contains { $0.key == .int(105) && $0.old == nil } }
        #expect(pk?.changes.contains { $0.key == .int(5) && $0.new == nil } == true)
    }

    @Test func logWithoutColumnNamesUsesTheSchemaProvider() throws {
        let w = try Self.watch("fx.all_types", value: "c_int")
        #expect(throws: ApplyError.self) { _ = try Self.replay([TestEnv.fixture("types-nolog-meta.binlog")], watches: [w]) }
        // Column names as information_schema would list them, read from the fixture with names.
        var names: [String] = []
        for e in try Fixtures_events(TestEnv.fixture("types-full.binlog")) {
            if case .tableMap(let t) = e.event.body, t.table == "all_types" { names = t.columns.compactMap(\.name) }
        }
        let (a, _) = try Self.replay([TestEnv.fixture("types-nolog-meta.binlog")], watches: [w], names: { _, _ in names })
        let (b, _) = try Self.replay([TestEnv.fixture("types-full.binlog")], watches: [w])
        #expect(Self.dump(a.maps[0]) == Self.dump(b.maps[0]))
        // A schema that does not fit the table map stops the pipeline.
        #expect(throws: ApplyError.self) {
            _ = try Self.replay([TestEnv.fixture("types-nolog-meta.binlog")], watches: [w], names: { _, _ in Array(names.dropLast()) })
        }
    }

    @Test func minimalImagesCarryTheValueThroughAKeyChange() throws {
        let (state, _) = try Self.replay([TestEnv.fixture("image-minimal.binlog")], watches: [Self.watch("fx.img", value: "n")])
        #expect(Self.dump(state.maps[0]) == ["1": "11", "4": "NULL", "5": "NULL", "30": "30"])
    }

    @Test func aVanishedValueColumnStopsLoudly() throws {
        let w = try Self.watch("shop.products", value: "no_such_column")
        #expect(throws: ApplyError.self) { _ = try Self.replay([TestEnv.fixture("ddl-pk-change.binlog")], watches: [w]) }
    }
}

/// Located events of a file (the parser tests have their own helper; this target does not see it).
func Fixtures_events(_ path: String) throws -> [LocatedEvent] {
    let r = try BinlogFileEvents(path: path)
    var out: [LocatedEvent] = []
    while let e = try r.next() { out.append(e) }
    return out
}
