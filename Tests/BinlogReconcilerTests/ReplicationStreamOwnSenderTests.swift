import BinlogParser
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The stream's own dump sender (`mysql->methods->db_command` + `mariadb_rpl_fetch`, the path
/// COM_BINLOG_DUMP_GTID takes) against the private MariaDB, with a COM_BINLOG_DUMP (0x12) body:
/// MySQL cannot run here, so this is the live evidence for the sender. Serialized: the tests write
/// to the binlog.
@Suite("ReplicationStream: own dump sender against the private MariaDB", .serialized)
struct ReplicationStreamOwnSenderTests {
    /// Every event from `start` to the source's end, except heartbeats, that lies before `end`.
    static func read(from start: BinlogCoordinates, to end: BinlogCoordinates, ownSender: Bool) throws -> (events: [StreamedEvent], resume: BinlogCoordinates?) {
        var options = ReplicationStream.Options(stopAtEnd: true, sendAnnotateRows: true)
        options.sendsDumpItself = ownSender
        let read = try TestSource.streamEvents(from: start, before: end, options: options)
        return (read.events, read.resume)
    }

    @Test func ownSenderYieldsTheSameEventsAsLibmariadb() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.own_sender (id INT PRIMARY KEY, v VARCHAR(100), n BIGINT)")
        let start = try TestSource.masterStatus(admin)
        let base = Int.random(in: 1...1_000_000_000)
        try admin.execute("INSERT INTO br_repl_test.own_sender VALUES (\(base), 'a', 1), (\(base + 1), 'b', 2)")
        try admin.execute("UPDATE br_repl_test.own_sender SET n = n + 10 WHERE id = \(base)")
        try admin.execute("FLUSH BINARY LOGS")
        try admin.execute("DELETE FROM br_repl_test.own_sender WHERE id = \(base + 1)")
        try admin.execute("INSERT INTO br_repl_test.own_sender VALUES (\(base + 2), REPEAT('z', 90), NULL)")
        let end = try TestSource.masterStatus(admin)

        let library = try Self.read(from: start, to: end, ownSender: false)
        let own = try Self.read(from: start, to: end, ownSender: true)
        #expect(own.events.count == library.events.count)
        for (i, (a, b)) in zip(library.events, own.events).enumerated() where a != b {
            Issue.record("event \(i) differs: mariadb_rpl_open \(a), own sender \(b)")
            break
        }
        #expect(own.events == library.events)
        // The range really covers both files: artificial ROTATEs, the real ROTATE, row events.
        #expect(Set(own.events.map(\.file)).count == 2)
        #expect(own.events.contains { !$0.inFile })
        #expect(own.events.filter { $0.inFile && [23, 24, 25, 30, 31, 32].contains($0.bytes[4]) }.count >= 4)  // WRITE/UPDATE/DELETE_ROWS v1 or v2
        #expect(own.events.last.map { $0.offset + UInt64($0.bytes.count) } == end.position)
        #expect(own.resume != nil && library.resume != nil)
    }

    @Test func ownSenderReportsAMissingFileLikeLibmariadb() throws {
        guard TestSource.admin() != nil else { return }
        var options = ReplicationStream.Options(stopAtEnd: true)
        options.sendsDumpItself = true
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(), start: .filePosition(file: "mysql-bin.999999", position: 4), options: options)
        var caught: ReplicationError?
        do {
            while try stream.next() != nil {}
        } catch { caught = error }
        #expect(caught?.kind == .binlogUnavailable)
        #expect(caught?.sqlError?.code == 1236)
    }

    @Test func mysqlGTIDStartIsRefusedOnMariaDBBeforeTheDump() throws {
        guard TestSource.admin() != nil else { return }
        let set = try #require(MySQLGTIDSet("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"))
        var caught: ReplicationError?
        do {
            _ = try ReplicationStream(configuration: TestSource.configuration(), start: .mysqlGTID(set), options: .init(stopAtEnd: true))
        } catch { caught = error }
        let e = try #require(caught)
        #expect(e.kind == .configuration)
        #expect(e.description.contains("needs a MySQL source"))
        #expect(e.description.contains("MariaDB"))
        #expect(e.resumeAt == nil)
    }
}
