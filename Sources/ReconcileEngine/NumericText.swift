import ReconcilerCore
import RedisClient
/// A decimal number parsed from text, compared exactly (no floating point): `7`, `07`, `7.0` and
/// `+7.000` are equal; a DECIMAL compares at its scale.
public struct NumericText: Comparable, Sendable, Hashable {
    let negative: Bool
    /// Integer digits without leading zeros ("" for zero).
    let integer: [UInt8]
    /// Fraction digits without trailing zeros.
    let fraction: [UInt8]

    public init?(_ text: String) {
        var bytes = Array(text.utf8)
        while let f = bytes.first, f == 0x20 || f == 0x09 { bytes.removeFirst() }
        while let l = bytes.last, l == 0x20 || l == 0x09 || l == 0x0a || l == 0x0d { bytes.removeLast() }
        guard !bytes.isEmpty else { return nil }
        var neg = false
        if bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            neg = bytes[0] == UInt8(ascii: "-")
            bytes.removeFirst()
        }
        var intPart: [UInt8] = []
        var fracPart: [UInt8] = []
        var seenDot = false
        for b in bytes {
            if b == UInt8(ascii: ".") {
                guard !seenDot else { return nil }
                seenDot = true
            } else if b >= 0x30 && b <= 0x39 {
                if seenDot { fracPart.append(b) } else { intPart.append(b) }
            } else {
                return nil
            }
        }
        guard !(intPart.isEmpty && fracPart.isEmpty) else { return nil }
        while intPart.first == UInt8(ascii: "0") { intPart.removeFirst() }
        while fracPart.last == UInt8(ascii: "0") { fracPart.removeLast() }
        integer = intPart
        fraction = fracPart
        negative = neg && !(intPart.isEmpty && fracPart.isEmpty)
    }

    public init?(_ value: ShadowValue) {
        switch value {
        case .int(let i): self.init(String(i))
        case .text(let s): self.init(s)
        case .null: return nil
        }
    }

    public static func < (a: NumericText, b: NumericText) -> Bool {
        if a.negative != b.negative { return a.negative }
        let magnitudeLess = less(a, b)
        return a.negative ? (!magnitudeLess && a != b) : magnitudeLess
    }

    private static func less(_ a: NumericText, _ b: NumericText) -> Bool {
        if a.integer.count != b.integer.count { return a.integer.count < b.integer.count }
        if a.integer != b.integer { return a.integer.lexicographicallyPrecedes(b.integer) }
        return a.fraction.lexicographicallyPrecedes(b.fraction)
    }
}
