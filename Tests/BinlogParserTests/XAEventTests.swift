import Testing
@testable import BinlogParser

/// XA_PREPARE_LOG_EVENT (38), built byte by byte (no fixture has one: MySQL cannot run here and
/// the MariaDB fixtures have no XA), and the XID of `XA …` statements.
@Suite struct XAEventTests {
    /// Offsets in a file built by ``file(_:checksum:)``: magic (4) + FDE (123).
    static let eventStart: UInt64 = 127
    static let bodyStart: UInt64 = eventStart + 19

    static func body(onePhase: UInt8 = 0, formatID: UInt32 = 1, gtridLength: UInt32? = nil, bqualLength: UInt32? = nil, gtrid: [UInt8], bqual: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.u8(onePhase)
        w.u32(formatID)
        w.u32(gtridLength ?? UInt32(gtrid.count))
        w.u32(bqualLength ?? UInt32(bqual.count))
        w.raw(gtrid)
        w.raw(bqual)
        return w.bytes
    }

    static func file(_ body: [UInt8], checksum: Bool = true, version: String = "8.0.35") -> [UInt8] {
        EventBuilder.file([
            EventBuilder.formatDescription(version: version, checksum: checksum),
            EventBuilder.event(type: 38, body: body, checksum: checksum),
        ])
    }

    static func decodeXA(_ bytes: [UInt8]) throws -> XAPrepareEvent {
        let events = try EventBuilder.decodeAll(bytes)
        guard events.count == 2, case .xaPrepare(let x) = events[1].body else {
            throw BinlogDecodingError(.invalidValue("no XA_PREPARE event"), field: "test", byteOffset: 0)
        }
        return x
    }

