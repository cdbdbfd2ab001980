import BinlogFold
import BinlogParser
import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// `analyze` and the live tail fold the same events into the same keyed state: every binlog under
/// Tests/Fixtures/binlogs and ../shared/fixtures/binlogs with row events is replayed through the live path (raw events framed as the dump hands them over,
/// decoded, located and payloads expanded by `BinlogEventSource`, `TransactionAssembler`) and through
/// `BinlogAnalyzer`, with the table's first column as key and its second (or, for a one-column table, the same) as value. Our fixtures
/// named `NAME.NNNNNN.binlog` are consecutive files of one server (xa-restart: a transaction
/// prepared in the first is committed in the second): they are fed in order, as one binlog.
@Suite struct FoldEquivalenceTests {
    /// The MySQL-written fixtures with TRANSACTION_PAYLOAD events (binlog_transaction_compression).
    static let mysqlPayloadFixtures: Set<String> = ["transaction_compression.000001", "mysql-bin.compressed"]

    /// The fixture files grouped into binlogs: one file each, except our `NAME.NNNNNN.binlog`
    /// series, which are one group in the order of their number.
    static var groups: [[String]] {
        var series: [String: [(Int, String)]] = [:]
        var out: [[String]] = []
        for path in files {
            let name = (path as NSString).lastPathComponent
            if path.hasPrefix(TestEnv.fixtures.path + "/"), let (base, n) = seriesMember(name) {
                series[base, default: []].append((n, path))
            } else {
                out.append([path])
            }
        }
        for (_, members) in series { out.append(members.sorted { $0.0 < $1.0 }.map(\.1)) }
        return out.sorted { $0[0] < $1[0] }
    }

    /// `xa-restart.000002.binlog` → ("xa-restart", 2).
    static func seriesMember(_ name: String) -> (String, Int)? {
        guard name.hasSuffix(".binlog") else { return nil }
        let stem = name.dropLast(".binlog".count)
        guard let dot = stem.lastIndex(of: "."), let n = Int(stem[stem.index(after: dot)...]),
              stem.distance(from: stem.index(after: dot), to: stem.endIndex) == 6 else { return nil }
        return (String(stem[..<dot]), n)
    }

    /// The files of one of our fixtures in binlog order: `NAME.binlog`, or `NAME.000001.binlog`, …
    static func fixtureFiles(_ name: String) -> [String] {
        groups.first { g in
            let first = (g[0] as NSString).lastPathComponent
            return first == name + ".binlog" || seriesMember(first)?.0 == name && g[0].hasPrefix(TestEnv.fixtures.path + "/")
        } ?? []
    }

