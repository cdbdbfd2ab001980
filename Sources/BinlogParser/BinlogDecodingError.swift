/// The one error the parser throws.
///
/// It names where the problem is (absolute byte offset in the file or stream, and the event that
/// contains it) and what went wrong, so that `description` reads like a compiler diagnostic:
/// `mysql-bin.000001:1234: event TABLE_MAP_EVENT: tableMap.columnCount: needed 8 bytes, 3 left`.
public struct BinlogDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Hashable {
        /// The input ended (or an event's declared length ended) before a field was complete.
        case truncated(needed: Int, available: Int)
        /// The file does not start with the binlog magic `\xfebin`.
        case notABinlog(String)
        /// The event's CRC32 does not match its bytes.
        case checksumMismatch(stored: UInt32, computed: UInt32)
        /// The event header declares an impossible length.
        case invalidEventLength(UInt64)
        /// A rows event names a table id that no TABLE_MAP event announced.
        case missingTableMap(tableID: UInt64)
        /// A row image names a column type the parser does not know.
        case unknownColumnType(UInt8)
        /// A value on the wire is out of its valid range.
        case invalidValue(String)
        /// A feature the parser deliberately does not handle (encrypted binlogs, binlog v1/v3).
        case unsupported(String)
        /// zlib or zstd refused the compressed data.
        case decompression(String)
        /// An event decoded completely but left bytes unread.
        case trailingBytes(Int)
    }

    public var kind: Kind
    /// The field being read, e.g. `"rows.columnCount"`.
    public var field: String
    /// Absolute offset of the byte where the problem was found.
    public var byteOffset: UInt64
    /// The event's type code, when known.
    public var eventType: BinlogEventType?
    /// Absolute offset of the event's first byte, when known.
    public var eventStart: UInt64?
    /// The file (or stream) name, filled in by readers that know it.
    public var source: String?
    /// The offset of the enclosing TRANSACTION_PAYLOAD event when the failing event is inside one.
    public var inPayload: UInt64?

    public init(
        _ kind: Kind, field: String, byteOffset: UInt64, eventType: BinlogEventType? = nil,
        eventStart: UInt64? = nil, source: String? = nil
    ) {
        self.kind = kind
        self.field = field
        self.byteOffset = byteOffset
        self.eventType = eventType
        self.eventStart = eventStart
        self.source = source
    }

    /// A one-line message without the location prefix.
    public var message: String {
        let what: String
        switch kind {
        case .truncated(let needed, let available):
            what = "truncated: needed \(needed) bytes, \(available) left"
        case .notABinlog(let why):
            what = "not a binlog file: \(why)"
        case .checksumMismatch(let stored, let computed):
            what = "CRC32 checksum mismatch: stored 0x\(hex32(stored)), computed 0x\(hex32(computed))"
        case .invalidEventLength(let length):
            what = "impossible event length \(length)"
        case .missingTableMap(let id):
            what = "no TABLE_MAP_EVENT for table id \(id)"
        case .unknownColumnType(let code):
            what = "unknown column type \(code)"
        case .invalidValue(let why):
            what = "invalid value: \(why)"
        case .unsupported(let why):
            what = "not supported: \(why)"
        case .decompression(let why):
            what = "decompression failed: \(why)"
        case .trailingBytes(let count):
            what = "\(count) unexpected bytes after the last field"
        }
        return field.isEmpty ? what : "\(field): \(what)"
    }

    /// `file:offset: event TYPE at START: field: message`.
    public var description: String {
        var out = ""
        if let source { out += source + ":" }
        out += "\(byteOffset): "
        if let eventType {
            out += "event \(eventType.name)"
            if let eventStart { out += " at \(eventStart)" }
            if let inPayload { out += " (inside TRANSACTION_PAYLOAD_EVENT at \(inPayload))" }
            out += ": "
        }
        return out + message
    }
}

@inline(__always)
func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 8 - s.count)) + s
}
