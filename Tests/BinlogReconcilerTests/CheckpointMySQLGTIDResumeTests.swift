import Testing

@testable import BinlogParser
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// MySQL GTID-set arithmetic, the executed set the daemon keeps, and the decision how a MySQL
/// checkpoint resumes (no server: MySQL cannot run here).
@Suite struct CheckpointMySQLGTIDResumeTests {
    static let a = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    static let b = "4e11fa47-71ca-11e1-9e33-c80aa9429562"
    static let aBytes: [UInt8] = [0x3E, 0x11, 0xFA, 0x47, 0x71, 0xCA, 0x11, 0xE1, 0x9E, 0x33, 0xC8, 0x0A, 0xA9, 0x42, 0x95, 0x62]
    static var bBytes: [UInt8] { [0x4E] + aBytes.dropFirst() }

    static func set(_ text: String) throws -> MySQLGTIDSet { try #require(MySQLGTIDSet(text)) }

    // MARK: MySQLGTIDSet

    @Test func parsingNormalizesAndPrintsLikeMySQL() throws {
        let a = Self.a, b = Self.b
        // Upper case, whitespace, UUIDs out of order, repeated UUID, adjacent and overlapping intervals.
        let s = try Self.set(" \(b.uppercased()):1-3,\n\(a):7-9:1-5:6, \(b):4:10-12:11 ")
        #expect(s.description == "\(a):1-9,\(b):1-4:10-12")
        #expect(s == (try Self.set("\(a):1-9,\(b):1-4:10-12")))
        #expect(try Self.set(s.description) == s)
        #expect(MySQLGTIDSet("")?.isEmpty == true)
        #expect(MySQLGTIDSet("")?.description == "")
        #expect(MySQLGTIDSet("\(a)") == nil)  // no interval
        #expect(MySQLGTIDSet("\(a):") == nil)
        #expect(MySQLGTIDSet("\(a):1-") == nil)
        #expect(MySQLGTIDSet("\(a):3-2") == nil)
        #expect(MySQLGTIDSet("\(a):0-2") == nil)
        #expect(MySQLGTIDSet("\(a):tag:1") == nil)
        #expect(MySQLGTIDSet("3e11fa47:1") == nil)
        #expect(MySQLGTIDSet("\(a):1-\(UInt64.max)") == nil)
    }

    @Test func intervalsMergeOnInsert() throws {
        var s = MySQLGTIDSet()
        for n: UInt64 in [5, 1, 3, 2, 9, 4, 10, 8] { s.insert(uuid: Self.aBytes, gno: n) }
        #expect(s.description == "\(Self.a):1-5:8-10")
        s.insert(uuid: Self.aBytes, gno: 7)
        s.insert(uuid: Self.aBytes, gno: 6)  // fills the gap: one interval
        #expect(s.description == "\(Self.a):1-10")
        s.insert(uuid: Self.aBytes, gno: 3)  // already in: no change
        s.insert(uuid: Self.aBytes, gno: 0)  // not a GTID
        s.insert(uuid: [1, 2, 3], gno: 1)  // not a UUID
        #expect(s.description == "\(Self.a):1-10")
        #expect(s.contains(uuid: Self.aBytes, gno: 10))
        #expect(!s.contains(uuid: Self.aBytes, gno: 11))
        #expect(!s.contains(uuid: Self.bBytes, gno: 1))
        s.insert(uuid: Self.bBytes, gno: 1)
        #expect(s.description == "\(Self.a):1-10,\(Self.b):1")

        var u = try Self.set("\(Self.a):1-3:20")
        u.formUnion(try Self.set("\(Self.a):4-19,\(Self.b):5"))
        #expect(u.description == "\(Self.a):1-20,\(Self.b):5")
    }

    @Test func subsetAndDifference() throws {
        let a = Self.a, b = Self.b
        let mine = try Self.set("\(a):1-100:200-300,\(b):1-50")
        #expect(MySQLGTIDSet().isSubset(of: mine))
        #expect(try Self.set("\(a):1-100").isSubset(of: mine))
        #expect(try Self.set("\(a):5-10:200:250-300,\(b):50").isSubset(of: mine))
        #expect(!(try Self.set("\(a):1-101").isSubset(of: mine)))
        #expect(!(try Self.set("\(a):100-200").isSubset(of: mine)))
        #expect(!(try Self.set("\(a):301").isSubset(of: mine)))
        #expect(!(try Self.set("\(b):1,\(a):150").isSubset(of: mine)))
        #expect(!(try Self.set("5e11fa47-71ca-11e1-9e33-c80aa9429562:1").isSubset(of: mine)))
        #expect(mine.isSubset(of: mine))

        #expect(try Self.set("\(a):1-400,\(b):1-10").subtracting(mine).description == "\(a):101-199:301-400")
        #expect(try Self.set("\(a):50-250").subtracting(mine).description == "\(a):101-199")
        #expect(mine.subtracting(mine).isEmpty)
        #expect(mine.subtracting(MySQLGTIDSet()) == mine)
    }

    @Test func encodingOfAMergedSet() throws {
        // 1-3 and 4-6 are one interval [1, 7) on the wire; B sorts after A.
        let s = try Self.set("\(Self.b):2,\(Self.a):1-3:4-6")
        var expected: [UInt8] = [2, 0, 0, 0, 0, 0, 0, 0]
        expected += Self.aBytes + [1, 0, 0, 0, 0, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] + [7, 0, 0, 0, 0, 0, 0, 0]
        expected += Self.bBytes + [1, 0, 0, 0, 0, 0, 0, 0] + [2, 0, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0, 0, 0, 0, 0]
        #expect(s.encoded == expected)
    }

    @Test func dumpRequestsTheStreamSendsItself() throws {
        let s = try Self.set("\(Self.a):1-5")
        let gtid = try #require(ReplicationStream.ownDumpRequest(start: .mysqlGTID(s), options: .init(stopAtEnd: true, sendAnnotateRows: true), serverID: 9))
        // NON_BLOCK | BINLOG_THROUGH_GTID; never MariaDB's annotate flag (2 is BINLOG_THROUGH_POSITION on MySQL).
        #expect(gtid == .binlogDumpGTID(file: "", position: 4, flags: 5, serverID: 9, gtidSet: s.encoded))
        let tail = try #require(ReplicationStream.ownDumpRequest(start: .mysqlGTID(s), options: .init(), serverID: 9))
        #expect(Array(tail.body[0..<2]) == [4, 0])
        // File/position: libmariadb's mariadb_rpl_open sends it, unless the test option asks for our sender.
        #expect(ReplicationStream.ownDumpRequest(start: .filePosition(file: "mysql-bin.000001", position: 4), options: .init(), serverID: 9) == nil)
        #expect(ReplicationStream.ownDumpRequest(start: .mariadbGTID("0-1-1"), options: .init(), serverID: 9) == nil)
        var own = ReplicationStream.Options(stopAtEnd: true, sendAnnotateRows: true)
        own.sendsDumpItself = true
        #expect(ReplicationStream.ownDumpRequest(start: .filePosition(file: "mysql-bin.000001", position: 1234), options: own, serverID: 9)
            == .binlogDump(file: "mysql-bin.000001", position: 1234, flags: 3, serverID: 9))
    }

