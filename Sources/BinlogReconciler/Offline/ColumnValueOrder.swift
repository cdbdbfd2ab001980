import BinlogParser

/// Numeric keys sort numerically, everything else by its text.
enum ColumnValueOrder {
    static func number(_ v: ColumnValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        case .decimal(let s): return Double(s)
        case .float(let f): return Double(f)
        case .double(let d): return d
        case .year(let y): return Double(y)
        case .bit(let b): return Double(b)
        default: return nil
        }
    }

    static func less(_ a: ColumnValue, _ b: ColumnValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.uint(let x), .uint(let y)): return x < y
        case (.int(let x), .uint(let y)): return x < 0 || UInt64(x) < y
        case (.uint(let x), .int(let y)): return y >= 0 && x < UInt64(y)
        default: break
        }
        if let x = number(a), let y = number(b) { return x < y }
        if number(a) != nil { return true }
        if number(b) != nil { return false }
        return text(a) < text(b)
    }

    static func text(_ v: ColumnValue) -> String {
        var w = JSONWriter(capacity: 64)
        EventJSON.writeValue(v, into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
