/// The selected columns of one row image (see ``RowSelection``): `self[k]` is the value of
/// `columns[k]`, `.null` when it is NULL or not in the image.
///
/// Integers are kept as they were read and only become a ``ColumnValue`` when asked for, so
/// readers that want integers (``int64(_:)``) never build one.
public struct SelectedValues: Sendable {
    public let count: Int
    private var integers: [UInt64]
    private var others: [ColumnValue]
    // Bit k: what position k holds (none of the three: NULL).
    private var signedBits: UInt64 = 0
    private var unsignedBits: UInt64 = 0
    private var otherBits: UInt64 = 0
    private var absentBits: UInt64 = 0

    init(count: Int) {
        self.count = count
        integers = [UInt64](repeating: 0, count: count)
        others = [ColumnValue](repeating: .null, count: count)
    }

    /// The value of `columns[k]` (`.null` when NULL, absent, or `k` is out of range).
    public subscript(k: Int) -> ColumnValue {
        guard k >= 0 && k < count else { return .null }
        let bit: UInt64 = 1 << UInt64(k)
        if signedBits & bit != 0 { return .int(Int64(bitPattern: integers[k])) }
        if unsignedBits & bit != 0 { return .uint(integers[k]) }
        if otherBits & bit != 0 { return others[k] }
        return .null
    }

    /// All the values, in selection order.
    public var values: [ColumnValue] { (0..<count).map { self[$0] } }

    /// The value when it is a signed integer (``ColumnValue/int(_:)``), else nil.
    @inline(__always) public func int64(_ k: Int) -> Int64? {
        guard k >= 0 && k < count, (signedBits >> UInt64(k)) & 1 == 1 else { return nil }
        return Int64(bitPattern: integers[k])
    }

    /// Whether `columns[k]` is missing from the image (MINIMAL/NOBLOB images, or a column past
    /// the end of the rows event).
    @inline(__always) public func isAbsent(_ k: Int) -> Bool {
        k >= 0 && k < count && (absentBits >> UInt64(k)) & 1 == 1
    }

    @inline(__always) mutating func reset(absent: UInt64) {
        signedBits = 0
        unsignedBits = 0
        otherBits = 0
        absentBits = absent
    }

    @inline(__always) mutating func markAbsent(_ k: Int) {
        if k >= 0 && k < count { absentBits |= 1 << UInt64(k) }
    }

    /// An integer of `width` bytes as read (sign-extended unless `unsigned`), as
    /// ``ColumnDecoder`` would decode it.
    @inline(__always) mutating func setInteger(_ k: Int, _ raw: UInt64, width: Int, unsigned: Bool) {
        guard k >= 0 && k < count else { return }
        let bit: UInt64 = 1 << UInt64(k)
        if unsigned {
            integers[k] = raw
            unsignedBits |= bit
        } else {
            let shift = UInt64(64 &- 8 &* width)
            integers[k] = UInt64(bitPattern: Int64(bitPattern: raw << shift) >> Int64(shift))
            signedBits |= bit
        }
    }

    /// `value` is consumed: it moves into place instead of being copied (a retain and a release
    /// of its payload per value).
    mutating func set(_ k: Int, _ value: consuming ColumnValue) {
        guard k >= 0 && k < count else { return }
        let bit: UInt64 = 1 << UInt64(k)
        signedBits &= ~bit
        unsignedBits &= ~bit
        otherBits &= ~bit
        switch value {
        case .null: return
        case .int(let v): integers[k] = UInt64(bitPattern: v); signedBits |= bit; return
        case .uint(let v): integers[k] = v; unsignedBits |= bit; return
        default: break
        }
        others[k] = value
        otherBits |= bit
    }

    /// Position `to` gets what position `from` holds.
    mutating func copy(from: Int, to: Int) {
        guard from >= 0 && from < count && to >= 0 && to < count else { return }
        set(to, self[from])
        if isAbsent(from) { markAbsent(to) }
    }
}
