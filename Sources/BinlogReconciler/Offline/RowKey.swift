import BinlogParser

/// The key of a watched row: one column value, or several for a composite key.
public enum RowKey: Hashable, Sendable, Comparable {
    case single(ColumnValue)
    case composite([ColumnValue])

    public static func < (a: RowKey, b: RowKey) -> Bool {
        switch (a, b) {
        case (.single(let x), .single(let y)): return ColumnValueOrder.less(x, y)
        case (.composite(let x), .composite(let y)):
            for (p, q) in zip(x, y) where p != q { return ColumnValueOrder.less(p, q) }
            return x.count < y.count
        case (.single, .composite): return true
        case (.composite, .single): return false
        }
    }

    public func writeJSON(into w: inout JSONWriter) {
        switch self {
        case .single(let v): EventJSON.writeValue(v, into: &w)
        case .composite(let vs):
            w.beginArray()
            for v in vs { EventJSON.writeValue(v, into: &w) }
            w.endArray()
        }
    }
}
