import BinlogParser
import Synchronization
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Connection facts for the integration tests: the private MariaDB of `scripts/mariadb-start`
/// (port from `BR_MYSQL_PORT`, default 23306), user br_admin/br_admin.
enum TestSource {
    static let port: Int = getenv("BR_MYSQL_PORT").flatMap { Int(String(cString: $0)) } ?? 23306

    private static let nextID = Atomic<UInt32>(UInt32.random(in: 100_000...900_000))

    /// A replica server id no other stream of this run uses (two dumps with one id kick each other).
    static func uniqueServerID() -> UInt32 { nextID.add(1, ordering: .relaxed).newValue }

    static func configuration(
        serverID: UInt32? = nil, heartbeat: Duration = .seconds(1), readTimeout: Duration? = .seconds(10),
        password: String = "br_admin", tls: SourceConfiguration.TLSOptions = .init(mode: .disabled)
    ) -> SourceConfiguration {
        SourceConfiguration(
            host: "127.0.0.1", port: port, user: "br_admin", password: SourcePassword(password), tls: tls,
            connectTimeout: .seconds(5), readTimeout: readTimeout, replicaServerID: serverID ?? uniqueServerID(),
            heartbeatPeriod: heartbeat)
    }

    /// An admin session, or nil after recording a clear failure when the server is not reachable.
    static func admin(sourceLocation: SourceLocation = #_sourceLocation) -> SQLConnection? {
        do {
            let c = try SQLConnection(configuration: configuration())
            try c.execute("CREATE DATABASE IF NOT EXISTS br_repl_test")
            return c
        } catch {
            Issue.record(
                """
                MariaDB is not reachable at 127.0.0.1:\(port) as br_admin (\(error)). Start it with \
                BR_MYSQL_PORT=\(port) scripts/mariadb-start (the tests read the port from BR_MYSQL_PORT).
                """, sourceLocation: sourceLocation)
            return nil
        }
    }

    /// `SHOW MASTER STATUS` as coordinates.
    static func masterStatus(_ c: SQLConnection) throws -> BinlogCoordinates {
        let row = try #require(try c.query("SHOW MASTER STATUS").first)
        let file = try #require(row[0])
        let position = try #require(row[1].flatMap { UInt64($0) })
        return BinlogCoordinates(file: file, position: position)
    }

    /// `@@datadir`, where the binlog files are (the server runs on this machine).
    static func binlogDirectory(_ c: SQLConnection) throws -> String {
        let basename = try #require(try c.query("SELECT @@log_bin_basename").first?.first ?? nil)
        return String(basename[..<(basename.lastIndex(of: "/") ?? basename.startIndex)]) + "/"
    }

    /// Offsets and types of a binlog file's events as read from disk (transaction payloads not expanded).
    static func eventsOnDisk(_ path: String) throws -> [(offset: UInt64, type: UInt8)] {
        let events = try BinlogFileEvents(path: path)
        var out: [(UInt64, UInt8)] = []
        while let e = try events.next() {
            if e.inPayload == nil { out.append((e.event.offset, e.event.type.rawValue)) }
        }
        return out
    }
}

/// One event of a dump, as the stream tests compare them.
struct StreamedEvent: Equatable, CustomStringConvertible {
    var file: String
    var offset: UInt64
    var inFile: Bool
    /// ``ReplicationStream/lastEventChecksumVerified``.
    var verified: Bool
    var bytes: [UInt8]
    var description: String { "\(file):\(offset) type \(bytes.count > 4 ? bytes[4] : 0) (\(bytes.count) bytes\(inFile ? "" : ", artificial"))" }
}

extension TestSource {
    /// Every event of a NON_BLOCK dump from `start` that lies before `end` (heartbeats skipped),
    /// each decoded by a decoder that checks every CRC32 itself (an event the stream wrongly marked
    /// verified would throw); the resume point and whether the stream read the socket directly.
    static func streamEvents(
        from start: BinlogCoordinates, before end: BinlogCoordinates, configuration: SourceConfiguration = configuration(),
        options: ReplicationStream.Options
    ) throws -> (events: [StreamedEvent], resume: BinlogCoordinates?, readsSocket: Bool) {
        var options = options
        options.stopAtEnd = true
        let stream = try ReplicationStream(
            configuration: configuration, start: .filePosition(file: start.file, position: start.position), options: options)
        var decoder = BinlogEventDecoder()
        decoder.checksumBeforeFormatDescription = stream.checksumAlgorithm
        var out: [StreamedEvent] = []
        while let raw = try stream.next() {
            _ = try decoder.decode(raw)
            if raw.type == .heartbeat || raw.type == .heartbeatV2 { continue }
            guard BinlogCoordinates(file: stream.eventFile, position: raw.offset) < end else { continue }
            out.append(StreamedEvent(
                file: stream.eventFile, offset: raw.offset, inFile: stream.lastEventIsInFile, verified: stream.lastEventChecksumVerified,
                bytes: Array(raw.bytes)))
        }
        return (out, stream.resumeCoordinates, stream.readsSocket)
    }
}

/// Runs `body` on a new POSIX thread (not the cooperative pool, which the blocking reads occupy).
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { p in
            let me = Unmanaged<TestThread>.fromOpaque(p!).takeRetainedValue()
            me.body()
            return nil
        }, box)
    }

    func join() { pthread_join(thread, nil) }
}

func sleepMilliseconds(_ ms: Int) { usleep(UInt32(ms) * 1000) }
