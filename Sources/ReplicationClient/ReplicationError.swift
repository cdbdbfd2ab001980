import ReconcilerCore
import BinlogParser

/// Why a ``ReplicationStream`` could not open or stopped, with where it stood and what to do.
public struct ReplicationError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The configuration or start point is unusable (server id 0 or equal to the source's,
        /// a MariaDB GTID start on MySQL, a MySQL GTID start on MariaDB, a malformed GTID list).
        case configuration
        /// Connecting or the pre-dump handshake failed (see ``ReplicationError/sqlError``).
        case connect
        /// Error 1236: the requested binlog file or position does not exist any more (purged) or
        /// never existed, or the GTID position is not in the source's binlogs.
        case binlogUnavailable
        /// Another reader or replica connected with the same replica server id, and the source
        /// dropped this one (MariaDB 4052, MySQL 1236 "same server_uuid/server_id").
        case duplicateReplicaID
        /// The connection broke: lost, reset, killed (`KILL`), server shutdown. Reopen at
        /// ``ReplicationError/resumeAt``.
        case connectionLost
        /// Nothing arrived (not even a heartbeat) for ``ReplicationStream/idleTimeout``: the
        /// connection is presumed dead. Reopen at ``ReplicationError/resumeAt``.
        case idleTimeout
        /// ``ReplicationStream/interrupt()`` was called (shutdown): do not reconnect.
        case interrupted
        /// The stream was already closed.
        case closed
        /// A packet that is not a well-formed event, or libmariadb refused to parse one.
        case protocolViolation
        /// Any other server error sent on the dump connection.
        case server
    }

    public var kind: Kind
    /// The server or client-library error behind it, when there is one.
    public var sqlError: SQLError?
    /// Where to reopen to continue without a gap: the binlog coordinates after the last event the
    /// stream returned (nil if it had not reached any file yet).
    public var resumeAt: BinlogCoordinates?
    /// A sentence of explanation and, where it helps, what to do.
    public var message: String

    public init(_ kind: Kind, _ message: String, sqlError: SQLError? = nil, resumeAt: BinlogCoordinates? = nil) {
        self.kind = kind
        self.message = message
        self.sqlError = sqlError
        self.resumeAt = resumeAt
    }

    /// Reopening the stream at ``resumeAt`` may well succeed (broken connection, idle timeout).
    public var isRecoverable: Bool { kind == .connectionLost || kind == .idleTimeout }

    public var description: String {
        var s = message
        if let e = sqlError { s += " [\(e)]" }
        if let r = resumeAt { s += " (resume at \(r))" }
        return s
    }
}

/// Where a binlog dump starts.
public enum ReplicationStartPoint: Sendable, Hashable, CustomStringConvertible {
    /// A file and a byte offset in it (4 is the first event after the magic number). Works on
    /// MariaDB and MySQL.
    case filePosition(file: String, position: UInt64)
    /// A MariaDB GTID position (`@@gtid_binlog_pos` / `@@gtid_current_pos` syntax:
    /// `domain-server-sequence[,…]`): the stream starts with the first transaction after it. The
    /// empty string starts at the oldest binlog the source still has.
    case mariadbGTID(String)
    /// A MySQL executed GTID set (MySQL 5.6+ with `gtid_mode=ON`): sent as COM_BINLOG_DUMP_GTID,
    /// the source streams every transaction that is not in the set, from the oldest binlog file
    /// that has one. MySQL only (a configuration error on MariaDB). The binlog file is unknown until
    /// the first ROTATE, as with a MariaDB GTID start.
    case mysqlGTID(MySQLGTIDSet)

    public var description: String {
        switch self {
        case .filePosition(let f, let p): return "\(f):\(p)"
        case .mariadbGTID(let g): return "gtid '\(g)'"
        case .mysqlGTID(let set): return "mysql gtid set '\(set)'"
        }
    }
}
