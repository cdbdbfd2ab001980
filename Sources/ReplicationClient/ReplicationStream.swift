import ReconcilerCore
import BinlogParser
import Logging
import Synchronization
internal import CMariaDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - ReplicationStream

// Over 400 lines: the handshake in init (session variables, the dump request, the fetch thread)
// and next() share the session's private state; Options, the request helpers and InterruptHandle
// are in ReplicationStream+*.swift.

/// A binlog dump from the source: connects as a replica, sends COM_BINLOG_DUMP through libmariadb
/// and hands back each event's bytes as a ``RawEvent`` for BinlogParser. libmariadb's own event
/// decoding is never used for data.
///
/// ## Wire format of one dump packet (network mode)
/// ```
/// 0x00 status byte (OK)                     raw_data[0]
/// [0xEF, ack flag]   only with semi-sync    raw_data[1...2]
/// event: 19-byte v4 header, body, [CRC32]   raw_data[raw_data_ofs ..< raw_data_size]
/// ```
/// An EOF packet (0xFE, < 9 bytes) ends a NON_BLOCK dump; an ERR packet ends it with an error.
///
/// ## Before COM_BINLOG_DUMP (one `SET` round trip)
/// - `@master_binlog_checksum = @@global.binlog_checksum` (and MySQL 8's `@source_binlog_checksum`):
///   without it a CRC32 source stops with error 1236 (libmariadb 3.3's `mariadb_rpl_open` never
///   sends it; seen against MariaDB 10.11).
/// - `@mariadb_slave_capability = 4`: send MariaDB GTID / GTID_LIST / BINLOG_CHECKPOINT events as
///   they are instead of rewriting them into QUERY events (libmariadb does not set it; without it
///   MariaDB 10.11 sent every GTID event as a `BEGIN` QUERY). Harmless on MySQL.
/// - `@master_heartbeat_period = <ns>`: a HEARTBEAT_LOG_EVENT after that much silence.
/// - `@slave_uuid` / `@replica_uuid`: MySQL identifies replicas by it (MariaDB ignores it). It is
///   derived from the replica server id so that a reconnecting reader replaces its own zombie.
/// - For a MariaDB GTID start: `@slave_connect_state`, `@slave_gtid_strict_mode = 1`,
///   `@slave_gtid_ignore_duplicates = 0`, then the dump with an empty file name and position 4
///   (what MariaDB's own replica and python-mysql-replication send).
/// - For a MySQL GTID start: nothing more; the stream sends COM_BINLOG_DUMP_GTID (0x1e) itself
///   instead of `mariadb_rpl_open`'s COM_BINLOG_DUMP (see ``BinlogDumpRequest``).
///
/// ## Positions
/// Every event that is in the file has `log_pos` = offset of the next event, so its offset is
/// `log_pos - event_size`. Events that are not in the file — the artificial ROTATE that opens every
/// dump, an FDE re-sent when starting mid-file, heartbeats, anything flagged
/// `LOG_EVENT_ARTIFICIAL_F` or with `log_pos` 0 — get the offset of the stream's current position
/// and do not move it. ROTATE events (artificial or real) switch ``currentFile``.
/// (`log_pos` is a u32: in a binlog file larger than 4 GiB the offsets wrap; the stream then
/// assumes consecutive events.)
///
/// ## Liveness
/// With heartbeats the connection's read timeout (`MYSQL_OPT_READ_TIMEOUT`) is 3 heartbeat
/// periods: any packet — event or heartbeat — resets it, so a fetch that blocks longer means the
/// source or the network is gone, and ``next()`` throws ``ReplicationError/Kind/idleTimeout``.
///
/// ## Shutdown
/// ``interruptHandle`` is `Sendable`: calling ``InterruptHandle/interrupt()`` from another thread
/// (a SIGTERM handler task) shuts the socket down, so a blocked ``next()`` returns at once with
/// ``ReplicationError/Kind/interrupted``. `KILL CONNECTION` ``connectionID`` from another session
/// works too (it surfaces as ``ReplicationError/Kind/connectionLost``).
///
/// Not `Sendable`: one owner calls ``next()``.
public final class ReplicationStream {
    // MARK: Facts about the session

