import BinlogParser

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
        enc.optional(d.lastAgreedMillis) { $0.zvarint($1) }
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
            enc.optional(c.new) { $0.value($1) }
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
