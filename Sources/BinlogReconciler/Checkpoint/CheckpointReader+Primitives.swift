import BinlogParser

/// The content's primitives: bytes, varints, strings, keys and values, read from the window.
extension CheckpointReader {
    func u8(_ field: String) throws(CheckpointError) -> UInt8 {
        try ensure(1)
        let b = windowBase[pos]
        pos += 1
        return b
    }

    func varint(_ field: String) throws(CheckpointError) -> UInt64 {
        if end - pos < 10 {
            // Near the end of the window: byte by byte (refills as needed).
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try u8(field)
                if shift == 63 && b > 1 { throw corrupt("varint too long in \(field)") }
                result |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return result }
                shift += 7
            }
        }
        var i = pos
        guard let v = decodeVarint(UnsafePointer(windowBase), &i, end) else {
            throw corrupt("varint too long in \(field)")
        }
        pos = i
        return v
    }

    func zvarint(_ field: String) throws(CheckpointError) -> Int64 { unzigzag(try varint(field)) }

    /// A varint count checked against `range` before anything is sized by it.
    func count(_ field: String, _ range: ClosedRange<Int>) throws(CheckpointError) -> Int {
        let v = try varint(field)
        guard v <= UInt64(range.upperBound), Int(v) >= range.lowerBound else {
            throw corrupt("\(field) is \(v), allowed \(range.lowerBound)…\(range.upperBound)")
        }
        return Int(v)
    }

    /// `n` bytes, copied out of the window piece by piece (never sized beyond what was checked).
    func bytes(_ n: Int, _ field: String) throws(CheckpointError) -> [UInt8] {
        guard UInt64(n) <= preamble.contentLength - min(preamble.contentLength, contentOffset) else {
            throw corrupt("\(field) claims \(n) bytes, more than the content has left")
        }
        var out: [UInt8] = []
        out.reserveCapacity(min(n, 1 << 20))
        var left = n
        while left > 0 {
            if pos == end { try ensure(1) }
            let take = min(left, end - pos)
            out.append(contentsOf: UnsafeBufferPointer(start: windowBase + pos, count: take))
            pos += take
            left -= take
        }
        return out
    }

    func string(_ field: String) throws(CheckpointError) -> String {
        let n = try count(field + ".length", 0...CheckpointFormat.maxStringBytes)
        return try utf8(try bytes(n, field), field)
    }

    func utf8(_ b: [UInt8], _ field: String) throws(CheckpointError) -> String {
        guard let s = String(validating: b, as: UTF8.self) else { throw corrupt("\(field) is not valid UTF-8") }
        return s
    }

    /// A presence byte (0 or 1), then, when it is 1, what `read` reads.
    func optional<T>(_ field: String, _ read: () throws(CheckpointError) -> T) throws(CheckpointError) -> T? {
        switch try u8(field + ".present") {
        case 0: return nil
        case 1: return try read()
        case let b: throw corrupt("\(field).present is \(b), expected 0 or 1")
        }
    }

    func optionalString(_ field: String) throws(CheckpointError) -> String? {
        try optional(field) { () throws(CheckpointError) in try string(field) }
    }

    func tag(_ expected: UInt8, _ what: String) throws(CheckpointError) {
        let t = try u8(what)
        guard t == expected else {
            throw corrupt(
                "expected \(what) (tag 0x\(String(expected, radix: 16))), found tag 0x\(String(t, radix: 16))"
            )
        }
    }

    func value(_ field: String) throws(CheckpointError) -> ShadowValue {
        switch try u8(field + ".kind") {
        case CheckpointFormat.valueNull: return .null
        case CheckpointFormat.valueInt: return .int(try zvarint(field))
        case CheckpointFormat.valueText: return .text(try string(field))
        case let k: throw corrupt("\(field).kind is \(k)")
        }
    }

    func fullKey(_ field: String) throws(CheckpointError) -> ShadowKey {
        switch try u8(field + ".kind") {
        case CheckpointFormat.keyInt: return .int(try zvarint(field))
        case CheckpointFormat.keyText: return .text(try string(field))
        case CheckpointFormat.keyComposite:
            let n = try count(field + ".parts", 0...CheckpointFormat.maxCompositeParts)
            var parts: [String] = []
            for _ in 0..<n { parts.append(try string(field + ".part")) }
            return .composite(parts)
        case let k: throw corrupt("\(field).kind is \(k)")
        }
    }
}

/// LEB128 varint from `p[i..<limit]`; nil when it runs past `limit` or over 64 bits.
@inline(__always)
func decodeVarint(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ limit: Int) -> UInt64? {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while i < limit {
        let b = p[i]
        i += 1
        if shift == 63 && b > 1 { return nil }
        result |= UInt64(b & 0x7F) << shift
        if b < 0x80 { return result }
        shift += 7
        if shift > 63 { return nil }
    }
    return nil
}
