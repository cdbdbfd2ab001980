/// The 19-byte v4 event header that starts every event.
///
/// ```
/// timestamp  u32   seconds since the epoch when the statement began
/// type       u8    BinlogEventType
/// server_id  u32   server that originally wrote the event
/// event_size u32   header + body + checksum
/// log_pos    u32   position of the next event in the writer's binlog (0 for some artificial events)
/// flags      u16   LOG_EVENT_*_F
/// ```
public struct EventHeader: Sendable, Hashable {
    public static let size = 19

    public var timestamp: UInt32
    public var type: BinlogEventType
    public var serverID: UInt32
    public var eventSize: UInt32
    public var logPosition: UInt32
    public var flags: UInt16

    public init(timestamp: UInt32, type: BinlogEventType, serverID: UInt32, eventSize: UInt32, logPosition: UInt32, flags: UInt16) {
        self.timestamp = timestamp
        self.type = type
        self.serverID = serverID
        self.eventSize = eventSize
        self.logPosition = logPosition
        self.flags = flags
    }

    /// `LOG_EVENT_ARTIFICIAL_F`: an event made up by the server (the fake ROTATE of a dump).
    public var isArtificial: Bool { flags & 0x20 != 0 }

    /// Reads a header from the first 19 bytes of `raw` (the caller checked the length).
    static func read(_ raw: UnsafeRawBufferPointer) -> EventHeader {
        EventHeader(
            timestamp: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
            type: BinlogEventType(raw[4]),
            serverID: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 5, as: UInt32.self)),
            eventSize: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 9, as: UInt32.self)),
            logPosition: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 13, as: UInt32.self)),
            flags: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 17, as: UInt16.self)))
    }
}

/// One complete event as framed from a file or a stream, not yet decoded.
public struct RawEvent: Sendable {
    /// Absolute offset of the event's first byte in its file (or, inside a transaction payload, in
    /// the decompressed payload).
    public var offset: UInt64
    /// The whole event: header, body and checksum. Shares storage with the reader's buffer.
    public var bytes: ArraySlice<UInt8>

    public init(offset: UInt64, bytes: ArraySlice<UInt8>) {
        self.offset = offset
        self.bytes = bytes
    }

    public var header: EventHeader { bytes.withUnsafeBytes { EventHeader.read($0) } }
    public var type: BinlogEventType { BinlogEventType(bytes[bytes.startIndex + 4]) }
    public var size: Int { bytes.count }
    public var nextOffset: UInt64 { offset + UInt64(bytes.count) }
}
