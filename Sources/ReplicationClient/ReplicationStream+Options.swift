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

extension ReplicationStream {
    /// How the dump behaves.
    public struct Options: Sendable {
        /// `MARIADB_RPL_BINLOG_DUMP_NON_BLOCK`: the source sends EOF at the current end of its
        /// binlog and ``next()`` returns nil (tests, benchmarks, one-shot catch-up). Otherwise the
        /// dump blocks and waits for new events (tailing).
        public var stopAtEnd: Bool
        /// `MARIADB_RPL_BINLOG_SEND_ANNOTATE_ROWS` (MariaDB): also send ANNOTATE_ROWS events (the
        /// SQL text before each row event group). Off by default, as MariaDB's own replica.
        public var sendAnnotateRows: Bool
        /// `@slave_uuid` / `@replica_uuid`; nil derives one from the replica server id.
        public var replicaUUID: String?
        /// The largest event the client accepts (`MYSQL_OPT_MAX_ALLOWED_PACKET`); default 1 GiB,
        /// MariaDB's and MySQL's own maximum.
        public var maxEventSize: Int
        /// Fetch on a thread of its own (``DumpFetcher``): `mariadb_rpl_fetch`, the copy and the
        /// CRC32 check of each event overlap the caller's decoding. Off: everything happens in
        /// ``next()`` on the caller's thread.
        public var fetchAhead: Bool
        /// Read the dump's packets from the socket directly when the connection is plain (TCP or
        /// Unix socket, no TLS, no compression) instead of through `mariadb_rpl_fetch`
        /// (``DumpPacketReader``). TLS connections always read through libmariadb.
        public var readsSocketDirectly: Bool
        /// Testing: send a file/position start's COM_BINLOG_DUMP (0x12) from ``BinlogDumpRequest``
        /// through the stream's own sender (the path COM_BINLOG_DUMP_GTID takes) instead of
        /// `mariadb_rpl_open`, to check that sender against libmariadb's on MariaDB.
        package var sendsDumpItself = false

        public init(
            stopAtEnd: Bool = false, sendAnnotateRows: Bool = false, replicaUUID: String? = nil, maxEventSize: Int = 1 << 30,
            fetchAhead: Bool = true, readsSocketDirectly: Bool = true
        ) {
            self.stopAtEnd = stopAtEnd
            self.sendAnnotateRows = sendAnnotateRows
            self.replicaUUID = replicaUUID
            self.maxEventSize = maxEventSize
            self.fetchAhead = fetchAhead
            self.readsSocketDirectly = readsSocketDirectly
        }
    }
}
