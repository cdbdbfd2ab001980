import BinlogParser
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The stream's fetch thread (``DumpFetcher``) and its socket reader (``DumpPacketReader``) against
/// the private MariaDB: the same events as fetching inline with `mariadb_rpl_fetch`, checksums they
/// verified are really verified, and tailing delivers every event at once (nothing waits for a
/// batch to fill).
@Suite("ReplicationStream fetch thread", .serialized)
struct ReplicationFetchThreadTests {
    private func stream(from start: BinlogCoordinates, to end: BinlogCoordinates, fetchAhead: Bool, socket: Bool) throws -> [StreamedEvent] {
        let read = try TestSource.streamEvents(from: start, before: end, options: .init(fetchAhead: fetchAhead, readsSocketDirectly: socket))
        #expect(read.readsSocket == socket)  // a plain TCP connection: the own reader whenever asked
        return read.events
    }

    @Test func fetchThreadDeliversExactlyWhatInlineFetchingDelivers() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.fetch_thread (id INT PRIMARY KEY, b LONGBLOB)")
        let start = try TestSource.masterStatus(admin)
        let base = Int.random(in: 1...1_000_000_000)
        // Small events, then two row events larger than the fetch thread's 4 MiB batch limit, one
        // of 17 MB (more than one protocol packet), a rotation, and more small events.
        for i in 0..<200 {
            try admin.execute("INSERT INTO br_repl_test.fetch_thread VALUES (\(base + i), REPEAT('x', \(i * 37 % 500)))")
        }
        try admin.execute("INSERT INTO br_repl_test.fetch_thread VALUES (\(base + 1000), REPEAT('y', 5000000)), (\(base + 1001), REPEAT('z', 6000000))")
        try admin.execute("INSERT INTO br_repl_test.fetch_thread VALUES (\(base + 1002), REPEAT('w', 17000000))")
        try admin.execute("FLUSH BINARY LOGS")
        try admin.execute("DELETE FROM br_repl_test.fetch_thread WHERE id BETWEEN \(base) AND \(base + 1002)")
        let end = try TestSource.masterStatus(admin)

        // Other suites may write meanwhile: compare up to the end taken above.
        let a = try stream(from: start, to: end, fetchAhead: true, socket: true)  // the default
        let b = try stream(from: start, to: end, fetchAhead: false, socket: false)  // mariadb_rpl_fetch on the caller's thread
        let mixed = try stream(from: start, to: end, fetchAhead: false, socket: true)
        let mixed2 = try stream(from: start, to: end, fetchAhead: true, socket: false)
        #expect(a.count > 400)
        #expect(a.count == b.count)
        #expect(a == b)
        #expect(mixed == b)
        #expect(mixed2 == b)
        #expect(a.contains { $0.bytes.count > 5_000_000 })
        #expect(a.contains { $0.bytes.count > 16_777_215 })
        #expect(Set(a.map(\.file)).count >= 2)
        // CRC32 is on: every event but the FDEs was verified by the fetcher (and decoded without a
        // complaint by a decoder that checked them all again).
        let fde = BinlogEventType.formatDescription.rawValue
        let unverified = a.filter { $0.bytes[4] != fde && !$0.verified }.count
        let verifiedFDEs = a.filter { $0.bytes[4] == fde && $0.verified }.count
        #expect(unverified == 0)
        #expect(verifiedFDEs == 0)
    }

    @Test func aUnixSocketConnectionIsReadDirectlyToo() throws {
        guard let admin = TestSource.admin() else { return }
        let path = try #require(try admin.query("SELECT @@global.socket").first?.first ?? nil)
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.fetch_thread (id INT PRIMARY KEY, b LONGBLOB)")
        let start = try TestSource.masterStatus(admin)
        let base = Int.random(in: 1...1_000_000_000)
        for i in 0..<50 { try admin.execute("INSERT INTO br_repl_test.fetch_thread VALUES (\(base + i), REPEAT('u', \(i * 11)))") }
        try admin.execute("DELETE FROM br_repl_test.fetch_thread WHERE id BETWEEN \(base) AND \(base + 49)")
        let end = try TestSource.masterStatus(admin)
        func read(_ socket: String?) throws -> [StreamedEvent] {
            var c = TestSource.configuration()
            c.unixSocket = socket
            let read = try TestSource.streamEvents(from: start, before: end, configuration: c, options: .init())
            #expect(read.readsSocket)
            return read.events
        }
        let overUnix = try read(path)
        let overTCP = try read(nil)
        #expect(overUnix.count > 100)
        #expect(overUnix == overTCP)
    }

    @Test func tailingDeliversEachTransactionWithoutWaitingForMore() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.fetch_thread (id INT PRIMARY KEY, b LONGBLOB)")
        let end = try TestSource.masterStatus(admin)
        // Heartbeats every 30 s: if events waited in the fetch thread for more to come, only a
        // heartbeat would push them out, far later than the 2 s allowed below.
        let s = try ReplicationStream(
            configuration: TestSource.configuration(heartbeat: .seconds(30), readTimeout: nil),
            start: .filePosition(file: end.file, position: end.position))
        #expect(try s.next()?.type == .rotate)
        #expect(try s.next()?.type == .formatDescription)
        var decoder = BinlogEventDecoder()
        decoder.checksumBeforeFormatDescription = s.checksumAlgorithm
        let base = Int.random(in: 1...1_000_000_000)
        for round in 0..<3 {
            let writer = TestThread {
                sleepMilliseconds(200)
                guard let c = TestSource.admin() else { return }
                _ = try? c.execute("INSERT INTO br_repl_test.fetch_thread VALUES (\(base + round), 'tail')")
            }
            let started = ContinuousClock.now
            var committed = false
            while !committed {
                let raw = try #require(try s.next())
                let e = try decoder.decode(raw, checksumVerified: s.lastEventChecksumVerified)
                if case .xid = e.body { committed = true }
            }
            writer.join()
            #expect(ContinuousClock.now - started < .seconds(2), "round \(round)")
        }
        s.close()
        try admin.execute("DELETE FROM br_repl_test.fetch_thread WHERE id BETWEEN \(base) AND \(base + 2)")
    }
}
