import BinlogParser
import CZstd

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Compressed sink

/// Compresses content chunks into one zstd frame written to a file after the 40-byte header,
/// keeping the CRC-32s and lengths the header needs. Memory: one 1 MiB output buffer plus zstd's
/// context (level 3: a 2 MiB window).
final class ZstdFileSink {
    let file: PosixFile
    private let cctx: OpaquePointer
    private let out: UnsafeMutableRawBufferPointer
    private(set) var bodyCRC: UInt32 = 0
    private(set) var bodyLength: UInt64 = 0
    private(set) var contentCRC: UInt32 = 0
    private(set) var contentLength: UInt64 = 0

    init(file: PosixFile, level: Int32, workers: Int32) throws(CheckpointError) {
        self.file = file
        guard let c = ZSTD_createCCtx() else {
            throw CheckpointError(.io(operation: "ZSTD_createCCtx", errno: ENOMEM), path: file.path)
        }
        cctx = c
        out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
        if workers > 0 { ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers) }
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        out.deallocate()
    }

    /// Compresses `chunk` (uncompressed content) and writes whatever zstd produces.
    func consume(_ chunk: UnsafeRawBufferPointer) throws(CheckpointError) {
        guard chunk.count > 0 else { return }
        contentCRC = updateCRC(contentCRC, chunk)
        contentLength += UInt64(chunk.count)
        var input = ZSTD_inBuffer(src: chunk.baseAddress, size: chunk.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    /// Ends the frame and flushes it.
    func finish() throws(CheckpointError) {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ op: ZSTD_EndDirective) throws(CheckpointError) -> Int {
        var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
        let r = ZSTD_compressStream2(cctx, &output, &input, op)
        if ZSTD_isError(r) != 0 {
            throw CheckpointError(
                .invalidInput("zstd compression failed: " + String(cString: ZSTD_getErrorName(r))),
                path: file.path
            )
        }
        if output.pos > 0 {
            let produced = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<output.pos])
            bodyCRC = updateCRC(bodyCRC, produced)
            bodyLength += UInt64(output.pos)
            try file.writeAll(produced)
        }
        return r
    }
}

