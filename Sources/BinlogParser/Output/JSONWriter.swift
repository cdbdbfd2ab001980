/// A small, fast JSON writer that appends UTF-8 to a byte buffer.
///
/// The caller writes keys and values in order; the writer inserts commas. It never allocates per
/// value beyond the buffer's growth.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8] = []
    // Per open object/array: whether a value was written in it (so the next one needs a comma).
    // Bit d - 1 for the first 64 levels, `deepCommas` past them.
    private var depth = 0
    private var commaBits: UInt64 = 0
    private var deepCommas: [Bool] = []

    public init(capacity: Int = 1 << 16) { bytes.reserveCapacity(capacity) }

    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        depth = 0
        commaBits = 0
        if !deepCommas.isEmpty { deepCommas.removeAll(keepingCapacity: true) }
    }

    /// Writes the comma a value needs, and notes that the current level now has a value.
    @inline(__always) private mutating func separator() {
        guard depth > 0 else { return }
        if depth <= 64 {
            let bit: UInt64 = 1 << UInt64(depth - 1)
            if commaBits & bit != 0 { bytes.append(UInt8(ascii: ",")) } else { commaBits |= bit }
        } else {
            let i = depth - 65
            if i < deepCommas.count {
                if deepCommas[i] { bytes.append(UInt8(ascii: ",")) } else { deepCommas[i] = true }
            }
        }
    }

    /// The current level has no value yet (a key was just written, or it was just opened).
    @inline(__always) private mutating func clearComma() {
        guard depth > 0 else { return }
        if depth <= 64 {
            commaBits &= ~(1 << UInt64(depth - 1))
        } else if depth - 65 < deepCommas.count {
            deepCommas[depth - 65] = false
        }
    }

    @inline(__always) private mutating func open(_ bracket: UInt8) {
        separator()
        bytes.append(bracket)
        depth += 1
        if depth > 64 && deepCommas.count < depth - 64 { deepCommas.append(false) }
        clearComma()
    }

    @inline(__always) private mutating func close(_ bracket: UInt8) {
        if depth > 0 {
            if depth > 64 && deepCommas.count == depth - 64 { deepCommas.removeLast() }
            depth -= 1
        }
        bytes.append(bracket)
    }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }
    public mutating func newline() { bytes.append(UInt8(ascii: "\n")) }

    /// Writes `"name":`; the next value call writes the value without a comma.
    public mutating func key(_ name: String) {
        separator()
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
        clearComma()
    }

    /// ``key(_:)`` for a name written in the source: plain ASCII that needs no escaping (letters,
    /// digits, `_`), copied as it is.
    @inline(__always)
    mutating func memberKey(_ name: StaticString) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        clearComma()
    }

    mutating func member(_ name: StaticString, _ value: String) { memberKey(name); string(value) }
    mutating func member<T: BinaryInteger>(_ name: StaticString, _ value: T) { memberKey(name); int(value) }
    mutating func member(_ name: StaticString, _ value: Bool) { memberKey(name); bool(value) }

    @inline(__always) private mutating func valuePrefix() { separator() }

    public mutating func string(_ s: String) { valuePrefix(); writeString(s) }
    public mutating func null() { valuePrefix(); appendNull() }
    public mutating func bool(_ b: Bool) {
        valuePrefix()
        if b {
            bytes.append(UInt8(ascii: "t")); bytes.append(UInt8(ascii: "r")); bytes.append(UInt8(ascii: "u")); bytes.append(UInt8(ascii: "e"))
        } else {
            bytes.append(UInt8(ascii: "f")); bytes.append(UInt8(ascii: "a")); bytes.append(UInt8(ascii: "l")); bytes.append(UInt8(ascii: "s")); bytes.append(UInt8(ascii: "e"))
        }
    }
    @inline(__always) private mutating func appendNull() {
        bytes.append(UInt8(ascii: "n")); bytes.append(UInt8(ascii: "u")); bytes.append(UInt8(ascii: "l")); bytes.append(UInt8(ascii: "l"))
    }
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
            appendNull()
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
            appendNull()
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
        var s = s
        s.withUTF8 { appendEscaped($0) }
    }

    /// Whether any of the 8 bytes of `w` is below 0x20, `"` or `\\` (exact as a yes/no answer).
    @inline(__always)
    private static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let control = (w &- 0x2020_2020_2020_2020) & ~w & highs
        let q = w ^ 0x2222_2222_2222_2222
        let quote = (q &- ones) & ~q & highs
        let b = w ^ 0x5c5c_5c5c_5c5c_5c5c
        let backslash = (b &- ones) & ~b & highs
        return (control | quote | backslash) != 0
    }

    /// `utf8` as a JSON string: quoted, with `"`, `\\` and control characters escaped. Runs of
    /// 8 bytes that need nothing are passed over a word at a time, and copied in one piece.
    private mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        defer { bytes.append(UInt8(ascii: "\"")) }
        guard let base = utf8.baseAddress else { return }
        let n = utf8.count
        var start = 0
        var i = 0
        while i < n {
            if n - i >= 8 && !Self.needsEscape(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)) {
                i += 8
                continue
            }
            let b = base[i]
            if b >= 0x20 && b != 0x22 && b != 0x5c {
                i += 1
                continue
            }
            if start < i { bytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: i - start)) }
            switch b {
            case 0x22: bytes.append(0x5c); bytes.append(0x22)
            case 0x5c: bytes.append(0x5c); bytes.append(0x5c)
            case 0x0a: bytes.append(0x5c); bytes.append(UInt8(ascii: "n"))
            case 0x0d: bytes.append(0x5c); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(0x5c); bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, Self.hexDigits[Int(b >> 4)], Self.hexDigits[Int(b & 15)]])
            }
            i += 1
            start = i
        }
        if start < n { bytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: n - start)) }
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
