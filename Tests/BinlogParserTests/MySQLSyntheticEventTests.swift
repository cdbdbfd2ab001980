import Testing
@testable import BinlogParser

/// MySQL 8/9 events the local MariaDB cannot write, built byte by byte from the documented
/// layouts (see docs/binlog-format.md) and decoded end to end.
@Suite struct MySQLSyntheticEventTests {
    /// TABLE_MAP for `shop.items` with every MySQL 8/9 optional metadata field we decode.
    static func itemsTableMap(tableID: UInt64 = 42) -> [UInt8] {
        var w = ByteWriter()
        w.u48(tableID)
        w.u16(1)
        w.u8(4); w.str("shop"); w.u8(0)
        w.u8(5); w.str("items"); w.u8(0)
        let types: [UInt8] = [8, 15, 245, 242, 254, 254, 246, 18, 19, 16]
        w.lenenc(UInt64(types.count))
        w.raw(types)
        var meta = ByteWriter()
        meta.raw([0x00, 0x01])  // VARCHAR(256 bytes)
        meta.u8(4)  // JSON
        meta.u8(4)  // VECTOR
        meta.raw([0xf7, 1])  // ENUM, 1 byte
        meta.raw([0xf8, 1])  // SET, 1 byte
        meta.raw([10, 2])  // DECIMAL(10,2)
        meta.u8(3)  // DATETIME(3)
        meta.u8(6)  // TIME(6)
        meta.raw([4, 1])  // BIT(12)
        w.lenenc(UInt64(meta.bytes.count))
        w.raw(meta.bytes)
        w.raw([0xfe, 0x03])  // nullable: all but id
        // Optional metadata.
        w.u8(1); w.lenenc(1); w.u8(0x80)  // SIGNEDNESS: id unsigned, price signed
        var cs = ByteWriter(); cs.lenenc(255)
        w.u8(2); w.lenenc(UInt64(cs.bytes.count)); w.raw(cs.bytes)  // DEFAULT_CHARSET utf8mb4_0900_ai_ci
        var names = ByteWriter()
        for n in ["id", "name", "doc", "vec", "color", "tags", "price", "created", "t", "bits"] { names.lenencString(n) }
        w.u8(4); w.lenenc(UInt64(names.bytes.count)); w.raw(names.bytes)
        var set = ByteWriter(); set.lenenc(2); set.lenencString("a"); set.lenencString("b")
        w.u8(5); w.lenenc(UInt64(set.bytes.count)); w.raw(set.bytes)
        var en = ByteWriter(); en.lenenc(2); en.lenencString("red"); en.lenencString("green")
        w.u8(6); w.lenenc(UInt64(en.bytes.count)); w.raw(en.bytes)
        w.u8(8); w.lenenc(1); w.u8(0)  // SIMPLE_PRIMARY_KEY (id)
        w.u8(12); w.lenenc(2); w.raw([0xff, 0x40])  // COLUMN_VISIBILITY: t invisible
        w.u8(13); w.lenenc(1); w.u8(3)  // VECTOR_DIMENSIONALITY 3
        return w.bytes
    }

    static let jsonDoc: [UInt8] = {
        // {"a": 7, "b": true, "s": "hi"} in MySQL binary JSON (small object).
        var w = ByteWriter()
        w.u8(0x00)
        w.u16(3); w.u16(31)
        w.u16(25); w.u16(1); w.u16(26); w.u16(1); w.u16(27); w.u16(1)
        w.u8(0x05); w.u16(7)
        w.u8(0x04); w.u16(1)
        w.u8(0x0c); w.u16(28)
        w.str("abs")
        w.u8(2); w.str("hi")
        return w.bytes
    }()

    static func itemsRow() -> [UInt8] {
        var w = ByteWriter()
        w.raw([0x00, 0x00])  // no NULLs
        w.u64(UInt64.max)
        let name = Array("héllo".utf8)
        w.u16(UInt16(name.count)); w.raw(name)
        w.u32(UInt32(jsonDoc.count)); w.raw(jsonDoc)
        w.u32(12); w.u32(Float(1.0).bitPattern); w.u32(Float(-2.5).bitPattern); w.u32(Float(0.125).bitPattern)
        w.u8(2)  // ENUM green
        w.u8(3)  // SET a,b
        w.raw([0x80, 0x00, 0x00, 0x0c, 0x32])  // 12.50
        let ymd: UInt64 = (UInt64(2026 * 13 + 11) << 5) | 11
        let hms: UInt64 = (10 << 12) | (20 << 6) | 30
        let dt = ((ymd << 17) | hms) + 0x80_0000_0000
        for i in (0..<5).reversed() { w.u8(UInt8(truncatingIfNeeded: dt >> (8 * UInt64(i)))) }
        w.raw([0x04, 0xce])  // .123
        let packed = -((Int64((1 << 12) | (2 << 6) | 3) << 24) + 4)
        let t = UInt64(bitPattern: packed + 0x8000_0000_0000)
        for i in (0..<6).reversed() { w.u8(UInt8(truncatingIfNeeded: t >> (8 * UInt64(i)))) }
        w.raw([0x0a, 0xbc])  // BIT(12)
        return w.bytes
    }

