import ReconcilerCore
internal import CMariaDB

/// One row of a streamed result (``SQLConnection/forEachRow(_:_:)``). Its bytes belong to the
/// library's buffer and are replaced by the next row: read what you need inside the closure.
package struct SQLRowView {
    let fields: MYSQL_ROW
    let lengths: UnsafeMutablePointer<UInt>
    let count: Int

    func isNull(_ i: Int) -> Bool { fields[i] == nil }

    /// The column as text; nil for SQL NULL.
    package func string(_ i: Int) -> String? {
        guard let p = fields[i] else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(lengths[i])), as: UTF8.self)
    }

    /// The column as a decimal integer, read from its bytes; nil for SQL NULL and for text that
    /// `Int64(_: String)` would not take (an optional sign and ASCII digits, within range).
    package func int64(_ i: Int) -> Int64? {
        guard let p = fields[i] else { return nil }
        let bytes = UnsafeRawBufferPointer(start: p, count: Int(lengths[i]))
        guard let first = bytes.first else { return nil }
        let negative = first == UInt8(ascii: "-")
        let digits = first == UInt8(ascii: "-") || first == UInt8(ascii: "+") ? bytes.dropFirst() : bytes[...]
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for b in digits {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            let d = Int64(b &- UInt8(ascii: "0"))
            // Accumulated as a negative number, so Int64.min is in range.
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            value = s
        }
        if negative { return value }
        return value == .min ? nil : -value
    }
}

extension SQLConnection {
    /// Runs one statement and hands its rows to `body` one at a time as they arrive from the
    /// server (`mysql_use_result`): nothing is buffered beyond the row in hand, so a table of any
    /// size is read in the memory its consumer keeps. Until the last row is read the session can
    /// run nothing else. If `body` throws, the rest of the result is read and discarded (by
    /// `mysql_free_result`) and the error rethrown.
    /// - Returns: the number of rows.
    @discardableResult
    package func forEachRow(_ sql: String, _ body: (SQLRowView) throws -> Void) throws -> Int {
        let h = try liveHandle()
        var text = sql
        let rc = text.withUTF8 { b in
            b.withMemoryRebound(to: CChar.self) { p in mysql_real_query(h, p.baseAddress, UInt(p.count)) }
        }
        if rc != 0 { throw SQLError(handle: h, context: "query: " + abbreviatedSQL(sql)) }
        guard let result = mysql_use_result(h) else {
            if mysql_field_count(h) == 0 { return 0 }
            throw SQLError(handle: h, context: "query: " + abbreviatedSQL(sql))
        }
        defer { mysql_free_result(result) }
        let n = Int(mysql_num_fields(result))
        var rows = 0
        while let row = mysql_fetch_row(result) {
            guard let lengths = mysql_fetch_lengths(result) else { break }
            try body(SQLRowView(fields: row, lengths: lengths, count: n))
            rows += 1
        }
        // NULL from mysql_fetch_row is the end of the rows or a broken stream.
        if mysql_errno(h) != 0 { throw SQLError(handle: h, context: "reading rows of: " + abbreviatedSQL(sql)) }
        return rows
    }
}
