/// A TOML reader for configuration files.
///
/// No TOML package is usable here (TOMLKit needs a package this workplace does not have), so this
/// reads the part of TOML 1.0 a configuration file uses: comments, `[table]`, `[a.b]`,
/// `[[array.of.tables]]`, `key = value` with bare, quoted and dotted keys, basic and literal
/// strings (with escapes), multi-line strings, integers (with `_`, hex/oct/bin), floats, booleans,
/// arrays (also multi-line) and inline tables. Dates are read as strings. Errors name the line, and
/// every table keeps the line of each of its keys and of its own header, so that the checks made
/// after parsing (``ReconcilerConfiguration``) name the line too. Nesting is bounded
/// (``TOML/maxDepth``) so that no input can exhaust the stack.
public enum TOML {
    /// The deepest nesting read: keys in one dotted path or header, and arrays and inline tables
    /// inside each other. Deeper input is an error (the reader and the values are recursive).
    public static let maxDepth = 64

    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var p = Parser(Array(text.unicodeScalars))
        return try p.document()
    }

    struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        var line = 1
        var root = TOMLTable(line: 0)
        /// Arrays and inline tables open around the value being read.
        var depth = 0
        var currentPath: [String] = []
        /// Paths defined by [table] headers, so a second definition is an error.
        var defined = Set<[String]>()

        init(_ s: [Unicode.Scalar]) { self.s = s }

        func fail(_ m: String) -> TOMLError { TOMLError(line: line, message: m) }

        var atEnd: Bool { i >= s.count }
        var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

        mutating func skipSpaces() {
            while let c = peek, c == " " || c == "\t" { i += 1 }
        }

        mutating func skipComment() {
            if peek == "#" { while let c = peek, c != "\n" { i += 1 } }
        }

        /// Skips blank lines, comments and newlines (inside arrays and between statements).
        mutating func skipTrivia() {
            while true {
                skipSpaces()
                skipComment()
                if peek == "\r" { i += 1 }
                if peek == "\n" { i += 1; line += 1; continue }
                break
            }
        }

        mutating func expectLineEnd() throws(TOMLError) {
            skipSpaces()
            skipComment()
            if peek == "\r" { i += 1 }
            if atEnd { return }
            guard peek == "\n" else { throw fail("expected the end of the line, found '\(peek.map { String($0) } ?? "")'") }
            i += 1
            line += 1
        }

        mutating func document() throws(TOMLError) -> TOMLTable {
            while true {
                skipTrivia()
                guard let c = peek else { break }
                let statementLine = line
                if c == "[" {
                    if i + 1 < s.count && s[i + 1] == "[" {
                        i += 2
                        let path = try keyPath()
                        guard peek == "]", i + 1 < s.count, s[i + 1] == "]" else { throw fail("expected ']]'") }
                        i += 2
                        try appendTable(path, line: statementLine)
                        currentPath = path
                    } else {
                        i += 1
                        let path = try keyPath()
                        guard peek == "]" else { throw fail("expected ']'") }
                        i += 1
                        guard !defined.contains(path) else { throw fail("table [\(path.joined(separator: "."))] is defined twice") }
                        defined.insert(path)
                        try ensureTable(path, line: statementLine)
                        currentPath = path
                    }
                    try expectLineEnd()
                } else {
                    let key = try keyPath()
                    skipSpaces()
                    guard peek == "=" else { throw fail("expected '=' after key \(key.joined(separator: "."))") }
                    i += 1
                    skipSpaces()
                    let v = try value()
                    try assign(currentPath + key, v, line: statementLine)
                    try expectLineEnd()
                }
            }
            return root
        }

        mutating func keyPath() throws(TOMLError) -> [String] {
            var parts: [String] = []
            while true {
                skipSpaces()
                guard let c = peek else { throw fail("expected a key") }
                if c == "\"" {
                    parts.append(try basicString())
                } else if c == "'" {
                    parts.append(try literalString())
                } else {
                    var k = ""
                    while let c = peek, c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" {
                        k.unicodeScalars.append(c)
                        i += 1
                    }
                    guard !k.isEmpty else { throw fail("expected a key, found '\(c)'") }
                    parts.append(k)
                }
                skipSpaces()
                if peek == "." {
                    guard parts.count < TOML.maxDepth else { throw fail("a key of more than \(TOML.maxDepth) parts") }
                    i += 1
                    continue
                }
                return parts
            }
        }

        mutating func value() throws(TOMLError) -> TOMLValue {
            guard let c = peek else { throw fail("expected a value") }
            switch c {
            case "\"":
                if i + 2 < s.count && s[i + 1] == "\"" && s[i + 2] == "\"" { return .string(try multilineString(literal: false)) }
                return .string(try basicString())
            case "'":
                if i + 2 < s.count && s[i + 1] == "'" && s[i + 2] == "'" { return .string(try multilineString(literal: true)) }
                return .string(try literalString())
            case "[":
                i += 1
                try enter()
                defer { depth -= 1 }
                var items: [TOMLValue] = []
                while true {
                    skipTrivia()
                    if peek == "]" { i += 1; return .array(items) }
                    items.append(try value())
                    skipTrivia()
                    if peek == "," { i += 1; continue }
                    skipTrivia()
                    guard peek == "]" else { throw fail("expected ',' or ']' in array") }
                    i += 1
                    return .array(items)
                }
            case "{":
                i += 1
                try enter()
                defer { depth -= 1 }
                var t = TOMLTable(line: line)
                skipSpaces()
                if peek == "}" { i += 1; return .table(t) }
                while true {
                    let keyLine = line
                    let k = try keyPath()
                    // Each part of a dotted key is one more table inside this one.
                    guard depth + k.count - 1 <= TOML.maxDepth else { throw fail("inline tables nested more than \(TOML.maxDepth) deep") }
                    skipSpaces()
                    guard peek == "=" else { throw fail("expected '=' in inline table") }
                    i += 1
                    skipSpaces()
                    let v = try value()
                    try Self.insert(&t, k[...], v, line: keyLine)
                    skipSpaces()
                    if peek == "," { i += 1; skipSpaces(); continue }
                    guard peek == "}" else { throw fail("expected ',' or '}' in inline table") }
                    i += 1
                    return .table(t)
                }
            default:
                var token = ""
                while let c = peek, !(c == "," || c == "]" || c == "}" || c == "#" || c == "\n" || c == "\r") {
                    token.unicodeScalars.append(c)
                    i += 1
                }
                while token.hasSuffix(" ") || token.hasSuffix("\t") { token.removeLast() }
                return try scalar(token)
            }
        }

        /// One more array or inline table open; refused past ``TOML/maxDepth``.
        mutating func enter() throws(TOMLError) {
            guard depth < TOML.maxDepth else { throw fail("arrays and inline tables nested more than \(TOML.maxDepth) deep") }
            depth += 1
        }

        func scalar(_ token: String) throws(TOMLError) -> TOMLValue {
            if token == "true" { return .bool(true) }
            if token == "false" { return .bool(false) }
            let t = token.replacingUnderscores()
            for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where t.hasPrefix(prefix) {
                if let v = Int64(t.dropFirst(2), radix: radix) { return .integer(v) }
            }
            if let v = Int64(t) { return .integer(v) }
            if t == "inf" || t == "+inf" { return .float(.infinity) }
            if t == "-inf" { return .float(-.infinity) }
            if t.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let d = Double(t) { return .float(d) }
            // Dates and times are kept as their text.
            if let f = token.first, f.isNumber, token.contains("-") || token.contains(":") { return .string(token) }
            throw fail("cannot read value '\(token)' (strings need quotes)")
        }

        mutating func basicString() throws(TOMLError) -> String {
            i += 1
            var out = String.UnicodeScalarView()
            while true {
                guard let c = peek else { throw fail("unterminated string") }
                i += 1
                if c == "\"" { return String(out) }
                if c == "\n" { throw fail("newline in a single-line string") }
                if c == "\\" { out.append(try escape()) } else { out.append(c) }
            }
        }

        mutating func escape() throws(TOMLError) -> Unicode.Scalar {
            guard let e = peek else { throw fail("unterminated escape") }
            i += 1
            switch e {
            case "n": return "\n"
            case "t": return "\t"
            case "r": return "\r"
            case "b": return "\u{8}"
            case "f": return "\u{c}"
            case "\"": return "\""
            case "\\": return "\\"
            case "u", "U":
                let n = e == "u" ? 4 : 8
                guard i + n <= s.count else { throw fail("short unicode escape") }
                var hex = ""
                for k in 0..<n { hex.unicodeScalars.append(s[i + k]) }
                i += n
                guard let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else { throw fail("bad unicode escape \\\(e)\(hex)") }
                return u
            default: throw fail("unknown escape \\\(e)")
            }
        }

        mutating func literalString() throws(TOMLError) -> String {
            i += 1
            var out = String.UnicodeScalarView()
            while true {
                guard let c = peek else { throw fail("unterminated string") }
                i += 1
                if c == "'" { return String(out) }
                if c == "\n" { throw fail("newline in a single-line string") }
                out.append(c)
            }
        }

        mutating func multilineString(literal: Bool) throws(TOMLError) -> String {
            let q: Unicode.Scalar = literal ? "'" : "\""
            i += 3
            if peek == "\n" { i += 1; line += 1 } else if peek == "\r", i + 1 < s.count, s[i + 1] == "\n" { i += 2; line += 1 }
            var out = String.UnicodeScalarView()
            while true {
                guard let c = peek else { throw fail("unterminated multi-line string") }
                if c == q && i + 2 < s.count + 0 && s[i + 1] == q && s[i + 2] == q {
                    i += 3
                    return String(out)
                }
                i += 1
                if c == "\n" { line += 1 }
                if c == "\\" && !literal {
                    if let n = peek, n == "\n" || n == " " || n == "\r" {
                        while let w = peek, w == " " || w == "\t" || w == "\n" || w == "\r" { if w == "\n" { line += 1 }; i += 1 }
                        continue
                    }
                    out.append(try escape())
                } else {
                    out.append(c)
                }
            }
        }

        /// Sets `path` (a dotted key, relative to `t`) to `v`, making the tables on the way.
        static func insert(_ t: inout TOMLTable, _ path: ArraySlice<String>, _ v: TOMLValue, line: Int) throws(TOMLError) {
            guard let first = path.first else { return }
            if path.count == 1 {
                guard t.values[first] == nil else { throw TOMLError(line: line, message: "key \(first) is defined twice") }
                t.values[first] = v
                t.lines[first] = line
                return
            }
            if let existing = t.values[first], existing.table == nil { throw TOMLError(line: line, message: "\(first) is not a table") }
            var sub = t.values[first]?.table ?? TOMLTable(line: line)
            try insert(&sub, path.dropFirst(), v, line: line)
            if t.lines[first] == nil { t.lines[first] = line }
            t.values[first] = .table(sub)
        }

        mutating func assign(_ path: [String], _ v: TOMLValue, line: Int) throws(TOMLError) {
            guard path.count <= TOML.maxDepth else { throw TOMLError(line: line, message: "a key of more than \(TOML.maxDepth) parts") }
            try Self.modify(&root, path.dropLast(), line: line) { (t: inout TOMLTable) throws(TOMLError) in
                try Self.insert(&t, path.suffix(1), v, line: line)
            }
        }

        /// `[path]`: the table (made if needed) takes the header's line.
        mutating func ensureTable(_ path: [String], line: Int) throws(TOMLError) {
            try Self.modify(&root, path[...], line: line) { (t: inout TOMLTable) throws(TOMLError) in t.line = line }
        }

        /// `[[path]]`: a new table at the end of the array, with the header's line.
        mutating func appendTable(_ path: [String], line: Int) throws(TOMLError) {
            try Self.modify(&root, path.dropLast(), line: line) { (t: inout TOMLTable) throws(TOMLError) in
                let k = path.last!
                if let existing = t.values[k], existing.array == nil { throw TOMLError(line: line, message: "\(k) is not an array of tables") }
                var list = t.values[k]?.array ?? []
                list.append(.table(TOMLTable(line: line)))
                t.values[k] = .array(list)
                if t.lines[k] == nil { t.lines[k] = line }
            }
        }

        /// Walks to the table at `path` (creating tables; stepping into the last element of an
        /// array of tables) and lets `body` change it.
        static func modify(_ t: inout TOMLTable, _ path: ArraySlice<String>, line: Int, _ body: (inout TOMLTable) throws(TOMLError) -> Void) throws(TOMLError) {
            guard let first = path.first else { try body(&t); return }
            let rest = path.dropFirst()
            switch t.values[first] {
            case nil:
                var sub = TOMLTable(line: line)
                try modify(&sub, rest, line: line, body)
                t.values[first] = .table(sub)
                t.lines[first] = line
            case .table(var sub)?:
                try modify(&sub, rest, line: line, body)
                t.values[first] = .table(sub)
            case .array(var list)?:
                guard case .table(var last)? = list.last else { throw TOMLError(line: line, message: "\(first) is not a table") }
                try modify(&last, rest, line: line, body)
                list[list.count - 1] = .table(last)
                t.values[first] = .array(list)
            default:
                throw TOMLError(line: line, message: "\(first) is not a table")
            }
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(self.filter { $0 != "_" }) }
}
