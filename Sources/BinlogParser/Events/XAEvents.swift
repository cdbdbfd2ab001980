// MARK: - XA_PREPARE_LOG_EVENT

/// XA_PREPARE_LOG_EVENT (38): ends the first phase of an XA transaction (`XA PREPARE`), or the
/// whole of it for `XA COMMIT … ONE PHASE`. MySQL 5.7.7+ and MariaDB 10.5+ write the same body:
///
/// ```
/// [post-header: FDE post_header_len[37] bytes, 0 on every known server]
/// one_phase u8, format_id u32 (LE, a signed long in the servers), gtrid_length u32, bqual_length u32,
/// data [gtrid_length + bqual_length]   (gtrid, then bqual; each at most 64 bytes)
/// ```
///
/// MySQL: `libbinlogevents/src/control_events.cpp` `XA_prepare_event::XA_prepare_event`
/// (8.0+: `libs/mysql/binlog/event/control_events.cpp`); MariaDB: `sql/log_event.cc`
/// `XA_prepare_log_event::XA_prepare_log_event`. See docs/binlog-format.md.
public struct XAPrepareEvent: Sendable, Hashable {
    /// `XA COMMIT … ONE PHASE` (the transaction commits here) rather than `XA PREPARE`.
    public var onePhase: Bool
    /// The XID's format id (`long formatID`; -1 means the null XID).
    public var formatID: Int32
    /// Global transaction id, 0…64 bytes.
    public var gtrid: [UInt8]
    /// Branch qualifier, 0…64 bytes.
    public var bqual: [UInt8]

    /// MAXGTRIDSIZE / MAXBQUALSIZE in both servers.
    public static let maxPartSize = 64

    public init(onePhase: Bool, formatID: Int32, gtrid: [UInt8], bqual: [UInt8]) {
        self.onePhase = onePhase
        self.formatID = formatID
        self.gtrid = gtrid
        self.bqual = bqual
    }

    /// `X'<hex gtrid>',X'<hex bqual>',<formatID>`: the XID as the servers serialise it in
    /// `XA COMMIT`/`XA ROLLBACK` queries, and as ``MariaDBGTIDEvent/xid`` and
    /// ``XAStatement/parse(_:)`` give it, so the three compare equal.
    public var xid: String { xidString(formatID: UInt32(bitPattern: formatID), gtrid: gtrid, bqual: bqual) }

    static func decode(_ c: inout ByteCursor, postHeaderLength: Int) throws(BinlogDecodingError) -> XAPrepareEvent {
        try c.skip(postHeaderLength, "xaPrepare.postHeader")
        let onePhase = try c.u8("xaPrepare.onePhase")
        let format = try c.u32("xaPrepare.formatID")
        let g = try partLength(&c, "xaPrepare.gtridLength")
        let b = try partLength(&c, "xaPrepare.bqualLength")
        let gtrid = try c.bytes(g, "xaPrepare.gtrid")
        let bqual = try c.bytes(b, "xaPrepare.bqual")
        try c.expectEnd("xaPrepare")
        return XAPrepareEvent(onePhase: onePhase != 0, formatID: Int32(bitPattern: format), gtrid: gtrid, bqual: bqual)
    }

    /// A gtrid/bqual length: at most 64 (checked before anything is read or allocated).
    private static func partLength(_ c: inout ByteCursor, _ field: String) throws(BinlogDecodingError) -> Int {
        let start = c.position
        let n = try c.u32(field)
        guard n <= UInt32(maxPartSize) else {
            c.position = start
            throw c.fail(.invalidValue("\(n) > \(maxPartSize) (MAXGTRIDSIZE/MAXBQUALSIZE)"), field)
        }
        return Int(n)
    }
}

