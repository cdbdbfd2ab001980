#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns framed events into typed ones.
///
/// It keeps what decoding needs across events: the FORMAT_DESCRIPTION_EVENT in force (post-header
/// lengths, checksum algorithm) and the table maps of the current statement. One decoder follows
/// one stream; it is a value type with no locks, owned by one task.
public struct BinlogEventDecoder: Sendable {
    /// Verify CRC32 checksums when the FDE says events carry them (on by default).
    public var verifyChecksums = true
    /// The checksum algorithm of events that arrive before any FDE (a replication stream's first,
    /// artificial ROTATE): what the connection negotiated.
    public var checksumBeforeFormatDescription: ChecksumAlgorithm = .off
    /// Bounds on decompressed sizes and table-map memory (see ``DecodingLimits``). The per-file
    /// decompression limit is enforced by ``BinlogFileEvents`` (a decoder may follow an endless
    /// stream); this decoder counts in ``decompressedByteCount``.
    public var limits = DecodingLimits()
    /// Upper bound for a MariaDB compressed event's uncompressed size
    /// (`limits.maxDecompressedEventSize`).
    public var maxUncompressedSize: Int {
        get { limits.maxDecompressedEventSize }
        set { limits.maxDecompressedEventSize = newValue }
    }
    /// Bytes produced by decompressing MariaDB compressed events so far.
    public private(set) var decompressedByteCount: UInt64 = 0
    /// The FDE in force, nil before the first one.
    public private(set) var formatDescription: FormatDescriptionEvent?
    /// How many FDEs were seen (relay logs and concatenated inputs have several).
    public private(set) var formatDescriptionCount = 0

    private var tables = TableMaps()
    /// Decoded table maps by table id with the bytes they came from, so an identical TABLE_MAP
    /// (one per transaction on a busy table) is not decoded again.
    private var tableMapCache: [UInt64: CachedTableMap] = [:]
    /// The last table map decoded or found in the cache (the usual case: the same table again).
    /// (Plain fields rather than the cache entry, so the check reads them without retaining.)
    private var lastTableMapBytes: [UInt8] = []
    private var lastTableMapEvent: TableMapEvent?

    public init() {}

    /// The table map in force for a table id.
    public func tableMap(_ id: UInt64) -> TableMapEvent? { tables[id] }

    /// Forget the table maps (after a reconnect, a new file, or a transaction boundary).
    public mutating func resetTableMaps() { tables.removeAll() }

    public var checksumAlgorithm: ChecksumAlgorithm {
        fdeChecksum ?? checksumBeforeFormatDescription
    }
    /// `formatDescription?.checksumAlgorithm`, kept beside it so the hot path reads no struct copy.
    private var fdeChecksum: ChecksumAlgorithm?

    /// Whether an event whose checksum the read-ahead thread found correct under `algorithm` needs
    /// no check here: the algorithm is the one in force. (Mutating only so that a decoder held in a
    /// class is used in place rather than copied.)
    @inline(__always)
    mutating func isVerified(under algorithm: ChecksumAlgorithm?) -> Bool {
        guard let algorithm else { return false }
        return algorithm == (fdeChecksum ?? checksumBeforeFormatDescription)
    }

