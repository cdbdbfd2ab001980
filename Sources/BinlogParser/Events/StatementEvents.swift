/// QUERY_EVENT (2) and MariaDB's QUERY_COMPRESSED_EVENT (165): a statement (DDL, BEGIN, COMMIT, or
/// statement-based DML).
///
/// ```
/// post-header: thread_id u32, exec_time u32, db_len u8, error_code u16, status_vars_len u16
/// body:        status_vars, db, 0x00, query (rest; zlib-compressed for 165)
/// ```
public struct QueryEvent: Sendable, Hashable {
    public var threadID: UInt32
    public var executionTime: UInt32
    public var errorCode: UInt16
    /// Decoded status variables, in the order logged (`Q_*` codes), named in lower snake case.
    public var statusVariables: [JSONMember]
    public var database: String
    public var query: String

    static func decode(_ c: inout ByteCursor, postHeaderLength: Int, compressed: Bool, maxSize: Int) throws(BinlogDecodingError) -> QueryEvent {
        let threadID = try c.u32("query.threadID")
        let execTime = try c.u32("query.executionTime")
        let dbLength = Int(try c.u8("query.databaseLength"))
        let errorCode = try c.u16("query.errorCode")
        var statusLength = 0
        if postHeaderLength >= 13 {
            statusLength = Int(try c.u16("query.statusVariablesLength"))
        }
        if postHeaderLength > 13 { try c.skip(postHeaderLength - 13, "query.postHeader") }
        var status = try c.subCursor(statusLength, "query.statusVariables")
        let vars = try decodeStatus(&status)
        let database = try c.string(dbLength, "query.database")
        try c.skip(1, "query.database.nul")
        let query: String
        if compressed {
            let start = c.absoluteOffset
            let raw = try c.rawBytes(c.remaining, "query.text")
            let bytes = try MariaDBCompression.uncompress(raw, maxSize: maxSize, field: "query.text", at: start)
            query = String(decoding: bytes, as: UTF8.self)
        } else {
            query = try c.string(c.remaining, "query.text")
        }
        return QueryEvent(threadID: threadID, executionTime: execTime, errorCode: errorCode, statusVariables: vars, database: database, query: query)
    }

    static func decodeStatus(_ c: inout ByteCursor) throws(BinlogDecodingError) -> [JSONMember] {
        var out: [JSONMember] = []
        func add(_ k: String, _ v: JSONValue) { out.append(JSONMember(key: k, value: v)) }
        func str8(_ c: inout ByteCursor, _ f: String) throws(BinlogDecodingError) -> String {
            let n = Int(try c.u8(f))
            return try c.string(n, f)
        }
        while !c.isAtEnd {
            let code = try c.u8("query.status.code")
            switch code {
            case 0: add("flags2", .uint(UInt64(try c.u32("query.status.flags2"))))
            case 1: add("sql_mode", .uint(try c.u64("query.status.sqlMode")))
            case 2:
                let s = try str8(&c, "query.status.catalog")
                try c.skip(1, "query.status.catalog.nul")
                add("catalog", .string(s))
            case 3:
                let inc = try c.u16("query.status.autoIncrement")
                let off = try c.u16("query.status.autoIncrement")
                add("auto_increment", .array([.uint(UInt64(inc)), .uint(UInt64(off))]))
            case 4:
                let a = try c.u16("query.status.charset"), b = try c.u16("query.status.charset"), d = try c.u16("query.status.charset")
                add("charset", .array([.uint(UInt64(a)), .uint(UInt64(b)), .uint(UInt64(d))]))
            case 5: add("time_zone", .string(try str8(&c, "query.status.timeZone")))
            case 6: add("catalog", .string(try str8(&c, "query.status.catalog")))
            case 7: add("lc_time_names", .uint(UInt64(try c.u16("query.status.lcTimeNames"))))
            case 8: add("charset_database", .uint(UInt64(try c.u16("query.status.charsetDatabase"))))
            case 9: add("table_map_for_update", .uint(try c.u64("query.status.tableMapForUpdate")))
            case 10: add("master_data_written", .uint(UInt64(try c.u32("query.status.masterDataWritten"))))
            case 11:
                let user = try str8(&c, "query.status.invoker")
                let host = try str8(&c, "query.status.invoker")
                add("invoker", .string(user + "@" + host))
            case 12:
                let count = Int(try c.u8("query.status.updatedDBNames"))
                var names: [JSONValue] = []
                if count != 254 {
                    for _ in 0..<count { names.append(.string(try c.nulTerminatedString("query.status.updatedDBNames"))) }
                }
                add("updated_db_names", .array(names))
            case 13: add("microseconds", .uint(try c.uint(3, "query.status.microseconds")))
            case 14: add("commit_ts", .uint(try c.u64("query.status.commitTS")))
            case 15: add("commit_ts2", .uint(try c.u64("query.status.commitTS2")))
            case 16: add("explicit_defaults_for_timestamp", .uint(UInt64(try c.u8("query.status.explicitDefaultsTS"))))
            case 17: add("ddl_logged_with_xid", .uint(try c.u64("query.status.ddlXID")))
            case 18: add("default_collation_for_utf8mb4", .uint(UInt64(try c.u16("query.status.defaultCollationUTF8MB4"))))
            case 19: add("sql_require_primary_key", .uint(UInt64(try c.u8("query.status.sqlRequirePK"))))
            case 20: add("default_table_encryption", .uint(UInt64(try c.u8("query.status.defaultTableEncryption"))))
            case 128: add("hrnow", .uint(try c.uint(3, "query.status.hrnow")))
            case 129: add("xid", .uint(try c.u64("query.status.xid")))
            case 130:
                let f = try c.u8("query.status.gtidFlags3")
                add("gtid_flags3", .uint(UInt64(f)))
                if f & (0x04 | 0x08) != 0 { add("sa_seq_no", .uint(try c.u64("query.status.saSeqNo"))) }
            case 131:
                let n = Int(try c.u8("query.status.characterSetCollations"))
                try c.skip(n * 4, "query.status.characterSetCollations")
                add("character_set_collations", .uint(UInt64(n)))
            case 255:
                c.position = c.end
            default:
                // Unknown codes have no length: keep the rest as hex and stop (as the servers do).
                let rest = Array(c.rest())
                add("unknown_\(code)", .string(hexString(rest)))
            }
        }
        return out
    }
}

