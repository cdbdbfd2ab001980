/// A JSON document decoded from MySQL's binary JSON format.
public indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    /// A number that must print exactly (DECIMAL inside JSON).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])
    /// A MySQL value with no JSON type, kept as MySQL prints it: `base64:typeNN:...`.
    case opaque(type: UInt8, bytes: [UInt8])
}

public struct JSONMember: Sendable, Hashable {
    public var key: String
    public var value: JSONValue
}

/// Decoder for MySQL's binary JSON (`json_binary.cc`).
///
/// ```
/// doc     := type:u8 value
/// object  := count:u16|u32 size:u16|u32 key-entry* value-entry* key* value*   (small|large)
/// array   := count size value-entry* value*
/// key-entry   := offset:u16|u32 length:u16
/// value-entry := type:u8 offset-or-inlined-value:u16|u32
/// string  := varlen-length bytes        opaque := field-type:u8 varlen-length bytes
/// ```
/// Offsets are relative to the start of the enclosing object or array (after its type byte).
/// Literals, int16/uint16 (and int32/uint32 in large containers) are inlined in value entries.
///
/// Offsets are not trusted to be increasing or disjoint (MySQL's partial in-place updates move
/// values into free space of the document), but a document whose entries point at the same bytes
/// again and again would decode to 2^depth values: decoding is given a budget of the document's
/// size. Each value costs 1 and each string, key or opaque value its length, which a document
/// whose values occupy their own bytes never exceeds (a value entry alone takes 3 bytes); more
/// means entries share bytes, and decoding stops with an error. The decoded tree is thus
/// proportional to the document, never exponential in it.
enum BinaryJSON {
    static let maxDepth = 100

    static func decode(_ raw: UnsafeRawBufferPointer, baseOffset: UInt64) throws(BinlogDecodingError) -> JSONValue {
        if raw.isEmpty { return .null }
        let type = raw[0]
        var budget = raw.count
        return try value(type: type, raw, from: 1, end: raw.count, baseOffset: baseOffset, depth: 0, budget: &budget)
    }

    /// Spends `cost` of the document's budget (see the type's comment).
    @inline(__always)
    private static func spend(_ cost: Int, _ budget: inout Int, _ raw: UnsafeRawBufferPointer, _ at: Int, _ base: UInt64) throws(BinlogDecodingError) {
        budget -= cost
        if budget < 0 {
            throw fail("entries overlap: the \(raw.count)-byte document holds more values, keys and strings than it has bytes", at, base)
        }
    }

    private static func fail(_ why: String, _ at: Int, _ base: UInt64) -> BinlogDecodingError {
        BinlogDecodingError(.invalidValue("JSON: " + why), field: "json", byteOffset: base + UInt64(max(0, at)))
    }

    private static func load(_ raw: UnsafeRawBufferPointer, _ at: Int, _ width: Int, _ end: Int, _ base: UInt64) throws(BinlogDecodingError) -> UInt64 {
        guard at >= 0, width <= end - at else { throw fail("truncated", at, base) }
        var v: UInt64 = 0
        for i in stride(from: width - 1, through: 0, by: -1) { v = (v << 8) | UInt64(raw[at + i]) }
        return v
    }

