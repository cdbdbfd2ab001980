/// The event type code in byte 4 of the v4 event header.
///
/// MySQL codes 0–42 and MariaDB codes 160–172. Any other code is kept as it is and decodes to
/// ``BinlogEventBody/unknown(_:)``; ``name`` then reads `UNKNOWN_EVENT_<code>`.
public struct BinlogEventType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ code: UInt8) { self.rawValue = code }

    public static let unknown = Self(0)
    public static let startV3 = Self(1)
    public static let query = Self(2)
    public static let stop = Self(3)
    public static let rotate = Self(4)
    public static let intvar = Self(5)
    public static let load = Self(6)
    public static let slave = Self(7)
    public static let createFile = Self(8)
    public static let appendBlock = Self(9)
    public static let execLoad = Self(10)
    public static let deleteFile = Self(11)
    public static let newLoad = Self(12)
    public static let rand = Self(13)
    public static let userVar = Self(14)
    public static let formatDescription = Self(15)
    public static let xid = Self(16)
    public static let beginLoadQuery = Self(17)
    public static let executeLoadQuery = Self(18)
    public static let tableMap = Self(19)
    public static let preGAWriteRows = Self(20)
    public static let preGAUpdateRows = Self(21)
    public static let preGADeleteRows = Self(22)
    public static let writeRowsV1 = Self(23)
    public static let updateRowsV1 = Self(24)
    public static let deleteRowsV1 = Self(25)
    public static let incident = Self(26)
    public static let heartbeat = Self(27)
    public static let ignorable = Self(28)
    public static let rowsQuery = Self(29)
    public static let writeRows = Self(30)
    public static let updateRows = Self(31)
    public static let deleteRows = Self(32)
    public static let gtid = Self(33)
    public static let anonymousGTID = Self(34)
    public static let previousGTIDs = Self(35)
    public static let transactionContext = Self(36)
    public static let viewChange = Self(37)
    public static let xaPrepare = Self(38)
    public static let partialUpdateRows = Self(39)
    public static let transactionPayload = Self(40)
    public static let heartbeatV2 = Self(41)
    public static let gtidTagged = Self(42)
    // MariaDB
    public static let annotateRows = Self(160)
    public static let binlogCheckpoint = Self(161)
    public static let mariadbGTID = Self(162)
    public static let mariadbGTIDList = Self(163)
    public static let startEncryption = Self(164)
    public static let queryCompressed = Self(165)
    public static let writeRowsCompressedV1 = Self(166)
    public static let updateRowsCompressedV1 = Self(167)
    public static let deleteRowsCompressedV1 = Self(168)
    public static let writeRowsCompressed = Self(169)
    public static let updateRowsCompressed = Self(170)
    public static let deleteRowsCompressed = Self(171)
    public static let partialRowData = Self(172)

    /// One stable upper-snake name per code (the `type` field of the `events` command).
    public var name: String {
        Self.names[Int(rawValue)] ?? "UNKNOWN_EVENT_\(rawValue)"
    }

    public var description: String { name }

    private static let names: [Int: String] = [
        0: "UNKNOWN_EVENT", 1: "START_EVENT_V3", 2: "QUERY_EVENT", 3: "STOP_EVENT", 4: "ROTATE_EVENT",
        5: "INTVAR_EVENT", 6: "LOAD_EVENT", 7: "SLAVE_EVENT", 8: "CREATE_FILE_EVENT", 9: "APPEND_BLOCK_EVENT",
        10: "EXEC_LOAD_EVENT", 11: "DELETE_FILE_EVENT", 12: "NEW_LOAD_EVENT", 13: "RAND_EVENT",
        14: "USER_VAR_EVENT", 15: "FORMAT_DESCRIPTION_EVENT", 16: "XID_EVENT", 17: "BEGIN_LOAD_QUERY_EVENT",
        18: "EXECUTE_LOAD_QUERY_EVENT", 19: "TABLE_MAP_EVENT", 20: "PRE_GA_WRITE_ROWS_EVENT",
        21: "PRE_GA_UPDATE_ROWS_EVENT", 22: "PRE_GA_DELETE_ROWS_EVENT", 23: "WRITE_ROWS_EVENT_V1",
        24: "UPDATE_ROWS_EVENT_V1", 25: "DELETE_ROWS_EVENT_V1", 26: "INCIDENT_EVENT", 27: "HEARTBEAT_LOG_EVENT",
        28: "IGNORABLE_LOG_EVENT", 29: "ROWS_QUERY_LOG_EVENT", 30: "WRITE_ROWS_EVENT", 31: "UPDATE_ROWS_EVENT",
        32: "DELETE_ROWS_EVENT", 33: "GTID_LOG_EVENT", 34: "ANONYMOUS_GTID_LOG_EVENT",
        35: "PREVIOUS_GTIDS_LOG_EVENT", 36: "TRANSACTION_CONTEXT_EVENT", 37: "VIEW_CHANGE_EVENT",
        38: "XA_PREPARE_LOG_EVENT", 39: "PARTIAL_UPDATE_ROWS_EVENT", 40: "TRANSACTION_PAYLOAD_EVENT",
        41: "HEARTBEAT_LOG_EVENT_V2", 42: "GTID_TAGGED_LOG_EVENT",
        160: "ANNOTATE_ROWS_EVENT", 161: "BINLOG_CHECKPOINT_EVENT", 162: "MARIADB_GTID_EVENT",
        163: "MARIADB_GTID_LIST_EVENT", 164: "START_ENCRYPTION_EVENT", 165: "QUERY_COMPRESSED_EVENT",
        166: "WRITE_ROWS_COMPRESSED_EVENT_V1", 167: "UPDATE_ROWS_COMPRESSED_EVENT_V1",
        168: "DELETE_ROWS_COMPRESSED_EVENT_V1", 169: "WRITE_ROWS_COMPRESSED_EVENT",
        170: "UPDATE_ROWS_COMPRESSED_EVENT", 171: "DELETE_ROWS_COMPRESSED_EVENT", 172: "PARTIAL_ROW_DATA_EVENT",
    ]

    /// All codes with a name, for documentation and tests.
    public static var allNamed: [BinlogEventType] { names.keys.sorted().map { Self(UInt8($0)) } }

    /// What kind of row change a rows event carries, or nil for other events.
    public var rowsKind: RowsEvent.Kind? {
        switch rawValue {
        case 23, 30, 166, 169: return .write
        case 24, 31, 39, 167, 170: return .update
        case 25, 32, 168, 171: return .delete
        default: return nil
        }
    }
}
