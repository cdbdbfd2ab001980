import BinlogParser
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The tail's reconnect / resume / GTID-fallback rules, without servers.
@Suite struct TailPlanTests {
    let position = BinlogCoordinates(file: "mysql-bin.000007", position: 1234)
    let mariaGTID = GTIDState(mariadbList: "0-1-500")
    let noGTID = GTIDState()
    static let lost = ReplicationError(.connectionLost, "the source went away")
    static let purged = ReplicationError(.binlogUnavailable, "Could not find first log file name in binary log index file")
    static let refused = ReplicationError(
        .connect, "connect failed", sqlError: SQLError(code: 2003, sqlState: "HY000", message: "Can't connect", context: "connect"))
    static let denied = ReplicationError(
        .connect, "access denied", sqlError: SQLError(code: 1045, sqlState: "28000", message: "Access denied", context: "connect"))

    @Test func opensAtThePositionAndFallsBackToGTIDWhenItIsPurged() {
        var plan = TailPlan(resumeByMySQLGTID: false)
        #expect(plan.startPoint(position: position, gtid: mariaGTID) == .filePosition(file: "mysql-bin.000007", position: 1234))
        #expect(plan.openFailed(Self.purged, position: position, gtid: mariaGTID, stopping: false) == .reopenByGTID(reason: "position not available on the source"))
        #expect(plan.startPoint(position: position, gtid: mariaGTID) == .mariadbGTID("0-1-500"))
        // Purged again, by GTID this time: nothing else can serve it.
        guard case .stop(let message) = plan.openFailed(Self.purged, position: position, gtid: mariaGTID, stopping: false) else {
            Issue.record("expected a stop")
            return
        }
        #expect(message.contains("--rebootstrap") && message.contains("nor GTID 0-1-500"))
    }

    @Test func aPurgedPositionWithoutGTIDStopsNamingRebootstrap() {
        var plan = TailPlan(resumeByMySQLGTID: false)
        guard case .stop(let message) = plan.openFailed(Self.purged, position: position, gtid: noGTID, stopping: false) else {
            Issue.record("expected a stop")
            return
        }
        #expect(message.contains("cannot serve position mysql-bin.000007:1234") && message.contains("--rebootstrap"))
    }

    @Test func connectionErrorsBackOffExponentiallyUpToThirtySecondsAndResetOnOpen() {
        var plan = TailPlan(resumeByMySQLGTID: false)
        var delays: [Double] = []
        for i in 0..<12 {
            let e = i % 2 == 0 ? Self.refused : Self.lost
            let d = i % 2 == 0
                ? plan.openFailed(e, position: position, gtid: mariaGTID, stopping: false)
                : plan.streamFailed(e, position: position, gtid: mariaGTID, stopping: false)
            guard case .backOff(let s, let attempt) = d else {
                Issue.record("expected a back-off, got \(d)")
                return
            }
            #expect(attempt == i + 1)
            delays.append(s)
        }
        #expect(delays.prefix(4) == [0.4, 0.8, 1.6, 3.2])
        #expect(delays.allSatisfy { $0 <= TailPlan.maxBackOff } && delays.last == TailPlan.maxBackOff)
        #expect(plan.opened(serverID: 1, knownServerID: 1, flavor: .mariadb, position: position, gtid: mariaGTID) == .proceed)
        #expect(plan.attempt == 0)
        guard case .backOff(let first, 1) = plan.streamFailed(Self.lost, position: position, gtid: mariaGTID, stopping: false) else {
            Issue.record("expected the first back-off again")
            return
        }
        #expect(first == 0.4)
    }

