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
    indirect case formatDescription(FormatDescriptionEvent)
    indirect case query(QueryEvent)
    indirect case rotate(RotateEvent)
    case xid(UInt64)
    /// XA_PREPARE_LOG_EVENT: `XA PREPARE`, or `XA COMMIT … ONE PHASE`.
    indirect case xaPrepare(XAPrepareEvent)
    case stop
    case intvar(IntvarEvent)
    case rand(RandEvent)
    indirect case userVar(UserVarEvent)
    indirect case incident(IncidentEvent)
    /// ROWS_QUERY_LOG_EVENT and ANNOTATE_ROWS_EVENT.
    case rowsQuery(RowsQueryEvent)
    indirect case heartbeat(HeartbeatEvent)
    /// MySQL GTID, anonymous GTID and tagged GTID events.
    indirect case gtid(GTIDEvent)
    indirect case previousGTIDs(PreviousGTIDsEvent)
    case tableMap(TableMapEvent)
    case rows(RowsEvent)
    indirect case transactionPayload(TransactionPayloadEvent)
    indirect case mariadbGTID(MariaDBGTIDEvent)
    indirect case mariadbGTIDList(MariaDBGTIDListEvent)
    case binlogCheckpoint(BinlogCheckpointEvent)
    /// An event that is framed but not decoded (unknown codes, LOAD DATA events, VIEW_CHANGE, …):
    /// its body bytes without header and checksum.
    case unknown([UInt8])
}