    public let start: ReplicationStartPoint
    public let options: Options
    /// `VERSION()` of the source.
    public let serverVersion: String
    public let flavor: ServerFlavor
    /// The source's own `@@server_id`.
    public let sourceServerID: UInt32
    /// The server id this dump announced.
    public let replicaServerID: UInt32
    /// What `@master_binlog_checksum` was set to: the checksum of the artificial first ROTATE
    /// (set ``BinlogEventDecoder/checksumBeforeFormatDescription`` to it).
    public let checksumAlgorithm: ChecksumAlgorithm
    /// `CONNECTION_ID()` of the dump session, for `KILL CONNECTION`.
    public let connectionID: UInt64
    public let heartbeatPeriod: Duration
    /// Silence after which the connection counts as dead (the read timeout), nil for none.
    public let idleTimeout: Duration?
    /// Shuts the dump down from another thread.
    public let interruptHandle: InterruptHandle
    /// Whether the packets are read from the socket directly (``Options/readsSocketDirectly`` on a
    /// plain connection) rather than through `mariadb_rpl_fetch` (TLS, compression).
    public private(set) var readsSocket = false

    // MARK: Progress
    //
    // The mutable state below is only touched by the one owner that calls `next()` (the type is
    // not Sendable; `InterruptHandle` has its own lock), and no access to it overlaps another:
    // `@exclusivity(unchecked)` drops the runtime exclusivity checks, which cost about 7 % of a
    // replication tail (a dozen `swift_beginAccess` per event).

    /// The binlog file the stream is in (set by ROTATE events); empty before the first ROTATE of a
    /// GTID start.
    @exclusivity(unchecked) public private(set) var currentFile: String
    /// The file of the last event ``next()`` returned (for a real ROTATE: the file it ends).
    @exclusivity(unchecked) public private(set) var eventFile: String
    /// Whether the last event returned is in the binlog file (false for the artificial ROTATE,
    /// re-sent FDEs and heartbeats).
    @exclusivity(unchecked) public private(set) var lastEventIsInFile = false
    /// Whether the stream already checked the last event's CRC32 under the checksum algorithm in
    /// force (and it matched): pass it to `BinlogEventDecoder.decode(_:checksumVerified:)`. False
    /// for FDEs, events without a checksum and mismatches (the decoder then checks and reports).
    @exclusivity(unchecked) public private(set) var lastEventChecksumVerified = false
    /// Events and bytes received.
    @exclusivity(unchecked) public private(set) var eventCount: UInt64 = 0
    @exclusivity(unchecked) public private(set) var byteCount: UInt64 = 0

    @exclusivity(unchecked) private var nextPosition: UInt64
    /// The events fetched and not yet returned (see ``next()``), and the next one's index.
    @exclusivity(unchecked) private var batch = DumpBatch()
    @exclusivity(unchecked) private var batchIndex = 0
    /// A batch buffer that grew past this for a large event is not kept for the small ones after it.
    private static let bufferKeepLimit = 8 << 20
    private let endpoint: String
    private var connection: SQLConnection
    @exclusivity(unchecked) private var rpl: UnsafeMutablePointer<MARIADB_RPL>?
    @exclusivity(unchecked) private var fetcher: DumpFetcher?
    private var socket: Int32 = -1
    /// Decodes only FORMAT_DESCRIPTION and ROTATE events (for the checksum in force and file names).
    @exclusivity(unchecked) private var control = BinlogEventDecoder()
    @exclusivity(unchecked) private var state: State = .streaming
    private let logger: Logger

    private enum State {
        case streaming
        case ended
        case failed(ReplicationError)
        case closed
    }

    /// Where to reopen to continue after the last in-file event returned; nil while the file is not
    /// known yet (a GTID start before its first ROTATE).
    public var resumeCoordinates: BinlogCoordinates? {
        currentFile.isEmpty ? nil : BinlogCoordinates(file: currentFile, position: nextPosition)
    }

    // MARK: Opening