/// The one XID rendering: `X'<hex gtrid>',X'<hex bqual>',<format id>`, lower-case hex, the format
/// id as the unsigned 32-bit value on the wire (what mysqlbinlog and mariadb-binlog print).
func xidString(formatID: UInt32, gtrid: [UInt8], bqual: [UInt8]) -> String {
    "X'\(hexString(gtrid))',X'\(hexString(bqual))',\(formatID)"
}

// MARK: - XA statements

/// The verb of an XA statement that names an XID.
public enum XAVerb: String, Sendable, Hashable, CaseIterable {
    /// `XA START` / `XA BEGIN`.
    case start
    case end
    case prepare
    case commit
    case rollback
}

/// The XID of an `XA …` statement, as QUERY_EVENTs carry them.
///
/// Servers log `XA START X'6a31',X'',1`, `XA END …`, `XA COMMIT …` and `XA ROLLBACK …` with the
/// XID in hex; statements typed by hand use strings (`XA COMMIT 'j1'`, `'j1','b',3`).
public enum XAStatement {
    /// Parses `XA <verb> <xid> [modifiers]`.
    ///
    /// - `xid` is `gtrid [, bqual [, format_id]]`; gtrid and bqual are `'…'`/`"…"` strings,
    ///   `X'hex'` or `0xhex`, at most 64 bytes each; bqual defaults to empty, format_id to 1.
    ///   The format id is taken modulo 2^32 (MySQL writes -1 as `18446744073709551615`), so every
    ///   spelling of one XID gives one string.
    /// - Modifiers: `ONE PHASE` after `COMMIT` (reported as `onePhase`), `JOIN`/`RESUME` after
    ///   `START`, `SUSPEND [FOR MIGRATE]` after `END`. A trailing `;` is allowed.
    /// - Returns: the verb, the XID as ``XAPrepareEvent/xid`` renders it, and the ONE PHASE flag;
    ///   nil for anything else (`XA RECOVER`, other statements, malformed text).
    public static func parse(_ text: String) -> (verb: XAVerb, xid: String, onePhase: Bool)? {
        var s = XAScanner(Array(text.utf8))
        guard s.keyword("XA") else { return nil }
        let verb: XAVerb
        if s.keyword("START") || s.keyword("BEGIN") {
            verb = .start
        } else if s.keyword("END") {
            verb = .end
        } else if s.keyword("PREPARE") {
            verb = .prepare
        } else if s.keyword("COMMIT") {
            verb = .commit
        } else if s.keyword("ROLLBACK") {
            verb = .rollback
        } else {
            return nil
        }
        guard let gtrid = s.part() else { return nil }
        var bqual: [UInt8] = []
        var format: UInt32 = 1
        if s.punct(UInt8(ascii: ",")) {
            guard let b = s.part() else { return nil }
            bqual = b
            if s.punct(UInt8(ascii: ",")) {
                guard let f = s.formatID() else { return nil }
                format = f
            }
        }
        var onePhase = false
        switch verb {
        case .commit:
            if s.keyword("ONE") {
                guard s.keyword("PHASE") else { return nil }
                onePhase = true
            }
        case .start:
            _ = s.keyword("JOIN") || s.keyword("RESUME")
        case .end:
            if s.keyword("SUSPEND"), s.keyword("FOR") {
                guard s.keyword("MIGRATE") else { return nil }
            }
        case .prepare, .rollback:
            break
        }
        _ = s.punct(UInt8(ascii: ";"))
        guard s.atEnd() else { return nil }
        return (verb, xidString(formatID: format, gtrid: gtrid, bqual: bqual), onePhase)
    }
}

/// A small scanner over the UTF-8 of one statement; nothing in it can trap.
private struct XAScanner {
    let b: [UInt8]
    var i = 0

