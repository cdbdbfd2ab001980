/// Decodes (or skips) one column value of a row image.
enum ColumnDecoder {
    /// The column is read in place (`col.pointee.field`): copying a ``ColumnInfo`` for every value
    /// retains and releases its names and member lists, which cost several % of a replication tail.
    static func decode(_ c: inout ByteCursor, _ col: UnsafePointer<ColumnInfo>, index: Int) throws(BinlogDecodingError) -> ColumnValue {
        switch col.pointee.realType.rawValue {
        case 1:  // TINY
            let v = try c.u8("value")
            return col.pointee.unsigned ? .uint(UInt64(v)) : .int(Int64(Int8(bitPattern: v)))
        case 2:  // SHORT
            let v = try c.u16("value")
            return col.pointee.unsigned ? .uint(UInt64(v)) : .int(Int64(Int16(bitPattern: v)))
        case 9:  // INT24
            let v = try c.uint(3, "value")
            return col.pointee.unsigned ? .uint(v) : .int(Int64(Int32(bitPattern: UInt32(v << 8)) >> 8))
        case 3:  // LONG
            let v = try c.u32("value")
            return col.pointee.unsigned ? .uint(UInt64(v)) : .int(Int64(Int32(bitPattern: v)))
        case 8:  // LONGLONG
            let v = try c.u64("value")
            return col.pointee.unsigned ? .uint(v) : .int(Int64(bitPattern: v))
        case 4:  // FLOAT
            return .float(Float(bitPattern: try c.u32("value")))
        case 5:  // DOUBLE
            return .double(Double(bitPattern: try c.u64("value")))
        case 246:  // NEWDECIMAL
            return .decimal(try Decimal.decode(&c, precision: Int(col.pointee.meta0), scale: Int(col.pointee.meta1)))
        case 13:  // YEAR
            let v = Int(try c.u8("value"))
            return .year(v == 0 ? 0 : 1900 + v)
        case 10, 14:  // DATE, NEWDATE
            let v = try c.uint(3, "value")
            return .date(MySQLDate(year: Int(v >> 9), month: Int((v >> 5) & 15), day: Int(v & 31)))
        case 11:  // TIME (old): HHMMSS as a signed 3-byte integer
            let raw = Int64(Int32(bitPattern: UInt32(try c.uint(3, "value") << 8)) >> 8)
            let v = abs(raw)
            return .time(MySQLTime(negative: raw < 0, hours: Int(v / 10000), minutes: Int(v / 100 % 100), seconds: Int(v % 100), microseconds: 0, precision: 0))
        case 19:  // TIME2
            return .time(try Temporal.time2(&c, fsp: Int(col.pointee.meta0)))
        case 12:  // DATETIME (old): YYYYMMDDHHMMSS as an integer
            let v = try c.u64("value")
            let d = v / 1_000_000, t = v % 1_000_000
            return .datetime(MySQLDateTime(year: Int(d / 10000), month: Int(d / 100 % 100), day: Int(d % 100), hour: Int(t / 10000), minute: Int(t / 100 % 100), second: Int(t % 100), microseconds: 0, precision: 0))
        case 18:  // DATETIME2
            return .datetime(try Temporal.datetime2(&c, fsp: Int(col.pointee.meta0)))
        case 7:  // TIMESTAMP (old)
            return .timestamp(seconds: try c.u32("value"), microseconds: 0, precision: 0)
        case 17:  // TIMESTAMP2
            let seconds = UInt32(try c.uintBE(4, "value"))
            let fsp = Int(col.pointee.meta0)
            return .timestamp(seconds: seconds, microseconds: try Temporal.readFraction(&c, fsp: fsp), precision: fsp)
        case 15, 253:  // VARCHAR, VAR_STRING
            let n = Int(try c.uint(col.pointee.lengthBytes, "value.length"))
            return text(try c.rawBytes(n, "value"), col.pointee.collation)
        case 254:  // STRING (CHAR, BINARY)
            let n = Int(try c.uint(col.pointee.lengthBytes, "value.length"))
            return text(try c.rawBytes(n, "value"), col.pointee.collation)
        case 247:  // ENUM
            let width = col.pointee.fieldLength
            guard width == 1 || width == 2 else { throw c.fail(.invalidValue("ENUM of \(width) bytes"), "value") }
            let index = Int(try c.uint(width, "value"))
            var name: String? = nil
            if let names = col.pointee.enumValues {
                name = index == 0 ? "" : (index <= names.count ? names[index - 1] : nil)
            }
            return .enumValue(index: index, name: name)
        case 248:  // SET
            let width = col.pointee.fieldLength
            guard (1...8).contains(width) else { throw c.fail(.invalidValue("SET of \(width) bytes"), "value") }
            let mask = try c.uint(width, "value")
            var names: [String]? = nil
            if let all = col.pointee.setValues {
                names = all.indices.filter { $0 < 64 && mask & (1 << UInt64($0)) != 0 }.map { all[$0] }
            }
            return .setValue(mask: mask, names: names)
        case 16:  // BIT
            let bits = Int(col.pointee.meta1) * 8 + Int(col.pointee.meta0)
            let n = (bits + 7) / 8
            guard n <= 8 else { throw c.fail(.invalidValue("BIT(\(bits))"), "value") }
            return .bit(try c.uintBE(n, "value"))
        case 249, 250, 251, 252:  // BLOB / TEXT family
            guard (1...4).contains(col.pointee.lengthBytes) else { throw c.fail(.invalidValue("BLOB length of \(col.pointee.lengthBytes) bytes"), "value.length") }
            let n = try c.checkedCount(try c.uint(col.pointee.lengthBytes, "value.length"), unitSize: 1, "value")
            return text(try c.rawBytes(n, "value"), col.pointee.collation)
        case 245:  // JSON
            guard (1...4).contains(col.pointee.lengthBytes) else { throw c.fail(.invalidValue("JSON length of \(col.pointee.lengthBytes) bytes"), "value.length") }
            let n = try c.checkedCount(try c.uint(col.pointee.lengthBytes, "value.length"), unitSize: 1, "value")
            let start = c.absoluteOffset
            return .json(try BinaryJSON.decode(try c.rawBytes(n, "value"), baseOffset: start))
        case 255:  // GEOMETRY
            guard (1...4).contains(col.pointee.lengthBytes) else { throw c.fail(.invalidValue("GEOMETRY length of \(col.pointee.lengthBytes) bytes"), "value.length") }
            let n = try c.checkedCount(try c.uint(col.pointee.lengthBytes, "value.length"), unitSize: 1, "value")
            return .geometry(try c.bytes(n, "value"))
        case 242:  // VECTOR: float32 little-endian values
            guard (1...4).contains(col.pointee.lengthBytes) else { throw c.fail(.invalidValue("VECTOR length of \(col.pointee.lengthBytes) bytes"), "value.length") }
            let n = try c.checkedCount(try c.uint(col.pointee.lengthBytes, "value.length"), unitSize: 1, "value")
            guard n % 4 == 0 else { throw c.fail(.invalidValue("VECTOR of \(n) bytes is not a float32 array"), "value") }
            var out: [Float] = []
            out.reserveCapacity(n / 4)
            for _ in 0..<(n / 4) { out.append(Float(bitPattern: try c.u32("value"))) }
            return .vector(out)
        case 6:  // NULL
            return .null
        case 0:  // old DECIMAL (MySQL < 5.0.3): an ASCII number whose length the table map does not carry
            throw c.fail(.unsupported("old DECIMAL column (pre-5.0.3 table); its stored length is not in the binlog"), "value")
        default:
            throw c.fail(.unknownColumnType(col.pointee.realType.rawValue), "column[\(index)]")
        }
    }

