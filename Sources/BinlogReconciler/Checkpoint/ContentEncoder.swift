/// Appends the uncompressed content to a buffer and hands it to the sink in ~1 MiB chunks, so the
/// whole content never exists in memory.
struct ContentEncoder: ~Copyable {
    let sink: ZstdFileSink
    var buffer: [UInt8]

    init(sink: ZstdFileSink) {
        self.sink = sink
        buffer = []
        buffer.reserveCapacity(CheckpointFormat.chunkSize + (64 << 10))
    }

    mutating func flushIfFull() throws(CheckpointError) {
        if buffer.count >= CheckpointFormat.chunkSize { try flush() }
    }

    mutating func flush() throws(CheckpointError) {
        guard !buffer.isEmpty else { return }
        try withBytes(buffer) { (raw) throws(CheckpointError) in try sink.consume(raw) }
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func u8(_ v: UInt8) { buffer.append(v) }

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(v))
    }

    mutating func zvarint(_ v: Int64) { varint(zigzag(v)) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            buffer.append(contentsOf: utf8)
        }
    }

    /// A presence byte (0 or 1), then, when there is a value, what `write` writes of it.
    mutating func optional<T>(_ v: T?, _ write: (inout ContentEncoder, T) -> Void) {
        if let v {
            u8(1)
            write(&self, v)
        } else {
            u8(0)
        }
    }

    mutating func optionalString(_ s: String?) { optional(s) { $0.string($1) } }

    mutating func bytes(_ p: UnsafeRawBufferPointer) { buffer.append(contentsOf: p) }

    /// A key in full (divergences): kind byte, then zvarint, string or part list.
    mutating func fullKey(_ key: ShadowKey) {
        switch key {
        case .int(let k):
            u8(CheckpointFormat.keyInt)
            zvarint(k)
        case .text(let s):
            u8(CheckpointFormat.keyText)
            string(s)
        case .composite(let parts):
            u8(CheckpointFormat.keyComposite)
            varint(UInt64(parts.count))
            for p in parts { string(p) }
        }
    }

    mutating func value(_ v: ShadowValue) {
        switch v {
        case .null: u8(CheckpointFormat.valueNull)
        case .int(let i):
            u8(CheckpointFormat.valueInt)
            zvarint(i)
        case .text(let s):
            u8(CheckpointFormat.valueText)
            string(s)
        }
    }
}

/// `withUnsafeBytes` keeping the typed error.
func withBytes(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(CheckpointError) -> Void) throws(CheckpointError) {
    var failure: CheckpointError? = nil
    a.withUnsafeBytes { raw in
        do throws(CheckpointError) { try body(raw) } catch { failure = error }
    }
    if let failure { throw failure }
}

@inline(__always) func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
@inline(__always) func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

@inline(__always)
func putVarint(_ p: UnsafeMutablePointer<UInt8>, _ i: inout Int, _ v: UInt64) {
    var v = v
    while v >= 0x80 {
        p[i] = UInt8(truncatingIfNeeded: v) | 0x80
        v >>= 7
        i += 1
    }
    p[i] = UInt8(truncatingIfNeeded: v)
    i += 1
}
