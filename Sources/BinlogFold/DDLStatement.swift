/// A table as a statement names it, resolved with the statement's default database.
public struct TableIdentity: Hashable, Sendable, CustomStringConvertible {
    public var database: String
    public var table: String
    public init(database: String, table: String) {
        self.database = database
        self.table = table
    }
    public var description: String { "\(database).\(table)" }
}

/// What a DDL statement in the binlog does to tables' rows and columns, read from its text.
///
/// Only the statement forms that change which rows a table holds, or its columns, are read:
/// `TRUNCATE`, `DROP TABLE`, `DROP DATABASE`, `RENAME TABLE`, `ALTER TABLE` (with its `RENAME`
/// and partition clauses), `CREATE [OR REPLACE] TABLE`, `CREATE/DROP INDEX … ON`. Identifiers are
/// read as the server does (backticks with doubled backticks inside, double quotes, unquoted
/// words, `db.table`), comments are skipped (the contents of `/*! … */` version comments are
/// read), and an unqualified table belongs to the statement's default database. Names are
/// compared exactly (byte for byte): on the usual `lower_case_table_names=0`, `Products` is
/// another table than `products`.
public enum DDLEffect: Hashable, Sendable {
    /// All rows removed; the table still exists.
    case truncate(TableIdentity)
    /// The table is gone.
    case drop(TableIdentity)
    /// Every table of the database is gone.
    case dropDatabase(String)
    /// The table now has another name (its rows go with it).
    case rename(from: TableIdentity, to: TableIdentity)
    /// Columns or indexes may have changed; rows are kept.
    case alter(TableIdentity)
    /// A table was created; with `replace`, one of that name was dropped first (`CREATE OR REPLACE`).
    case create(TableIdentity, replace: Bool)
    /// Rows changed in a way the binlog does not log row by row (partition DROP / TRUNCATE /
    /// EXCHANGE): the table's contents are unknown.
    case contentsUnknown(TableIdentity)
}

/// What a DDL statement's effects mean for one table (see ``DDLStatement/outcome(of:for:inDatabase:)``).
public struct DDLOutcome: Sendable, Equatable {
    /// Its rows are gone: TRUNCATE, DROP TABLE, DROP DATABASE of its database, CREATE OR REPLACE,
    /// or a rename away from its name.
    public var removesRows = false
    /// Why its rows are no longer what the binlog describes, if they are not (a table renamed
    /// onto it, a partition or tablespace operation that removed or swapped rows unlogged).
    public var contentsUnknown: String?
}

public enum DDLStatement {
    /// A cheap filter run on every statement: false when `sql` cannot be one of the forms
    /// ``effects(of:defaultDatabase:)`` reads.
    public static func mayChangeTables(_ sql: String) -> Bool {
        let upper = sql.prefix(64).uppercased()
        return upper.contains("ALTER") || upper.contains("DROP") || upper.contains("RENAME") || upper.contains("TRUNCATE") || upper.contains("CREATE")
    }

    /// One set of rules for the live tail and `analyze`: what `effects` mean for the table that
    /// `matches` accepts (in a database that `inDatabase` accepts).
    public static func outcome(of effects: [DDLEffect], for matches: (TableIdentity) -> Bool, inDatabase: (String) -> Bool) -> DDLOutcome {
        var o = DDLOutcome()
        for e in effects {
            switch e {
            case .truncate(let t), .drop(let t):
                o.removesRows = o.removesRows || matches(t)
            case .create(let t, let replace):
                o.removesRows = o.removesRows || (replace && matches(t))
            case .dropDatabase(let d):
                o.removesRows = o.removesRows || inDatabase(d)
            case .rename(let from, let to):
                o.removesRows = o.removesRows || matches(from)
                if matches(to) { o.contentsUnknown = "a table was renamed onto it (\(from) → \(to)): its rows are not in the binlog" }
            case .contentsUnknown(let t):
                if matches(t) { o.contentsUnknown = "a partition or tablespace operation changed its rows without logging them" }
            case .alter:
                break
            }
        }
        return o
    }

    /// Every table `effects` name (for the letter-case warning).
    public static func tables(in effects: [DDLEffect]) -> [TableIdentity] {
        effects.flatMap { e -> [TableIdentity] in
            switch e {
            case .truncate(let t), .drop(let t), .alter(let t), .create(let t, _), .contentsUnknown(let t): return [t]
            case .rename(let a, let b): return [a, b]
            case .dropDatabase: return []
            }
        }
    }