    /// Moves past a value without building it (columns nobody asked for).
    static func skip(_ c: inout ByteCursor, _ col: UnsafePointer<ColumnInfo>, index: Int) throws(BinlogDecodingError) {
        let n: Int
        switch col.pointee.realType.rawValue {
        case 1, 13: n = 1
        case 2: n = 2
        case 9, 10, 14, 11: n = 3
        case 3, 4, 7: n = 4
        case 8, 5, 12: n = 8
        case 246:
            guard let size = Decimal.binarySize(precision: Int(col.pointee.meta0), scale: Int(col.pointee.meta1)) else {
                throw c.fail(.invalidValue("DECIMAL(\(col.pointee.meta0),\(col.pointee.meta1))"), "value")
            }
            n = size
        case 19: n = 3 + Temporal.fractionBytes(Int(col.pointee.meta0))
        case 18: n = 5 + Temporal.fractionBytes(Int(col.pointee.meta0))
        case 17: n = 4 + Temporal.fractionBytes(Int(col.pointee.meta0))
        case 15, 253, 254:
            n = Int(try c.uint(col.pointee.lengthBytes, "value.length"))
        case 247, 248: n = col.pointee.fieldLength
        case 16: n = (Int(col.pointee.meta1) * 8 + Int(col.pointee.meta0) + 7) / 8
        case 249, 250, 251, 252, 245, 255, 242:
            guard (1...4).contains(col.pointee.lengthBytes) else { throw c.fail(.invalidValue("length of \(col.pointee.lengthBytes) bytes"), "value.length") }
            n = try c.checkedCount(try c.uint(col.pointee.lengthBytes, "value.length"), unitSize: 1, "value")
        case 6: n = 0
        default:
            _ = try decode(&c, col, index: index)
            return
        }
        try c.skip(n, "value")
    }

    @inline(__always)
    static func text(_ raw: UnsafeRawBufferPointer, _ collation: UInt32?) -> ColumnValue {
        if let collation {
            let charset = Charset(collation: collation)
            if let s = charset.decode(raw) { return .string(s) }
            return .bytes(Array(raw))
        }
        if let s = validUTF8(raw) { return .string(s) }
        return .bytes(Array(raw))
    }
}