    @Test func otherOpenErrorsStopAndShutdownFinishesQuietly() {
        var plan = TailPlan(resumeByMySQLGTID: false)
        guard case .stop(let message) = plan.openFailed(Self.denied, position: position, gtid: mariaGTID, stopping: false) else {
            Issue.record("expected a stop")
            return
        }
        #expect(message.contains("access denied"))
        #expect(plan.openFailed(Self.denied, position: position, gtid: mariaGTID, stopping: true) == .finish)
        #expect(plan.streamFailed(Self.lost, position: position, gtid: mariaGTID, stopping: true) == .finish)
        #expect(plan.streamFailed(ApplyError("a column disappeared"), position: position, gtid: mariaGTID, stopping: false) == .stop("a column disappeared"))
        // A decoding error from the stream stops the tail naming the file, offset and event.
        let bad = BinlogDecodingError(
            .checksumMismatch(stored: 1, computed: 2), field: "checksum", byteOffset: 777, eventType: .writeRows, eventStart: 700,
            source: "mysql-bin.000007")
        guard case .stop(let m) = plan.streamFailed(bad, position: position, gtid: mariaGTID, stopping: false) else {
            Issue.record("expected a stop")
            return
        }
        #expect(m.hasPrefix("mysql-bin.000007:777: event WRITE_ROWS_EVENT") && m.contains("at 700"), "\(m)")
    }

    @Test func aFailoverIsFollowedOnlyByGTID() {
        // File and position on MariaDB with a GTID state: reopen by GTID, then follow.
        var plan = TailPlan(resumeByMySQLGTID: false)
        #expect(plan.opened(serverID: 2, knownServerID: 1, flavor: .mariadb, position: position, gtid: mariaGTID)
            == .reopenByGTID(reason: "the source is another server now", serverID: "1 → 2"))
        #expect(plan.opened(serverID: 2, knownServerID: 1, flavor: .mariadb, position: position, gtid: mariaGTID) == .followNewServer(previous: 1, now: 2))
        // Without a GTID state, or on MySQL by position: stop.
        var bare = TailPlan(resumeByMySQLGTID: false)
        guard case .stop(let m1) = bare.opened(serverID: 2, knownServerID: 1, flavor: .mariadb, position: position, gtid: noGTID),
            case .stop(let m2) = bare.opened(serverID: 2, knownServerID: 1, flavor: .mysql, position: position, gtid: mariaGTID)
        else {
            Issue.record("expected stops")
            return
        }
        #expect(m1.contains("server_id 1 → 2") && m1.contains("--rebootstrap") && m2.contains("gtid_mode=ON"))
        // MySQL resuming by executed GTID set follows a new server as it is.
        let mysqlGTID = GTIDState(mysqlSet: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77")!
        var mysql = TailPlan(resumeByMySQLGTID: true)
        #expect(mysql.startPoint(position: position, gtid: mysqlGTID) == .mysqlGTID(mysqlGTID.mysqlSet!))
        #expect(mysql.opened(serverID: 9, knownServerID: 1, flavor: .mysql, position: position, gtid: mysqlGTID) == .followNewServer(previous: 1, now: 9))
    }

    @Test func aGTIDResumeIsKeptAcrossALostConnectionOnlyUntilAPositionIsKnown() {
        var plan = TailPlan(resumeByMySQLGTID: false)
        _ = plan.openFailed(Self.purged, position: position, gtid: mariaGTID, stopping: false)
        #expect(plan.byMariaDBGTID)
        // No transaction applied since (the position's file is unknown after a GTID start): keep GTID.
        _ = plan.streamFailed(Self.lost, position: BinlogCoordinates(file: "", position: 0), gtid: mariaGTID, stopping: false)
        #expect(plan.byMariaDBGTID)
        // A commit gave a file position: reconnect by it.
        _ = plan.streamFailed(Self.lost, position: position, gtid: mariaGTID, stopping: false)
        #expect(!plan.byMariaDBGTID)
        // The position purged while streaming: by GTID again.
        #expect(plan.streamFailed(Self.purged, position: position, gtid: mariaGTID, stopping: false) == .reopenByGTID(reason: "position not available on the source"))
    }
}