    /// Verifies an event's checksum (when the FDE in force says it has one) without decoding it.
    public func verifyChecksum(_ raw: RawEvent) throws(BinlogDecodingError) {
        let checksum = checksumAlgorithm
        guard checksum == .crc32, verifyChecksums, raw.type != .formatDescription else { return }
        try raw.bytes.withBytes { bytes throws(BinlogDecodingError) in
            let bodyEnd = bytes.count - 4
            guard bodyEnd >= EventHeader.size else {
                throw BinlogDecodingError(.truncated(needed: EventHeader.size + 4, available: bytes.count), field: "checksum", byteOffset: raw.offset, eventType: raw.type, eventStart: raw.offset)
            }
            let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bodyEnd, as: UInt32.self))
            let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<bodyEnd]))
            if stored != computed {
                throw BinlogDecodingError(.checksumMismatch(stored: stored, computed: computed), field: "checksum", byteOffset: raw.offset + UInt64(bodyEnd), eventType: raw.type, eventStart: raw.offset)
            }
        }
    }

    /// Decodes one event.
    /// - Parameter insidePayload: the event comes from a TRANSACTION_PAYLOAD (no checksum).
    public mutating func decode(_ raw: RawEvent, insidePayload: Bool = false) throws(BinlogDecodingError) -> BinlogEvent {
        try decode(raw, insidePayload: insidePayload, checksumVerified: false)
    }

    /// Decodes one event; with `checksumVerified`, the CRC32 of an event other than an FDE is taken
    /// as checked already (by a read-ahead or fetch thread, under the algorithm in force here: the
    /// negotiated one, then each FDE's).
    public mutating func decode(_ raw: RawEvent, insidePayload: Bool = false, checksumVerified: Bool) throws(BinlogDecodingError) -> BinlogEvent {
        do throws(BinlogDecodingError) {
            return try raw.bytes.withBytes { bytes throws(BinlogDecodingError) -> BinlogEvent in
                try decode(bytes, raw: raw, insidePayload: insidePayload, checksumVerified: checksumVerified)
            }
        } catch {
            var e = error
            if e.eventType == nil { e.eventType = raw.type }
            if e.eventStart == nil { e.eventStart = raw.offset }
            throw e
        }
    }

    private mutating func decode(_ bytes: UnsafeRawBufferPointer, raw: RawEvent, insidePayload: Bool, checksumVerified: Bool) throws(BinlogDecodingError) -> BinlogEvent {
        guard bytes.count >= EventHeader.size else {
            throw BinlogDecodingError(.truncated(needed: EventHeader.size, available: bytes.count), field: "header", byteOffset: raw.offset)
        }
        let header = EventHeader.read(bytes)
        guard Int(header.eventSize) == bytes.count else {
            throw BinlogDecodingError(.invalidEventLength(UInt64(header.eventSize)), field: "header.eventSize", byteOffset: raw.offset + 9)
        }
        let type = header.type

        // The checksum: the FDE decides its own; other events follow the FDE in force.
        var checksum: ChecksumAlgorithm = insidePayload ? .off : checksumAlgorithm
        var fde: FormatDescriptionEvent? = nil
        if type == .formatDescription {
            let decoded = try FormatDescriptionEvent.decode(bytes, at: raw.offset)
            fde = decoded
            checksum = FormatDescriptionEvent.isChecksumAware(decoded.serverVersion) ? decoded.checksumAlgorithm : .off
        }
        let bodyEnd = bytes.count - checksum.length
        guard bodyEnd >= EventHeader.size else {
            throw BinlogDecodingError(.truncated(needed: EventHeader.size + checksum.length, available: bytes.count), field: "checksum", byteOffset: raw.offset)
        }
        if checksum == .crc32 && verifyChecksums && !(checksumVerified && type != .formatDescription) {
            let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bodyEnd, as: UInt32.self))
            var computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<bodyEnd]))
            if stored != computed && type == .formatDescription && header.flags & 0x0001 != 0 {
                // The FDE's checksum is computed with LOG_EVENT_BINLOG_IN_USE_F clear; the server sets
                // that flag in the file afterwards while the binlog is open.
                var copy = Array(UnsafeRawBufferPointer(rebasing: bytes[0..<bodyEnd]))
                copy[17] &= 0xfe
                computed = CRC32.checksum(copy)
            }
            if stored != computed {
                throw BinlogDecodingError(.checksumMismatch(stored: stored, computed: computed), field: "checksum", byteOffset: raw.offset + UInt64(bodyEnd))
            }
        }
        var c = ByteCursor(bytes, baseOffset: raw.offset)
        c.position = EventHeader.size
        c.end = bodyEnd
        let body = try decodeBody(type: type, header: header, &c, raw: raw, fde: fde)
        return BinlogEvent(header: header, offset: raw.offset, body: body)
    }

    /// The post-header lengths of the FDE in force (empty before one).
    private var postHeaderLengths: [UInt8] = []

    private func postHeader(_ type: BinlogEventType, default d: Int) -> Int {
        let i = Int(type.rawValue) - 1
        return i >= 0 && i < postHeaderLengths.count ? Int(postHeaderLengths[i]) : d
    }

    private mutating func decodeBody(type: BinlogEventType, header: EventHeader, _ c: inout ByteCursor, raw: RawEvent, fde: FormatDescriptionEvent?) throws(BinlogDecodingError) -> BinlogEventBody {
        switch type.rawValue {
        case 15:
            guard let fde else { return .unknown([]) }
            formatDescription = fde
            formatDescriptionCount += 1
            tables.removeAll()
            postHeaderLengths = fde.postHeaderLengths
            fdeChecksum = fde.checksumAlgorithm
            tableMapIDSize = fde.postHeaderLength(.tableMap) == 6 ? 4 : 6
            c.position = c.end
            return .formatDescription(fde)
        case 1:
            throw c.fail(.unsupported("binlog format v1/v3 (START_EVENT_V3, MySQL 3.23–4.x)"), "header.type")
        case 2, 165:
            let q = try QueryEvent.decode(&c, postHeaderLength: postHeader(.query, default: 13), compressed: type.rawValue == 165, maxSize: limits.maxDecompressedEventSize)
            if type.rawValue == 165 { decompressedByteCount &+= UInt64(q.query.utf8.count) }
            return .query(q)
        case 3:
            return .stop
        case 4:
            return .rotate(try RotateEvent.decode(&c, postHeaderLength: postHeader(.rotate, default: 8)))
        case 5:
            let kind = try c.u8("intvar.type")
            return .intvar(IntvarEvent(kind: kind, value: try c.u64("intvar.value")))
        case 13:
            let a = try c.u64("rand.seed1")
            return .rand(RandEvent(seed1: a, seed2: try c.u64("rand.seed2")))
        case 14:
            return .userVar(try UserVarEvent.decode(&c))
        case 16:
            let xid = try c.u64("xid")
            return .xid(xid)
        case 38:
            return .xaPrepare(try XAPrepareEvent.decode(&c, postHeaderLength: postHeader(.xaPrepare, default: 0)))
        case 19:
            return .tableMap(try decodeTableMap(&c))
        case 23, 24, 25, 30, 31, 32, 39, 166, 167, 168, 169, 170, 171:
            return .rows(try decodeRows(type: type, &c, raw: raw))
        case 26:
            let incident = try c.u16("incident.type")
            let n = Int(try c.u8("incident.messageLength"))
            return .incident(IncidentEvent(incident: incident, message: try c.string(n, "incident.message")))
        case 27:
            return .heartbeat(HeartbeatEvent(file: try c.string(c.remaining, "heartbeat.file"), position: UInt64(header.logPosition)))
        case 41:
            return .heartbeat(try decodeHeartbeatV2(&c))
        case 29, 160:
            if type.rawValue == 29 { try c.skip(1, "rowsQuery.length") }
            let base = raw.bytes.startIndex
            let slice = raw.bytes[(base + c.position)..<(base + c.end)]
            c.position = c.end
            return .rowsQuery(RowsQueryEvent(bytes: slice))
        case 33, 34:
            return .gtid(try GTIDEvent.decode(&c, anonymous: type.rawValue == 34))
        case 42:
            return .gtid(try TaggedGTIDCodec.decode(&c))
        case 35:
            return .previousGTIDs(try PreviousGTIDsEvent.decode(&c))
        case 40:
            let base = raw.bytes.startIndex
            let event = raw.bytes[base..<(base + c.end)]
            return .transactionPayload(try TransactionPayloadEvent.decode(&c, event: event, eventStart: raw.offset))
        case 161:
            let n = try c.checkedCount(UInt64(try c.u32("binlogCheckpoint.nameLength")), unitSize: 1, "binlogCheckpoint.name")
            return .binlogCheckpoint(BinlogCheckpointEvent(file: try c.string(n, "binlogCheckpoint.name")))
        case 162:
            return .mariadbGTID(try MariaDBGTIDEvent.decode(&c, serverID: header.serverID))
        case 163:
            return .mariadbGTIDList(try MariaDBGTIDListEvent.decode(&c))
        case 164:
            throw c.fail(.unsupported("encrypted binlog (START_ENCRYPTION_EVENT); binlog-reconciler cannot read encrypted MariaDB logs: read them through the server (replication) instead"), "header.type")
        default:
            return .unknown(Array(c.rest()))
        }
    }

    /// The table id width of TABLE_MAP events under the FDE in force.
    private var tableMapIDSize = 6

    private mutating func decodeTableMap(_ c: inout ByteCursor) throws(BinlogDecodingError) -> TableMapEvent {
        let idSize = tableMapIDSize
        let body = UnsafeRawBufferPointer(rebasing: c.base[c.position..<c.end])
        let id = c.loadLE(at: c.position, width: min(idSize, c.remaining))
        if let last = lastTableMapEvent, last.tableID == id, CachedTableMap.same(lastTableMapBytes, body) {
            c.position = c.end
            try putInForce(last, cost: lastTableMapCost, &c)
            return last
        }
        if let cached = tableMapCache[id], cached.matches(body) {
            c.position = c.end
            try putInForce(cached.event, cost: cached.cost, &c)
            lastTableMapBytes = cached.bytes
            lastTableMapEvent = cached.event
            lastTableMapCost = cached.cost
            return cached.event
        }
        let event = try TableMapEvent.decode(&c, tableIDSize: idSize, mariadb: formatDescription?.isMariaDB ?? false)
        let entry = CachedTableMap(bytes: Array(body), event: event)
        try putInForce(event, cost: entry.cost, &c)
        // The cache is bounded by count and by (estimated) bytes: past either, it starts afresh.
        if let old = tableMapCache.updateValue(entry, forKey: event.tableID) { tableMapCacheBytes -= old.cost }
        tableMapCacheBytes += entry.cost
        if tableMapCache.count > 4096 || tableMapCacheBytes > limits.maxTableMapBytes {
            tableMapCache.removeAll()
            tableMapCacheBytes = 0
        }
        lastTableMapBytes = entry.bytes
        lastTableMapEvent = event
        lastTableMapCost = entry.cost
        return event
    }

    /// Estimated bytes of the cached table maps.
    private(set) var tableMapCacheBytes = 0
    private var lastTableMapCost = 0

    /// Makes a table map the one in force for its id, unless the maps in force (one statement's)
    /// would take more than `limits.maxTableMapBytes`: a hostile file of table maps with no rows
    /// events ending a statement would otherwise keep every one of them.
    @inline(__always)
    private mutating func putInForce(_ event: TableMapEvent, cost: Int, _ c: inout ByteCursor) throws(BinlogDecodingError) {
        if let previous = tables.setCharging(event, cost: cost), previous > limits.maxTableMapBytes {
            throw c.fail(
                .invalidValue("the table maps in force take about \(previous) bytes, over the \(limits.maxTableMapBytes)-byte limit (a statement with this many or this wide tables)"),
                "tableMap")
        }
    }

    private mutating func decodeRows(type: BinlogEventType, _ c: inout ByteCursor, raw: RawEvent) throws(BinlogDecodingError) -> RowsEvent {
        let code = type.rawValue
        let isV2 = (30...32).contains(code) || code == 39 || (169...171).contains(code)
        let ph = postHeader(type, default: isV2 ? 10 : 8)
        let idSize = ph == 6 ? 4 : 6
        let tableID = try c.uint(idSize, "rows.tableID")
        let flags = try c.u16("rows.flags")
        var extra: [UInt8] = []
        if isV2 && ph >= 10 {
            let extraLength = Int(try c.u16("rows.extraLength"))
            guard extraLength >= 2 else { throw c.fail(.invalidValue("extra data length \(extraLength) < 2"), "rows.extraLength") }
            extra = try c.bytes(extraLength - 2, "rows.extraData")
        }
        let rawCount = try c.lengthEncoded("rows.columnCount")
        guard rawCount <= UInt64(DecodingLimits.maxColumns) else {
            throw c.fail(.invalidValue("\(rawCount) columns (MySQL allows \(DecodingLimits.maxColumns))"), "rows.columnCount")
        }
        let count = Int(rawCount)
        let present = try c.bitmap(count, "rows.columnsPresent")
        let kind = type.rowsKind ?? .write
        var presentAfter: Bitmap? = nil
        if kind == .update { presentAfter = try c.bitmap(count, "rows.columnsPresentAfter") }
        guard let table = tables[tableID] else {
            throw c.fail(.missingTableMap(tableID: tableID), "rows.tableID")
        }
        guard count <= table.columns.count else {
            throw c.fail(.invalidValue("rows event has \(count) columns, table map of \(table.qualifiedName) has \(table.columns.count)"), "rows.columnCount")
        }
        let start = c.position
        let base = raw.bytes.startIndex
        var data = raw.bytes[(base + start)..<(base + c.end)]
        var dataOffset: UInt64? = raw.offset + UInt64(start)
        if (166...171).contains(code) {
            let compressed = c.rest()
            data = ArraySlice(try MariaDBCompression.uncompress(compressed, maxSize: limits.maxDecompressedEventSize, field: "rows.compressed", at: raw.offset + UInt64(start)))
            decompressedByteCount &+= UInt64(data.count)
            dataOffset = nil
        }
        c.position = c.end
        let event = RowsEvent(
            kind: kind, type: type, tableID: tableID, flags: flags, extraData: extra, columnCount: count,
            columnsPresent: present, columnsPresentAfter: presentAfter, table: table, isPartialUpdate: code == 39,
            rowData: data, rowDataOffset: dataOffset, eventStart: raw.offset)
        if event.isStatementEnd { tables.removeAll(keepingReferences: true) }
        return event
    }

    /// HEARTBEAT_LOG_EVENT_V2: `(type lenenc, length lenenc, value)*`, type 0 ends;
    /// 1 = file name (bytes), 2 = position (lenenc).
    private func decodeHeartbeatV2(_ c: inout ByteCursor) throws(BinlogDecodingError) -> HeartbeatEvent {
        var file = ""
        var position: UInt64 = 0
        while !c.isAtEnd {
            let type = try c.lengthEncoded("heartbeatV2.fieldType")
            if type == 0 { break }
            let length = try c.lengthEncodedCount("heartbeatV2.fieldLength")
            var v = try c.subCursor(length, "heartbeatV2.field[\(type)]")
            switch type {
            case 1: file = try v.string(length, "heartbeatV2.file")
            case 2: position = try v.lengthEncoded("heartbeatV2.position")
            default: break
            }
        }
        return HeartbeatEvent(file: file, position: position)
    }
}
