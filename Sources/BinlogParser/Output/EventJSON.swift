import Synchronization

/// The `events` command's JSON-lines contract: one object per event.
///
/// Documented in docs/cli.md; tools and our own tests script against it, so field names only ever
/// get added, never renamed.
public enum EventJSON {
    /// Writes one event as one JSON object (no newline).
    /// - Parameters:
    ///   - file: the file name as the user gave it.
    ///   - inPayload: for an event inside a TRANSACTION_PAYLOAD_EVENT, the payload event's offset.
    ///   - rows: the decoded rows of a rows event (decoded by the caller so errors surface there).
    public static func write(
        _ event: BinlogEvent, file: String, inPayload: UInt64? = nil, rows: [RowChange]? = nil, into w: inout JSONWriter
    ) {
        writeEvent(event, file: file, inPayload: inPayload, into: &w) { (w: inout JSONWriter) in
            guard let rows else { return }
            w.memberKey("rows")
            w.beginArray()
            for row in rows {
                w.beginObject()
                if let b = row.before { writeImage("before", b, into: &w) }
                if let a = row.after { writeImage("after", a, into: &w) }
                w.endObject()
            }
            w.endArray()
        }
    }

    /// Writes one event as ``write(_:file:inPayload:rows:into:)`` does, decoding the rows of a rows
    /// event one at a time as they are written: no array of rows is built, and whenever the JSON
    /// written reaches `drainAt` bytes in the middle of the rows, `drain` is called to take
    /// `w.bytes` away (and empty them; the writer's nesting is kept), so a huge event never has its
    /// rows, nor its JSON, in memory at once.
    ///
    /// A row that fails to decode throws with the part of the object before it written (or
    /// drained): callers that must print nothing of a bad event decode its rows once first
    /// (`RowsEvent.forEachRow { _, _ in }`), which holds no more than a row either.
    public static func write(
        _ event: BinlogEvent, file: String, inPayload: UInt64? = nil, streamingRowsOf rows: RowsEvent, into w: inout JSONWriter,
        drainAt: Int = 1 << 20, drain: (inout JSONWriter) -> Void
    ) throws(BinlogDecodingError) {
        try writeEvent(event, file: file, inPayload: inPayload, into: &w) { (w: inout JSONWriter) throws(BinlogDecodingError) in
            w.memberKey("rows")
            w.beginArray()
            try rows.forEachRow { (before: RowImage?, after: RowImage?) throws(BinlogDecodingError) in
                w.beginObject()
                if let b = before { writeImage("before", b, into: &w) }
                if let a = after { writeImage("after", a, into: &w) }
                w.endObject()
                if w.bytes.count >= drainAt { drain(&w) }
            }
            w.endArray()
        }
    }