/// ROTATE_EVENT (4): the next event is in another file. `position u64, file name (rest)`.
public struct RotateEvent: Sendable, Hashable {
    public var position: UInt64
    public var nextFile: String

    static func decode(_ c: inout ByteCursor, postHeaderLength: Int) throws(BinlogDecodingError) -> RotateEvent {
        let pos = postHeaderLength >= 8 ? try c.u64("rotate.position") : 4
        return RotateEvent(position: pos, nextFile: try c.string(c.remaining, "rotate.nextFile"))
    }
}

/// INTVAR_EVENT (5): LAST_INSERT_ID (1) or INSERT_ID (2) for the next statement.
public struct IntvarEvent: Sendable, Hashable {
    public var kind: UInt8
    public var value: UInt64
    public var kindName: String { kind == 1 ? "LAST_INSERT_ID" : kind == 2 ? "INSERT_ID" : "INVALID_INT" }
}

/// RAND_EVENT (13): the two seeds of RAND() for the next statement.
public struct RandEvent: Sendable, Hashable {
    public var seed1: UInt64
    public var seed2: UInt64
}

/// USER_VAR_EVENT (14): a user variable the next statement uses.
///
/// `name_len u32, name, is_null u8, [type u8, charset u32, value_len u32, value, [flags u8]]`
public struct UserVarEvent: Sendable, Hashable {
    public var name: String
    /// nil when the variable is NULL.
    public var value: JSONValue?
    public var charset: UInt32?

    static func decode(_ c: inout ByteCursor) throws(BinlogDecodingError) -> UserVarEvent {
        let n = try c.checkedCount(UInt64(try c.u32("userVar.nameLength")), unitSize: 1, "userVar.name")
        let name = try c.string(n, "userVar.name")
        let isNull = try c.u8("userVar.isNull")
        if isNull != 0 { return UserVarEvent(name: name, value: nil, charset: nil) }
        let type = try c.u8("userVar.type")
        let charset = try c.u32("userVar.charset")
        let length = try c.checkedCount(UInt64(try c.u32("userVar.valueLength")), unitSize: 1, "userVar.value")
        var v = try c.subCursor(length, "userVar.value")
        var flags: UInt8 = 0
        if !c.isAtEnd { flags = try c.u8("userVar.flags") }
        let value: JSONValue
        switch type {
        case 1:
            value = .double(Double(bitPattern: try v.u64("userVar.value")))
        case 2:
            let raw = try v.uint(min(8, length), "userVar.value")
            value = flags & 1 != 0 ? .uint(raw) : .int(Int64(bitPattern: raw))
        case 4:
            let precision = Int(try v.u8("userVar.decimal.precision"))
            let scale = Int(try v.u8("userVar.decimal.scale"))
            value = .number(try Decimal.decode(&v, precision: precision, scale: scale))
        default:
            let raw = v.rest()
            if let s = Charset(collation: charset).decode(raw) { value = .string(s) } else { value = .string(hexString(Array(raw))) }
        }
        return UserVarEvent(name: name, value: value, charset: charset)
    }
}

/// INCIDENT_EVENT (26): something happened on the source that replicas must know about.
public struct IncidentEvent: Sendable, Hashable {
    public var incident: UInt16
    public var message: String
}

/// ROWS_QUERY_LOG_EVENT (29) and MariaDB's ANNOTATE_ROWS_EVENT (160): the SQL of the rows events after it.
public struct RowsQueryEvent: Sendable {
    /// The SQL bytes; decoded to text only when asked (`query`), since most readers skip them.
    public var bytes: ArraySlice<UInt8>
    public var query: String { String(decoding: bytes, as: UTF8.self) }
}

/// HEARTBEAT_LOG_EVENT (27) / HEARTBEAT_LOG_EVENT_V2 (41): the source is alive; `file` is its
/// current binlog and `position` (v1: the header's log_pos) its position.
public struct HeartbeatEvent: Sendable, Hashable {
    public var file: String
    public var position: UInt64
}

/// BINLOG_CHECKPOINT_EVENT (161, MariaDB): the oldest binlog file still needed for crash recovery.
public struct BinlogCheckpointEvent: Sendable, Hashable {
    public var file: String
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}
