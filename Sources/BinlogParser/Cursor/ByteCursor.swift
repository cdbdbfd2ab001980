/// A bounds-checked little-endian reader over bytes that someone else owns.
///
/// It is only ever created inside a `withUnsafeBytes` scope and never escapes it. Every read checks
/// the remaining length first and throws ``BinlogDecodingError`` with the absolute offset of the
/// field; nothing in here can trap on hostile input.
struct ByteCursor {
    let base: UnsafeRawBufferPointer
    /// Index of the next byte to read, relative to `base`.
    var position: Int
    /// One past the last readable byte, relative to `base` (a cursor may be restricted).
    var end: Int
    /// Absolute offset (in the file or stream) of `base[0]`.
    let baseOffset: UInt64

    init(_ base: UnsafeRawBufferPointer, baseOffset: UInt64 = 0) {
        self.base = base
        self.position = 0
        self.end = base.count
        self.baseOffset = baseOffset
    }

    @inline(__always) var remaining: Int { end &- position }
    @inline(__always) var isAtEnd: Bool { position >= end }
    @inline(__always) var absoluteOffset: UInt64 { baseOffset &+ UInt64(position) }

    @inline(__always)
    func need(_ count: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) {
        if count < 0 || count > end &- position {
            throw BinlogDecodingError(
                .truncated(needed: count, available: max(0, end &- position)), field: field(),
                byteOffset: absoluteOffset)
        }
    }

    func fail(_ kind: BinlogDecodingError.Kind, _ field: String) -> BinlogDecodingError {
        BinlogDecodingError(kind, field: field, byteOffset: absoluteOffset)
    }

    // MARK: - Fixed-width little-endian integers

    @inline(__always)
    mutating func u8(_ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UInt8 {
        try need(1, field())
        let v = base[position]
        position &+= 1
        return v
    }

    @inline(__always)
    mutating func uint(_ width: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UInt64 {
        try need(width, field())
        let v = loadLE(at: position, width: width)
        position &+= width
        return v
    }

    @inline(__always)
    mutating func u16(_ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UInt16 {
        try need(2, field())
        let v = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt16.self))
        position &+= 2
        return v
    }

    @inline(__always)
    mutating func u32(_ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UInt32 {
        try need(4, field())
        let v = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt32.self))
        position &+= 4
        return v
    }