    /// Connects, negotiates and sends the dump request. Errors of the dump itself (e.g. a purged
    /// file) arrive with the first ``next()``.
    public init(
        configuration c: SourceConfiguration, start: ReplicationStartPoint, options: Options = Options(),
        logger: Logger = Logger(label: "binlog-reconciler.replication")
    ) throws(ReplicationError) {
        do throws(SQLError) { try c.validate() } catch { throw ReplicationError(.configuration, error.message) }
        self.start = start
        self.options = options
        self.logger = logger
        self.endpoint = c.endpoint
        self.replicaServerID = c.replicaServerID
        self.heartbeatPeriod = c.heartbeatPeriod
        let idle: Duration? = c.heartbeatPeriod > .zero ? max(c.heartbeatPeriod * 3, .seconds(1)) : c.readTimeout
        self.idleTimeout = idle

        switch start {
        case .filePosition(let file, let position):
            guard !file.isEmpty, !file.utf8.contains(0), position >= 4, position <= UInt64(UInt32.max) else {
                throw ReplicationError(.configuration, "invalid start \(start): need a file name and a position in 4...\(UInt32.max)")
            }
            currentFile = file
            nextPosition = position
        case .mariadbGTID(let gtid):
            guard Self.isValidMariaDBGTIDList(gtid) else {
                throw ReplicationError(.configuration, "invalid MariaDB GTID position '\(gtid)': expected domain-server-sequence[,…]")
            }
            currentFile = ""
            nextPosition = 4
        case .mysqlGTID:
            // The file is unknown until the first ROTATE, as for a MariaDB GTID start.
            currentFile = ""
            nextPosition = 4
        }
        eventFile = currentFile

        let conn: SQLConnection
        do throws(SQLError) {
            conn = try SQLConnection(configuration: c, readTimeout: idle, maxAllowedPacket: options.maxEventSize)
        } catch {
            throw ReplicationError(.connect, "cannot connect to the source for the binlog dump", sqlError: error)
        }
        connection = conn
        serverVersion = conn.serverVersion
        flavor = conn.flavor
        connectionID = conn.connectionID
        interruptHandle = InterruptHandle()

        // Session variables, then read back what was negotiated.
        let uuid = options.replicaUUID ?? Self.derivedUUID(serverID: c.replicaServerID)
        var sets = [
            "@master_binlog_checksum = @@global.binlog_checksum",
            "@source_binlog_checksum = @@global.binlog_checksum",
            "@mariadb_slave_capability = 4",
            "@master_heartbeat_period = \(c.heartbeatPeriod.nanosecondsClamped)",
        ]
        let checksumName: String
        let sourceID: UInt32
        do throws(SQLError) {
            sets.append("@slave_uuid = \(try conn.quoted(uuid))")
            sets.append("@replica_uuid = \(try conn.quoted(uuid))")
            if case .mysqlGTID = start, conn.flavor != .mysql {
                throw SQLError(client: "a MySQL GTID start (COM_BINLOG_DUMP_GTID) needs a MySQL source; \(conn.serverVersion) is MariaDB (use a MariaDB GTID or a file/position start)")
            }
            if case .mariadbGTID(let gtid) = start {
                guard conn.flavor == .mariadb else {
                    throw SQLError(client: "a MariaDB GTID start needs a MariaDB source; \(conn.serverVersion) is MySQL (use a file/position start)")
                }
                sets.append("@slave_connect_state = \(try conn.quoted(gtid))")
                sets.append("@slave_gtid_strict_mode = 1")
                sets.append("@slave_gtid_ignore_duplicates = 0")
            }
            try conn.execute("SET " + sets.joined(separator: ", "))
            let row = try conn.query("SELECT @master_binlog_checksum, @@global.server_id").first ?? []
            checksumName = (row.first ?? nil) ?? "NONE"
            guard row.count == 2, let idText = row[1], let id = UInt32(idText) else {
                throw SQLError(client: "cannot read @@global.server_id from the source")
            }
            sourceID = id
        } catch {
            conn.close()
            throw ReplicationError(error.code == 0 ? .configuration : .connect, "binlog dump handshake failed", sqlError: error)
        }
        sourceServerID = sourceID
        checksumAlgorithm = checksumName.uppercased() == "CRC32" ? .crc32 : .off
        control.checksumBeforeFormatDescription = checksumAlgorithm
        guard c.replicaServerID != sourceID else {
            conn.close()
            throw ReplicationError(
                .configuration,
                "replica server id \(c.replicaServerID) is the source's own server_id: choose another, unique id")
        }

        // COM_BINLOG_DUMP through libmariadb.
        guard let h = conn.handle, let r = mariadb_rpl_init_ex(h, UInt32(MARIADB_RPL_VERSION)) else {
            let e = conn.handle.map { SQLError(handle: $0, context: "mariadb_rpl_init") }
            conn.close()
            throw ReplicationError(.connect, "libmariadb could not create a replication handle", sqlError: e)
        }
        rpl = r
        var ok = true
        switch start {
        case .filePosition(let file, let position):
            let name = Array(file.utf8)
            ok = ok && name.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { cmariadb_rpl_set_filename(r, $0.baseAddress, $0.count) == 0 }
            }
            ok = ok && cmariadb_rpl_set_start(r, UInt(position)) == 0
        case .mariadbGTID, .mysqlGTID:
            // Empty name (length 0 makes the library strdup("")), position 4: the source finds the
            // file from @slave_connect_state (MariaDB) or from the GTID set (MySQL).
            ok = ok && cmariadb_rpl_set_filename(r, "", 0) == 0
            ok = ok && cmariadb_rpl_set_start(r, 4) == 0
        }
        ok = ok && cmariadb_rpl_set_server_id(r, c.replicaServerID) == 0
        var flags: UInt32 = 0
        if options.stopAtEnd { flags |= UInt32(MARIADB_RPL_BINLOG_DUMP_NON_BLOCK) }
        if options.sendAnnotateRows { flags |= UInt32(MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS) }
        ok = ok && cmariadb_rpl_set_flags(r, flags) == 0
        let request = Self.ownDumpRequest(start: start, options: options, serverID: c.replicaServerID)
        let sent = ok && (request.map { Self.send($0, on: h) } ?? (mariadb_rpl_open(r) == 0))
        guard sent else {
            let e = SQLError(handle: h, context: request.map { $0.command == 0x1e ? "COM_BINLOG_DUMP_GTID" : "COM_BINLOG_DUMP" } ?? "COM_BINLOG_DUMP")
            teardown()
            throw ReplicationError(.connect, "cannot start the binlog dump at \(start)", sqlError: e)
        }
        socket = Int32(truncatingIfNeeded: mysql_get_socket(h))
        interruptHandle.attach(socket: socket)
        var reader: DumpPacketReader?
        var sequence: UInt32 = 0
        if options.readsSocketDirectly, case let fd = cmariadb_plain_dump_socket(h, &sequence), fd >= 0 {
            reader = DumpPacketReader(
                socket: fd, nextSequence: UInt8(truncatingIfNeeded: sequence), readTimeout: idle, maxEventSize: options.maxEventSize,
                context: "binlog dump from \(endpoint)")
        }
        let f = DumpFetcher(rpl: r, handle: h, checksum: checksumAlgorithm, context: "binlog dump from \(endpoint)", reader: reader)
        fetcher = f
        readsSocket = f.readsSocket
        let threaded = options.fetchAhead && f.start()
        logger.debug(
            "binlog dump opened",
            metadata: [
                "source": "\(endpoint)", "start": "\(start)", "replica_server_id": "\(c.replicaServerID)",
                "connection_id": "\(connectionID)", "checksum": "\(checksumAlgorithm.name)",
                "heartbeat": "\(heartbeatPeriod)", "non_block": "\(options.stopAtEnd)", "fetch_thread": "\(threaded)", "reads_socket": "\(f.readsSocket)",
                "sender": "\(request.map { "own 0x" + String($0.command, radix: 16) } ?? "mariadb_rpl_open")",
            ])
    }

    // MARK: Reading

    /// The next event, or nil at the end of a `stopAtEnd` dump. Blocks in tailing mode until an
    /// event or heartbeat arrives, or until ``idleTimeout``.
    ///
    /// The returned event's bytes are a slice of the stream's batch of events (up to a few MiB,
    /// filled by the fetch thread when ``Options/fetchAhead``): keeping an event keeps its batch, so
    /// a caller that holds on to events should copy their bytes (`Array(raw.bytes)`). Its offset is
    /// its position in ``eventFile`` (see the type's documentation for artificial events).
    /// After an error every later call throws the same error; reopen a new stream at
    /// ``ReplicationError/resumeAt`` when ``ReplicationError/isRecoverable``.
    public func next() throws(ReplicationError) -> RawEvent? {
        switch state {
        case .streaming: break
        case .ended: return nil
        case .failed(let e): throw e
        case .closed: throw ReplicationError(.closed, "the replication stream is closed", resumeAt: resumeCoordinates)
        }
        if batchIndex >= batch.events.count {
            // The fetcher is only touched here, once per batch: its fields share cache lines with
            // what the fetch thread writes for every event.
            guard let f = fetcher else { throw fail(.closed, "the replication stream is closed", nil) }
            // Once per batch: a consumer busy decoding stops within one batch of an interrupt.
            if interruptHandle.wasInterrupted { throw fail(.interrupted, "the binlog dump was interrupted (shutdown)", nil) }
            let end = f.isThreaded
                ? f.take(into: &batch, keepLimit: Self.bufferKeepLimit) : f.fetchInline(into: &batch, keepLimit: Self.bufferKeepLimit)
            batchIndex = 0
            if let end {
                batch.clear(keepLimit: 0)
                return try endOrFail(end)
            }
        }
        let fetched = batch.events[batchIndex]
        batchIndex += 1
        lastEventChecksumVerified = fetched.checksumVerified
        // A slice of the batch: its storage is reused for a later batch when the caller no
        // longer holds events of it (otherwise the batch gets fresh storage: value semantics).
        let bytes = batch.bytes[fetched.start..<(fetched.start + fetched.count)]
        var raw = RawEvent(offset: 0, bytes: bytes)
        let header = raw.header
        guard Int(header.eventSize) == bytes.count else {
            throw fail(.protocolViolation, "event header says \(header.eventSize) bytes, packet carries \(bytes.count)", nil)
        }
        eventCount &+= 1
        byteCount &+= UInt64(bytes.count)

        let size = UInt64(bytes.count)
        let logPos = UInt64(header.logPosition)
        let type = header.type
        let inFile = logPos != 0 && !header.isArtificial && type != .heartbeat && type != .heartbeatV2
        lastEventIsInFile = inFile
        if type == .rotate || type == .formatDescription {
            let decoded: BinlogEvent
            do throws(BinlogDecodingError) { decoded = try control.decode(raw) } catch {
                throw fail(.protocolViolation, "cannot decode \(type) from the source: \(error)", nil)
            }
            if case .rotate(let rotate) = decoded.body {
                if inFile {
                    raw.offset = logPos >= size ? logPos - size : nextPosition
                    eventFile = currentFile
                } else {
                    raw.offset = rotate.position
                    eventFile = rotate.nextFile
                }
                currentFile = rotate.nextFile
                nextPosition = rotate.position
                return raw
            }
        }
        if inFile {
            raw.offset = logPos >= size ? logPos - size : nextPosition
            nextPosition = raw.offset + size
        } else {
            raw.offset = nextPosition
        }
        eventFile = currentFile
        return raw
    }

    /// After `mariadb_rpl_fetch` returned NULL: the end of a NON_BLOCK dump, or an error
    /// (libmariadb 3.3 returns NULL for both: a server error such as 1236 or 4052 is only in
    /// `mysql_errno`, `mariadb_rpl_errno` stays 0 for it; `mariadb_rpl_errno` is set when the library
    /// itself refused a packet). `end` was captured by the fetcher right after the fetch failed.
    private func endOrFail(_ end: DumpEnd) throws(ReplicationError) -> RawEvent? {
        if let violation = end.protocolViolation {
            throw fail(.protocolViolation, violation, nil)
        }
        if interruptHandle.wasInterrupted {
            throw fail(.interrupted, "the binlog dump was interrupted (shutdown)", nil)
        }
        guard let e = end.error else {
            if end.rplErrno != 0 {
                let e = SQLError(code: end.rplErrno, sqlState: "HY000", message: end.rplMessage, context: "mariadb_rpl_fetch")
                throw fail(.protocolViolation, "libmariadb could not read the event after \(resumeDescription)", e)
            }
            if options.stopAtEnd {
                state = .ended
                teardown()
                return nil
            }
            throw fail(.connectionLost, "the source ended the dump although it was asked to wait for new events", nil)
        }
        let code = e.code
        let lower = e.message.lowercased()
        switch code {
        case 1236 where lower.contains("same server_uuid") || lower.contains("same server_id") || lower.contains("same server id"):
            throw fail(.duplicateReplicaID, duplicateMessage, e)
        case 4052:
            throw fail(.duplicateReplicaID, duplicateMessage, e)
        case 1236:
            throw fail(
                .binlogUnavailable,
                "the source cannot send its binlog from \(start): the file or position was purged or never existed, "
                    + "or the GTID position is not in its binlogs. Re-bootstrap: snapshot the watched tables again and start "
                    + "from the source's current position (SHOW MASTER STATUS, or SELECT @@gtid_binlog_pos on MariaDB); "
                    + "keep binlogs longer (binlog_expire_logs_seconds / expire_logs_days) than the reader may be down",
                e)
        default:
            break
        }
        if e.isConnectionError {
            let blocked = Duration.nanoseconds(Int64(clamping: end.blockedNanoseconds))
            if let idle = idleTimeout, code == 2013 || code == 5013, blocked >= idle * 0.9 {
                throw fail(
                    .idleTimeout,
                    "nothing arrived from the source for \(idle) (heartbeat period \(heartbeatPeriod)): the connection is presumed dead",
                    e)
            }
            throw fail(.connectionLost, "the binlog dump connection was lost after \(resumeDescription)", e)
        }
        throw fail(.server, "the source stopped the binlog dump", e)
    }

    private var duplicateMessage: String {
        "another replica or reader connected with replica server id \(replicaServerID) and the source dropped this dump: "
            + "give every reader a unique replica server id (the source's own is \(sourceServerID))"
    }

    private var resumeDescription: String { resumeCoordinates.map { "\($0)" } ?? "\(start)" }

    private func fail(_ kind: ReplicationError.Kind, _ message: String, _ sqlError: SQLError?) -> ReplicationError {
        let e = ReplicationError(kind, message, sqlError: sqlError, resumeAt: resumeCoordinates)
        state = .failed(e)
        teardown()
        logger.debug("binlog dump stopped", metadata: ["error": "\(e)", "source": "\(endpoint)"])
        return e
    }

    // MARK: Closing

    /// Ends the dump and closes the connection. Idempotent; later ``next()`` calls throw `.closed`.
    public func close() {
        if case .streaming = state { state = .closed }
        if case .ended = state { state = .closed }
        teardown()
    }

    /// Same as `interruptHandle.interrupt()`.
    public func interrupt() { interruptHandle.interrupt() }

    private func teardown() {
        if let f = fetcher {
            fetcher = nil
            // A fetch thread blocked in mariadb_rpl_fetch returns once the socket is shut down.
            // Not after the thread ended (e.g. a NON_BLOCK dump's EOF): mysql_close then still
            // sends COM_QUIT on an open socket and the server sees a clean quit.
            if f.isThreaded && socket >= 0 && !f.hasEnded { _ = shutdown(socket, Int32(SHUT_RDWR)) }
            f.stop()
            f.releaseEvent()
        }
        interruptHandle.detach()
        if let r = rpl {
            rpl = nil
            mariadb_rpl_close(r)
        }
        connection.close()
    }

    deinit { teardown() }
}
