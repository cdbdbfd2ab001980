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

/// `product:{id}:stock`: literal text with `{column}` placeholders for key columns.
public struct RedisKeyTemplate: Sendable, Hashable {
    public enum Part: Sendable, Hashable { case literal(String), column(Int) }
    public let parts: [Part]
    public let source: String

    /// - Parameter keyColumns: the watch's key column names, in order; placeholders name them.
    public init(_ template: String, keyColumns: [String]) throws(ConfigurationError) {
        var parts: [Part] = []
        var literal = ""
        var i = template.startIndex
        while i < template.endIndex {
            let ch = template[i]
            if ch == "{" {
                guard let close = template[i...].firstIndex(of: "}") else {
                    throw ConfigurationError("key template \(template): '{' without '}'")
                }
                let name = String(template[template.index(after: i)..<close])
                guard let index = keyColumns.firstIndex(of: name) else {
                    throw ConfigurationError("key template \(template) names {\(name)}, which is not a key column (\(keyColumns.joined(separator: ",")))")
                }
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                parts.append(.column(index))
                i = template.index(after: close)
            } else {
                literal.append(ch)
                i = template.index(after: i)
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
        self.source = template
    }

    public func render(_ key: ShadowKey) -> String {
        var out = ""
        for p in parts {
            switch p {
            case .literal(let s): out += s
            case .column(let i):
                switch key {
                case .int(let v): out += String(v)
                case .text(let s): out += s
                case .composite(let parts): out += i < parts.count ? parts[i] : ""
                }
            }
        }
        return out
    }

    /// The glob pattern matching every key this template can produce (for SCAN).
    public var scanPattern: String {
        parts.map { part -> String in
            switch part {
            case .literal(let s): return s.replacingGlobSpecials()
            case .column: return "*"
            }
        }.joined()
    }

    /// The key embedded in a Redis key, or nil when it does not match the template.
    public func parse(_ redisKey: String, keyColumnCount: Int) -> ShadowKey? {
        var rest = Substring(redisKey)
        var values = [String](repeating: "", count: keyColumnCount)
        for (n, p) in parts.enumerated() {
            switch p {
            case .literal(let s):
                guard rest.hasPrefix(s) else { return nil }
                rest = rest.dropFirst(s.count)
            case .column(let i):
                var end = rest.endIndex
                if n + 1 < parts.count, case .literal(let next) = parts[n + 1], let r = rest.firstRange(of: next) { end = r.lowerBound }
                values[i] = String(rest[..<end])
                rest = rest[end...]
            }
        }
        guard rest.isEmpty else { return nil }
        if keyColumnCount == 1 {
            if let v = Int64(values[0]) { return .int(v) }
            return .text(values[0])
        }
        return .composite(values)
    }
}

extension String {
    func replacingGlobSpecials() -> String {
        var out = ""
        for ch in self {
            if "*?[]\\".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}

/// A configuration mistake, named so the user can fix it.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The expected value of every watched key of one watch, as of an exact binlog position.
///
/// Integer keys with integer values (the flash-sale case) live in a `[Int64: Int64]` dictionary
/// (about 24–32 bytes per key); anything else in a general dictionary. The two never overlap.
public struct ShadowMap: Sendable {
    private(set) var ints: [Int64: Int64] = [:]
    private(set) var others: [ShadowKey: ShadowValue] = [:]

    public init() {}

    public var count: Int { ints.count + others.count }

    public subscript(key: ShadowKey) -> ShadowValue? {
        get {
            if case .int(let k) = key, let v = ints[k] { return .int(v) }
            return others[key]
        }
        set {
            if case .int(let k) = key {
                if case .int(let v)? = newValue {
                    ints[k] = v
                    if !others.isEmpty { others.removeValue(forKey: key) }
                    return
                }
                ints.removeValue(forKey: k)
            }
            others[key] = newValue
        }
    }

    public mutating func removeAll() {
        ints.removeAll()
        others.removeAll()
    }

    public mutating func reserveCapacity(_ n: Int) { ints.reserveCapacity(n) }

    /// Every entry, sorted by key (checkpoints and `checkpoint inspect --values` rely on the order).
    public func sortedEntries() -> [(ShadowKey, ShadowValue)] {
        var out: [(ShadowKey, ShadowValue)] = []
        out.reserveCapacity(count)
        for (k, v) in ints { out.append((.int(k), .int(v))) }
        for (k, v) in others { out.append((k, v)) }
        out.sort { $0.0 < $1.0 }
        return out
    }

    /// Integer entries sorted by key, for the compact checkpoint encoding.
    public func sortedIntegerEntries() -> [(Int64, Int64)] {
        ints.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Entries that are not integer→integer, sorted by key.
    public func sortedOtherEntries() -> [(ShadowKey, ShadowValue)] {
        others.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public func forEach(_ body: (ShadowKey, ShadowValue) throws -> Void) rethrows {
        for (k, v) in ints { try body(.int(k), .int(v)) }
        for (k, v) in others { try body(k, v) }
    }
}
