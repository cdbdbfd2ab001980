import BinlogParser

/// A position in the source's binary log: file name and byte offset.
public struct BinlogCoordinates: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var file: String
    public var position: UInt64

    public init(file: String, position: UInt64) {
        self.file = file
        self.position = position
    }

    /// Orders by file, then position. Files order by ``compareFileNames(_:_:)``: the base name, then
    /// the numeric extension as a number (`mysql-bin.999999` < `mysql-bin.1000000`; the sequence
    /// grows past its six zero-padded digits), so positions of different files compare correctly.
    public static func < (a: BinlogCoordinates, b: BinlogCoordinates) -> Bool {
        let files = compareFileNames(a.file, b.file)
        return files != 0 ? files < 0 : a.position < b.position
    }

    /// The order of binlog file names: by base name (the text before the last '.'), then by the
    /// numeric extension (the digits after it) as a number of any length; names without a numeric
    /// extension order by their whole text, before numbered names of the same base (`mysql-bin` <
    /// `mysql-bin.000001`). Numerically equal extensions (`a.01`, `a.1`) fall back to text order, so
    /// only equal names compare the same. A total order, consistent with `==`. Returns -1, 0 or 1.
    public static func compareFileNames(_ a: String, _ b: String) -> Int {
        let x = FileNameKey(a), y = FileNameKey(b)
        if x.base != y.base { return x.base < y.base ? -1 : 1 }
        switch (x.digits, y.digits) {
        case (nil, nil): break
        case (nil, _): return -1
        case (_, nil): return 1
        case (let p?, let q?):
            // Leading zeros stripped: a longer number is larger; equal lengths compare as text.
            if p.utf8.count != q.utf8.count { return p.utf8.count < q.utf8.count ? -1 : 1 }
            if p != q { return p < q ? -1 : 1 }
        }
        if a == b { return 0 }
        return a < b ? -1 : 1
    }

    /// Whether two file names are numbered files of one binlog series (same base name, numeric
    /// extensions): then ``compareFileNames(_:_:)`` is the order in which the server wrote them.
    public static func sameSeries(_ a: String, _ b: String) -> Bool {
        let x = FileNameKey(a), y = FileNameKey(b)
        return x.digits != nil && y.digits != nil && x.base == y.base
    }

    /// `mysql-bin.000042` → base `mysql-bin`, digits `42`; no numeric extension → base is the whole
    /// name, digits nil.
    private struct FileNameKey {
        var base: Substring
        var digits: Substring?

        init(_ name: String) {
            if let dot = name.lastIndex(of: "."), name.index(after: dot) != name.endIndex {
                let ext = name[name.index(after: dot)...]
                if ext.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }) {
                    base = name[..<dot]
                    digits = ext.drop { $0 == "0" }
                    return
                }
            }
            base = Substring(name)
            digits = nil
        }
    }

    public var description: String { "\(file):\(position)" }
}
