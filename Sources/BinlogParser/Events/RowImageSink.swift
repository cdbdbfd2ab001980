/// Where the one row-image loop of ``RowsEvent`` (`readPresentColumns`) puts each column: the loop
/// walks the present columns, their null bits and the partial JSON columns; the sink marks a
/// missing column, stores a JSON diff, and decodes or skips a value. Each sink gets its own
/// specialised copy of the loop (it is always inlined), so the row reader pays no dispatch.
protocol RowImageSink {
    associatedtype Target
    /// Column `i` is not in the image (MINIMAL/NOBLOB).
    func markAbsent(_ i: Int, in target: inout Target)
    /// Column `i` holds `value` (a partial JSON diff, already read from the image).
    func set(_ i: Int, _ value: consuming ColumnValue, in target: inout Target)
    /// Column `i` is next in `c`, not NULL: decode it into `target`, or skip it.
    func read(
        _ c: inout ByteCursor, _ codec: ColumnCodec, _ columns: UnsafeBufferPointer<ColumnInfo>, index i: Int, in target: inout Target
    ) throws(BinlogDecodingError)
}

/// ``RowsEvent/rows(selecting:)`` and ``RowsEvent/forEachRow(selecting:_:)``: a value per column in
/// a ``RowImage``; columns outside `wanted` (when given) are skipped and stay `.null`.
struct WantedColumns: RowImageSink {
    let wanted: [Bool]?

    @inline(__always) func markAbsent(_ i: Int, in image: inout RowImage) {
        image.absent.append(i)
    }

    @inline(__always) func set(_ i: Int, _ value: consuming ColumnValue, in image: inout RowImage) {
        image.values[i] = value
    }

    @inline(__always) func read(
        _ c: inout ByteCursor, _ codec: ColumnCodec, _ columns: UnsafeBufferPointer<ColumnInfo>, index i: Int, in image: inout RowImage
    ) throws(BinlogDecodingError) {
        if wanted == nil || wanted![i] {
            image.values[i] = try ColumnDecoder.decode(&c, codec, columns, index: i)
        } else {
            try ColumnDecoder.skip(&c, codec, columns, index: i)
        }
    }
}

/// ``RowsEvent/forEachRow(into:_:)``: only the selected columns, into their positions of
/// ``SelectedValues``; the others are skipped.
extension RowSelection.Layout: RowImageSink {
    @inline(__always) func markAbsent(_ i: Int, in out: inout SelectedValues) {
        let slot = slot(i)
        if slot >= 0 { out.markAbsent(slot) }
    }

    @inline(__always) func set(_ i: Int, _ value: consuming ColumnValue, in out: inout SelectedValues) {
        let slot = slot(i)
        if slot >= 0 { out.set(slot, value) }
    }

    @inline(__always) func read(
        _ c: inout ByteCursor, _ codec: ColumnCodec, _ columns: UnsafeBufferPointer<ColumnInfo>, index i: Int, in out: inout SelectedValues
    ) throws(BinlogDecodingError) {
        let slot = slot(i)
        if slot >= 0 {
            try out.read(&c, codec, columns, index: i, slot: slot)
        } else {
            try ColumnDecoder.skip(&c, codec, columns, index: i)
        }
    }
}
