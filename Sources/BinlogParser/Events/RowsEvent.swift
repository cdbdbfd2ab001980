/// One row image: a value per column in table order; columns the image does not carry are `.null`
/// and listed in `absent`.
public struct RowImage: Sendable, Hashable {
    public var values: [ColumnValue]
    /// 0-based indexes of columns missing from a partial (MINIMAL/NOBLOB) image.
    public var absent: [Int]
}

/// One changed row: a before image (UPDATE, DELETE) and/or an after image (INSERT, UPDATE).
public struct RowChange: Sendable, Hashable {
    public var before: RowImage?
    public var after: RowImage?
}

/// WRITE/UPDATE/DELETE_ROWS events, v1 (23–25), v2 (30–32), PARTIAL_UPDATE_ROWS (39) and MariaDB's
/// compressed forms (166–171).
///
/// ```
/// post-header: table_id u48 (u32 when short), flags u16, [v2: extra_len u16 (counts itself), extra]
/// body:        column_count lenenc, columns_present bitmap, [update: columns_present_after bitmap],
///              rows: (null bitmap over present columns, values)+; an update row is before then after
/// ```
/// The row images are decoded on demand with ``rows(selecting:)``, so a reader that only needs two
/// columns pays for two.
///
/// A final class, immutable once decoded: events are handed through several layers, and a
/// reference is cheaper to pass than the dozen fields it holds.
public final class RowsEvent: @unchecked Sendable {
    public enum Kind: String, Sendable {
        case write, update, delete
    }

    public let kind: Kind
    public let type: BinlogEventType
    public let tableID: UInt64
    public let flags: UInt16
    /// v2 extra data (NDB info, partition info), without its length field.
    public let extraData: [UInt8]
    public let columnCount: Int
    /// Columns present in the before image (UPDATE/DELETE) or the after image (WRITE).
    let columnsPresent: Bitmap
    /// Columns present in the after image of an UPDATE.
    let columnsPresentAfter: Bitmap?
    /// The table map this event refers to.
    public let table: TableMapEvent
    /// PARTIAL_UPDATE_ROWS_EVENT: after images may carry JSON diffs.
    public let isPartialUpdate: Bool
    /// The row images (decompressed for MariaDB's compressed events).
    let rowData: ArraySlice<UInt8>
    /// Absolute offset of `rowData`'s first byte, or nil when the data was decompressed.
    let rowDataOffset: UInt64?
    let eventStart: UInt64

    init(kind: Kind, type: BinlogEventType, tableID: UInt64, flags: UInt16, extraData: [UInt8], columnCount: Int,
        columnsPresent: Bitmap, columnsPresentAfter: Bitmap?, table: TableMapEvent, isPartialUpdate: Bool,
        rowData: ArraySlice<UInt8>, rowDataOffset: UInt64?, eventStart: UInt64) {
        self.kind = kind
        self.type = type
        self.tableID = tableID
        self.flags = flags
        self.extraData = extraData
        self.columnCount = columnCount
        self.columnsPresent = columnsPresent
        self.columnsPresentAfter = columnsPresentAfter
        self.table = table
        self.isPartialUpdate = isPartialUpdate
        self.rowData = rowData
        self.rowDataOffset = rowDataOffset
        self.eventStart = eventStart
    }

    /// `STMT_END_F`: the last rows event of its statement; table maps are dropped after it.
    public var isStatementEnd: Bool { flags & 0x0001 != 0 }

    /// Decodes every row. With `selecting`, only those columns are decoded; the others are skipped
    /// and come out as `.null` (they are not listed as absent).
    public func rows(selecting: [Int]? = nil) throws(BinlogDecodingError) -> [RowChange] {
        var wanted: [Bool]? = nil
        if let selecting {
            var w = [Bool](repeating: false, count: columnCount)
            for i in selecting where i >= 0 && i < columnCount { w[i] = true }
            wanted = w
        }
        do throws(BinlogDecodingError) {
            return try rowData.withBytes { raw throws(BinlogDecodingError) -> [RowChange] in
                var c = ByteCursor(raw, baseOffset: rowDataOffset ?? 0)
                var out: [RowChange] = []
                while !c.isAtEnd {
                    let start = c.position
                    switch kind {
                    case .write:
                        out.append(RowChange(before: nil, after: try image(&c, columnsPresent, wanted, after: true)))
                    case .delete:
                        out.append(RowChange(before: try image(&c, columnsPresent, wanted, after: false), after: nil))
                    case .update:
                        let before = try image(&c, columnsPresent, wanted, after: false)
                        let after = try image(&c, columnsPresentAfter ?? columnsPresent, wanted, after: true)
                        out.append(RowChange(before: before, after: after))
                    }
                    if c.position == start { throw c.fail(.invalidValue("a row image with no columns present"), "rows.columnsPresent") }
                }
                return out
            }
        } catch {
            var e = error
            e.eventType = type
            e.eventStart = eventStart
            if rowDataOffset == nil { e.field = "decompressed rows+\(e.byteOffset): " + e.field; e.byteOffset = eventStart }
            throw e
        }
    }

