/// MySQL's binary DECIMAL (NEWDECIMAL): groups of 9 digits in 4 big-endian bytes, a shorter leading
/// and trailing group, the sign in the top bit of the first byte (set = positive), negative values
/// stored with every byte inverted.
enum Decimal {
    static let digitsToBytes = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]
    static let powersOf10: [UInt32] = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000]

    static func binarySize(precision: Int, scale: Int) -> Int? {
        guard precision >= 1, precision <= 81, scale >= 0, scale <= precision else { return nil }
        let intg = precision - scale
        return (intg / 9) * 4 + digitsToBytes[intg % 9] + (scale / 9) * 4 + digitsToBytes[scale % 9]
    }

    static func decode(_ c: inout ByteCursor, precision: Int, scale: Int) throws(BinlogDecodingError) -> String {
        guard let size = binarySize(precision: precision, scale: scale) else {
            throw c.fail(.invalidValue("DECIMAL(\(precision),\(scale))"), "decimal.metadata")
        }
        let raw = try c.rawBytes(size, "decimal")
        guard size > 0 else { return "0" }
        let negative = raw[0] & 0x80 == 0
        let mask: UInt8 = negative ? 0xff : 0
        var index = 0
        func group(_ n: Int) -> UInt32 {
            var v: UInt32 = 0
            for k in 0..<n {
                var b = raw[index + k] ^ mask
                if index + k == 0 { b ^= 0x80 }
                v = (v << 8) | UInt32(b)
            }
            index += n
            return v
        }
        let intg = precision - scale
        let intg0 = intg / 9, intg0x = intg % 9
        let frac0 = scale / 9, frac0x = scale % 9
        // The text is written straight into the string's storage (sign, at most `intg` digits or
        // "0", point, `scale` digits): no intermediate strings. A digit group out of range stops
        // the writing and is thrown below, the first one in order, as before.
        var bad: UInt32? = nil
        let text = String(unsafeUninitializedCapacity: precision + 3) { out -> Int in
            var n = 0
            if negative { out[n] = 0x2d; n += 1 }
            let intStart = n
            /// `v` in exactly `width` digits.
            func padded(_ v: UInt32, _ width: Int) {
                var v = v
                var k = width
                while k > 0 {
                    k -= 1
                    out[n + k] = 0x30 &+ UInt8(truncatingIfNeeded: v % 10)
                    v /= 10
                }
                n += width
            }
            /// `v` without leading zeros; nothing for 0.
            func unpadded(_ v: UInt32) {
                var digits = 0
                var x = v
                while x != 0 { digits += 1; x /= 10 }
                padded(v, digits)
            }
            if intg0x > 0 {
                let v = group(digitsToBytes[intg0x])
                guard v < powersOf10[intg0x] else { bad = v; return 0 }
                unpadded(v)
            }
            for _ in 0..<intg0 {
                let v = group(4)
                guard v < 1_000_000_000 else { bad = v; return 0 }
                if n == intStart { unpadded(v) } else { padded(v, 9) }
            }
            if n == intStart { out[n] = 0x30; n += 1 }
            if scale > 0 {
                out[n] = 0x2e
                n += 1
                for _ in 0..<frac0 {
                    let v = group(4)
                    guard v < 1_000_000_000 else { bad = v; return 0 }
                    padded(v, 9)
                }
                if frac0x > 0 {
                    let v = group(digitsToBytes[frac0x])
                    guard v < powersOf10[frac0x] else { bad = v; return 0 }
                    padded(v, frac0x)
                }
            }
            return n
        }
        if let v = bad { throw c.fail(.invalidValue("DECIMAL digit group \(v)"), "decimal") }
        return text
    }
}

/// Temporal encodings: the packed 64-bit forms (used in JSON opaque values) and the binlog's
/// "fractional" formats DATETIME2/TIME2/TIMESTAMP2 (big-endian, MySQL 5.6+ and MariaDB's
/// mysql56_temporal_format).
enum Temporal {
    static func datetime(fromPacked p: Int64, precision: Int) -> MySQLDateTime {
        let v = Int64(bitPattern: p.magnitude & 0x7fff_ffff_ffff_ffff)
        let frac = Int(v % (1 << 24))
        let ymdhms = v >> 24
        let ymd = ymdhms >> 17
        let hms = ymdhms % (1 << 17)
        let ym = ymd >> 5
        return MySQLDateTime(
            year: Int(ym / 13), month: Int(ym % 13), day: Int(ymd % 32), hour: Int(hms >> 12),
            minute: Int((hms >> 6) % 64), second: Int(hms % 64), microseconds: frac, precision: precision)
    }

    static func time(fromPacked p: Int64, precision: Int) -> MySQLTime {
        let negative = p < 0
        let v = Int64(bitPattern: p.magnitude & 0x7fff_ffff_ffff_ffff)
        let hms = v >> 24
        return MySQLTime(
            negative: negative, hours: Int((hms >> 12) % (1 << 10)), minutes: Int((hms >> 6) % 64),
            seconds: Int(hms % 64), microseconds: Int(v % (1 << 24)), precision: precision)
    }

    /// Bytes of the fractional part for a given fsp.
    static func fractionBytes(_ fsp: Int) -> Int { (fsp + 1) / 2 }

    static func readFraction(_ c: inout ByteCursor, fsp: Int) throws(BinlogDecodingError) -> Int {
        switch fsp {
        case 1, 2: return Int(try c.uintBE(1, "temporal.fraction")) * 10000
        case 3, 4: return Int(try c.uintBE(2, "temporal.fraction")) * 100
        case 5, 6: return Int(try c.uintBE(3, "temporal.fraction"))
        default: return 0
        }
    }

    static func datetime2(_ c: inout ByteCursor, fsp: Int) throws(BinlogDecodingError) -> MySQLDateTime {
        let intpart = Int64(try c.uintBE(5, "datetime2")) - 0x80_0000_0000
        let frac = try readFraction(&c, fsp: fsp)
        return datetime(fromPacked: (intpart << 24) &+ Int64(frac), precision: fsp)
    }

    static func time2(_ c: inout ByteCursor, fsp: Int) throws(BinlogDecodingError) -> MySQLTime {
        let packed: Int64
        switch fsp {
        case 1, 2:
            var intpart = Int64(try c.uintBE(3, "time2")) - 0x80_0000
            var frac = Int64(try c.uintBE(1, "time2.fraction"))
            if intpart < 0 && frac != 0 { intpart &+= 1; frac &-= 0x100 }
            packed = (intpart << 24) &+ frac &* 10000
        case 3, 4:
            var intpart = Int64(try c.uintBE(3, "time2")) - 0x80_0000
            var frac = Int64(try c.uintBE(2, "time2.fraction"))
            if intpart < 0 && frac != 0 { intpart &+= 1; frac &-= 0x10000 }
            packed = (intpart << 24) &+ frac &* 100
        case 5, 6:
            packed = Int64(try c.uintBE(6, "time2")) &- 0x8000_0000_0000
        default:
            packed = (Int64(try c.uintBE(3, "time2")) - 0x80_0000) << 24
        }
        return time(fromPacked: packed, precision: fsp)
    }
}
