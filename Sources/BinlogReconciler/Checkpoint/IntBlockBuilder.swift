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