    /// Calls `body` with each row's before and after image, without building an array of rows;
    /// the images are reused between calls (copy them to keep them). Columns outside `selecting`
    /// are skipped and read as `.null`.
    public func forEachRow(selecting: [Int]? = nil, _ body: (RowImage?, RowImage?) throws(BinlogDecodingError) -> Void) throws(BinlogDecodingError) {
        var wanted: [Bool]? = nil
        if let selecting {
            var w = [Bool](repeating: false, count: columnCount)
            for i in selecting where i >= 0 && i < columnCount { w[i] = true }
            wanted = w
        }
        do throws(BinlogDecodingError) {
            try rowData.withBytes { raw throws(BinlogDecodingError) in
                var c = ByteCursor(raw, baseOffset: rowDataOffset ?? 0)
                var before = RowImage(values: [], absent: [])
                var after = RowImage(values: [], absent: [])
                while !c.isAtEnd {
                    let start = c.position
                    switch kind {
                    case .write:
                        try fill(&after, &c, columnsPresent, wanted, after: true)
                        try body(nil, after)
                    case .delete:
                        try fill(&before, &c, columnsPresent, wanted, after: false)
                        try body(before, nil)
                    case .update:
                        try fill(&before, &c, columnsPresent, wanted, after: false)
                        try fill(&after, &c, columnsPresentAfter ?? columnsPresent, wanted, after: true)
                        try body(before, after)
                    }
                    if c.position == start { throw c.fail(.invalidValue("a row image with no columns present"), "rows.columnsPresent") }
                }
            }
        } catch {
            var e = error
            e.eventType = type
            e.eventStart = eventStart
            if rowDataOffset == nil { e.field = "decompressed rows+\(e.byteOffset): " + e.field; e.byteOffset = eventStart }
            throw e
        }
    }

    private func fill(_ image: inout RowImage, _ c: inout ByteCursor, _ present: Bitmap, _ wanted: [Bool]?, after: Bool) throws(BinlogDecodingError) {
        image = try self.image(&c, present, wanted, after: after, reuse: &image)
    }

    private func image(_ c: inout ByteCursor, _ present: Bitmap, _ wanted: [Bool]?, after: Bool) throws(BinlogDecodingError) -> RowImage {
        var scratch = RowImage(values: [], absent: [])
        return try image(&c, present, wanted, after: after, reuse: &scratch)
    }

    private func image(_ c: inout ByteCursor, _ present: Bitmap, _ wanted: [Bool]?, after: Bool, reuse: inout RowImage) throws(BinlogDecodingError) -> RowImage {
        var partialJSON: Bitmap? = nil
        var jsonColumns: [Int] = []
        if isPartialUpdate && after {
            let options = try c.lengthEncoded("rows.valueOptions")
            if options & 1 != 0 {
                // One bit per JSON column of the whole table, LSB first.
                jsonColumns = table.columns.indices.filter { table.columns[$0].type == .json }
                partialJSON = try c.bitmap(jsonColumns.count, "rows.partialJSONBitmap")
            }
        }
        let columns = table.columns
        let presentCount = present.setCount
        let nulls = try c.bitmap(presentCount, "rows.nullBitmap")
        var values = reuse.values
        var absent = reuse.absent
        reuse = RowImage(values: [], absent: [])
        if values.count == columnCount {
            for i in 0..<columnCount { values[i] = .null }
        } else {
            values = [ColumnValue](repeating: .null, count: columnCount)
        }
        absent.removeAll(keepingCapacity: true)
        var k = 0
        var jsonIndex = 0
        for i in 0..<columnCount {
            guard present[i] else {
                absent.append(i)
                continue
            }
            let isNull = nulls[k]
            k += 1
            guard i < columns.count else {
                throw c.fail(.invalidValue("row has column \(i) but the table map has \(columns.count)"), "rows.column[\(i)]")
            }
            let col = columns[i]
            var isPartial = false
            if let partialJSON, col.type == .json {
                while jsonIndex < jsonColumns.count && jsonColumns[jsonIndex] < i { jsonIndex += 1 }
                isPartial = jsonIndex < jsonColumns.count && jsonColumns[jsonIndex] == i && partialJSON[jsonIndex]
            }
            if isNull { continue }
            if isPartial {
                values[i] = .jsonDiff(try decodeJSONDiff(&c, col))
            } else if wanted == nil || wanted![i] {
                values[i] = try ColumnDecoder.decode(&c, col, index: i)
            } else {
                try ColumnDecoder.skip(&c, col, index: i)
            }
        }
        return RowImage(values: values, absent: absent)
    }

    /// `Json_diff_vector` binary form: length u32, then (operation u8, path_len lenenc, path,
    /// [value_len lenenc, binary JSON])*.
    private func decodeJSONDiff(_ c: inout ByteCursor, _ col: ColumnInfo) throws(BinlogDecodingError) -> [JSONDiff] {
        let length = try c.checkedCount(UInt64(try c.u32("rows.jsonDiff.length")), unitSize: 1, "rows.jsonDiff")
        var d = try c.subCursor(length, "rows.jsonDiff")
        var diffs: [JSONDiff] = []
        while !d.isAtEnd {
            let code = try d.u8("jsonDiff.operation")
            guard let op = JSONDiff.Operation(rawValue: code) else {
                throw d.fail(.invalidValue("JSON diff operation \(code)"), "jsonDiff.operation")
            }
            let pathLength = try d.lengthEncodedCount("jsonDiff.pathLength")
            let path = try d.string(pathLength, "jsonDiff.path")
            var value: JSONValue? = nil
            if op != .remove {
                let valueLength = try d.lengthEncodedCount("jsonDiff.valueLength")
                let start = d.absoluteOffset
                value = try BinaryJSON.decode(try d.rawBytes(valueLength, "jsonDiff.value"), baseOffset: start)
            }
            diffs.append(JSONDiff(operation: op, path: path, value: value))
        }
        return diffs
    }
}