    /// Decodes a value of `type` whose data starts at `start` (a container's data includes its header).
    static func value(type: UInt8, _ raw: UnsafeRawBufferPointer, from start: Int, end: Int, baseOffset: UInt64, depth: Int, budget: inout Int) throws(BinlogDecodingError) -> JSONValue {
        guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth)", start, baseOffset) }
        try spend(1, &budget, raw, start, baseOffset)
        switch type {
        case 0x00, 0x01, 0x02, 0x03:
            return try container(type: type, raw, from: start, end: end, baseOffset: baseOffset, depth: depth, budget: &budget)
        case 0x04:
            let lit = try load(raw, start, 1, end, baseOffset)
            return try literal(lit, start, baseOffset)
        case 0x05: return .int(Int64(Int16(truncatingIfNeeded: try load(raw, start, 2, end, baseOffset))))
        case 0x06: return .uint(try load(raw, start, 2, end, baseOffset))
        case 0x07: return .int(Int64(Int32(truncatingIfNeeded: try load(raw, start, 4, end, baseOffset))))
        case 0x08: return .uint(try load(raw, start, 4, end, baseOffset))
        case 0x09: return .int(Int64(bitPattern: try load(raw, start, 8, end, baseOffset)))
        case 0x0a: return .uint(try load(raw, start, 8, end, baseOffset))
        case 0x0b: return .double(Double(bitPattern: try load(raw, start, 8, end, baseOffset)))
        case 0x0c:
            var at = start
            let length = try varlen(raw, &at, end, baseOffset)
            guard length <= end - at else { throw fail("string longer than the document", at, baseOffset) }
            try spend(length, &budget, raw, start, baseOffset)
            return .string(String(decoding: UnsafeRawBufferPointer(rebasing: raw[at..<(at + length)]), as: UTF8.self))
        case 0x0f:
            guard start < end else { throw fail("truncated opaque", start, baseOffset) }
            let fieldType = raw[start]
            var at = start + 1
            let length = try varlen(raw, &at, end, baseOffset)
            guard length <= end - at else { throw fail("opaque longer than the document", at, baseOffset) }
            try spend(length, &budget, raw, start, baseOffset)
            let data = UnsafeRawBufferPointer(rebasing: raw[at..<(at + length)])
            return opaque(fieldType: fieldType, data)
        default:
            throw fail("unknown JSON type 0x\(String(type, radix: 16))", start - 1, baseOffset)
        }
    }

    private static func literal(_ v: UInt64, _ at: Int, _ base: UInt64) throws(BinlogDecodingError) -> JSONValue {
        switch v {
        case 0: return .null
        case 1: return .bool(true)
        case 2: return .bool(false)
        default: throw fail("bad literal \(v)", at, base)
        }
    }

    private static func varlen(_ raw: UnsafeRawBufferPointer, _ at: inout Int, _ end: Int, _ base: UInt64) throws(BinlogDecodingError) -> Int {
        var length = 0
        for i in 0..<5 {
            guard at < end else { throw fail("truncated length", at, base) }
            let b = Int(raw[at])
            at += 1
            length |= (b & 0x7f) << (7 * i)
            if b & 0x80 == 0 { return length }
        }
        throw fail("length over 5 bytes", at, base)
    }

    private static func container(type: UInt8, _ raw: UnsafeRawBufferPointer, from start: Int, end: Int, baseOffset: UInt64, depth: Int, budget: inout Int) throws(BinlogDecodingError) -> JSONValue {
        let large = type == 0x01 || type == 0x03
        let isObject = type <= 0x01
        let w = large ? 4 : 2
        let count = Int(try load(raw, start, w, end, baseOffset))
        let size = Int(try load(raw, start + w, w, end, baseOffset))
        guard size <= end - start else { throw fail("container size \(size) exceeds the document", start, baseOffset) }
        let cend = start + size
        let keyEntrySize = w + 2
        let valueEntrySize = 1 + w
        let headerSize = 2 * w + count * (isObject ? keyEntrySize + valueEntrySize : valueEntrySize)
        guard count >= 0, count <= size, headerSize <= size else { throw fail("element count \(count) does not fit", start, baseOffset) }
        var keys: [String] = []
        if isObject {
            keys.reserveCapacity(count)
            for i in 0..<count {
                let e = start + 2 * w + i * keyEntrySize
                let off = Int(try load(raw, e, w, cend, baseOffset))
                let len = Int(try load(raw, e + w, 2, cend, baseOffset))
                guard off <= size, len <= size - off else { throw fail("key outside its object", e, baseOffset) }
                try spend(len, &budget, raw, e, baseOffset)
                keys.append(String(decoding: UnsafeRawBufferPointer(rebasing: raw[(start + off)..<(start + off + len)]), as: UTF8.self))
            }
        }
        let valuesStart = start + 2 * w + (isObject ? count * keyEntrySize : 0)
        var values: [JSONValue] = []
        values.reserveCapacity(count)
        for i in 0..<count {
            let e = valuesStart + i * valueEntrySize
            let t = UInt8(try load(raw, e, 1, cend, baseOffset))
            let inlined: Bool
            switch t {
            case 0x04, 0x05, 0x06: inlined = true
            case 0x07, 0x08: inlined = large
            default: inlined = false
            }
            if inlined {
                values.append(try value(type: t, raw, from: e + 1, end: cend, baseOffset: baseOffset, depth: depth + 1, budget: &budget))
            } else {
                let off = Int(try load(raw, e + 1, w, cend, baseOffset))
                guard off < size else { throw fail("value offset \(off) outside its container", e, baseOffset) }
                values.append(try value(type: t, raw, from: start + off, end: cend, baseOffset: baseOffset, depth: depth + 1, budget: &budget))
            }
        }
        if isObject {
            return .object(zip(keys, values).map { JSONMember(key: $0.0, value: $0.1) })
        }
        return .array(values)
    }

    /// Opaque values of known MySQL types are turned into what MySQL's JSON printer shows.
    static func opaque(fieldType: UInt8, _ data: UnsafeRawBufferPointer) -> JSONValue {
        switch fieldType {
        case ColumnType.newdecimal.rawValue:
            if data.count >= 2 {
                let precision = Int(data[0]), scale = Int(data[1])
                var c = ByteCursor(UnsafeRawBufferPointer(rebasing: data[2...]))
                if let s = try? Decimal.decode(&c, precision: precision, scale: scale) { return .number(s) }
            }
        case ColumnType.date.rawValue, ColumnType.datetime.rawValue, ColumnType.timestamp.rawValue,
            ColumnType.datetime2.rawValue, ColumnType.timestamp2.rawValue, ColumnType.newdate.rawValue:
            if data.count >= 8 {
                let packed = Int64(bitPattern: ByteCursor(data).loadLE(at: 0, width: 8))
                let dt = Temporal.datetime(fromPacked: packed, precision: 6)
                if fieldType == ColumnType.date.rawValue || fieldType == ColumnType.newdate.rawValue {
                    return .string(MySQLDate(year: dt.year, month: dt.month, day: dt.day).description)
                }
                return .string(trimmedFraction(dt.description))
            }
        case ColumnType.time.rawValue, ColumnType.time2.rawValue:
            if data.count >= 8 {
                let packed = Int64(bitPattern: ByteCursor(data).loadLE(at: 0, width: 8))
                return .string(trimmedFraction(Temporal.time(fromPacked: packed, precision: 6).description))
            }
        default:
            break
        }
        return .opaque(type: fieldType, bytes: Array(data))
    }

    /// MySQL prints JSON temporals with 6 fractional digits only when the fraction is non-zero.
    private static func trimmedFraction(_ s: String) -> String {
        s.hasSuffix(".000000") ? String(s.dropLast(7)) : s
    }
}
