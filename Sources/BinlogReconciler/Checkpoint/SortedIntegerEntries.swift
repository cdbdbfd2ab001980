/// Produces the entries of an `[Int64: Int64]` in ascending key order, in chunks, for the
/// checkpoint encoder, without a comparison sort of the whole table.
///
/// - Dense keys (the key range is at most about twice the count, e.g. sequential ids): values
///   are placed at `key - min` in an array with a presence bitmap, then read back in order
///   (8.1 bytes per slot of the range; no sort).
/// - Otherwise: (key, value) pairs are copied to one array (16 bytes per entry) and sorted in
///   place by an MSD radix sort (11-bit digits, American-flag permutation), small buckets by
///   insertion sort.
enum SortedIntegerEntries {
    static let chunkSize = CheckpointFormat.maxBlockEntries

    /// Which strategy `forEachChunk` used, for benchmarks.
    enum Strategy: String, Sendable { case empty, dense, radix }

    /// Calls `body` with consecutive chunks (1…65 536 entries) of keys and values in key order.
    @discardableResult
    static func forEachChunk<E: Error>(
        _ dict: [Int64: Int64],
        _ body: (UnsafeBufferPointer<Int64>, UnsafeBufferPointer<Int64>) throws(E) -> Void
    ) throws(E) -> Strategy {
        let n = dict.count
        guard n > 0 else { return .empty }
        var lo = Int64.max
        var hi = Int64.min
        for k in dict.keys {
            if k < lo { lo = k }
            if k > hi { hi = k }
        }
        let span = UInt64(bitPattern: hi &- lo)  // range - 1; exact even across the sign boundary
        let keys = UnsafeMutablePointer<Int64>.allocate(capacity: chunkSize)
        let values = UnsafeMutablePointer<Int64>.allocate(capacity: chunkSize)
        defer {
            keys.deallocate()
            values.deallocate()
        }
        if span < UInt64(2 * n + 4096) {
            let range = Int(span) + 1
            try dense(dict, lo: lo, range: range, keys: keys, values: values, body)
            return .dense
        }
        try radix(dict, keys: keys, values: values, body)
        return .radix
    }

    private static func dense<E: Error>(
        _ dict: [Int64: Int64],
        lo: Int64,
        range: Int,
        keys: UnsafeMutablePointer<Int64>,
        values: UnsafeMutablePointer<Int64>,
        _ body: (UnsafeBufferPointer<Int64>, UnsafeBufferPointer<Int64>) throws(E) -> Void
    ) throws(E) {
        let slots = UnsafeMutablePointer<Int64>.allocate(capacity: range)
        let words = (range + 63) / 64
        let bits = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
        bits.initialize(repeating: 0, count: words)
        defer {
            slots.deallocate()
            bits.deallocate()
        }
        for (k, v) in dict {
            let i = Int(truncatingIfNeeded: k &- lo)
            (slots + i).initialize(to: v)
            bits[i >> 6] |= 1 << UInt64(i & 63)
        }
        var filled = 0
        for w in 0..<words {
            var word = bits[w]
            while word != 0 {
                let i = w << 6 | word.trailingZeroBitCount
                word &= word &- 1
                keys[filled] = lo &+ Int64(i)
                values[filled] = slots[i]
                filled += 1
                if filled == chunkSize {
                    try body(
                        UnsafeBufferPointer(start: keys, count: filled),
                        UnsafeBufferPointer(start: values, count: filled)
                    )
                    filled = 0
                }
            }
        }
        if filled > 0 {
            try body(UnsafeBufferPointer(start: keys, count: filled), UnsafeBufferPointer(start: values, count: filled))
        }
    }

    struct Pair {
        var key: UInt64  // sign bit flipped: unsigned order = signed order
        var value: Int64
    }

    private static func radix<E: Error>(
        _ dict: [Int64: Int64],
        keys: UnsafeMutablePointer<Int64>,
        values: UnsafeMutablePointer<Int64>,
        _ body: (UnsafeBufferPointer<Int64>, UnsafeBufferPointer<Int64>) throws(E) -> Void
    ) throws(E) {
        let n = dict.count
        let pairs = UnsafeMutablePointer<Pair>.allocate(capacity: n)
        defer { pairs.deallocate() }
        var i = 0
        var lo = UInt64.max
        var hi: UInt64 = 0
        for (k, v) in dict {
            let u = UInt64(bitPattern: k) ^ (1 << 63)
            (pairs + i).initialize(to: Pair(key: u, value: v))
            if u < lo { lo = u }
            if u > hi { hi = u }
            i += 1
        }
        let topBit = 63 - (lo ^ hi).leadingZeroBitCount  // highest bit that differs
        sort(pairs, n, shift: max(0, topBit - 10))
        var start = 0
        while start < n {
            let m = min(chunkSize, n - start)
            for j in 0..<m {
                let p = pairs[start + j]
                keys[j] = Int64(bitPattern: p.key ^ (1 << 63))
                values[j] = p.value
            }
            try body(UnsafeBufferPointer(start: keys, count: m), UnsafeBufferPointer(start: values, count: m))
            start += m
        }
    }

    /// Sorts `a[0..<n]` by the bits of `key` at and below `shift + 10` (the bits above are equal).
    static func sort(_ a: UnsafeMutablePointer<Pair>, _ n: Int, shift: Int) {
        if n <= 48 {
            insertionSort(a, n)
            return
        }
        let radixBits = 11
        let buckets = 1 << radixBits
        let mask = UInt64(buckets - 1)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * buckets) { tmp in
            let heads = tmp.baseAddress!
            let tails = heads + buckets
            heads.initialize(repeating: 0, count: 2 * buckets)
            let s = UInt64(shift)
            for i in 0..<n { tails[Int((a[i].key >> s) & mask)] += 1 }
            var sum = 0
            for b in 0..<buckets {
                let c = tails[b]
                heads[b] = sum
                sum += c
                tails[b] = sum
            }
            // American flag: cycle each element into its bucket, in place.
            for b in 0..<buckets {
                while heads[b] < tails[b] {
                    var v = a[heads[b]]
                    var d = Int((v.key >> s) & mask)
                    while d != b {
                        swap(&v, &a[heads[d]])
                        heads[d] += 1
                        d = Int((v.key >> s) & mask)
                    }
                    a[heads[b]] = v
                    heads[b] += 1
                }
            }
            guard shift > 0 else { return }
            // heads[b] is now the end of bucket b.
            var begin = 0
            let next = max(0, shift - radixBits)
            for b in 0..<buckets {
                let end = heads[b]
                if end - begin > 1 { sort(a + begin, end - begin, shift: next) }
                begin = end
            }
        }
    }

    private static func insertionSort(_ a: UnsafeMutablePointer<Pair>, _ n: Int) {
        if n < 2 { return }
        for i in 1..<n {
            let x = a[i]
            var j = i
            while j > 0 && a[j - 1].key > x.key {
                a[j] = a[j - 1]
                j -= 1
            }
            a[j] = x
        }
    }
}
