/// A small, fast JSON writer that appends UTF-8 to a byte buffer.
///
/// The caller writes keys and values in order; the writer inserts commas. It never allocates per
/// value beyond the buffer's growth.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    public init(capacity: Int = 1 << 16) { bytes.reserveCapacity(capacity) }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma.removeAll(keepingCapacity: true)
    }

    @inline(__always) private mutating func separator() {
        if let last = needsComma.last {
            if last { bytes.append(UInt8(ascii: ",")) } else { needsComma[needsComma.count - 1] = true }
        }
    }

    public mutating func beginObject() { separator(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separator(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }
    public mutating func newline() { bytes.append(UInt8(ascii: "\n")) }

    /// Writes `"name":`; the next value call writes the value without a comma.
    public mutating func key(_ name: String) {
        separator()
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    @inline(__always) private mutating func valuePrefix() { separator() }

    public mutating func string(_ s: String) { valuePrefix(); writeString(s) }
    public mutating func null() { valuePrefix(); bytes.append(contentsOf: [110, 117, 108, 108]) }
    public mutating func bool(_ b: Bool) { valuePrefix(); bytes.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8)) }
    public mutating func int<T: BinaryInteger>(_ v: T) { valuePrefix(); writeInteger(v) }
    /// A number already formatted (DECIMAL): written without quotes.
    public mutating func rawNumber(_ s: String) { valuePrefix(); bytes.append(contentsOf: s.utf8) }
    public mutating func double(_ d: Double) {
        valuePrefix()
        if d.isFinite {
            if d == d.rounded(.towardZero) && abs(d) < 1e15 {
                writeInteger(Int64(d))
            } else {
                bytes.append(contentsOf: d.description.utf8)
            }
        } else {
            bytes.append(contentsOf: [110, 117, 108, 108])
        }
    }
    public mutating func float(_ f: Float) {
        valuePrefix()
        if f.isFinite {
            if f == f.rounded(.towardZero) && abs(f) < 1e7 {
                writeInteger(Int64(f))
            } else {
                bytes.append(contentsOf: f.description.utf8)
            }
        } else {
            bytes.append(contentsOf: [110, 117, 108, 108])
        }
    }

    /// Appends already-encoded JSON.
    public mutating func raw(_ json: [UInt8]) { valuePrefix(); bytes.append(contentsOf: json) }

    public mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    public mutating func field<T: BinaryInteger>(_ name: String, _ value: T) { key(name); int(value) }
    public mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }

    @inline(__always)
    private mutating func writeInteger<T: BinaryInteger>(_ v: T) {
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        var buf: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let negative = v < 0
        var mag = v.magnitude
        withUnsafeMutableBytes(of: &buf) { p in
            var i = p.count
            while mag > 0 {
                i -= 1
                p[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: mag % 10)
                mag /= 10
            }
            if negative { i -= 1; p[i] = UInt8(ascii: "-") }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[i...]))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    // MARK: - Dates and times, written without building strings

    /// `v` in exactly `width` digits; false (nothing written) unless 0 <= v < 10^width.
    @inline(__always)
    private static func fits(_ v: Int, _ width: Int) -> Bool {
        switch width {
        case 2: return v >= 0 && v < 100
        case 4: return v >= 0 && v < 10000
        case 6: return v >= 0 && v < 1_000_000
        default: return false
        }
    }

    @inline(__always)
    private mutating func digits(_ v: Int, _ width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor &*= 10 }
        var rest = v
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// The fraction MySQL prints for `precision` digits: nothing for 0, else "." and the first
    /// `min(precision, 6)` of 6 zero-padded digits.
    @inline(__always)
    private mutating func fractionDigits(_ micros: Int, _ precision: Int) {
        guard precision > 0 else { return }
        bytes.append(UInt8(ascii: "."))
        let n = min(precision, 6)
        var divisor = 100_000
        var rest = micros
        for _ in 0..<n {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// `"YYYY-MM-DD"` or `"YYYY-MM-DD HH:MM:SS[.ffffff]"` as a JSON string, exactly as
    /// ``MySQLDate`` and ``MySQLDateTime`` print; false (nothing written) when a field is outside
    /// the range where that is plain digits (the caller then writes the description).
    mutating func temporal(_ year: Int, _ month: Int, _ day: Int, time: (Int, Int, Int, Int, Int)? = nil) -> Bool {
        guard Self.fits(year, 4), Self.fits(month, 2), Self.fits(day, 2) else { return false }
        if let (h, m, s, micros, precision) = time {
            guard Self.fits(h, 2), Self.fits(m, 2), Self.fits(s, 2), precision <= 0 || Self.fits(micros, 6) else { return false }
        }
        valuePrefix()
        bytes.append(UInt8(ascii: "\""))
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        if let (h, m, s, micros, precision) = time {
            bytes.append(UInt8(ascii: " "))
            digits(h, 2)
            bytes.append(UInt8(ascii: ":"))
            digits(m, 2)
            bytes.append(UInt8(ascii: ":"))
            digits(s, 2)
            fractionDigits(micros, precision)
        }
        bytes.append(UInt8(ascii: "\""))
        return true
    }

    /// `"[-]HH:MM:SS[.ffffff]"` as ``MySQLTime`` prints it, for hours below 100; false otherwise.
    mutating func time(_ t: MySQLTime) -> Bool {
        guard Self.fits(t.hours, 2), Self.fits(t.minutes, 2), Self.fits(t.seconds, 2), t.precision <= 0 || Self.fits(t.microseconds, 6) else { return false }
        valuePrefix()
        bytes.append(UInt8(ascii: "\""))
        if t.negative { bytes.append(UInt8(ascii: "-")) }
        digits(t.hours, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(t.minutes, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(t.seconds, 2)
        fractionDigits(t.microseconds, t.precision)
        bytes.append(UInt8(ascii: "\""))
        return true
    }

    private mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var start = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                if b >= 0x20 && b != 0x22 && b != 0x5c { continue }
                if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
                switch b {
                case 0x22: bytes.append(contentsOf: [0x5c, 0x22])
                case 0x5c: bytes.append(contentsOf: [0x5c, 0x5c])
                case 0x0a: bytes.append(contentsOf: [0x5c, UInt8(ascii: "n")])
                case 0x0d: bytes.append(contentsOf: [0x5c, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5c, UInt8(ascii: "t")])
                default:
                    bytes.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, Self.hexDigits[Int(b >> 4)], Self.hexDigits[Int(b & 15)]])
                }
                start = i + 1
            }
            if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Hex of bytes as a JSON string.
    public mutating func hexString(_ raw: [UInt8]) {
        valuePrefix()
        bytes.append(UInt8(ascii: "\""))
        for b in raw {
            bytes.append(Self.hexDigits[Int(b >> 4)])
            bytes.append(Self.hexDigits[Int(b & 15)])
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

enum Base64 {
    static let table: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static func encode(_ data: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((data.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= data.count {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out += [table[Int(v >> 18 & 63)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], table[Int(v & 63)]]
            i += 3
        }
        let rest = data.count - i
        if rest == 1 {
            let v = UInt32(data[i]) << 16
            out += [table[Int(v >> 18 & 63)], table[Int(v >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
            out += [table[Int(v >> 18 & 63)], table[Int(v >> 12 & 63)], table[Int(v >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