    // MARK: GTIDState (the executed set the daemon keeps and checkpoints)

    static func gtid(_ sid: [UInt8], _ gno: Int64, anonymous: Bool = false, tag: String = "") -> GTIDEvent {
        GTIDEvent(flags: 1, sid: sid, gno: gno, tag: tag, isAnonymous: anonymous)
    }

    @Test func executedStateMergesGapsAndRoundTrips() throws {
        var st = try #require(GTIDState(mysqlSet: "\(Self.a):1-3:5-7"))
        st.commit(mysql: Self.gtid(Self.aBytes, 4))  // fills the gap
        st.commit(mysql: Self.gtid(Self.aBytes, 8))  // extends
        st.commit(mysql: Self.gtid(Self.aBytes, 8))  // duplicate
        st.commit(mysql: Self.gtid(Self.aBytes, 99, anonymous: true))
        st.commit(mysql: Self.gtid(Self.bBytes, 2))
        st.commit(mysql: Self.gtid(Self.bBytes, 1))
        #expect(st.description == "\(Self.a):1-8,\(Self.b):1-2")
        #expect(GTIDState(mysqlSet: st.description) == st)
        #expect(st.mysqlSet == (try Self.set("\(Self.a):1-8,\(Self.b):1-2")))
        #expect(GTIDState(mysqlSet: "")?.isEmpty == true)
        #expect(GTIDState(mysqlSet: "")?.mysqlSet == MySQLGTIDSet())
        #expect(GTIDState(mysqlSet: "\(Self.a):x-1") == nil)
        #expect(GTIDState(mysqlSet: "nope:1") == nil)
        // MySQL 8.4 tags: kept and printed, but not sendable in the untagged encoding.
        var tagged = try #require(GTIDState(mysqlSet: "\(Self.a):1-5:blue:1-2"))
        tagged.commit(mysql: Self.gtid(Self.aBytes, 3, tag: "blue"))
        #expect(tagged.description == "\(Self.a):1-5,\(Self.a):blue:1-3")
        #expect(GTIDState(mysqlSet: tagged.description) == tagged)
        #expect(tagged.mysqlSet == nil)
        #expect(GTIDState(mariadbList: "0-1-5").mysqlSet == nil)
    }