    static func writeRowsV2(tableID: UInt64 = 42, rows: [[UInt8]]) -> [UInt8] {
        var w = ByteWriter()
        w.u48(tableID)
        w.u16(1)  // STMT_END_F
        w.u16(5); w.raw([1, 5, 0])  // extra: partition id 5
        w.lenenc(10)
        w.raw([0xff, 0x03])
        for r in rows { w.raw(r) }
        return w.bytes
    }

    @Test func tableMapOptionalMetadataAndRowsV2() throws {
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 19, body: Self.itemsTableMap()),
            EventBuilder.event(type: 30, body: Self.writeRowsV2(rows: [Self.itemsRow()])),
        ])
        let events = try EventBuilder.decodeAll(file)
        guard case .formatDescription(let fde) = events[0].body else { Issue.record("no FDE"); return }
        #expect(fde.checksumAlgorithm == .crc32)
        guard case .tableMap(let t) = events[1].body else { Issue.record("no table map"); return }
        #expect(t.qualifiedName == "shop.items")
        #expect(t.columns.map { $0.name ?? "" } == ["id", "name", "doc", "vec", "color", "tags", "price", "created", "t", "bits"])
        #expect(t.columns[0].unsigned && !t.columns[6].unsigned)
        #expect(t.columns[1].collation == 255)
        #expect(t.columns[4].enumValues == ["red", "green"])
        #expect(t.columns[5].setValues == ["a", "b"])
        #expect(t.primaryKeyColumns == [0])
        #expect(t.columns[8].visible == false && t.columns[9].visible == true)
        #expect(t.columns[3].vectorDimensions == 3)
        guard case .rows(let r) = events[2].body else { Issue.record("no rows"); return }
        #expect(r.type == .writeRows && r.extraData == [1, 5, 0])
        let rows = try r.rows()
        #expect(rows.count == 1)
        let v = try #require(rows.first?.after?.values)
        #expect(v[0] == .uint(UInt64.max))
        #expect(v[1] == .string("héllo"))
        #expect(v[2] == .json(.object([
            JSONMember(key: "a", value: .int(7)), JSONMember(key: "b", value: .bool(true)), JSONMember(key: "s", value: .string("hi")),
        ])))
        #expect(v[3] == .vector([1.0, -2.5, 0.125]))
        #expect(v[4] == .enumValue(index: 2, name: "green"))
        #expect(v[5] == .setValue(mask: 3, names: ["a", "b"]))
        #expect(v[6] == .decimal("12.50"))
        if case .datetime(let d) = v[7] { #expect(d.description == "2026-11-11 10:20:30.123") } else { Issue.record("datetime: \(v[7])") }
        if case .time(let tm) = v[8] { #expect(tm.description == "-01:02:03.000004") } else { Issue.record("time: \(v[8])") }
        #expect(v[9] == .bit(0x0abc))
    }

    @Test func partialJSONUpdate() throws {
        var tm = ByteWriter()
        tm.u48(7); tm.u16(1)
        tm.u8(1); tm.str("d"); tm.u8(0)
        tm.u8(1); tm.str("t"); tm.u8(0)
        tm.lenenc(2); tm.raw([8, 245])
        tm.lenenc(1); tm.u8(4)
        tm.raw([0x02])
        var rows = ByteWriter()
        rows.u48(7); rows.u16(1); rows.u16(2)
        rows.lenenc(2); rows.raw([0x03]); rows.raw([0x03])
        // before: id 1, doc {"a":7,"b":true,"s":"hi"}
        rows.u8(0); rows.u64(1); rows.u32(UInt32(Self.jsonDoc.count)); rows.raw(Self.jsonDoc)
        // after: value_options = PARTIAL_JSON, partial bits 0x01, null bitmap, id 1, diff
        rows.lenenc(1); rows.u8(0x01); rows.u8(0); rows.u64(1)
        var diff = ByteWriter()
        diff.u8(0); diff.lenencString("$.a"); diff.lenenc(3); diff.raw([0x05, 0x09, 0x00])
        diff.u8(2); diff.lenencString("$.s")
        rows.u32(UInt32(diff.bytes.count)); rows.raw(diff.bytes)
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 19, body: tm.bytes),
            EventBuilder.event(type: 39, body: rows.bytes),
        ])
        let events = try EventBuilder.decodeAll(file)
        guard case .rows(let r) = events[2].body else { Issue.record("no rows"); return }
        let change = try #require(try r.rows().first)
        #expect(change.before?.values[0] == .int(1))
        #expect(change.after?.values[1] == .jsonDiff([
            JSONDiff(operation: .replace, path: "$.a", value: .int(9)),
            JSONDiff(operation: .remove, path: "$.s", value: nil),
        ]))
    }

    @Test func transactionPayloadIsStreamedWithInnerPositions() throws {
        // Inner events carry no checksum and have log_pos 0.
        var begin = ByteWriter()
        begin.u32(9); begin.u32(0); begin.u8(4); begin.u16(0); begin.u16(0); begin.str("shop"); begin.u8(0); begin.str("BEGIN")
        var inner: [UInt8] = []
        inner += EventBuilder.event(type: 2, body: begin.bytes, checksum: false)
        inner += EventBuilder.event(type: 19, body: Self.itemsTableMap(), checksum: false)
        inner += EventBuilder.event(type: 30, body: Self.writeRowsV2(rows: [Self.itemsRow(), Self.itemsRow()]), checksum: false)
        var xid = ByteWriter(); xid.u64(77)
        inner += EventBuilder.event(type: 16, body: xid.bytes, checksum: false)
        let compressed = EventBuilder.zstd(inner)
        var body = ByteWriter()
        body.lenenc(2); body.lenenc(1); body.lenenc(0)  // compression type: zstd
        var size = ByteWriter(); size.lenenc(UInt64(inner.count))
        body.lenenc(3); body.lenenc(UInt64(size.bytes.count)); body.raw(size.bytes)
        var psize = ByteWriter(); psize.lenenc(UInt64(compressed.count))
        body.lenenc(1); body.lenenc(UInt64(psize.bytes.count)); body.raw(psize.bytes)
        body.lenenc(0)
        body.raw(compressed)
        let file = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 40, body: body.bytes)])
        let events = try EventBuilder.decodeAll(file)
        #expect(events.map(\.type.rawValue) == [15, 40, 2, 19, 30, 16])
        guard case .transactionPayload(let p) = events[1].body else { Issue.record("no payload"); return }
        #expect(p.compressionName == "ZSTD" && p.uncompressedSize == UInt64(inner.count))
        #expect(events[2].offset == 0)
        #expect(events[5].nextOffset == UInt64(inner.count))
        guard case .rows(let r) = events[4].body else { Issue.record("no rows"); return }
        #expect(try r.rows().count == 2)
        guard case .xid(let x) = events[5].body else { Issue.record("no xid"); return }
        #expect(x == 77)

        // A corrupt payload is an error naming the payload, not a crash.
        var bad = body.bytes
        bad[bad.count - 5] ^= 0xff
        let badFile = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 40, body: bad)])
        #expect(throws: BinlogDecodingError.self) { _ = try EventBuilder.decodeAll(badFile) }
    }

    @Test func taggedGTIDWorkedExample() throws {
        // A Percona Server 8.4.11 GTID_TAGGED_LOG_EVENT body (see docs/binlog-format.md).
        let body: [UInt8] = [
            0x02, 0x7c, 0x00, 0x00, 0x02, 0x02, 0xee, 0x45, 0x03, 0x41, 0x02, 0x58, 0x02, 0x69, 0x03, 0x22, 0xc5, 0x03,
            0x69, 0x02, 0x82, 0x41, 0x02, 0x35, 0x02, 0xdc, 0xbe, 0xdc, 0x35, 0x02, 0x04, 0x04, 0x06, 0x10,
        ] + Array("test_tag".utf8) + [0x08, 0x00, 0x0a, 0x04, 0x0c, 0x7f, 0x00, 0x3e, 0x89, 0x00, 0xfa, 0x5b, 0x06, 0x10, 0x45, 0x05, 0x12, 0xdb, 0xd0, 0x09]
        let file = EventBuilder.file([EventBuilder.formatDescription(version: "8.4.11-11"), EventBuilder.event(type: 42, body: body)])
        let events = try EventBuilder.decodeAll(file)
        guard case .gtid(let g) = events[1].body else { Issue.record("no gtid"); return }
        #expect(g.gtid == "77d1902c-01da-11f1-9a41-908d6e5f6e8d:test_tag:1")
        #expect(g.transactionLength == 337)
        #expect(g.immediateServerVersion == 80411 && g.originalServerVersion == 80411)
        #expect(g.lastCommitted == 0 && g.sequenceNumber == 1)
        #expect(g.immediateCommitTimestamp == g.originalCommitTimestamp)
    }

    @Test func mysqlGTIDAndPreviousGTIDs() throws {
        let sid: [UInt8] = [0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62]
        var g = ByteWriter()
        g.u8(1); g.raw(sid); g.u64(23)
        g.u8(2); g.u64(5); g.u64(6)
        let ts: UInt64 = 1_700_000_000_123_456
        for i in 0..<7 { g.u8(UInt8(truncatingIfNeeded: (ts | (1 << 55)) >> (8 * UInt64(i)))) }
        for i in 0..<7 { g.u8(UInt8(truncatingIfNeeded: (ts - 5) >> (8 * UInt64(i)))) }
        g.lenenc(300)
        g.u32(80035)
        var p = ByteWriter()
        p.u64(1); p.raw(sid); p.u64(2); p.u64(1); p.u64(20); p.u64(22); p.u64(24)
        var tagged = ByteWriter()
        tagged.u64((1 << 56) | (2 << 8) | 1)
        tagged.raw(sid); tagged.u8(0); tagged.u64(1); tagged.u64(1); tagged.u64(3)
        tagged.raw(sid); tagged.u8(6); tagged.str("abc"); tagged.u64(1); tagged.u64(5); tagged.u64(6)
        var hb = ByteWriter()
        hb.u8(1); hb.u8(13); hb.str("binlog.000001"); hb.u8(2); hb.u8(1); hb.u8(4); hb.u8(0)
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 35, body: p.bytes),
            EventBuilder.event(type: 35, body: tagged.bytes),
            EventBuilder.event(type: 33, body: g.bytes),
            EventBuilder.event(type: 41, body: hb.bytes),
        ])
        let events = try EventBuilder.decodeAll(file)
        guard case .previousGTIDs(let prev) = events[1].body else { Issue.record("no previous"); return }
        #expect(prev.gtidSet == "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-19:22-23")
        guard case .previousGTIDs(let prevTagged) = events[2].body else { Issue.record("no tagged previous"); return }
        #expect(prevTagged.gtidSet == "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2,3e11fa47-71ca-11e1-9e33-c80aa9429562:abc:5")
        guard case .gtid(let gtid) = events[3].body else { Issue.record("no gtid"); return }
        #expect(gtid.gtid == "3e11fa47-71ca-11e1-9e33-c80aa9429562:23")
        #expect(gtid.lastCommitted == 5 && gtid.sequenceNumber == 6)
        #expect(gtid.immediateCommitTimestamp == ts && gtid.originalCommitTimestamp == ts - 5)
        #expect(gtid.transactionLength == 300 && gtid.immediateServerVersion == 80035)
        guard case .heartbeat(let h) = events[4].body else { Issue.record("no heartbeat"); return }
        #expect(h.file == "binlog.000001" && h.position == 4)
    }

    @Test func unknownEventTypesKeepTheirBytes() throws {
        let file = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 99, body: [1, 2, 3])])
        let events = try EventBuilder.decodeAll(file)
        guard case .unknown(let bytes) = events[1].body else { Issue.record("not unknown"); return }
        #expect(bytes == [1, 2, 3])
        #expect(events[1].type.name == "UNKNOWN_EVENT_99")
    }

    @Test func encryptedBinlogIsRefusedClearly() throws {
        let file = EventBuilder.file([EventBuilder.formatDescription(version: "10.11.5-MariaDB"), EventBuilder.event(type: 164, body: [1, 0, 0, 0, 0] + [UInt8](repeating: 7, count: 12))])
        do {
            _ = try EventBuilder.decodeAll(file)
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains("START_ENCRYPTION_EVENT"))
            #expect(String(describing: error).contains("not supported"))
        }
    }
}
