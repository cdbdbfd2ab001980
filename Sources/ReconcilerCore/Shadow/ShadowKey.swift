import BinlogParser

/// The key of a watched row in the shadow map.
///
/// Integer primary keys (the common case: `product.id`) are stored unboxed; other keys as their
/// canonical text; composite keys as the list of their parts' canonical text.
public enum ShadowKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    case int(Int64)
    case text(String)
    case composite([String])

    /// Canonical form of a column value used as a key: integers as integers, anything else as the
    /// text `events` would print for it (without JSON quotes).
    public init(_ value: ColumnValue) {
        switch value {
        case .int(let i): self = .int(i)
        case .uint(let u) where u <= UInt64(Int64.max): self = .int(Int64(u))
        default: self = .text(ShadowValue.canonicalText(value))
        }
    }

    public init(parts: [ColumnValue]) {
        if parts.count == 1 { self.init(parts[0]) } else { self = .composite(parts.map(ShadowValue.canonicalText)) }
    }

    /// The key as the report prints it: `17`, `abc`, or a JSON array string for composite keys.
    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .text(let s): return s
        case .composite(let parts):
            var w = JSONWriter(capacity: 64)
            w.beginArray()
            for p in parts { w.string(p) }
            w.endArray()
            return String(decoding: w.bytes, as: UTF8.self)
        }
    }

    public static func < (a: ShadowKey, b: ShadowKey) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.int, _): return true
        case (_, .int): return false
        case (.text(let x), .text(let y)): return x < y
        case (.text, .composite): return true
        case (.composite, .text): return false
        case (.composite(let x), .composite(let y)): return x.lexicographicallyPrecedes(y)
        }
    }

    /// Substitutes the key into a Redis key template: `product:{id}:stock` with `{id}` (or the
    /// named key columns of a composite key) replaced.
    public func redisKey(template: RedisKeyTemplate) -> String {
        template.render(self)
    }
}