    @Test func assemblerAddsEveryCommittedMySQLGTID() throws {
        let w = try TransactionAssemblerTests.watch("shop.products")
        var assembler = TransactionAssembler(watches: [w], columnNames: { _, _ in nil })
        var state = ShadowState(watchCount: 1, position: BinlogCoordinates(file: "mysql-bin.000001", position: 4))
        state.gtid = try #require(GTIDState(mysqlSet: "\(Self.a):1-10"))
        func event(_ type: BinlogEventType, _ body: BinlogEventBody) -> BinlogEvent {
            BinlogEvent(header: EventHeader(timestamp: 1, type: type, serverID: 1, eventSize: 30, logPosition: 100, flags: 0), offset: 70, body: body)
        }
        func query(_ sql: String) -> BinlogEvent {
            event(.query, .query(QueryEvent(threadID: 1, executionTime: 0, errorCode: 0, statusVariables: [], database: "shop", query: sql)))
        }
        var end: UInt64 = 200
        func feed(_ e: BinlogEvent) throws -> CommittedTransaction? {
            end += 50
            return try assembler.consume(e, end: BinlogCoordinates(file: "mysql-bin.000001", position: end), state: &state)
        }
        // A transaction on an unwatched table (BEGIN … XID), a DDL, one ending in COMMIT, one from
        // another source, and an anonymous one: every GTID is added at its commit, nothing earlier.
        _ = try feed(event(.gtid, .gtid(Self.gtid(Self.aBytes, 11))))
        _ = try feed(query("BEGIN"))
        #expect(state.gtid.description == "\(Self.a):1-10")
        #expect(try feed(event(.xid, .xid(1))) != nil)
        #expect(state.gtid.description == "\(Self.a):1-11")
        _ = try feed(event(.gtid, .gtid(Self.gtid(Self.aBytes, 12))))
        #expect(try feed(query("CREATE TABLE t (id INT)")) != nil)
        _ = try feed(event(.gtid, .gtid(Self.gtid(Self.aBytes, 14))))
        _ = try feed(query("BEGIN"))
        #expect(try feed(query("COMMIT")) != nil)
        _ = try feed(event(.gtid, .gtid(Self.gtid(Self.bBytes, 1))))
        _ = try feed(query("BEGIN"))
        _ = try feed(event(.xid, .xid(2)))
        _ = try feed(event(.gtid, .gtid(Self.gtid(Self.aBytes, 0, anonymous: true))))
        _ = try feed(query("BEGIN"))
        _ = try feed(event(.xid, .xid(3)))
        // A rolled-back transaction is not executed.
        _ = try feed(event(.gtid, .gtid(Self.gtid(Self.aBytes, 13))))
        _ = try feed(query("BEGIN"))
        _ = try feed(query("ROLLBACK"))
        #expect(state.gtid.description == "\(Self.a):1-12:14,\(Self.b):1")
        #expect(state.position.position == end - 150)
    }

    // MARK: How a MySQL checkpoint resumes

