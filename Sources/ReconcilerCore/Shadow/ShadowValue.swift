import BinlogParser

/// The expected value of a watched column.
public enum ShadowValue: Hashable, Sendable, CustomStringConvertible {
    /// The row exists and the column is NULL.
    case null
    case int(Int64)
    /// Anything else, as canonical text (DECIMAL as MySQL prints it, strings as they are).
    case text(String)

    public init(_ value: ColumnValue) {
        switch value {
        case .null: self = .null
        case .int(let i): self = .int(i)
        case .uint(let u) where u <= UInt64(Int64.max): self = .int(Int64(u))
        default: self = .text(ShadowValue.canonicalText(value))
        }
    }

    /// What Redis would hold for this value (`nil` for NULL).
    public var redisText: String? {
        switch self {
        case .null: return nil
        case .int(let i): return String(i)
        case .text(let s): return s
        }
    }

    public var description: String { redisText ?? "NULL" }

    /// Canonical text of a column value: strings unquoted, numbers and temporals as `events`
    /// prints them, binary as hex.
    public static func canonicalText(_ value: ColumnValue) -> String {
        switch value {
        case .null: return ""
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .decimal(let s): return s
        case .string(let s): return s
        case .bytes(let b): return hexString(b)
        default:
            var w = JSONWriter(capacity: 64)
            EventJSON.writeValue(value, into: &w)
            var s = String(decoding: w.bytes, as: UTF8.self)
            if s.hasPrefix("\""), s.hasSuffix("\""), s.count >= 2 { s = String(s.dropFirst().dropLast()) }
            return s
        }
    }

    private static func hexString(_ bytes: [UInt8]) -> String {
        let d = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(d[Int(b >> 4)]); out.append(d[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