    /// The error a hostile event ends with (Issue recorded when there is none).
    static func failure(_ bytes: [UInt8]) -> BinlogDecodingError? {
        do {
            _ = try EventBuilder.decodeAll(bytes)
            Issue.record("expected a decoding error")
            return nil
        } catch let e as BinlogDecodingError {
            return e
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    // MARK: - Decoding

    @Test(arguments: [(true, UInt8(0)), (true, 1), (false, 0), (false, 1)] as [(Bool, UInt8)])
    func decodesWithAndWithoutChecksum(checksum: Bool, onePhase: UInt8) throws {
        let bytes = Self.file(Self.body(onePhase: onePhase, gtrid: Array("j1".utf8), bqual: Array("b".utf8)), checksum: checksum)
        let events = try EventBuilder.decodeAll(bytes)
        #expect(events.count == 2)
        #expect(events[1].type == .xaPrepare && events[1].type.name == "XA_PREPARE_LOG_EVENT")
        #expect(events[1].offset == Self.eventStart)
        guard case .xaPrepare(let x) = events[1].body else { Issue.record("not decoded as XA_PREPARE"); return }
        #expect(x.onePhase == (onePhase == 1))
        #expect(x.formatID == 1)
        #expect(x.gtrid == Array("j1".utf8) && x.bqual == Array("b".utf8))
        #expect(x.xid == "X'6a31',X'62',1")
    }

    @Test func mariaDBFormatDescriptionToo() throws {
        let x = try Self.decodeXA(Self.file(Self.body(gtrid: [0x6a, 0x31], bqual: []), version: "10.11.5-MariaDB-log"))
        #expect(x.xid == "X'6a31',X'',1")
    }

    @Test func emptyBqual() throws {
        let x = try Self.decodeXA(Self.file(Self.body(onePhase: 1, formatID: 7, gtrid: Array("order-17".utf8), bqual: [])))
        #expect(x.bqual.isEmpty && x.onePhase)
        #expect(x.xid == "X'6f726465722d3137',X'',7")
    }

    @Test func sixtyFourByteParts() throws {
        let g = [UInt8](repeating: 0xab, count: 64)
        let b = [UInt8](repeating: 0x01, count: 64)
        let x = try Self.decodeXA(Self.file(Self.body(gtrid: g, bqual: b)))
        #expect(x.gtrid == g && x.bqual == b)
        #expect(x.xid == "X'\(String(repeating: "ab", count: 64))',X'\(String(repeating: "01", count: 64))',1")
    }

    @Test func negativeFormatIDKeepsItsWireValueInTheXID() throws {
        let x = try Self.decodeXA(Self.file(Self.body(formatID: 0xffff_ffff, gtrid: [0x6a, 0x31], bqual: [])))
        #expect(x.formatID == -1)
        #expect(x.xid == "X'6a31',X'',4294967295")
        // MySQL logs -1 as %lu of a long; every spelling folds to the same XID.
        #expect(XAStatement.parse("XA COMMIT X'6a31',X'',18446744073709551615")?.xid == x.xid)
        #expect(XAStatement.parse("XA COMMIT X'6a31',X'',-1")?.xid == x.xid)
        #expect(XAStatement.parse("XA COMMIT X'6a31',X'',4294967295")?.xid == x.xid)
    }

    @Test func sameXIDAsMariaDBGTIDEventAndStatements() throws {
        var gtid = ByteWriter()
        gtid.u64(5)  // seq_no
        gtid.u32(0)  // domain
        gtid.u8(MariaDBGTIDEvent.preparedXA | MariaDBGTIDEvent.transactional)
        gtid.u32(3)  // format_id
        gtid.u8(2); gtid.u8(1)
        gtid.str("j1"); gtid.str("b")
        let bytes = EventBuilder.file([
            EventBuilder.formatDescription(version: "10.11.5-MariaDB-log"),
            EventBuilder.event(type: 162, body: gtid.bytes),
            EventBuilder.event(type: 38, body: Self.body(formatID: 3, gtrid: Array("j1".utf8), bqual: Array("b".utf8))),
        ])
        let events = try EventBuilder.decodeAll(bytes)
        guard case .mariadbGTID(let g) = events[1].body, case .xaPrepare(let x) = events[2].body else {
            Issue.record("unexpected events \(events.map(\.type.name))")
            return
        }
        #expect(g.xid == x.xid)
        #expect(XAStatement.parse("XA COMMIT 'j1','b',3")?.xid == x.xid)
        #expect(XAStatement.parse("XA COMMIT X'6a31',X'62',3")?.xid == x.xid)
    }

    // MARK: - Hostile lengths: located errors, never a trap

    @Test func gtridLengthMaxUInt32() {
        guard let e = Self.failure(Self.file(Self.body(gtridLength: 0xffff_ffff, gtrid: [1, 2], bqual: []))) else { return }
        #expect(e.field == "xaPrepare.gtridLength")
        #expect(e.byteOffset == Self.bodyStart + 5)
        #expect(e.eventType == .xaPrepare && e.eventStart == Self.eventStart)
        guard case .invalidValue = e.kind else { Issue.record("kind \(e.kind)"); return }
        #expect(e.description.contains("XA_PREPARE_LOG_EVENT"))
    }

    @Test func bqualLengthMaxUInt32() {
        guard let e = Self.failure(Self.file(Self.body(bqualLength: 0xffff_ffff, gtrid: [1, 2], bqual: []))) else { return }
        #expect(e.field == "xaPrepare.bqualLength")
        #expect(e.byteOffset == Self.bodyStart + 9)
        guard case .invalidValue = e.kind else { Issue.record("kind \(e.kind)"); return }
    }

    @Test func sixtyFiveBytesIsRefused() {
        let g = [UInt8](repeating: 0x61, count: 65)
        guard let e = Self.failure(Self.file(Self.body(gtrid: g, bqual: []))) else { return }
        #expect(e.field == "xaPrepare.gtridLength")
        guard let e2 = Self.failure(Self.file(Self.body(gtrid: [1], bqual: g))) else { return }
        #expect(e2.field == "xaPrepare.bqualLength")
    }

    @Test(arguments: [true, false])
    func lengthsOverTheEventSize(checksum: Bool) {
        // Both within 64, their sum past the end of the event (and into the checksum).
        guard let e = Self.failure(Self.file(Self.body(gtridLength: 64, bqualLength: 64, gtrid: [1, 2, 3], bqual: []), checksum: checksum)) else { return }
        #expect(e.field == "xaPrepare.gtrid")
        #expect(e.byteOffset == Self.bodyStart + 13)
        #expect(e.eventType == .xaPrepare)
        guard case .truncated(let needed, let available) = e.kind else { Issue.record("kind \(e.kind)"); return }
        #expect(needed == 64 && available == 3)
    }

    @Test func trailingBytesAreReported() {
        guard let e = Self.failure(Self.file(Self.body(gtrid: [1], bqual: []) + [0, 0])) else { return }
        guard case .trailingBytes(2) = e.kind else { Issue.record("kind \(e.kind)"); return }
    }

    @Test func everyTruncationThrows() {
        let body = Self.body(onePhase: 1, gtrid: Array("gtrid".utf8), bqual: Array("bq".utf8))
        for n in 0..<body.count {
            for checksum in [true, false] {
                do {
                    _ = try EventBuilder.decodeAll(Self.file(Array(body[0..<n]), checksum: checksum))
                    Issue.record("prefix \(n) decoded")
                } catch let e as BinlogDecodingError {
                    #expect(e.eventType == .xaPrepare)
                    #expect(e.field.hasPrefix("xaPrepare."))
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
    }

    // MARK: - JSON

    @Test func jsonRendering() throws {
        let events = try EventBuilder.decodeAll(Self.file(Self.body(onePhase: 1, gtrid: Array("j1".utf8), bqual: [])))
        var w = JSONWriter()
        EventJSON.write(events[1], file: "f", into: &w)
        let line = String(decoding: w.bytes, as: UTF8.self)
        #expect(
            line
                == #"{"file":"f","pos":127,"next_pos":165,"code":38,"type":"XA_PREPARE_LOG_EVENT","timestamp":1700000000,"server_id":1,"one_phase":true,"xid":"X'6a31',X'',1"}"#
        )
    }

    // MARK: - XA statements

    @Test(arguments: [
        ("XA COMMIT X'6a31',X'',1", XAVerb.commit, "X'6a31',X'',1", false),
        ("XA COMMIT X'6a31',X'',1 ONE PHASE", .commit, "X'6a31',X'',1", true),
        ("xa commit 'j1' one phase", .commit, "X'6a31',X'',1", true),
        ("XA COMMIT 'j1'", .commit, "X'6a31',X'',1", false),
        ("XA COMMIT \"j1\"", .commit, "X'6a31',X'',1", false),
        ("XA COMMIT 'j1','b',3", .commit, "X'6a31',X'62',3", false),
        ("XA COMMIT 'j1','b'", .commit, "X'6a31',X'62',1", false),
        ("Xa CoMmIt 'it''s'", .commit, "X'69742773',X'',1", false),
        ("XA COMMIT 'a\\'b'", .commit, "X'612762',X'',1", false),
        ("XA COMMIT 'é'", .commit, "X'c3a9',X'',1", false),
        ("XA ROLLBACK X'6A31',X'',1", .rollback, "X'6a31',X'',1", false),
        ("  xa\trollback  0x6a31 , '' , 1 ;  ", .rollback, "X'6a31',X'',1", false),
        ("XA START X'6a31',X'',1", .start, "X'6a31',X'',1", false),
        ("XA BEGIN 'j1' JOIN", .start, "X'6a31',X'',1", false),
        ("XA START 'j1' RESUME", .start, "X'6a31',X'',1", false),
        ("XA END X'6a31',X'',1", .end, "X'6a31',X'',1", false),
        ("XA END 'j1' SUSPEND", .end, "X'6a31',X'',1", false),
        ("XA END 'j1' SUSPEND FOR MIGRATE", .end, "X'6a31',X'',1", false),
        ("XA PREPARE 'j1'", .prepare, "X'6a31',X'',1", false),
        ("XA PREPARE X'',X'',0", .prepare, "X'',X'',0", false),
    ] as [(String, XAVerb, String, Bool)])
    func statementXID(text: String, verb: XAVerb, xid: String, onePhase: Bool) throws {
        let parsed = try #require(XAStatement.parse(text))
        #expect(parsed.verb == verb)
        #expect(parsed.xid == xid)
        #expect(parsed.onePhase == onePhase)
    }

    @Test func sixtyFourBytesInAStatement() throws {
        let g = String(repeating: "a", count: 64)
        #expect(XAStatement.parse("XA COMMIT '\(g)'")?.xid == "X'\(String(repeating: "61", count: 64))',X'',1")
        #expect(XAStatement.parse("XA COMMIT '\(g)a'") == nil)
        #expect(XAStatement.parse("XA COMMIT 'j1','\(g)a'") == nil)
    }

    @Test(arguments: [
        "", "XA", "XA RECOVER", "XA RECOVER CONVERT XID", "XA COMMIT", "XA COMMIT j1", "XA COMMIT X'6a3'",
        "XA COMMIT X'zz'", "XA COMMIT X'6a31", "XA COMMIT 'j1", "XA COMMIT 'j1' ONE", "XA COMMIT 'j1' TWO PHASE",
        "XA PREPARE 'j1' ONE PHASE", "XA ROLLBACK 'j1' ONE PHASE", "XACOMMIT 'j1'", "XA COMMITTED 'j1'", "COMMIT",
        "SELECT 1", "XA COMMIT 'j1',", "XA COMMIT 'j1','b',", "XA COMMIT 'j1','b',x", "XA COMMIT 'j1','b',1x",
        "XA COMMIT 'j1','b',99999999999999999999999", "XA COMMIT 'j1'; DROP TABLE t", "XA COMMIT 0x", "XA COMMIT 0x6a3",
        "XA START 'j1' JOIN RESUME", "XA END 'j1' SUSPEND FOR", "XA COMMIT 'j1' 'b'", "/* XA COMMIT 'j1' */",
        "XA COMMIT 'j1','b',3,4", "\u{0}", "XA COMMIT \\",
    ])
    func garbageIsNotAStatement(text: String) {
        #expect(XAStatement.parse(text) == nil)
    }
}
