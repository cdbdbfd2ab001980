/// Bounds on what decoding one binlog may cost, so that a hostile file ends in an error instead of
/// a multi-gigabyte allocation.
///
/// Lengths read from the input never size an allocation beyond these (or beyond the bytes
/// actually present). The defaults fit every binlog a MySQL or MariaDB server writes in practice;
/// callers that meet a legitimate file beyond them raise them (`--max-decompressed-bytes`).
public struct DecodingLimits: Sendable, Hashable {
    /// The most bytes one decompressed event may have: the body of a MariaDB compressed event
    /// (QUERY_COMPRESSED, the *_ROWS_COMPRESSED events) and each event inside a
    /// TRANSACTION_PAYLOAD_EVENT. Default 64 MiB.
    public var maxDecompressedEventSize: Int = 64 << 20
    /// The most bytes decompressed in one file, all compressed events and transaction payloads
    /// together. Default 8 GiB (a 1 GiB binlog compressed 8:1). Memory does not grow with it
    /// (payloads are streamed); it bounds the work a small "decompression bomb" can cause.
    public var maxDecompressedBytesPerFile: UInt64 = 8 << 30
    /// The most memory the decoded TABLE_MAP events may take: the table maps in force for one
    /// statement (more is an error) and the cache of decoded maps (emptied when over). Default 64 MiB.
    public var maxTableMapBytes: Int = 64 << 20

    /// MySQL's and MariaDB's limit on columns per table; table maps and rows events with more are
    /// refused.
    public static let maxColumns = 4096

    public init() {}

    /// Parses a byte count for a command-line option: digits with an optional K, M, G or T suffix
    /// (powers of 1024, case-insensitive, an optional trailing "B" or "iB"). Nil when malformed,
    /// zero, or beyond `UInt64`.
    public static func parseByteCount(_ text: String) -> UInt64? {
        var s = Substring(text.uppercased())
        if s.hasSuffix("IB") { s = s.dropLast(2) } else if s.hasSuffix("B") && s.count > 1 { s = s.dropLast() }
        var shift: UInt64 = 0
        switch s.last {
        case "K": shift = 10
        case "M": shift = 20
        case "G": shift = 30
        case "T": shift = 40
        default: break
        }
        if shift > 0 { s = s.dropLast() }
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(s), n > 0 else { return nil }
        guard n <= UInt64.max >> shift else { return nil }
        return n << shift
    }
}
