/// The character sets the parser can turn into text, found from a collation id.
public enum Charset: Sendable, Hashable {
    case binary
    case latin1
    case ascii
    case utf8
    case ucs2
    case utf16
    case utf16le
    case utf32
    /// Another character set; its bytes are shown as text only when they are valid UTF-8.
    case other(UInt32)

    /// Maps a MySQL/MariaDB collation id to its character set.
    public init(collation id: UInt32) {
        switch id {
        case 63: self = .binary
        case 5, 8, 15, 31, 47, 48, 49, 94: self = .latin1
        case 11, 65: self = .ascii
        case 33, 45, 46, 76, 83, 192...215, 223, 224...247, 255...323, 576...578, 608...610:
            self = .utf8
        case 35, 90, 128...151, 159: self = .ucs2
        case 54, 55, 101...124, 121: self = .utf16
        case 56, 62: self = .utf16le
        case 60, 61, 160...183: self = .utf32
        default:
            // MariaDB 10.10+ UCA-14 collations for utf8mb3/utf8mb4 live in 2048…4095 (id & 0x7ff).
            if id >= 2048 && id < 4096 { self = .utf8 } else { self = .other(id) }
        }
    }

    /// Decodes `raw` to text, or returns nil when the bytes are not valid in this character set.
    func decode(_ raw: UnsafeRawBufferPointer) -> String? {
        switch self {
        case .binary:
            return nil
        case .latin1:
            var ascii = true
            for b in raw where b >= 0x80 { ascii = false; break }
            if ascii { return String(decoding: raw, as: UTF8.self) }
            var s = String.UnicodeScalarView()
            for b in raw { s.append(Unicode.Scalar(cp1252[Int(b)]) ?? Unicode.Scalar(b)) }
            return String(s)
        case .ucs2, .utf16, .utf16le:
            guard raw.count % 2 == 0 else { return nil }
            var units: [UInt16] = []
            units.reserveCapacity(raw.count / 2)
            var i = 0
            while i < raw.count {
                units.append(self == .utf16le ? UInt16(raw[i]) | UInt16(raw[i + 1]) << 8 : UInt16(raw[i]) << 8 | UInt16(raw[i + 1]))
                i += 2
            }
            return String(validating: units, as: UTF16.self)
        case .utf32:
            guard raw.count % 4 == 0 else { return nil }
            var s = String.UnicodeScalarView()
            var i = 0
            while i < raw.count {
                let v = UInt32(raw[i]) << 24 | UInt32(raw[i + 1]) << 16 | UInt32(raw[i + 2]) << 8 | UInt32(raw[i + 3])
                guard let scalar = Unicode.Scalar(v) else { return nil }
                s.append(scalar)
                i += 4
            }
            return String(s)
        case .ascii, .utf8, .other:
            return validUTF8(raw)
        }
    }
}

/// MySQL's latin1 is Windows-1252.
private let cp1252: [UInt32] = {
    var t = (0..<256).map { UInt32($0) }
    let high: [UInt32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,
        0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
        0x0153, 0x9D, 0x017E, 0x0178,
    ]
    for (i, v) in high.enumerated() { t[0x80 + i] = v }
    return t
}()
