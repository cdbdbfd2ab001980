import Foundation
import Testing
@testable import BinlogParser

/// Our own MariaDB fixtures (Tests/Fixtures/binlogs, made by scripts/capture-fixtures) against
/// golden `events` output, and their framing against mariadb-binlog's `# at` offsets.
@Suite struct FixtureGoldenTests {
    @Test(arguments: Fixtures.ourBinlogNames)
    func eventsMatchGoldenFile(_ name: String) throws {
        let lines = try renderEvents(Fixtures.url(name).path, name: name)
        let golden = Fixtures.ours.appendingPathComponent(name.replacingOccurrences(of: ".binlog", with: ".expected.jsonl"))
        let text = lines.joined(separator: "\n") + "\n"
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try text.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        #expect(lines.count == expectedLines.count, "\(name): \(lines.count) events, golden has \(expectedLines.count)")
        for (i, (a, b)) in zip(lines, expectedLines).enumerated() where a != b {
            Issue.record("\(name): event #\(i) differs from the golden file\n  got:      \(a.prefix(400))\n  expected: \(b.prefix(400))")
            break
        }
    }

    @Test(arguments: Fixtures.ourBinlogNames)
    func framingMatchesMariaDBBinlog(_ name: String) throws {
        try #require(Fixtures.hasMariaDBBinlog, "mariadb-binlog is needed (apt-get install mariadb-client)")
        let path = Fixtures.url(name).path
        let result = try Fixtures.run("mariadb-binlog", ["--base64-output=decode-rows", path])
        #expect(result.status == 0, "mariadb-binlog failed: \(result.stderr)")
        let text = String(decoding: result.stdout, as: UTF8.self)
        // mariadb-binlog prints "# at N" before each event; the last one is the end of the file.
        var oracle = Set<UInt64>()
        for line in text.split(separator: "\n") where line.hasPrefix("# at ") {
            if let n = UInt64(line.dropFirst(5)) { oracle.insert(n) }
        }
        let ours = try Fixtures.events(path).filter { $0.inPayload == nil }.map(\.event.offset)
        let size = UInt64(try Fixtures.bytes(name).count)
        oracle.remove(size)
        #expect(Set(ours) == oracle, "\(name): offsets differ: ours-only \(Set(ours).subtracting(oracle).sorted()), mariadb-binlog-only \(oracle.subtracting(ours).sorted())")
    }

    @Test func typesFullDecodesEveryColumnType() throws {
        let events = try Fixtures.events(Fixtures.url("types-full.binlog").path)
        var typesSeen = Set<UInt8>()
        var rowsSeen = 0
        for e in events {
            if case .tableMap(let t) = e.event.body { for c in t.columns { typesSeen.insert(c.realType.rawValue) } }
            if case .rows(let r) = e.event.body { rowsSeen += try r.rows().count }
        }
        // TINY SHORT INT24 LONG LONGLONG FLOAT DOUBLE NEWDECIMAL YEAR DATE TIME2 DATETIME2 TIMESTAMP2
        // VARCHAR STRING ENUM SET BIT BLOB GEOMETRY
        for t: UInt8 in [1, 2, 9, 3, 8, 4, 5, 246, 13, 10, 19, 18, 17, 15, 254, 247, 248, 16, 252, 255] {
            #expect(typesSeen.contains(t), "column type \(ColumnType(rawValue: t)) not in types-full")
        }
        #expect(rowsSeen > 10)
    }

    @Test func compressedEventsAreDecoded() throws {
        let events = try Fixtures.events(Fixtures.url("compressed.binlog").path)
        let codes = Set(events.map { $0.event.type.rawValue })
        #expect(codes.contains(165), "QUERY_COMPRESSED_EVENT expected")
        #expect(!codes.isDisjoint(with: [166, 167, 168]), "compressed rows events expected")
        var rows = 0
        for e in events { if case .rows(let r) = e.event.body { rows += try r.rows().count } }
        #expect(rows >= 16)
        let queries = events.compactMap { e -> String? in if case .query(let q) = e.event.body { q.query } else { nil } }
        #expect(queries.contains { $0.uppercased().contains("CREATE TABLE") })
    }

    @Test func gtidDomainsAndList() throws {
        let first = try Fixtures.events(Fixtures.url("gtid-domains.binlog").path)
        let domains = Set(first.compactMap { e -> UInt32? in if case .mariadbGTID(let g) = e.event.body { g.domainID } else { nil } })
        #expect(domains.count >= 2, "two or more GTID domains expected, got \(domains)")
        let next = try Fixtures.events(Fixtures.url("gtid-domains-next.binlog").path)
        let lists = next.compactMap { e -> MariaDBGTIDListEvent? in if case .mariadbGTIDList(let l) = e.event.body { l } else { nil } }
        #expect(lists.first?.gtids.count ?? 0 >= 2)
        // The list names the last GTID of each domain in the previous file.
        var last: [UInt32: MariaDBGTID] = [:]
        for e in first { if case .mariadbGTID(let g) = e.event.body { last[g.domainID] = MariaDBGTID(domainID: g.domainID, serverID: g.serverID, sequence: g.sequence) } }
        for g in lists.first?.gtids ?? [] where g.sequence > 0 {
            if let l = last[g.domainID] { #expect(l == g) }
        }
    }

    @Test func checksumNoneFileHasNoTrailers() throws {
        let events = try Fixtures.events(Fixtures.url("checksum-none.binlog").path)
        guard case .formatDescription(let fde) = events.first?.event.body else {
            Issue.record("first event is not a FORMAT_DESCRIPTION_EVENT"); return
        }
        #expect(fde.checksumAlgorithm == .off)
        #expect(events.count > 5)
    }

    @Test func largeEventIsFramedAndDecoded() throws {
        let events = try Fixtures.events(Fixtures.url("large-tx.binlog").path)
        let big = events.first { $0.event.header.eventSize > 1_000_000 }
        #expect(big != nil)
        if case .rows(let r)? = big?.event.body {
            let rows = try r.rows()
            let sizes = rows.compactMap(\.after).flatMap(\.values).map { v -> Int in
                switch v { case .bytes(let b): b.count; case .string(let s): s.utf8.count; default: 0 }
            }
            #expect(sizes.max() ?? 0 > 1_000_000)
        } else {
            Issue.record("the large event is not a rows event")
        }
    }
}