    /// The effects of `sql`: `[]` for a statement that changes no table's rows or columns (DML
    /// logged as a statement, `DROP VIEW`, `CREATE USER` …), nil for a table DDL whose targets
    /// cannot be read (the caller logs it and does not act on it).
    public static func effects(of sql: String, defaultDatabase: String) -> [DDLEffect]? {
        var p = Parser(tokens: tokenize(sql), defaultDatabase: defaultDatabase)
        return p.statement()
    }

    enum Token: Equatable {
        /// An unquoted word (keyword or identifier), as written.
        case word(String)
        /// A quoted identifier, unquoted.
        case quoted(String)
        case string
        case punct(Character)
    }

    static func tokenize(_ sql: String) -> [Token] {
        var out: [Token] = []
        let c = Array(sql.unicodeScalars)
        var i = 0
        func isWordChar(_ u: Unicode.Scalar) -> Bool {
            (u >= "a" && u <= "z") || (u >= "A" && u <= "Z") || (u >= "0" && u <= "9") || u == "_" || u == "$" || u.value >= 0x80
        }
        while i < c.count {
            let u = c[i]
            if u == " " || u == "\t" || u == "\n" || u == "\r" { i += 1; continue }
            if u == "/" && i + 1 < c.count && c[i + 1] == "*" {
                // `/*!50100 … */` and `/*M!100100 … */` are code for the server: skip the marker
                // and read on; the closing `*/` is skipped where it appears.
                var j = i + 2
                if j < c.count && c[j] == "M" && j + 1 < c.count && c[j + 1] == "!" { j += 1 }
                if j < c.count && c[j] == "!" {
                    j += 1
                    while j < c.count && c[j] >= "0" && c[j] <= "9" { j += 1 }
                    i = j
                    continue
                }
                var k = i + 2
                while k + 1 < c.count && !(c[k] == "*" && c[k + 1] == "/") { k += 1 }
                i = k + 2
                continue
            }
            if u == "*" && i + 1 < c.count && c[i + 1] == "/" { i += 2; continue }
            if u == "#" || (u == "-" && i + 2 < c.count && c[i + 1] == "-" && (c[i + 2] == " " || c[i + 2] == "\t" || c[i + 2] == "\n")) {
                while i < c.count && c[i] != "\n" { i += 1 }
                continue
            }
            if u == "`" || u == "\"" {
                var s = String.UnicodeScalarView()
                var j = i + 1
                while j < c.count {
                    if c[j] == u {
                        if j + 1 < c.count && c[j + 1] == u { s.append(u); j += 2; continue }
                        break
                    }
                    s.append(c[j])
                    j += 1
                }
                out.append(.quoted(String(s)))
                i = j + 1
                continue
            }
            if u == "'" {
                var j = i + 1
                while j < c.count {
                    if c[j] == "\\" { j += 2; continue }
                    if c[j] == "'" {
                        if j + 1 < c.count && c[j + 1] == "'" { j += 2; continue }
                        break
                    }
                    j += 1
                }
                out.append(.string)
                i = j + 1
                continue
            }
            if isWordChar(u) {
                var s = String.UnicodeScalarView()
                var j = i
                while j < c.count && isWordChar(c[j]) { s.append(c[j]); j += 1 }
                out.append(.word(String(s)))
                i = j
                continue
            }
            out.append(.punct(Character(u)))
            i += 1
        }
        return out
    }

    struct Parser {
        let tokens: [Token]
        let defaultDatabase: String
        var i = 0

        init(tokens: [Token], defaultDatabase: String) {
            self.tokens = tokens
            self.defaultDatabase = defaultDatabase
        }

        var peek: Token? { i < tokens.count ? tokens[i] : nil }

        func isKeyword(_ t: Token?, _ words: String...) -> Bool {
            guard case .word(let w)? = t else { return false }
            let u = w.uppercased()
            return words.contains(u)
        }

        mutating func accept(_ words: String...) -> Bool {
            guard case .word(let w)? = peek, words.contains(w.uppercased()) else { return false }
            i += 1
            return true
        }

        mutating func identifier() -> String? {
            switch peek {
            case .word(let w)?: i += 1; return w
            case .quoted(let q)?: i += 1; return q
            default: return nil
            }
        }

        /// `name` or `db.name`, resolved with the default database; nil when unreadable (or
        /// unqualified without a default database).
        mutating func tableName() -> TableIdentity? {
            guard let first = identifier() else { return nil }
            if peek == .punct(".") {
                i += 1
                guard let second = identifier() else { return nil }
                return TableIdentity(database: first, table: second)
            }
            guard !defaultDatabase.isEmpty else { return nil }
            return TableIdentity(database: defaultDatabase, table: first)
        }

