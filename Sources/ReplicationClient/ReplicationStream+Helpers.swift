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
    /// The dump request the stream sends itself, or nil when `mariadb_rpl_open` sends it.
    /// COM_BINLOG_DUMP_GTID (MySQL GTID start): flags NON_BLOCK when ``Options/stopAtEnd``, always
    /// BINLOG_THROUGH_GTID, empty file name, position 4, the encoded set. With
    /// ``Options/sendsDumpItself`` a file/position start's COM_BINLOG_DUMP is built the way
    /// `mariadb_rpl_open` builds it (same flags, server id, unterminated name).
    package static func ownDumpRequest(start: ReplicationStartPoint, options: Options, serverID: UInt32) -> BinlogDumpRequest? {
        switch start {
        case .mysqlGTID(let set):
            var flags = BinlogDumpRequest.throughGTID
            if options.stopAtEnd { flags |= BinlogDumpRequest.nonBlock }
            return .binlogDumpGTID(file: "", position: 4, flags: flags, serverID: serverID, gtidSet: set.encoded)
        case .filePosition(let file, let position) where options.sendsDumpItself:
            var flags: UInt16 = 0
            if options.stopAtEnd { flags |= BinlogDumpRequest.nonBlock }
            if options.sendAnnotateRows { flags |= BinlogDumpRequest.sendAnnotateRows }
            return .binlogDump(file: file, position: UInt32(truncatingIfNeeded: position), flags: flags, serverID: serverID)
        default:
            return nil
        }
    }

    /// Writes `request` on the connection (no reply is read: the dump's packets follow, read by
    /// `mariadb_rpl_fetch`). See ``BinlogDumpRequest`` for why this is safe with libmariadb 3.3.
    static func send(_ request: BinlogDumpRequest, on h: UnsafeMutablePointer<MYSQL>) -> Bool {
        let body = request.body
        return body.withUnsafeBufferPointer { cmariadb_send_command(h, request.command, $0.baseAddress, $0.count) == 0 }
    }

    // MARK: Helpers

    /// `domain-server-sequence` triples separated by commas (spaces allowed), or the empty string.
    package static func isValidMariaDBGTIDList(_ s: String) -> Bool {
        let trimmed = s.filter { $0 != " " }
        if trimmed.isEmpty { return true }
        for gtid in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = gtid.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3, UInt32(parts[0]) != nil, UInt32(parts[1]) != nil, UInt64(parts[2]) != nil else {
                return false
            }
        }
        return true
    }

    /// A stable UUID for a replica server id: `62726563-0000-4000-8000-<id as 12 hex digits>`.
    package static func derivedUUID(serverID: UInt32) -> String {
        let hex = String(serverID, radix: 16)
        return "62726563-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
    }
}