    static var files: [String] {
        var out: [String] = []
        let own = TestEnv.fixtures.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: own)) ?? [] where name.hasSuffix(".binlog") { out.append(own + "/" + name) }
        let shared = TestEnv.repoRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures/binlogs").path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: shared)) ?? [] where !name.hasSuffix(".md") && !name.hasSuffix(".json") && !name.hasPrefix(".") {
            var dir: ObjCBool = false
            if FileManager.default.fileExists(atPath: shared + "/" + name, isDirectory: &dir), !dir.boolValue { out.append(shared + "/" + name) }
        }
        return out.sorted()
    }

    /// Tables with row events in a file: "db.table" → column names (real, or @1…@N).
    static func tables(_ path: String) -> [String: [String]] {
        guard let events = try? BinlogFileEvents(path: path) else { return [:] }
        var out: [String: [String]] = [:]
        while let e = try? events.next() {
            if case .rows(let r) = e.event.body, r.table.columns.count >= 1 {
                let t = r.table
                out[t.qualifiedName] = t.hasColumnNames ? t.columns.map { $0.name ?? "" } : (1...t.columns.count).map { "@\($0)" }
            }
        }
        return out
    }

    /// The live path: raw events framed from the file, decoded, expanded, folded.
    static func live(_ path: String, table: String, names: [String]) throws -> [String: String] {
        try live([path], table: table, names: names)
    }

    /// The live path over consecutive files of one server, in order (one decoder, one fold, as the
    /// dump stream hands them over across a rotation).
    static func live(_ paths: [String], table: String, names: [String], value: String? = nil) throws -> [String: String] {
        try liveState(paths, table: table, names: names, value: value).keyed
    }

    /// The live fold's keyed state (key → value text) and its final `ShadowState` (held XA
    /// transactions included), with `names[0]` as key and `value` (default `names[1]`) as value.
    static func liveState(_ paths: [String], table: String, names: [String], value: String? = nil) throws -> (keyed: [String: String], state: ShadowState) {
        let parts = table.split(separator: ".", maxSplits: 1).map(String.init)
        let watch = WatchConfiguration(
            name: "w", database: parts[0], table: parts[1], keyColumns: [names[0]], valueColumn: value ?? names[names.count > 1 ? 1 : 0],
            target: .string(try RedisKeyTemplate("k:{\(names[0])}", keyColumns: [names[0]])))
        var assembler = TransactionAssembler(watches: [watch]) { _, _ in names }
        var state = ShadowState(watchCount: 1, position: BinlogCoordinates(file: "", position: 4))
        var events = BinlogEventSource(provider: try FileSeries(paths))
        while let e = try events.next() {
            _ = try assembler.consume(e.event, end: BinlogCoordinates(file: e.file, position: e.end), state: &state)
        }
        var out: [String: String] = [:]
        state.maps[0].forEach { k, v in out[k.description] = v.description }
        return (out, state)
    }

    static func offline(_ path: String, table: String, names: [String]) throws -> [String: String] {
        try offline([path], table: table, names: names)
    }

    /// `analyze` over consecutive files, in order.
    static func offline(_ paths: [String], table: String, names: [String], value: String? = nil) throws -> [String: String] {
        try offlineAnalyzer(paths, table: table, names: names, value: value).keyed
    }

    static func offlineAnalyzer(_ paths: [String], table: String, names: [String], value: String? = nil) throws -> (keyed: [String: String], analyzer: BinlogAnalyzer) {
        var options = BinlogAnalyzer.Options(table: table, keyColumns: [names[0]], valueColumn: value ?? names[names.count > 1 ? 1 : 0])
        options.columnNames = names
        var analyzer = BinlogAnalyzer(options: options)
        for path in paths { try analyzer.replay(path: path) }
        analyzer.finish()
        var out: [String: String] = [:]
        for (k, e) in analyzer.sortedState() {
            guard case .single(let v) = k else { continue }
            out[ShadowKey(v).description] = ShadowValue(e.value).description
        }
        return (out, analyzer)
    }

    @Test func liveAndOfflineFoldsAgreeOnEveryFixture() throws {
        var compared = 0
        var payloadFiles = Set<String>()
        var series = 0
        for paths in Self.groups {
            var tables: [String: [String]] = [:]
            for path in paths { tables.merge(Self.tables(path)) { _, later in later } }
            if tables.isEmpty { continue }
            let name = paths.map { ($0 as NSString).lastPathComponent }.joined(separator: " + ")
            if paths.count > 1 { series += 1 }
            for (table, names) in tables.sorted(by: { $0.key < $1.key }).prefix(4) {
                let live: [String: String]
                let offline: [String: String]
                do {
                    live = try Self.live(paths, table: table, names: names)
                    offline = try Self.offline(paths, table: table, names: names)
                } catch {
                    // Files that end in a decoding error (truncated or corrupt on purpose) are
                    // covered by the parser's tests; both paths must fail alike.
                    let l = (try? Self.live(paths, table: table, names: names)) == nil
                    let o = (try? Self.offline(paths, table: table, names: names)) == nil
                    #expect(l == o, "\(name) \(table): one path failed, the other did not: \(error)")
                    continue
                }
                #expect(live == offline, "\(name) \(table): live \(live.count) keys, offline \(offline.count) keys; first difference: \(live.first { offline[$0.key] != $0.value } ?? offline.first { live[$0.key] != $0.value } ?? ("", ""))")
                compared += 1
                if Self.mysqlPayloadFixtures.contains(name) { payloadFiles.insert(name) }
            }
        }
        print("fold equivalence: \(compared) (file, table) pairs compared")
        #expect(compared >= 20)
        #expect(payloadFiles == Self.mysqlPayloadFixtures, "both MySQL-written compressed-transaction fixtures are compared")
        #expect(series >= 1, "our xa-restart.000001/000002 fixtures are read as one binlog")
    }

    /// The fold fed real fixtures' events with boundary events (GTID, BEGIN, COMMIT, XID, XA)
    /// dropped, duplicated or moved: it ends in a state or stops with an error, never traps, and
    /// holds no negative count.
    @Test func reorderedOrDroppedBoundaryEventsNeverTrap() throws {
        var rng = SystemRandomNumberGenerator()
        var runs = 0
        for path in Self.files.prefix(30) {
            guard let file = try? BinlogFileEvents(path: path) else { continue }
            var events: [BinlogEvent] = []
            while let e = try? file.next() { events.append(e.event) }
            let tables = Self.tables(path)
            guard let (table, names) = tables.first else { continue }
            let parts = table.split(separator: ".", maxSplits: 1).map(String.init)
            let watch = WatchConfiguration(
                name: "w", database: parts[0], table: parts[1], keyColumns: [names[0]], valueColumn: names[names.count > 1 ? 1 : 0],
                target: .string(try RedisKeyTemplate("k:{\(names[0])}", keyColumns: [names[0]])))
            func isBoundary(_ e: BinlogEvent) -> Bool {
                switch e.body {
                case .xid, .gtid, .mariadbGTID, .xaPrepare: return true
                case .query(let q): return q.query.count < 40
                default: return false
                }
            }
            for _ in 0..<20 {
                var mutated = events
                for _ in 0..<max(1, events.count / 8) {
                    let i = Int.random(in: 0..<mutated.count, using: &rng)
                    guard isBoundary(mutated[i]) else { continue }
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: mutated.remove(at: i)
                    case 1: mutated.insert(mutated[i], at: Int.random(in: 0...mutated.count, using: &rng))
                    default: mutated.swapAt(i, Int.random(in: 0..<mutated.count, using: &rng))
                    }
                    if mutated.isEmpty { break }
                }
                var assembler = TransactionAssembler(watches: [watch]) { _, _ in names }
                var state = ShadowState(watchCount: 1, position: BinlogCoordinates(file: "", position: 4))
                do {
                    for (n, e) in mutated.enumerated() { _ = try assembler.consume(e, end: BinlogCoordinates(file: "f", position: UInt64(n + 1)), state: &state) }
                } catch let e as ApplyError {
                    // A stop with a message (an XA COMMIT without its prepare, a schema that no
                    // longer fits); any other error type would be a bug.
                    #expect(!e.description.isEmpty)
                } catch let e as BinlogDecodingError {
                    #expect(!e.description.isEmpty)
                }
                // The held bookkeeping adds up.
                #expect(state.heldXA.totalChanges == state.heldXA.byXID.values.reduce(0) { $0 + $1.count })
                #expect(state.heldXA.byXID.values.allSatisfy { $0.count == $0.changes.count })
                runs += 1
            }
        }
        #expect(runs >= 100)
    }
}