        mutating func statement() -> [DDLEffect]? {
            if accept("TRUNCATE") {
                _ = accept("TABLE")
                return tableName().map { [.truncate($0)] }
            }
            if accept("DROP") {
                if accept("TEMPORARY") {
                    // A temporary table shadows a real one in its session only.
                    return []
                }
                if accept("TABLE", "TABLES") {
                    if accept("IF") { guard accept("EXISTS") else { return nil } }
                    var out: [DDLEffect] = []
                    repeat {
                        guard let t = tableName() else { return nil }
                        out.append(.drop(t))
                    } while consumeComma()
                    return out
                }
                if accept("DATABASE", "SCHEMA") {
                    if accept("IF") { guard accept("EXISTS") else { return nil } }
                    return identifier().map { [.dropDatabase($0)] }
                }
                if accept("INDEX") {
                    _ = accept("ONLINE", "OFFLINE")
                    if accept("IF") { guard accept("EXISTS") else { return nil } }
                    guard identifier() != nil, accept("ON") else { return nil }
                    return tableName().map { [.alter($0)] }
                }
                return []
            }
            if accept("RENAME") {
                guard accept("TABLE", "TABLES") else { return [] }
                var out: [DDLEffect] = []
                repeat {
                    if accept("IF") { guard accept("EXISTS") else { return nil } }
                    guard let from = tableName() else { return nil }
                    _ = waitClause()
                    guard accept("TO"), let to = tableName() else { return nil }
                    out.append(.rename(from: from, to: to))
                } while consumeComma()
                return out
            }
            if accept("ALTER") {
                _ = accept("ONLINE", "OFFLINE")
                _ = accept("IGNORE")
                guard accept("TABLE") else { return [] }
                if accept("IF") { guard accept("EXISTS") else { return nil } }
                guard let t = tableName() else { return nil }
                var out: [DDLEffect] = [.alter(t)]
                // Top-level clauses: RENAME [TO|AS] name (not RENAME COLUMN/INDEX/KEY), and the
                // partition operations that remove or swap rows without logging them.
                var depth = 0
                while let tok = peek {
                    switch tok {
                    case .punct("("): depth += 1; i += 1
                    case .punct(")"): depth -= 1; i += 1
                    default:
                        if depth == 0 && isKeyword(tok, "RENAME") {
                            i += 1
                            if isKeyword(peek, "COLUMN", "INDEX", "KEY") { i += 1; continue }
                            _ = accept("TO", "AS")
                            guard let to = tableName() else { return nil }
                            out.append(.rename(from: t, to: to))
                        } else if depth == 0 && isKeyword(tok, "DROP", "TRUNCATE", "EXCHANGE", "DISCARD", "IMPORT") {
                            i += 1
                            if isKeyword(peek, "PARTITION", "TABLESPACE") {
                                if !out.contains(.contentsUnknown(t)) { out.append(.contentsUnknown(t)) }
                                if isKeyword(tok, "EXCHANGE") {
                                    // … EXCHANGE PARTITION p WITH TABLE other: both tables change.
                                    while let n = peek, !isKeyword(n, "TABLE") { i += 1 }
                                    if accept("TABLE"), let other = tableName() { out.append(.contentsUnknown(other)) }
                                }
                            }
                        } else {
                            i += 1
                        }
                    }
                }
                return out
            }
            if accept("CREATE") {
                var replace = false
                if accept("OR") {
                    guard accept("REPLACE") else { return nil }
                    replace = true
                }
                if accept("TEMPORARY") { return [] }
                _ = accept("UNIQUE", "FULLTEXT", "SPATIAL")
                if accept("INDEX") {
                    _ = accept("IF") && accept("NOT") && accept("EXISTS")
                    guard identifier() != nil else { return nil }
                    while let tok = peek, !isKeyword(tok, "ON") { i += 1 }
                    guard accept("ON") else { return nil }
                    return tableName().map { [.alter($0)] }
                }
                guard accept("TABLE") else { return [] }
                if accept("IF") { guard accept("NOT"), accept("EXISTS") else { return nil } }
                return tableName().map { [.create($0, replace: replace)] }
            }
            return []
        }

        mutating func consumeComma() -> Bool {
            if peek == .punct(",") { i += 1; return true }
            return false
        }

        /// MariaDB's `WAIT n` / `NOWAIT` after a table name in RENAME.
        mutating func waitClause() -> Bool {
            if accept("NOWAIT") { return true }
            if accept("WAIT") { i += 1; return true }
            return false
        }
    }
}