    static func plan(
        gtid: String, ckptUUID: String? = a, srcUUID: String? = a, mode: String? = "ON", purged: String? = "", executed: String? = nil
    ) throws -> ReconcilerDaemon.MySQLResumePlan {
        try ReconcilerDaemon.mysqlResumePlan(
            checkpointGTID: gtid, checkpointUUID: ckptUUID, sourceUUID: srcUUID, gtidMode: mode, gtidPurged: purged,
            gtidExecuted: executed ?? gtid)
    }

    static func refusal(_ body: () throws -> ReconcilerDaemon.MySQLResumePlan) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func sameServerWithGTIDsResumesByGTIDSet() throws {
        let set = "\(Self.a):1-100"
        guard case .gtid(let s, let reason) = try Self.plan(gtid: set, purged: "\(Self.a):1-40", executed: "\(Self.a):1-150") else {
            Issue.record("expected a GTID resume")
            return
        }
        #expect(s == (try Self.set(set)))
        #expect(reason.contains("gtid_mode=ON"))
    }

    @Test func failoverIsAcceptedWhenNothingUnseenWasPurged() throws {
        // The checkpoint was taken on A; B took over with A's transactions replicated plus its own.
        let ckpt = "\(Self.a):1-100"
        let plan = try Self.plan(gtid: ckpt, srcUUID: Self.b, purged: "\(Self.a):1-60", executed: "\(Self.a):1-100,\(Self.b):1-5")
        guard case .gtid(let s, let reason) = plan else {
            Issue.record("expected a GTID resume, got \(plan)")
            return
        }
        #expect(s.description == ckpt)
        #expect(reason.contains("failover") && reason.contains(Self.b) && reason.contains("\(Self.a):1-60"))
    }

    @Test func failoverIsRefusedWhenUnseenTransactionsWerePurged() throws {
        // B purged A:101-120 and B:1-3, which the checkpoint never saw.
        let message = try #require(Self.refusal {
            try Self.plan(gtid: "\(Self.a):1-100", srcUUID: Self.b, purged: "\(Self.a):1-120,\(Self.b):1-3", executed: "\(Self.a):1-130,\(Self.b):1-9")
        })
        #expect(message.contains("--rebootstrap"))
        #expect(message.contains("\(Self.a):101-120,\(Self.b):1-3"))
        // The same on the original server.
        #expect(Self.refusal { try Self.plan(gtid: "\(Self.a):1-100", purged: "\(Self.a):1-101") }?.contains("--rebootstrap") == true)
    }

    @Test func checkpointAheadOfTheNewSourceIsRefused() throws {
        // A:91-100 were committed on A but never reached B before the failover.
        let message = try #require(Self.refusal {
            try Self.plan(gtid: "\(Self.a):1-100", srcUUID: Self.b, purged: "", executed: "\(Self.a):1-90,\(Self.b):1-4")
        })
        #expect(message.contains("\(Self.a):91-100") && message.contains("--rebootstrap"))
    }

    @Test func withoutGTIDsOnlyTheSameServerResumesByPosition() throws {
        #expect(try Self.plan(gtid: "\(Self.a):1-100", mode: "OFF") == .filePosition(reason: "gtid_mode is OFF on the source"))
        #expect(try Self.plan(gtid: "", mode: "ON") == .filePosition(reason: "the checkpoint has no GTID set"))
        if case .filePosition(let why) = try Self.plan(gtid: "\(Self.a):tag:1-5") {
            #expect(why.contains("tagged"))
        } else {
            Issue.record("a tagged set cannot be sent: file/position expected")
        }
        // No server_uuid recorded (unknown): not proven foreign.
        #expect(try Self.plan(gtid: "", ckptUUID: nil, mode: "OFF") == .filePosition(reason: "gtid_mode is OFF on the source"))
        for refused in [
            Self.refusal { try Self.plan(gtid: "\(Self.a):1-100", srcUUID: Self.b, mode: "OFF") },
            Self.refusal { try Self.plan(gtid: "", srcUUID: Self.b, mode: "ON") },
            Self.refusal { try Self.plan(gtid: "\(Self.a):1-100", srcUUID: Self.b, mode: "ON_PERMISSIVE") },
        ] {
            let m = try #require(refused)
            #expect(m.contains("--rebootstrap") && m.contains(Self.b) && m.contains("another server"))
        }
    }
}