/// Consecutive binlog files of one server as one stream (one decoder across the rotation).
struct FileSeries: RawEventProvider {
    var files: [FramedFileEvents]
    init(_ paths: [String]) throws {
        files = try paths.map { FramedFileEvents(bytes: try Array(Data(contentsOf: URL(fileURLWithPath: $0))), file: ($0 as NSString).lastPathComponent) }
    }
    mutating func nextRaw() throws -> SourcedRaw? {
        while !files.isEmpty {
            if let r = try files[0].nextRaw() { return r }
            files.removeFirst()
        }
        return nil
    }
}

/// The live path's event source and `analyze`'s file reader yield the same events, in the same
/// order, located alike: every fixture, payload contents included.
@Suite struct EventSourceEquivalenceTests {
    @Test func theStreamSourceAndTheFileReaderAgreeOnEveryFixture() throws {
        var files = 0, payloads = 0, inner = 0
        for group in FoldEquivalenceTests.groups {
            for path in group {
                guard let reader = try? BinlogFileEvents(path: path, readAhead: false) else { continue }
                var source = BinlogEventSource(provider: try FileSeries([path]))
                var n = 0
                // Per payload (by its start): whether the payload event and each inner event reach its end.
                var flags: [UInt64: [Bool]] = [:]
                var order: [UInt64] = []
                while true {
                    let fromFile: LocatedEvent?
                    do { fromFile = try reader.next() } catch { break }  // hostile or truncated fixtures: compare up to the error
                    guard let f = fromFile else {
                        #expect(try source.next() == nil, "\(path): the source has more events than the file reader")
                        break
                    }
                    let s = try #require(try source.next(), "\(path): the source ended early at event \(n)")
                    #expect(s.event.header.type == f.event.header.type, "\(path) event \(n)")
                    #expect(s.event.offset == f.event.offset, "\(path) event \(n)")
                    #expect(s.inPayload == f.inPayload, "\(path) event \(n)")
                    #expect(s.end == f.resumeOffset, "\(path) event \(n)")
                    if case .transactionPayload = s.event.body {
                        flags[s.start] = [s.reachesEnd]
                        order.append(s.start)
                    } else if let p = s.inPayload {
                        flags[p, default: []].append(s.reachesEnd)
                    } else {
                        #expect(s.reachesEnd, "\(path) event \(n): an event of the file reaches its end")
                    }
                    n += 1
                }
                for p in order {
                    let f = flags[p] ?? []
                    inner += f.count - 1
                    payloads += 1
                    // Only the last event of a payload (its last inner one) reaches the payload's end.
                    #expect(f.count >= 2 && f.dropLast().allSatisfy { !$0 } && f.last == true, "\(path) payload at \(p): \(f)")
                }
                files += 1
            }
        }
        #expect(files >= 40)
        // The MySQL compressed-transaction fixtures have payloads.
        #expect(payloads >= 2 && inner > payloads, "payloads \(payloads), inner events \(inner)")
    }
}