    @inline(__always)
    mutating func u64(_ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UInt64 {
        try need(8, field())
        let v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        position &+= 8
        return v
    }

    /// Big-endian unsigned integer of 1…8 bytes (temporal and DECIMAL encodings use these).
    @inline(__always)
    mutating func uintBE(_ width: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UInt64 {
        try need(width, field())
        var v: UInt64 = 0
        for i in 0..<width { v = (v << 8) | UInt64(base[position &+ i]) }
        position &+= width
        return v
    }

    /// Little-endian unsigned integer of `width` (0…8) bytes at `index`; the caller checked bounds.
    @inline(__always)
    func loadLE(at index: Int, width: Int) -> UInt64 {
        switch width {
        case 8: return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        case 4: return UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt32.self)))
        case 2: return UInt64(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt16.self)))
        case 1: return UInt64(base[index])
        default:
            var v: UInt64 = 0
            var i = width &- 1
            while i >= 0 {
                v = (v << 8) | UInt64(base[index &+ i])
                i &-= 1
            }
            return v
        }
    }

    // MARK: - MySQL encodings

    /// A length-encoded integer (`net_field_length`): < 251 in one byte, 0xfc + 2, 0xfd + 3, 0xfe + 8.
    mutating func lengthEncoded(_ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UInt64 {
        let first = try u8(field())
        switch first {
        case 0..<251: return UInt64(first)
        case 0xfc: return try uint(2, field())
        case 0xfd: return try uint(3, field())
        case 0xfe: return try uint(8, field())
        default:
            position -= 1
            throw fail(.invalidValue("length-encoded integer starts with 0x\(String(first, radix: 16))"), field())
        }
    }

    /// A length-encoded integer that must also fit in the bytes that remain (a count or a length).
    mutating func lengthEncodedCount(_ field: @autoclosure () -> String, unitSize: Int = 1) throws(BinlogDecodingError) -> Int {
        let start = position
        let v = try lengthEncoded(field())
        guard v <= UInt64(remaining / max(unitSize, 1)) else {
            position = start
            throw fail(.truncated(needed: Int(clamping: v), available: remaining), field())
        }
        return Int(v)
    }

    /// A count that must fit: the bytes it implies are checked against what remains.
    func checkedCount(_ value: UInt64, unitSize: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> Int {
        guard unitSize == 0 || value <= UInt64(remaining / unitSize) else {
            throw fail(.truncated(needed: Int(clamping: value), available: remaining), field())
        }
        return Int(clamping: value)
    }

    mutating func skip(_ count: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) {
        try need(count, field())
        position &+= count
    }

    /// `count` bytes as a new array.
    mutating func bytes(_ count: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> [UInt8] {
        try need(count, field())
        let out = Array(UnsafeRawBufferPointer(rebasing: base[position..<(position &+ count)]))
        position &+= count
        return out
    }

    /// `count` bytes without copying (valid only inside the enclosing `withUnsafeBytes`).
    mutating func rawBytes(_ count: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> UnsafeRawBufferPointer {
        try need(count, field())
        let out = UnsafeRawBufferPointer(rebasing: base[position..<(position &+ count)])
        position &+= count
        return out
    }

    /// Everything that is left, without copying.
    mutating func rest() -> UnsafeRawBufferPointer {
        let out = UnsafeRawBufferPointer(rebasing: base[position..<end])
        position = end
        return out
    }

    /// `count` bytes decoded as UTF-8 (invalid sequences repaired).
    mutating func string(_ count: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> String {
        let raw = try rawBytes(count, field())
        return String(decoding: raw, as: UTF8.self)
    }

    /// A string ended by a NUL byte (the NUL is consumed); the rest of the input when no NUL is found
    /// and `allowUnterminated` is set.
    mutating func nulTerminatedString(_ field: @autoclosure () -> String, allowUnterminated: Bool = false) throws(BinlogDecodingError) -> String {
        var i = position
        while i < end, base[i] != 0 { i &+= 1 }
        if i == end && !allowUnterminated {
            throw fail(.truncated(needed: i - position + 1, available: remaining), field())
        }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: base[position..<i]), as: UTF8.self)
        position = i < end ? i &+ 1 : end
        return s
    }

    /// A sub-cursor over the next `count` bytes; this cursor moves past them.
    mutating func subCursor(_ count: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> ByteCursor {
        try need(count, field())
        var sub = self
        sub.end = position &+ count
        position &+= count
        return sub
    }

    /// Throws when bytes are left over.
    func expectEnd(_ field: String) throws(BinlogDecodingError) {
        if position < end { throw fail(.trailingBytes(end - position), field) }
    }
}

/// A bit set as MySQL lays it out: bit `i` is bit `i % 8` of byte `i / 8` (least significant first).
///
/// The first 64 bits are held inline, so the bitmaps of tables of up to 64 columns allocate
/// nothing; bits at or past `count` are always clear.
struct Bitmap: Hashable, Sendable {
    private var low: UInt64 = 0
    private var high: [UInt64] = []
    let count: Int

    /// From `(count + 7) / 8` bytes (fewer are read as zero bits, more are ignored).
    init(bytes: UnsafeRawBufferPointer, count: Int) {
        self.count = max(0, count)
        let n = min(bytes.count, (self.count + 7) / 8)
        if self.count > 64 { high = [UInt64](repeating: 0, count: (self.count - 64 + 63) / 64) }
        for j in 0..<n {
            let b = UInt64(bytes[j])
            if j < 8 {
                low |= b << UInt64(j * 8)
            } else {
                high[(j - 8) / 8] |= b << UInt64(((j - 8) % 8) * 8)
            }
        }
        clearPastCount()
    }

    init(bytes: [UInt8], count: Int) {
        var b = Bitmap(count: 0)
        bytes.withUnsafeBytes { b = Bitmap(bytes: $0, count: count) }
        self = b
    }

    private init(count: Int) { self.count = count }

    init(allSet count: Int) {
        self.count = max(0, count)
        low = ~0
        if self.count > 64 { high = [UInt64](repeating: ~0, count: (self.count - 64 + 63) / 64) }
        clearPastCount()
    }

    private mutating func clearPastCount() {
        if count < 64 { low &= (1 << UInt64(count)) &- 1 }
        if count > 64 {
            let rest = (count - 64) % 64
            if rest != 0, !high.isEmpty { high[high.count - 1] &= (1 << UInt64(rest)) &- 1 }
        }
    }

    /// Bit `i`; false outside `0..<count`.
    @inline(__always) subscript(i: Int) -> Bool {
        if i >= 0 && i < 64 { return (low >> UInt64(i)) & 1 == 1 }
        guard i >= 64 && i < count else { return false }
        let j = i - 64
        return (high[j >> 6] >> UInt64(j & 63)) & 1 == 1
    }

    var setCount: Int {
        var n = low.nonzeroBitCount
        for w in high { n += w.nonzeroBitCount }
        return n
    }

    var allSet: Bool { setCount == count }
}

extension ByteCursor {
    mutating func bitmap(_ count: Int, _ field: @autoclosure () -> String) throws(BinlogDecodingError) -> Bitmap {
        let raw = try rawBytes((count + 7) / 8, field())
        return Bitmap(bytes: raw, count: count)
    }
}

extension ArraySlice where Element == UInt8 {
    /// `withUnsafeBytes` with the parser's typed error.
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(BinlogDecodingError) -> R) throws(BinlogDecodingError) -> R {
        let result: Result<R, BinlogDecodingError> = withUnsafeBytes { raw in
            do throws(BinlogDecodingError) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