    private static func writeEvent<E: Error>(
        _ event: BinlogEvent, file: String, inPayload: UInt64?, into w: inout JSONWriter,
        rowsMember: (inout JSONWriter) throws(E) -> Void
    ) throws(E) {
        w.beginObject()
        w.member("file", file)
        w.member("pos", event.offset)
        w.member("next_pos", event.nextOffset)
        if let inPayload { w.member("in_payload", inPayload) }
        w.member("code", event.type.rawValue)
        w.member("type", event.type.name)
        w.member("timestamp", event.header.timestamp)
        w.member("server_id", event.header.serverID)
        switch event.body {
        case .formatDescription(let f):
            w.member("binlog_version", f.binlogVersion)
            w.member("server_version", f.serverVersion)
            w.member("create_timestamp", f.createTimestamp)
            w.member("checksum", f.checksumAlgorithm.name)
        case .query(let q):
            w.member("thread_id", q.threadID)
            w.member("exec_time", q.executionTime)
            w.member("error_code", q.errorCode)
            w.member("schema", q.database)
            w.member("sql", q.query)
            w.memberKey("status")
            writeJSONValue(.object(q.statusVariables), into: &w)
        case .rotate(let r):
            w.member("next_file", r.nextFile)
            w.member("next_position", r.position)
        case .xid(let x):
            w.member("xid", x)
        case .xaPrepare(let x):
            w.member("one_phase", x.onePhase)
            w.member("xid", x.xid)
        case .stop:
            break
        case .intvar(let i):
            w.member("intvar_type", i.kindName)
            w.member("value", i.value)
        case .rand(let r):
            w.member("seed1", r.seed1)
            w.member("seed2", r.seed2)
        case .userVar(let u):
            w.member("name", u.name)
            w.memberKey("value")
            if let v = u.value { writeJSONValue(v, into: &w) } else { w.null() }
            if let c = u.charset { w.member("charset", c) }
        case .incident(let i):
            w.member("incident", i.incident)
            w.member("message", i.message)
        case .rowsQuery(let r):
            w.member("sql", r.query)
        case .heartbeat(let h):
            w.member("log_file", h.file)
            w.member("log_pos", h.position)
        case .gtid(let g):
            w.member("gtid", g.gtid)
            if !g.tag.isEmpty { w.member("tag", g.tag) }
            w.member("flags", g.flags)
            if let v = g.lastCommitted { w.member("last_committed", v) }
            if let v = g.sequenceNumber { w.member("sequence_number", v) }
            if let v = g.immediateCommitTimestamp { w.member("immediate_commit_timestamp", v) }
            if let v = g.originalCommitTimestamp { w.member("original_commit_timestamp", v) }
            if let v = g.transactionLength { w.member("transaction_length", v) }
            if let v = g.immediateServerVersion { w.member("immediate_server_version", v) }
            if let v = g.originalServerVersion { w.member("original_server_version", v) }
            if let v = g.commitGroupTicket { w.member("commit_group_ticket", v) }
        case .previousGTIDs(let p):
            w.member("gtid_set", p.gtidSet)
        case .tableMap(let t):
            w.member("table_id", t.tableID)
            w.member("table", t.qualifiedName)
            w.memberKey("columns")
            w.raw(columnsJSON(t))
            if !t.primaryKeyColumns.isEmpty {
                w.memberKey("primary_key")
                w.beginArray()
                for k in t.primaryKeyColumns { w.int(k) }
                w.endArray()
            }
        case .rows(let r):
            w.member("table_id", r.tableID)
            w.member("table", r.table.qualifiedName)
            w.member("flags", r.flags)
            if !r.extraData.isEmpty { w.memberKey("extra_data_hex"); w.hexString(r.extraData) }
            if r.table.hasColumnNames {
                w.memberKey("columns")
                if r.columnCount == r.table.columns.count {
                    w.raw(columnNamesJSON(r.table))
                } else {
                    w.beginArray()
                    r.table.columns.withUnsafeBufferPointer { columns in
                        for i in 0..<min(r.columnCount, columns.count) { w.string(columns[i].name ?? "") }
                    }
                    w.endArray()
                }
            }
            try rowsMember(&w)
        case .transactionPayload(let p):
            w.member("compression", p.compressionName)
            w.member("payload_size", p.payloadSize)
            if let u = p.uncompressedSize { w.member("uncompressed_size", u) }
        case .mariadbGTID(let g):
            w.member("gtid", g.gtid)
            w.member("domain_id", g.domainID)
            w.member("sequence", g.sequence)
            w.memberKey("flags")
            w.beginArray()
            for f in g.flagNames { w.string(f) }
            w.endArray()
            w.member("standalone", g.isStandalone)
            if let c = g.commitID { w.member("commit_id", c) }
            if let x = g.xid { w.member("xid", x) }
            if let f = g.flagsExtra { w.member("flags_extra", f) }
            if let s = g.startAlterSequence { w.member("sa_seq_no", s) }
        case .mariadbGTIDList(let l):
            w.member("gtid_list", l.gtidList)
            w.member("list_flags", l.flags)
        case .binlogCheckpoint(let b):
            w.member("binlog_file", b.file)
        case .unknown(let payload):
            w.memberKey("payload_hex")
            w.hexString(payload)
        }
        w.endObject()
    }

    /// `[{column}, …]` of a table map, made once per table map (they repeat, one per transaction).
    static func columnsJSON(_ t: TableMapEvent) -> [UInt8] {
        if let cached = t.jsonCache.withLock({ $0.columns }) { return cached }
        var w = JSONWriter(capacity: 256)
        w.beginArray()
        for c in t.columns { writeColumn(c, into: &w) }
        w.endArray()
        let json = w.bytes
        t.jsonCache.withLock { $0.columns = json }
        return json
    }

    /// `["name", …]` of all the columns of a table map, made once per table map.
    static func columnNamesJSON(_ t: TableMapEvent) -> [UInt8] {
        if let cached = t.jsonCache.withLock({ $0.names }) { return cached }
        var w = JSONWriter(capacity: 128)
        w.beginArray()
        for c in t.columns { w.string(c.name ?? "") }
        w.endArray()
        let json = w.bytes
        t.jsonCache.withLock { $0.names = json }
        return json
    }

