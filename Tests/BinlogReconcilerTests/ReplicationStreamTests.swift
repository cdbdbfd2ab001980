import BinlogParser
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// Live binlog dumps from the private MariaDB. Serialized: the tests write to the binlog and some
/// rely on an idle server (heartbeats, idle timeout).
@Suite("ReplicationStream against the private MariaDB", .serialized)
struct ReplicationStreamTests {
    // MARK: Positions

    @Test func streamedPositionsMatchTheFilesOnDisk() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.positions (id INT PRIMARY KEY, v VARCHAR(100), n BIGINT)")
        let base = Int.random(in: 1...1_000_000_000)
        try admin.execute("INSERT INTO br_repl_test.positions VALUES (\(base), 'a', 1), (\(base + 1), 'b', 2)")
        try admin.execute("UPDATE br_repl_test.positions SET n = n + 10 WHERE id = \(base)")
        try admin.execute("FLUSH BINARY LOGS")
        try admin.execute("DELETE FROM br_repl_test.positions WHERE id = \(base + 1)")
        try admin.execute("INSERT INTO br_repl_test.positions VALUES (\(base + 2), REPEAT('z', 90), NULL)")

        let first = try #require(try admin.query("SHOW BINARY LOGS").first?.first ?? nil)
        let dir = try TestSource.binlogDirectory(admin)
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(), start: .filePosition(file: first, position: 4),
            options: .init(stopAtEnd: true, sendAnnotateRows: true))
        var decoder = BinlogEventDecoder()
        decoder.checksumBeforeFormatDescription = stream.checksumAlgorithm
        #expect(stream.checksumAlgorithm == .crc32)

        var files: [String] = []
        var streamed: [String: [(offset: UInt64, type: UInt8)]] = [:]
        var notInFile: [BinlogEventType] = []
        var rows = 0
        var events = 0
        while let raw = try stream.next() {
            events += 1
            let e = try decoder.decode(raw)
            if case .rows(let r) = e.body { rows += try r.rows().count }
            guard stream.lastEventIsInFile else {
                notInFile.append(raw.type)
                continue
            }
            if streamed[stream.eventFile] == nil { files.append(stream.eventFile) }
            streamed[stream.eventFile, default: []].append((raw.offset, raw.type.rawValue))
        }
        #expect(try stream.next() == nil)  // stays at the end
        #expect(files.first == first)
        #expect(files.count >= 2)
        #expect(rows >= 5)
        // The source opens every file with an artificial ROTATE; nothing else streamed is outside the files
        // (starting at 4, the FDE is the real one).
        #expect(notInFile == Array(repeating: .rotate, count: files.count))
        for (i, file) in files.enumerated() {
            let disk = try TestSource.eventsOnDisk(dir + file)
            let got = streamed[file] ?? []
            if i < files.count - 1 {
                #expect(disk.map(\.offset) == got.map(\.offset), "offsets of \(file)")
                #expect(disk.map(\.type) == got.map(\.type), "types of \(file)")
            } else {
                // The active file may have grown since the dump ended (other suites write too).
                #expect(got.count > 0 && got.count <= disk.count, "\(file): \(got.count) streamed, \(disk.count) on disk")
                #expect(Array(disk.prefix(got.count)).map(\.offset) == got.map(\.offset), "offsets of \(file)")
                #expect(Array(disk.prefix(got.count)).map(\.type) == got.map(\.type), "types of \(file)")
            }
        }
        // The resume point is the end of the last event of the last file.
        let last = try #require(streamed[files.last ?? ""]?.last)
        #expect(stream.resumeCoordinates?.file == files.last)
        #expect(stream.resumeCoordinates?.position ?? 0 > last.offset)
    }

    // MARK: GTID start

    @Test func mariadbGTIDStartResumesAtTheNextTransaction() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.gtid_resume (id INT PRIMARY KEY, v INT)")
        let base = Int.random(in: 1...1_000_000_000)
        for i in 1...3 { try admin.execute("INSERT INTO br_repl_test.gtid_resume VALUES (\(base + i), \(i))") }
        let mid = try #require(try admin.query("SELECT @@gtid_binlog_pos").first?.first ?? nil)
        for i in 4...6 { try admin.execute("INSERT INTO br_repl_test.gtid_resume VALUES (\(base + i), \(i))") }
        let midParts = mid.split(separator: "-")
        let midSeq = try #require(midParts.last.flatMap { UInt64($0) })

        let stream = try ReplicationStream(
            configuration: TestSource.configuration(), start: .mariadbGTID(mid), options: .init(stopAtEnd: true))
        #expect(stream.resumeCoordinates == nil)  // file unknown until the artificial ROTATE
        var decoder = BinlogEventDecoder()
        decoder.checksumBeforeFormatDescription = stream.checksumAlgorithm
        var firstGTID: (seq: UInt64, offset: UInt64, file: String)? = nil
        var firstRowID: Int64? = nil
        var mineSeen: [Int64] = []
        while let raw = try stream.next() {
            let e = try decoder.decode(raw)
            switch e.body {
            case .mariadbGTID(let g) where firstGTID == nil:
                #expect(stream.lastEventIsInFile)
                firstGTID = (g.sequence, raw.offset, stream.eventFile)
            case .rows(let r) where r.table.table == "gtid_resume":
                for change in try r.rows() {
                    if case .int(let id) = change.after?.values.first {
                        if firstRowID == nil { firstRowID = id }
                        if id > base { mineSeen.append(id - Int64(base)) }
                    }
                }
            default: break
            }
        }
        let g = try #require(firstGTID)
        #expect(g.seq == midSeq + 1)
        #expect(firstRowID == Int64(base + 4))
        #expect(mineSeen == [4, 5, 6])
        // The GTID event's offset is where it is in the file.
        let disk = try TestSource.eventsOnDisk(try TestSource.binlogDirectory(admin) + g.file)
        #expect(disk.contains { $0.offset == g.offset && $0.type == BinlogEventType.mariadbGTID.rawValue })
    }

    // MARK: Errors

    @Test func missingFileGivesBinlogUnavailable() throws {
        guard TestSource.admin() != nil else { return }
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(), start: .filePosition(file: "mysql-bin.999999", position: 4),
            options: .init(stopAtEnd: true))
        var caught: ReplicationError?
        do {
            while try stream.next() != nil {}
        } catch { caught = error }
        let e = try #require(caught)
        #expect(e.kind == .binlogUnavailable)
        #expect(e.sqlError?.code == 1236)
        #expect(e.description.contains("Re-bootstrap"))
        #expect(!e.isRecoverable)
        // Later calls repeat the error.
        #expect(throws: ReplicationError.self) { try stream.next() }
    }

    @Test func gtidNotInTheBinlogGivesBinlogUnavailable() throws {
        guard TestSource.admin() != nil else { return }
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(), start: .mariadbGTID("0-1-999999999"), options: .init(stopAtEnd: true))
        var caught: ReplicationError?
        do {
            while try stream.next() != nil {}
        } catch { caught = error }
        #expect(caught?.kind == .binlogUnavailable)
        #expect(caught?.sqlError?.code == 1236)
    }

    @Test func badConfigurationIsRefusedBeforeTheDump() throws {
        guard let admin = TestSource.admin() else { return }
        let sourceIDText = try admin.query("SELECT @@server_id").first?.first ?? nil
        let sourceID = try #require(sourceIDText.flatMap { UInt32($0) })
        for (config, start) in [
            (TestSource.configuration(serverID: 0), ReplicationStartPoint.filePosition(file: "mysql-bin.000001", position: 4)),
            (TestSource.configuration(serverID: sourceID), .filePosition(file: "mysql-bin.000001", position: 4)),
            (TestSource.configuration(), .mariadbGTID("0-1-2'; DROP TABLE x; --")),
            (TestSource.configuration(), .filePosition(file: "mysql-bin.000001", position: 2)),
        ] {
            #expect {
                try ReplicationStream(configuration: config, start: start)
            } throws: { error in
                (error as? ReplicationError)?.kind == .configuration
            }
        }
    }

    @Test func sameServerIDDropsTheOlderStream() throws {
        guard let admin = TestSource.admin() else { return }
        let end = try TestSource.masterStatus(admin)
        let config = TestSource.configuration()
        let older = try ReplicationStream(configuration: config, start: .filePosition(file: end.file, position: end.position))
        #expect(try older.next()?.type == .rotate)
        #expect(try older.next()?.type == .formatDescription)
        let newer = try ReplicationStream(configuration: config, start: .filePosition(file: end.file, position: end.position))
        #expect(try newer.next()?.type == .rotate)
        var caught: ReplicationError?
        let started = ContinuousClock.now
        do {
            while ContinuousClock.now - started < .seconds(5) {
                guard let raw = try older.next() else { break }
                #expect(raw.type == .heartbeat)
            }
        } catch { caught = error }
        #expect(caught?.kind == .duplicateReplicaID)
        #expect(caught?.sqlError?.code == 4052)
        #expect(caught?.description.contains("unique replica server id") == true)
        newer.close()
    }

    // MARK: Liveness

    @Test func idleBlockingStreamReceivesHeartbeatsAndDoesNotTimeOut() throws {
        guard let admin = TestSource.admin() else { return }
        let end = try TestSource.masterStatus(admin)
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(heartbeat: .seconds(1)),
            start: .filePosition(file: end.file, position: end.position))
        #expect(stream.idleTimeout == .seconds(3))
        var decoder = BinlogEventDecoder()
        decoder.checksumBeforeFormatDescription = stream.checksumAlgorithm
        let started = ContinuousClock.now
        var heartbeats = 0
        // 4 heartbeats take ~4 s, longer than the 3 s idle timeout: each one keeps the connection alive.
        while heartbeats < 4 {
            let raw = try #require(try stream.next())
            let e = try decoder.decode(raw)
            if case .heartbeat(let h) = e.body {
                heartbeats += 1
                #expect(raw.type.rawValue == 27)
                #expect(!stream.lastEventIsInFile)
                // A heartbeat names the source's current coordinates: where the stream stands.
                #expect(h.file == stream.currentFile)
                #expect(raw.offset == stream.resumeCoordinates?.position)
                #expect(UInt64(raw.header.logPosition) == raw.offset)
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
        #expect(stream.resumeCoordinates ?? end >= end)
        stream.close()
        #expect { try stream.next() } throws: { ($0 as? ReplicationError)?.kind == .closed }
    }

    @Test func silenceWithoutHeartbeatsIsAnIdleTimeout() throws {
        guard let admin = TestSource.admin() else { return }
        let end = try TestSource.masterStatus(admin)
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(heartbeat: .zero, readTimeout: .seconds(1)),
            start: .filePosition(file: end.file, position: end.position))
        #expect(try stream.next()?.type == .rotate)
        #expect(try stream.next()?.type == .formatDescription)
        let started = ContinuousClock.now
        var caught: ReplicationError?
        do { _ = try stream.next() } catch { caught = error }
        let waited = ContinuousClock.now - started
        #expect(caught?.kind == .idleTimeout)
        #expect(caught?.isRecoverable == true)
        #expect(waited >= .milliseconds(900) && waited < .seconds(5), "waited \(waited)")
        #expect(caught?.resumeAt == end)
    }

    // MARK: Killing and interrupting

    @Test func killedDumpRecoversByReopeningAtTheLastPosition() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.kill_resume (id INT PRIMARY KEY, v INT)")
        let end = try TestSource.masterStatus(admin)
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(), start: .filePosition(file: end.file, position: end.position))
        #expect(try stream.next()?.type == .rotate)
        #expect(try stream.next()?.type == .formatDescription)
        let victim = stream.connectionID
        let killer = TestThread {
            sleepMilliseconds(300)
            do {
                let other = try SQLConnection(configuration: TestSource.configuration())
                try other.kill(connectionID: victim)
            } catch { Issue.record("KILL failed: \(error)") }
        }
        var caught: ReplicationError?
        var lastResume = stream.resumeCoordinates
        do {
            // Other suites may write meanwhile: whatever arrives before the KILL is fine.
            while try stream.next() != nil { lastResume = stream.resumeCoordinates }
        } catch { caught = error }
        killer.join()
        let e = try #require(caught)
        #expect(e.kind == .connectionLost, "\(e)")
        #expect(e.isRecoverable)
        let resume = try #require(e.resumeAt)
        #expect(resume == lastResume)
        #expect(resume >= end)

        // Something happens while the reader is away; reopening at resumeAt loses nothing.
        let id = Int.random(in: 1...1_000_000_000)
        try admin.execute("INSERT INTO br_repl_test.kill_resume VALUES (\(id), 7)")
        let again = try ReplicationStream(
            configuration: TestSource.configuration(), start: .filePosition(file: resume.file, position: resume.position),
            options: .init(stopAtEnd: true))
        var decoder = BinlogEventDecoder()
        decoder.checksumBeforeFormatDescription = again.checksumAlgorithm
        var firstInFile: UInt64?
        var found = false
        while let raw = try again.next() {
            if again.lastEventIsInFile, firstInFile == nil { firstInFile = raw.offset }
            if case .rows(let r) = try decoder.decode(raw).body, r.table.table == "kill_resume" {
                let changes = try r.rows()
                if changes.contains(where: { $0.after?.values.first == .int(Int64(id)) }) { found = true }
            }
        }
        #expect(firstInFile == resume.position)
        #expect(found)
    }

    @Test func interruptFromAnotherThreadStopsABlockedRead() throws {
        guard let admin = TestSource.admin() else { return }
        let end = try TestSource.masterStatus(admin)
        let stream = try ReplicationStream(
            configuration: TestSource.configuration(heartbeat: .seconds(5)),
            start: .filePosition(file: end.file, position: end.position))
        #expect(try stream.next()?.type == .rotate)
        #expect(try stream.next()?.type == .formatDescription)
        let handle = stream.interruptHandle
        let t = TestThread {
            sleepMilliseconds(300)
            handle.interrupt()
        }
        let started = ContinuousClock.now
        var caught: ReplicationError?
        do { _ = try stream.next() } catch { caught = error }
        t.join()
        #expect(caught?.kind == .interrupted)
        #expect(caught?.isRecoverable == false)
        #expect(ContinuousClock.now - started < .seconds(3))
        handle.interrupt()  // harmless after the stream is gone
    }

    // MARK: Large events

    @Test func twentyMegabyteRowEventArrivesIntact() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE TABLE IF NOT EXISTS br_repl_test.large_tx (id INT PRIMARY KEY, b LONGBLOB)")
        let id = Int.random(in: 1...1_000_000_000)
        let start = try TestSource.masterStatus(admin)
        // 327,680 SHA-256 hex digests of 64 bytes: 20 MiB, not compressible into a repeat.
        try admin.execute("SET SESSION group_concat_max_len = 67108864")
        try admin.execute(
            "INSERT INTO br_repl_test.large_tx SELECT \(id), GROUP_CONCAT(SHA2(seq, 256) ORDER BY seq SEPARATOR '') FROM br_repl_test.seq_1_to_327680")
        let expected = try #require(try admin.query("SELECT LENGTH(b), CRC32(b) FROM br_repl_test.large_tx WHERE id = \(id)").first)
        try admin.execute("DELETE FROM br_repl_test.large_tx WHERE id = \(id)")

        let stream = try ReplicationStream(
            configuration: TestSource.configuration(), start: .filePosition(file: start.file, position: start.position),
            options: .init(stopAtEnd: true))
        var decoder = BinlogEventDecoder()  // verifies every CRC32
        decoder.checksumBeforeFormatDescription = stream.checksumAlgorithm
        var value: [UInt8]?
        var eventSize = 0
        while let raw = try stream.next() {
            if case .rows(let r) = try decoder.decode(raw).body, r.table.table == "large_tx", r.kind == .write {
                eventSize = raw.size
                if case .bytes(let b) = try r.rows().first?.after?.values[1] { value = b }
            }
        }
        #expect(eventSize > 16_777_215)  // more than one protocol packet
        let b = try #require(value)
        #expect(String(b.count) == expected[0])
        #expect(String(CRC32.checksum(b)) == expected[1])
    }
}
