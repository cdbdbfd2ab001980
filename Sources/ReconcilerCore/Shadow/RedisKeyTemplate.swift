/// `product:{id}:stock`: literal text with `{column}` placeholders for key columns.
///
/// `{{` and `}}` stand for a literal `{` and `}`, so a Redis Cluster hash tag can be written
/// around a placeholder: `product:{{{id}}}:stock` renders `product:{17}:stock`. A lone `}` outside
/// a placeholder is literal too.
///
/// Rendering a row key into a Redis key is exact. Going back (a key name from `SCAN` or a
/// notification) is not always possible: a text column may hold the separator (`inv:{a}:{b}` with
/// a = `x:y`), and `sku:1001` is the integer 1001 for an INT column but the text "1001" for a
/// VARCHAR one. ``candidates(_:integerColumns:)`` therefore returns *every* row key that renders
/// to the name, using the key columns' real types; callers act on a name only when exactly one
/// candidate is left (repairs never start from a name at all: they use the row key of the
/// divergence).
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
            let next = template.index(after: i)
            if ch == "{" || ch == "}", next < template.endIndex, template[next] == ch {
                literal.append(ch)  // `{{` or `}}`: one literal brace
                i = template.index(after: next)
            } else if ch == "{" {
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
                i = next
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

    /// The most candidates ``candidates(_:integerColumns:)`` enumerates; a name with more is
    /// ambiguous anyway.
    public static let candidateLimit = 16

    /// Every row key that renders exactly to `redisKey`, for key columns whose types are given:
    /// `integerColumns[i]` is true for an integer column (its part must be an integer written
    /// canonically, as the binlog and the bootstrap produce it), false for any other type, and the
    /// whole array nil when the types are unknown (then both readings are returned). Empty when the
    /// name does not match the template; more than one element when the name is ambiguous.
    ///
    /// A template that does not name every key column (a hash key with the other columns in the
    /// field) cannot give a whole row key: empty.
    public func candidates(_ redisKey: String, integerColumns: [Bool]?, keyColumnCount: Int? = nil) -> [ShadowKey] {
        let columnCount = parts.reduce(0) { if case .column(let i) = $1 { max($0, i + 1) } else { $0 } }
        let named = Set(parts.compactMap { if case .column(let i) = $0 { i } else { nil } })
        if let n = keyColumnCount, named.count != n || columnCount != n { return [] }
        // The search is bounded in steps as well as in what it finds.
        var steps = 0
        var found: [[Substring]] = []
        var values = [Substring?](repeating: nil, count: columnCount)
        let name = Substring(redisKey)
        // Depth-first over the places each placeholder can end; bounded by `candidateLimit`.
        func match(_ partIndex: Int, _ rest: Substring) {
            steps += 1
            guard found.count <= Self.candidateLimit, steps <= 4096 else { return }
            if partIndex == parts.count {
                if rest.isEmpty { found.append(values.map { $0 ?? "" }) }
                return
            }
            switch parts[partIndex] {
            case .literal(let s):
                guard rest.hasPrefix(s) else { return }
                match(partIndex + 1, rest.dropFirst(s.count))
            case .column(let c):
                if let fixed = values[c] {
                    // The same column twice in a template: both places hold the same text.
                    guard rest.hasPrefix(fixed) else { return }
                    match(partIndex + 1, rest.dropFirst(fixed.count))
                    return
                }
                var end = rest.startIndex
                while true {
                    values[c] = rest[rest.startIndex..<end]
                    match(partIndex + 1, rest[end...])
                    values[c] = nil
                    if end == rest.endIndex || found.count > Self.candidateLimit { break }
                    end = rest.index(after: end)
                }
            }
        }
        match(0, name)
        var out: [ShadowKey] = []
        for v in found {
            for key in Self.keys(from: v, integerColumns: integerColumns) where render(key) == redisKey && !out.contains(key) {
                out.append(key)
            }
        }
        return out
    }

    /// The row keys a list of column texts can be, for the given column types.
    private static func keys(from values: [Substring], integerColumns: [Bool]?) -> [ShadowKey] {
        func isCanonicalInteger(_ s: Substring) -> Bool {
            if let i = Int64(s) { return String(i) == s }
            if let u = UInt64(s) { return String(u) == s }
            return false
        }
        if values.count == 1 {
            let s = values[0]
            var out: [ShadowKey] = []
            let integer = integerColumns?.first
            if integer != false, isCanonicalInteger(s) {
                // The binlog gives BIGINT UNSIGNED values above Int64.max as text (ShadowKey(.uint)).
                out.append(Int64(s).map(ShadowKey.int) ?? .text(String(s)))
            }
            if integer != true, !out.contains(.text(String(s))) { out.append(.text(String(s))) }
            return out
        }
        if let kinds = integerColumns {
            for (i, v) in values.enumerated() where i < kinds.count && kinds[i] && !isCanonicalInteger(v) { return [] }
        }
        return [.composite(values.map(String.init))]
    }
}

extension String {
    package func replacingGlobSpecials() -> String {
        var out = ""
        for ch in self {
            if "*?[]\\".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }
}