    static func writeImage(_ name: String, _ image: RowImage, into w: inout JSONWriter) {
        w.key(name)
        w.beginArray()
        for v in image.values { writeValue(v, into: &w) }
        w.endArray()
        if !image.absent.isEmpty {
            w.key(name + "_absent")
            w.beginArray()
            for i in image.absent { w.int(i) }
            w.endArray()
        }
    }

    static func writeColumn(_ c: ColumnInfo, into w: inout JSONWriter) {
        w.beginObject()
        if let n = c.name { w.member("name", n) }
        w.member("type", c.realType.description)
        if c.realType != c.type { w.member("wire_type", c.type.description) }
        w.memberKey("meta")
        w.beginArray()
        w.int(c.meta0)
        w.int(c.meta1)
        w.endArray()
        w.member("nullable", c.nullable)
        if c.unsigned { w.member("unsigned", true) }
        if let col = c.collation { w.member("collation", col) }
        if let e = c.enumValues {
            w.memberKey("enum")
            w.beginArray()
            for s in e { w.string(s) }
            w.endArray()
        }
        if let e = c.setValues {
            w.memberKey("set")
            w.beginArray()
            for s in e { w.string(s) }
            w.endArray()
        }
        if let g = c.geometryType { w.member("geometry_type", g) }
        if let d = c.vectorDimensions { w.member("vector_dimensions", d) }
        if let v = c.visible { w.member("visible", v) }
        w.endObject()
    }

    /// A column value as the contract types it.
    public static func writeValue(_ v: ColumnValue, into w: inout JSONWriter) {
        switch v {
        case .null: w.null()
        case .int(let i): w.int(i)
        case .uint(let u): w.int(u)
        case .float(let f): w.float(f)
        case .double(let d): w.double(d)
        case .decimal(let s): w.string(s)
        case .year(let y): w.int(y)
        case .date(let d):
            if !w.temporal(d.year, d.month, d.day) { w.string(d.description) }
        case .time(let t):
            if !w.time(t) { w.string(t.description) }
        case .datetime(let d):
            if !w.temporal(d.year, d.month, d.day, time: (d.hour, d.minute, d.second, d.microseconds, d.precision)) { w.string(d.description) }
        case .timestamp(let s, let micros, let precision):
            if s == 0 && micros == 0 {
                if !w.temporal(0, 0, 0, time: (0, 0, 0, 0, precision)) { w.string("0000-00-00 00:00:00" + fraction(0, precision)) }
            } else {
                let d = MySQLDateTime(unixSeconds: Int64(s), microseconds: micros, precision: precision)
                if !w.temporal(d.year, d.month, d.day, time: (d.hour, d.minute, d.second, d.microseconds, d.precision)) { w.string(d.description) }
            }
        case .string(let s): w.string(s)
        case .bytes(let b):
            w.beginObject()
            w.memberKey("hex")
            w.hexString(b)
            w.endObject()
        case .bit(let b): w.int(b)
        case .enumValue(let index, let name):
            if let name { w.string(name) } else { w.int(index) }
        case .setValue(let mask, let names):
            if let names {
                w.beginArray()
                for n in names { w.string(n) }
                w.endArray()
            } else {
                w.int(mask)
            }
        case .json(let j): writeJSONValue(j, into: &w)
        case .jsonDiff(let diffs):
            w.beginObject()
            w.memberKey("json_diff")
            w.beginArray()
            for d in diffs {
                w.beginObject()
                w.member("op", d.operation.name)
                w.member("path", d.path)
                if let v = d.value { w.memberKey("value"); writeJSONValue(v, into: &w) }
                w.endObject()
            }
            w.endArray()
            w.endObject()
        case .geometry(let g):
            w.beginObject()
            w.memberKey("hex")
            w.hexString(g)
            w.endObject()
        case .vector(let floats):
            w.beginArray()
            for f in floats { w.float(f) }
            w.endArray()
        }
    }

    public static func writeJSONValue(_ v: JSONValue, into w: inout JSONWriter) {
        switch v {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .int(let i): w.int(i)
        case .uint(let u): w.int(u)
        case .double(let d): w.double(d)
        case .number(let s): w.rawNumber(s)
        case .string(let s): w.string(s)
        case .array(let a):
            w.beginArray()
            for e in a { writeJSONValue(e, into: &w) }
            w.endArray()
        case .object(let members):
            w.beginObject()
            for m in members {
                w.key(m.key)
                writeJSONValue(m.value, into: &w)
            }
            w.endObject()
        case .opaque(let type, let bytes):
            w.string("base64:type\(type):" + Base64.encode(bytes))
        }
    }
}