/// `String(validating: raw, as: UTF8.self)`, with ASCII (the usual text) checked and converted
/// without the generic validation path.
@inline(__always)
func validUTF8(_ raw: UnsafeRawBufferPointer) -> String? {
    var ascii = true
    var i = 0
    let n = raw.count
    while i + 8 <= n {
        if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { ascii = false; break }
        i += 8
    }
    if ascii {
        while i < n {
            if raw[i] >= 0x80 { ascii = false; break }
            i += 1
        }
    }
    if ascii { return String(decoding: raw, as: UTF8.self) }
    return String(validating: raw, as: UTF8.self)
}

/// What the row decoder needs to know about one column, worked out once per table map: plain
/// values only, so that skipping a value, or reading an integer, touches nothing reference-counted
/// (``ColumnInfo`` holds strings and arrays). Everything else goes through ``ColumnDecoder`` with
/// the column's ``ColumnInfo``, with the same checks and errors.
struct ColumnCodec: Sendable, Hashable {
    enum Layout: UInt8, Sendable {
        /// `size` bytes.
        case fixed
        /// A `size`-byte (1 or 2) length, then that many bytes (VARCHAR, CHAR).
        case prefixed
        /// A `size`-byte (1…4) length checked against what remains, then that many bytes (BLOB family).
        case blob
        /// Anything else (and invalid metadata): ``ColumnDecoder/skip(_:_:index:)`` decides.
        case other
    }

    var layout: Layout
    var size: Int32
    /// 1, 2, 3, 4 or 8 for TINY, SHORT, INT24, LONG, LONGLONG; 0 otherwise.
    var integerWidth: UInt8
    var unsigned: Bool
    /// The table-map type is JSON (PARTIAL_UPDATE_ROWS diffs).
    var isJSON: Bool

    init(_ col: ColumnInfo) {
        unsigned = col.unsigned
        isJSON = col.type == .json
        integerWidth = 0
        layout = .fixed
        size = 0
        let meta0 = Int(col.meta0), meta1 = Int(col.meta1)
        switch col.realType.rawValue {
        case 1: size = 1; integerWidth = 1
        case 2: size = 2; integerWidth = 2
        case 9: size = 3; integerWidth = 3
        case 3: size = 4; integerWidth = 4
        case 8: size = 8; integerWidth = 8
        case 13: size = 1
        case 10, 14, 11: size = 3
        case 4, 7: size = 4
        case 5, 12: size = 8
        case 246:
            if let n = Decimal.binarySize(precision: meta0, scale: meta1) { size = Int32(n) } else { layout = .other }
        case 19: size = Int32(3 + Temporal.fractionBytes(meta0))
        case 18: size = Int32(5 + Temporal.fractionBytes(meta0))
        case 17: size = Int32(4 + Temporal.fractionBytes(meta0))
        case 15, 253, 254:
            if (0...8).contains(col.lengthBytes) { layout = .prefixed; size = Int32(col.lengthBytes) } else { layout = .other }
        case 247, 248:
            if (0...Int(Int32.max)).contains(col.fieldLength) { size = Int32(col.fieldLength) } else { layout = .other }
        case 16: size = Int32((meta1 * 8 + meta0 + 7) / 8)
        case 249, 250, 251, 252, 245, 255, 242:
            if (1...4).contains(col.lengthBytes) { layout = .blob; size = Int32(col.lengthBytes) } else { layout = .other }
        case 6: size = 0
        default: layout = .other
        }
    }
}

extension ColumnDecoder {
    /// ``decode(_:_:index:)`` with integers read straight from the codec.
    @inline(__always)
    static func decode(_ c: inout ByteCursor, _ codec: ColumnCodec, _ columns: UnsafeBufferPointer<ColumnInfo>, index: Int) throws(BinlogDecodingError) -> ColumnValue {
        let width = Int(codec.integerWidth)
        if width != 0 {
            let v = try c.uint(width, "value")
            if codec.unsigned { return .uint(v) }
            let shift = UInt64(64 &- 8 &* width)
            return .int(Int64(bitPattern: v << shift) >> Int64(shift))
        }
        return try decode(&c, columns.baseAddress! + index, index: index)
    }

    /// ``skip(_:_:index:)`` without touching the ``ColumnInfo`` for the usual layouts.
    @inline(__always)
    static func skip(_ c: inout ByteCursor, _ codec: ColumnCodec, _ columns: UnsafeBufferPointer<ColumnInfo>, index: Int) throws(BinlogDecodingError) {
        switch codec.layout {
        case .fixed:
            try c.skip(Int(codec.size), "value")
        case .prefixed:
            let n = Int(try c.uint(Int(codec.size), "value.length"))
            try c.skip(n, "value")
        case .blob:
            let n = try c.checkedCount(try c.uint(Int(codec.size), "value.length"), unitSize: 1, "value")
            try c.skip(n, "value")
        case .other:
            try skip(&c, columns.baseAddress! + index, index: index)
        }
    }
}
