import ReconcilerCore
// MARK: - RedisReply

/// One RESP2 reply, copied out of hiredis's `redisReply` tree (hiredis 0.14 speaks RESP2 only, so
/// there are no maps, doubles or booleans).
///
/// | RESP2 first byte | case |
/// |---|---|
/// | `+` simple string | `.status` |
/// | `-` error | `.error` (the whole line, e.g. `WRONGTYPE Operation against a key ...`) |
/// | `:` integer | `.integer` |
/// | `$` bulk string | `.bulk` (binary-safe) |
/// | `$-1` / `*-1` | `.null` |
/// | `*` array | `.array` |
public enum RedisReply: Sendable, Hashable, CustomStringConvertible {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// A bulk string built from text.
    public static func bulk(_ text: String) -> RedisReply { .bulk(Array(text.utf8)) }

    /// The text of a status or bulk reply (bulk bytes decoded as UTF-8, invalid sequences
    /// replaced); `nil` for anything else.
    public var string: String? {
        switch self {
        case .status(let s): return s
        case .bulk(let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    /// The bytes of a bulk reply (or of a status line).
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let b): return b
        case .status(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// The value of an integer reply, or of a bulk/status reply holding a decimal integer.
    public var integer: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulk, .status: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The error text of an `.error` reply.
    public var errorMessage: String? {
        if case .error(let e) = self { return e }
        return nil
    }

    /// redis-cli-like rendering, for logs and test failures.
    public var description: String {
        switch self {
        case .status(let s): return s
        case .error(let e): return "(error) \(e)"
        case .integer(let i): return "(integer) \(i)"
        case .bulk: return "\"\(string ?? "")\""
        case .null: return "(nil)"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
