/// A decoded event: its header, where it is, and what it says.
public struct BinlogEvent: Sendable {
    public var header: EventHeader
    /// Offset of the event's first byte in its file or stream (inside a payload: in the payload).
    public var offset: UInt64
    public var body: BinlogEventBody

    public var type: BinlogEventType { header.type }
    /// Offset of the byte after the event.
    public var nextOffset: UInt64 { offset + UInt64(header.eventSize) }
}

/// What an event says, by family.
public enum BinlogEventBody: Sendable {
    case formatDescription(FormatDescriptionEvent)
    case query(QueryEvent)
    case rotate(RotateEvent)
    case xid(UInt64)
    case stop
    case intvar(IntvarEvent)
    case rand(RandEvent)
    case userVar(UserVarEvent)
    case incident(IncidentEvent)
    /// ROWS_QUERY_LOG_EVENT and ANNOTATE_ROWS_EVENT.
    case rowsQuery(RowsQueryEvent)
    case heartbeat(HeartbeatEvent)
    /// MySQL GTID, anonymous GTID and tagged GTID events.
    case gtid(GTIDEvent)
    case previousGTIDs(PreviousGTIDsEvent)
    case tableMap(TableMapEvent)
    case rows(RowsEvent)
    case transactionPayload(TransactionPayloadEvent)
    case mariadbGTID(MariaDBGTIDEvent)
    case mariadbGTIDList(MariaDBGTIDListEvent)
    case binlogCheckpoint(BinlogCheckpointEvent)
    /// An event that is framed but not decoded (unknown codes, LOAD DATA events, VIEW_CHANGE, …):
    /// its body bytes without header and checksum.
    case unknown([UInt8])
}