    init(_ b: [UInt8]) { self.b = b }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0a || b[i] == 0x0d { i += 1 }
    }

    func isWordByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f || c >= 0x80
    }

    /// A case-insensitive keyword, followed by a non-word byte.
    mutating func keyword(_ k: String) -> Bool {
        skipSpace()
        let k = Array(k.utf8)
        guard b.count - i >= k.count else { return false }
        for j in 0..<k.count where b[i + j] | 0x20 != k[j] | 0x20 { return false }
        if i + k.count < b.count, isWordByte(b[i + k.count]) { return false }
        i += k.count
        return true
    }

    mutating func punct(_ c: UInt8) -> Bool {
        skipSpace()
        guard i < b.count, b[i] == c else { return false }
        i += 1
        return true
    }

    mutating func atEnd() -> Bool {
        skipSpace()
        return i >= b.count
    }

    /// A gtrid or bqual: `'…'`, `"…"`, `X'hex'` or `0xhex`; at most 64 bytes.
    mutating func part() -> [UInt8]? {
        skipSpace()
        guard i < b.count else { return nil }
        let out: [UInt8]?
        let c = b[i]
        if (c == 0x58 || c == 0x78), i + 1 < b.count, b[i + 1] == 0x27 {  // X'…'
            i += 2
            let start = i
            while i < b.count, b[i] != 0x27 { i += 1 }
            guard i < b.count else { return nil }
            out = Self.hex(b[start..<i])
            i += 1
        } else if c == 0x30, i + 1 < b.count, b[i + 1] | 0x20 == 0x78 {  // 0x…
            i += 2
            let start = i
            while i < b.count, isWordByte(b[i]) { i += 1 }
            guard i > start else { return nil }
            out = Self.hex(b[start..<i])
        } else if c == 0x27 || c == 0x22 {
            out = quoted(c)
        } else {
            return nil
        }
        guard let out, out.count <= XAPrepareEvent.maxPartSize else { return nil }
        return out
    }

    /// A quoted string with SQL escapes: a doubled quote, or a backslash escape.
    private mutating func quoted(_ q: UInt8) -> [UInt8]? {
        i += 1
        var out: [UInt8] = []
        while i < b.count {
            let c = b[i]
            if c == q {
                if i + 1 < b.count, b[i + 1] == q {
                    out.append(q)
                    i += 2
                    continue
                }
                i += 1
                return out
            }
            if c == 0x5c, i + 1 < b.count {
                let e = b[i + 1]
                switch e {
                case 0x30: out.append(0)  // \0
                case 0x6e: out.append(0x0a)  // \n
                case 0x72: out.append(0x0d)  // \r
                case 0x74: out.append(0x09)  // \t
                case 0x62: out.append(0x08)  // \b
                case 0x5a: out.append(0x1a)  // \Z
                default: out.append(e)
                }
                i += 2
                continue
            }
            out.append(c)
            i += 1
        }
        return nil
    }

    /// An even number of hex digits.
    private static func hex(_ digits: ArraySlice<UInt8>) -> [UInt8]? {
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var hi: UInt8? = nil
        for d in digits {
            let v: UInt8
            switch d {
            case 0x30...0x39: v = d - 0x30
            case 0x41...0x46: v = d - 0x41 + 10
            case 0x61...0x66: v = d - 0x61 + 10
            default: return nil
            }
            if let h = hi {
                out.append(h << 4 | v)
                hi = nil
            } else {
                hi = v
            }
        }
        return out
    }

    /// A decimal format id, optionally signed, taken modulo 2^32.
    mutating func formatID() -> UInt32? {
        skipSpace()
        var negative = false
        if i < b.count, b[i] == 0x2d || b[i] == 0x2b {
            negative = b[i] == 0x2d
            i += 1
        }
        let start = i
        var v: UInt64 = 0
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
            // MySQL accepts up to an unsigned long; anything longer is not an XID it logged.
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(b[i] - 0x30))
            guard !o1, !o2 else { return nil }
            v = a
            i += 1
        }
        guard i > start, i >= b.count || !isWordByte(b[i]) else { return nil }
        let low = UInt32(truncatingIfNeeded: v)
        return negative ? 0 &- low : low
    }
}