@inline(__always)
func updateCRC(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 { CRC32.update(crc, bytes) }

// MARK: - Content encoder

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

    mutating func optionalString(_ s: String?) {
        if let s {
            u8(1)
            string(s)
        } else {
            u8(0)
        }
    }

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

// MARK: - Checkpoint encoding

/// Timing of one write, for benchmarks and logs.
public struct CheckpointWriteStats: Sendable, Hashable {
    public var fileBytes: UInt64
    public var contentBytes: UInt64
    public var keyCount: UInt64
    /// How the integer keys were put in order per watch (`dense`, `radix`, `empty`).
    public var sortStrategies: [String]
}

/// Writes a whole checkpoint file (header placeholder, body, then the real header) into `file`,
/// which must be new and empty. Does not fsync or rename (``CheckpointStore`` does).
func encodeCheckpoint(
    _ cp: Checkpoint,
    into file: PosixFile,
    level: Int32 = 3,
    workers: Int32 = 0
) throws(CheckpointError) -> CheckpointWriteStats {
    var names = Set<String>()
    for w in cp.watches where !names.insert(w.schema.name).inserted {
        throw CheckpointError(.invalidInput("two watches are named \(w.schema.name)"), path: file.path)
    }
    guard cp.watches.count <= CheckpointFormat.maxWatches else {
        throw CheckpointError(
            .invalidInput("\(cp.watches.count) watches (at most \(CheckpointFormat.maxWatches))"),
            path: file.path
        )
    }
    let placeholder = [UInt8](repeating: 0, count: CheckpointFormat.headerSize)
    try withBytes(placeholder) { (raw) throws(CheckpointError) in try file.writeAll(raw) }

    let sink = try ZstdFileSink(file: file, level: level, workers: workers)
    var enc = ContentEncoder(sink: sink)
    var stats = CheckpointWriteStats(fileBytes: 0, contentBytes: 0, keyCount: 0, sortStrategies: [])

    // Header section.
    let h = cp.header
    enc.u8(CheckpointFormat.tagHeader)
    enc.zvarint(h.createdMillis)
    enc.u8(h.source.flavour == .mysql ? CheckpointFormat.flavourMySQL : CheckpointFormat.flavourMariaDB)
    enc.varint(UInt64(h.source.serverID))
    enc.optionalString(h.source.serverUUID)
    guard h.source.gtidDomains.count <= CheckpointFormat.maxDomains else {
        throw CheckpointError(.invalidInput("\(h.source.gtidDomains.count) GTID domains"), path: file.path)
    }
    enc.varint(UInt64(h.source.gtidDomains.count))
    for d in h.source.gtidDomains { enc.varint(UInt64(d)) }
    enc.string(h.position.file)
    enc.varint(h.position.position)
    enc.string(h.gtidState)
    enc.string(h.watchesFingerprint)
    enc.string(h.schemaFingerprint)
    enc.varint(UInt64(cp.watches.count))
    enc.varint(UInt64(cp.divergences.count))

    let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: CheckpointFormat.maxBlockEntries * 20 + 16)
    defer { scratch.deallocate() }

    for w in cp.watches {
        let s = w.schema
        guard (1...CheckpointFormat.maxKeyColumns).contains(s.keyColumns.count) else {
            throw CheckpointError(
                .invalidInput("watch \(s.name) has \(s.keyColumns.count) key columns"),
                path: file.path
            )
        }
        let map = w.map
        // Entries with an integer key but a non-integer value (NULL, text) live in `others`.
        var otherInts: [(Int64, ShadowValue)] = []
        var rest: [(ShadowKey, ShadowValue)] = []
        for (k, v) in map.others {
            if case .int(let i) = k {
                if case .int = v {
                    throw CheckpointError(
                        .invalidInput("watch \(s.name): integer entry \(i) outside the integer table"),
                        path: file.path
                    )
                }
                otherInts.append((i, v))
            } else {
                rest.append((k, v))
            }
        }
        otherInts.sort { $0.0 < $1.0 }
        rest.sort { $0.0 < $1.0 }

        enc.u8(CheckpointFormat.tagWatch)
        enc.string(s.name)
        enc.string(s.table)
        enc.varint(UInt64(s.keyColumns.count))
        for c in s.keyColumns {
            enc.string(c.name)
            enc.string(c.type)
        }
        enc.string(s.valueColumn.name)
        enc.string(s.valueColumn.type)
        enc.string(s.schemaSince.file)
        enc.varint(s.schemaSince.position)
        let intKeyCount = map.ints.count + otherInts.count
        enc.varint(UInt64(intKeyCount))
        enc.varint(UInt64(rest.count))
        stats.keyCount += UInt64(map.count)

        var block = IntBlockBuilder(scratch: scratch)
        defer { block.deallocate() }
        var j = 0
        let strategy = try SortedIntegerEntries.forEachChunk(map.ints) { (keys, values) throws(CheckpointError) in
            if j == otherInts.count && block.count == 0 {
                // Common case: no NULL/text values among integer keys; a chunk is a block.
                try block.writeBlock(keys: keys, values: values, into: &enc)
                return
            }
            for i in 0..<keys.count {
                let k = keys[i]
                while j < otherInts.count && otherInts[j].0 < k {
                    try block.append(otherInts[j].0, exception: otherInts[j].1, into: &enc)
                    j += 1
                }
                try block.append(k, values[i], into: &enc)
            }
        }
        while j < otherInts.count {
            try block.append(otherInts[j].0, exception: otherInts[j].1, into: &enc)
            j += 1
        }
        try block.flush(into: &enc)
        stats.sortStrategies.append(strategy.rawValue)

        // Text and composite keys, prefix-compressed text.
        var start = 0
        while start < rest.count {
            let n = min(CheckpointFormat.maxBlockEntries, rest.count - start)
            enc.u8(CheckpointFormat.tagOtherBlock)
            enc.varint(UInt64(n))
            var previous: [UInt8] = []
            for (key, value) in rest[start..<(start + n)] {
                switch key {
                case .int: break  // separated above
                case .text(let t):
                    let bytes = Array(t.utf8)
                    var shared = 0
                    let limit = min(bytes.count, previous.count)
                    while shared < limit && bytes[shared] == previous[shared] { shared += 1 }
                    enc.u8(CheckpointFormat.keyText)
                    enc.varint(UInt64(shared))
                    enc.varint(UInt64(bytes.count - shared))
                    enc.buffer.append(contentsOf: bytes[shared...])
                    previous = bytes
                case .composite(let parts):
                    enc.u8(CheckpointFormat.keyComposite)
                    enc.varint(UInt64(parts.count))
                    for p in parts { enc.string(p) }
                }
                enc.value(value)
                try enc.flushIfFull()
            }
            start += n
        }
    }

    enc.u8(CheckpointFormat.tagDivergences)
    enc.varint(UInt64(cp.divergences.count))
    for d in cp.divergences {
        enc.varint(d.id)
        enc.string(d.watch)
        enc.fullKey(d.key)
        enc.string(d.redisKey)
        enc.string(d.kind)
        enc.zvarint(d.firstSeenMillis)
        enc.optionalString(d.expected)
        enc.optionalString(d.redisValue)
        enc.optionalString(d.lastAgreedGTID)
        if let t = d.lastAgreedMillis {
            enc.u8(1)
            enc.zvarint(t)
        } else {
            enc.u8(0)
        }
        try enc.flushIfFull()
    }
    // Held XA transactions (version 2): changes name their watch by its index in this file.
    var watchIndex: [String: Int] = [:]
    for (i, w) in cp.watches.enumerated() { watchIndex[w.schema.name] = i }
    let heldTotal = cp.heldXA.reduce(0) { $0 + $1.changes.count }
    guard heldTotal <= CheckpointFormat.maxHeldChanges, Set(cp.heldXA.map(\.xid)).count == cp.heldXA.count else {
        throw CheckpointError(
            .invalidInput("\(cp.heldXA.count) held XA transactions with \(heldTotal) changes (at most \(CheckpointFormat.maxHeldChanges), xids unique)"),
            path: file.path
        )
    }
    enc.u8(CheckpointFormat.tagHeldXA)
    enc.varint(UInt64(cp.heldXA.count))
    for h in cp.heldXA {
        enc.string(h.xid)
        enc.string(h.preparedAt)
        enc.varint(UInt64(h.timestamp))
        enc.varint(UInt64(h.changes.count))
        for c in h.changes {
            guard let w = watchIndex[c.watch] else {
                throw CheckpointError(.invalidInput("held XA \(h.xid) changes watch \(c.watch), which is not in the checkpoint"), path: file.path)
            }
            enc.varint(UInt64(w))
            enc.fullKey(c.key)
            if let v = c.new {
                enc.u8(1)
                enc.value(v)
            } else {
                enc.u8(0)
            }
            try enc.flushIfFull()
        }
    }
    enc.u8(CheckpointFormat.tagEnd)
    try enc.flush()
    try sink.finish()

    let preamble = CheckpointPreamble(
        version: CheckpointFormat.version,
        flags: CheckpointFormat.flagZstd,
        bodyCRC: sink.bodyCRC,
        bodyLength: sink.bodyLength,
        contentLength: sink.contentLength,
        contentCRC: sink.contentCRC
    )
    try file.pwriteAll(preamble.encoded(), at: 0)
    stats.fileBytes = UInt64(CheckpointFormat.headerSize) + sink.bodyLength
    stats.contentBytes = sink.contentLength
    return stats
}

