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
    /// Bytes of row images (after decompression, for MariaDB's compressed events).
    public var rowDataByteCount: Int { rowData.count }
    /// Absolute offset of `rowData`'s first byte, or nil when the data was decompressed.
    let rowDataOffset: UInt64?
    let eventStart: UInt64
    /// Columns present in the before (or only) image, and in the after image of an UPDATE.
    let presentCount: Int
    let presentAfterCount: Int

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
        presentCount = columnsPresent.setCount
        presentAfterCount = (columnsPresentAfter ?? columnsPresent).setCount
    }

    /// `STMT_END_F`: the last rows event of its statement; table maps are dropped after it.
    public var isStatementEnd: Bool { flags & 0x0001 != 0 }

    /// Decodes every row. With `selecting`, only those columns are decoded; the others are skipped
    /// and come out as `.null` (they are not listed as absent).
    public func rows(selecting: [Int]? = nil) throws(BinlogDecodingError) -> [RowChange] {
        let wanted = wantedMask(selecting)
        var out: [RowChange] = []
        try withRowData(at: 0) { (c, codecs, columns) throws(BinlogDecodingError) in
            while !c.isAtEnd {
                let start = c.position
                var before = RowImage(values: [], absent: [])
                var after = RowImage(values: [], absent: [])
                switch kind {
                case .write:
                    try readImage(&c, columnsPresent, presentCount, wanted, after: true, codecs, columns, into: &after)
                    out.append(RowChange(before: nil, after: after))
                case .delete:
                    try readImage(&c, columnsPresent, presentCount, wanted, after: false, codecs, columns, into: &before)
                    out.append(RowChange(before: before, after: nil))
                case .update:
                    try readImage(&c, columnsPresent, presentCount, wanted, after: false, codecs, columns, into: &before)
                    try readImage(&c, columnsPresentAfter ?? columnsPresent, presentAfterCount, wanted, after: true, codecs, columns, into: &after)
                    out.append(RowChange(before: before, after: after))
                }
                if c.position == start { throw c.fail(.invalidValue("a row image with no columns present"), "rows.columnsPresent") }
            }
        }
        return out
    }

    /// Calls `body` with each row's before and after image, without building an array of rows;
    /// the images are reused between calls (copy them to keep them). Columns outside `selecting`
    /// are skipped and read as `.null`.
    public func forEachRow(selecting: [Int]? = nil, _ body: (RowImage?, RowImage?) throws(BinlogDecodingError) -> Void) throws(BinlogDecodingError) {
        let wanted = wantedMask(selecting)
        try withRowData(at: 0) { (c, codecs, columns) throws(BinlogDecodingError) in
            var before = RowImage(values: [], absent: [])
            var after = RowImage(values: [], absent: [])
            while !c.isAtEnd {
                let start = c.position
                switch kind {
                case .write:
                    try readImage(&c, columnsPresent, presentCount, wanted, after: true, codecs, columns, into: &after)
                    try body(nil, after)
                case .delete:
                    try readImage(&c, columnsPresent, presentCount, wanted, after: false, codecs, columns, into: &before)
                    try body(before, nil)
                case .update:
                    try readImage(&c, columnsPresent, presentCount, wanted, after: false, codecs, columns, into: &before)
                    try readImage(&c, columnsPresentAfter ?? columnsPresent, presentAfterCount, wanted, after: true, codecs, columns, into: &after)
                    try body(before, after)
                }
                if c.position == start { throw c.fail(.invalidValue("a row image with no columns present"), "rows.columnsPresent") }
            }
        }
    }

    /// Decodes the selected columns of each row into `selection` (`before` for UPDATE and DELETE,
    /// `after` for WRITE and UPDATE) and calls `body` with it. Only the selected columns are
    /// decoded, integers without building a ``ColumnValue``; nothing is allocated per row. (`body`
    /// gets the selection `inout` only so that it is not copied: the next row overwrites it.)
    public func forEachRow(into selection: inout RowSelection, _ body: (inout RowSelection) throws(BinlogDecodingError) -> Void) throws(BinlogDecodingError) {
        let layout = selection.layout
        let beyond = layout.beyond(columnCount)
        try withRowData(at: 0) { (c, codecs, columns) throws(BinlogDecodingError) in
            while !c.isAtEnd {
                let start = c.position
                switch kind {
                case .write:
                    try readSelected(&c, columnsPresent, presentCount, after: true, layout, beyond, codecs, columns, into: &selection.after)
                case .delete:
                    try readSelected(&c, columnsPresent, presentCount, after: false, layout, beyond, codecs, columns, into: &selection.before)
                case .update:
                    try readSelected(&c, columnsPresent, presentCount, after: false, layout, beyond, codecs, columns, into: &selection.before)
                    try readSelected(&c, columnsPresentAfter ?? columnsPresent, presentAfterCount, after: true, layout, beyond, codecs, columns, into: &selection.after)
                }
                try body(&selection)
                if c.position == start { throw c.fail(.invalidValue("a row image with no columns present"), "rows.columnsPresent") }
            }
        }
    }

    private func wantedMask(_ selecting: [Int]?) -> [Bool]? {
        guard let selecting else { return nil }
        var w = [Bool](repeating: false, count: columnCount)
        for i in selecting where i >= 0 && i < columnCount { w[i] = true }
        return w
    }

    /// Runs `body` with a cursor over the row data at `position`, the table's codecs and columns.
    /// Errors (the body's too) get the event's type and start, and for decompressed data the
    /// offset inside it.
    fileprivate func withRowData(at position: Int, _ body: (inout ByteCursor, UnsafeBufferPointer<ColumnCodec>, UnsafeBufferPointer<ColumnInfo>) throws(BinlogDecodingError) -> Void) throws(BinlogDecodingError) {
        var failure: BinlogDecodingError? = nil
        // `table` (which owns these buffers) is held by this event for as long as it lives.
        let codecs = table.codecs
        let columns = table.columnBuffer
        rowData.withUnsafeBytes { raw in
            var c = ByteCursor(raw, baseOffset: rowDataOffset ?? 0)
            c.position = position
            do throws(BinlogDecodingError) {
                try body(&c, codecs, columns)
            } catch {
                failure = error
            }
        }
        if var e = failure {
            e.eventType = type
            e.eventStart = eventStart
            if rowDataOffset == nil { e.field = "decompressed rows+\(e.byteOffset): " + e.field; e.byteOffset = eventStart }
            throw e
        }
    }

    /// PARTIAL_UPDATE_ROWS after images start with value options and, when bit 0 is set, a bitmap
    /// over the table's JSON columns: the columns whose value is a diff.
    private struct PartialJSON {
        var bits: Bitmap
        var jsonColumns: [Int]
    }

    private func partialJSONPrelude(_ c: inout ByteCursor) throws(BinlogDecodingError) -> PartialJSON? {
        let options = try c.lengthEncoded("rows.valueOptions")
        guard options & 1 != 0 else { return nil }
        // One bit per JSON column of the whole table, LSB first.
        let jsonColumns = table.columns.indices.filter { table.columns[$0].type == .json }
        return PartialJSON(bits: try c.bitmap(jsonColumns.count, "rows.partialJSONBitmap"), jsonColumns: jsonColumns)
    }

    @inline(__always)
    private static func isNull(_ nulls: UnsafeRawBufferPointer, _ k: Int) -> Bool {
        let byte = k >> 3
        return byte < nulls.count && (nulls[byte] >> UInt8(k & 7)) & 1 == 1
    }

    /// One row image into `image`: a value per column (`.null` for NULL, skipped and absent
    /// columns), absent columns listed.
    private func readImage(
        _ c: inout ByteCursor, _ present: Bitmap, _ presentCount: Int, _ wanted: [Bool]?, after: Bool,
        _ codecs: UnsafeBufferPointer<ColumnCodec>, _ columns: UnsafeBufferPointer<ColumnInfo>, into image: inout RowImage
    ) throws(BinlogDecodingError) {
        let partial = isPartialUpdate && after ? try partialJSONPrelude(&c) : nil
        let nulls = try c.rawBytes((presentCount + 7) / 8, "rows.nullBitmap")
        if image.values.count == columnCount {
            for i in 0..<columnCount { image.values[i] = .null }
        } else {
            image.values = [ColumnValue](repeating: .null, count: columnCount)
        }
        image.absent.removeAll(keepingCapacity: true)
        try readPresentColumns(
            &c, present, nulls, partial, codecs, columns,
            absent: { i in image.absent.append(i) },
            diff: { i, diff in image.values[i] = diff },
            value: { (c, codec, i) throws(BinlogDecodingError) in
                if wanted == nil || wanted![i] {
                    image.values[i] = try ColumnDecoder.decode(&c, codec, columns, index: i)
                } else {
                    try ColumnDecoder.skip(&c, codec, columns, index: i)
                }
            })
    }

    /// One row image into `out`: only the selected columns are decoded. `beyond`: positions of
    /// the selection past this event's columns.
    fileprivate func readSelected(
        _ c: inout ByteCursor, _ present: Bitmap, _ presentCount: Int, after: Bool, _ selection: RowSelection.Layout, _ beyond: UInt64,
        _ codecs: UnsafeBufferPointer<ColumnCodec>, _ columns: UnsafeBufferPointer<ColumnInfo>, into out: inout SelectedValues
    ) throws(BinlogDecodingError) {
        let partial = isPartialUpdate && after ? try partialJSONPrelude(&c) : nil
        let nulls = try c.rawBytes((presentCount + 7) / 8, "rows.nullBitmap")
        out.reset(absent: beyond)
        if partial == nil && presentCount == columnCount && columnCount <= columns.count && columnCount <= codecs.count {
            // Every column present (FULL images): the null bit of column i is bit i.
            for i in 0..<columnCount {
                if Self.isNull(nulls, i) { continue }
                let slot = selection.slot(i)
                if slot >= 0 {
                    try readValue(&c, codecs[i], columns, index: i, into: &out, slot)
                } else {
                    try ColumnDecoder.skip(&c, codecs[i], columns, index: i)
                }
            }
        } else {
            try readPresentColumns(
                &c, present, nulls, partial, codecs, columns,
                absent: { i in
                    let slot = selection.slot(i)
                    if slot >= 0 { out.markAbsent(slot) }
                },
                diff: { i, diff in
                    let slot = selection.slot(i)
                    if slot >= 0 { out.set(slot, diff) }
                },
                value: { (c, codec, i) throws(BinlogDecodingError) in
                    let slot = selection.slot(i)
                    if slot >= 0 {
                        try readValue(&c, codec, columns, index: i, into: &out, slot)
                    } else {
                        try ColumnDecoder.skip(&c, codec, columns, index: i)
                    }
                })
        }
        selection.copyDuplicates(into: &out)
    }

    /// The one loop over the columns of a row image (MINIMAL/NOBLOB images, partial JSON, and
    /// anything ``readSelected`` does not take its all-present fast path for): walks the present
    /// columns and their null bits, finds the partial JSON columns, and hands each column on:
    /// `absent` for a column the image does not carry, `diff` for a partial JSON value (already
    /// read), `value` to decode or skip a non-NULL value at `c`. Always inlined, so each caller's
    /// closures are inlined into its own copy of the loop.
    @inline(__always)
    private func readPresentColumns(
        _ c: inout ByteCursor, _ present: Bitmap, _ nulls: UnsafeRawBufferPointer, _ partial: PartialJSON?,
        _ codecs: UnsafeBufferPointer<ColumnCodec>, _ columns: UnsafeBufferPointer<ColumnInfo>,
        absent: (Int) -> Void, diff: (Int, ColumnValue) -> Void,
        value: (inout ByteCursor, ColumnCodec, Int) throws(BinlogDecodingError) -> Void
    ) throws(BinlogDecodingError) {
        var k = 0
        var jsonIndex = 0
        for i in 0..<columnCount {
            guard present[i] else {
                absent(i)
                continue
            }
            let isNull = Self.isNull(nulls, k)
            k += 1
            guard i < columns.count, i < codecs.count else {
                throw c.fail(.invalidValue("row has column \(i) but the table map has \(columns.count)"), "rows.column[\(i)]")
            }
            let codec = codecs[i]
            var isPartial = false
            if let partial, codec.isJSON {
                while jsonIndex < partial.jsonColumns.count && partial.jsonColumns[jsonIndex] < i { jsonIndex += 1 }
                isPartial = jsonIndex < partial.jsonColumns.count && partial.jsonColumns[jsonIndex] == i && partial.bits[jsonIndex]
            }
            if isNull { continue }
            if isPartial {
                diff(i, .jsonDiff(try decodeJSONDiff(&c)))
            } else {
                try value(&c, codec, i)
            }
        }
    }

    /// Decodes one value into `out[slot]`; integers as they are, without a ``ColumnValue``.
    @inline(__always)
    private func readValue(
        _ c: inout ByteCursor, _ codec: ColumnCodec, _ columns: UnsafeBufferPointer<ColumnInfo>, index i: Int,
        into out: inout SelectedValues, _ slot: Int
    ) throws(BinlogDecodingError) {
        let width = Int(codec.integerWidth)
        if width != 0 {
            out.setInteger(slot, try c.uint(width, "value"), width: width, unsigned: codec.unsigned)
        } else {
            out.set(slot, try ColumnDecoder.decode(&c, columns.baseAddress! + i, index: i))
        }
    }

    /// `Json_diff_vector` binary form: length u32, then (operation u8, path_len lenenc, path,
    /// [value_len lenenc, binary JSON])*.
    private func decodeJSONDiff(_ c: inout ByteCursor) throws(BinlogDecodingError) -> [JSONDiff] {
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
