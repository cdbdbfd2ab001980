/// The checksum algorithm a FORMAT_DESCRIPTION_EVENT announces for the events after it.
public enum ChecksumAlgorithm: Sendable, Hashable {
    case off
    case crc32
    /// A code this parser does not know; events are treated as unchecksummed.
    case other(UInt8)

    public init(code: UInt8) {
        switch code {
        case 0: self = .off
        case 1: self = .crc32
        default: self = .other(code)
        }
    }

    public var name: String {
        switch self {
        case .off: "NONE"
        case .crc32: "CRC32"
        case .other(let c): c == 255 ? "UNDEFINED" : "UNKNOWN_\(c)"
        }
    }

    /// Bytes of checksum at the end of each event.
    public var length: Int { self == .crc32 ? 4 : 0 }
}

/// FORMAT_DESCRIPTION_EVENT (15): starts every v4 binlog file and describes the ones after it.
///
/// ```
/// binlog_version u16, server_version char[50] (NUL padded), create_timestamp u32,
/// header_length u8, post_header_length u8[number of event types],
/// [checksum_alg u8, crc32 u32]   (servers from 5.6.1 / MariaDB 5.3 on)
/// ```
public struct FormatDescriptionEvent: Sendable, Hashable {
    public var binlogVersion: UInt16
    public var serverVersion: String
    public var createTimestamp: UInt32
    public var headerLength: UInt8
    /// Post-header length per event type: index `type - 1`.
    public var postHeaderLengths: [UInt8]
    public var checksumAlgorithm: ChecksumAlgorithm

    public var isMariaDB: Bool { serverVersion.contains("MariaDB") }

    /// The FDE a v4 reader assumes before it has seen one (MySQL 5.6+ / MariaDB 10 lengths).
    public static let assumedV4 = FormatDescriptionEvent(
        binlogVersion: 4, serverVersion: "", createTimestamp: 0, headerLength: 19, postHeaderLengths: [], checksumAlgorithm: .off)

    public func postHeaderLength(_ type: BinlogEventType) -> Int? {
        let i = Int(type.rawValue) - 1
        guard i >= 0, i < postHeaderLengths.count else { return nil }
        return Int(postHeaderLengths[i])
    }

    /// Whether a server of this version appends the checksum algorithm byte and a checksum to its FDE.
    static func isChecksumAware(_ version: String) -> Bool {
        let digits = version.split(whereSeparator: { !$0.isNumber }).prefix(3).map { Int($0) ?? 0 }
        guard digits.count >= 3 else { return false }
        let v = (digits[0], digits[1], digits[2])
        if version.contains("MariaDB") { return v >= (5, 3, 0) }
        return v >= (5, 6, 1)
    }

    /// Decodes the body of the event (`raw` is the whole event, header included).
    static func decode(_ raw: UnsafeRawBufferPointer, at offset: UInt64) throws(BinlogDecodingError) -> FormatDescriptionEvent {
        var c = ByteCursor(raw, baseOffset: offset)
        try c.skip(EventHeader.size, "header")
        let version = try c.u16("formatDescription.binlogVersion")
        let serverRaw = try c.rawBytes(50, "formatDescription.serverVersion")
        let nul = serverRaw.firstIndex(of: 0) ?? 50
        let server = String(decoding: UnsafeRawBufferPointer(rebasing: serverRaw[0..<nul]), as: UTF8.self)
        let created = try c.u32("formatDescription.createTimestamp")
        let headerLength = try c.u8("formatDescription.headerLength")
        guard version == 4 else {
            throw c.fail(.unsupported("binlog format version \(version) (only v4, MySQL 5.0+, is read)"), "formatDescription.binlogVersion")
        }
        guard headerLength == 19 else {
            throw c.fail(.invalidValue("event header length \(headerLength), expected 19"), "formatDescription.headerLength")
        }
        var algorithm = ChecksumAlgorithm.off
        var tableEnd = c.end
        if isChecksumAware(server) {
            guard c.remaining >= 5 else {
                throw c.fail(.truncated(needed: 5, available: c.remaining), "formatDescription.checksumAlgorithm")
            }
            tableEnd = c.end - 5
            algorithm = ChecksumAlgorithm(code: raw[tableEnd])
        }
        let lengths = Array(UnsafeRawBufferPointer(rebasing: raw[c.position..<tableEnd]))
        return FormatDescriptionEvent(
            binlogVersion: version, serverVersion: server, createTimestamp: created, headerLength: headerLength,
            postHeaderLengths: lengths, checksumAlgorithm: algorithm)
    }
}