/// Collects integer-key entries into blocks of up to 65 536:
/// `'I', varint n, varint columns_length, keys column, values column, varint exception_count,
/// exceptions`. Keys: the first as a zigzag varint, then each as varint (key − previous − 1).
/// Values: zigzag varints (0 where an exception gives the real value).
struct IntBlockBuilder {
    let scratch: UnsafeMutablePointer<UInt8>
    let keys = UnsafeMutablePointer<Int64>.allocate(capacity: CheckpointFormat.maxBlockEntries)
    let values = UnsafeMutablePointer<Int64>.allocate(capacity: CheckpointFormat.maxBlockEntries)
    var count = 0
    var exceptions: [(Int, ShadowValue)] = []

    init(scratch: UnsafeMutablePointer<UInt8>) { self.scratch = scratch }

    func deallocate() {
        keys.deallocate()
        values.deallocate()
    }

    mutating func append(_ k: Int64, _ v: Int64, into enc: inout ContentEncoder) throws(CheckpointError) {
        keys[count] = k
        values[count] = v
        count += 1
        if count == CheckpointFormat.maxBlockEntries { try flush(into: &enc) }
    }

    mutating func append(_ k: Int64, exception v: ShadowValue, into enc: inout ContentEncoder) throws(CheckpointError) {
        exceptions.append((count, v))
        try append(k, 0, into: &enc)
    }

    mutating func flush(into enc: inout ContentEncoder) throws(CheckpointError) {
        guard count > 0 else { return }
        try writeBlock(
            keys: UnsafeBufferPointer(start: keys, count: count),
            values: UnsafeBufferPointer(start: values, count: count),
            into: &enc
        )
        count = 0
    }

    /// Writes one block from sorted keys (with `exceptions` indexing into them), then clears the exceptions.
    mutating func writeBlock(
        keys: UnsafeBufferPointer<Int64>,
        values: UnsafeBufferPointer<Int64>,
        into enc: inout ContentEncoder
    ) throws(CheckpointError) {
        let n = keys.count
        var len = 0
        var previous = keys[0]
        putVarint(scratch, &len, zigzag(previous))
        for i in 1..<n {
            let k = keys[i]
            putVarint(scratch, &len, UInt64(bitPattern: k &- previous) &- 1)
            previous = k
        }
        for i in 0..<n { putVarint(scratch, &len, zigzag(values[i])) }
        enc.u8(CheckpointFormat.tagIntBlock)
        enc.varint(UInt64(n))
        enc.varint(UInt64(len))
        enc.bytes(UnsafeRawBufferPointer(start: scratch, count: len))
        enc.varint(UInt64(exceptions.count))
        for (index, value) in exceptions {
            enc.varint(UInt64(index))
            enc.value(value)
        }
        exceptions.removeAll(keepingCapacity: true)
        try enc.flushIfFull()
    }
}
