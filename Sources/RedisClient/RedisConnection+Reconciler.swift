import ReconcilerCore
internal import CHiredis

// MARK: - Sweeps (pipelined reads)

extension RedisConnection {
    /// Values of `keys`, in order, read with pipelined MGETs: `batchSize` keys per MGET and up to
    /// `pipelineDepth` MGETs in flight (the next one is sent before the previous reply is decoded).
    ///
    /// - Returns: one entry per key: its value (UTF-8 decoded, invalid bytes replaced), or `nil` when
    ///   the key is missing *or holds another type than string* (MGET does not tell them apart:
    ///   ask `type(_:)`/`types(_:)` for the nil ones).
    /// - Throws: transport errors (the connection is then broken) and server errors (e.g. `NOPERM`).
    public func mget(keys: [String], batchSize: Int = 1000, pipelineDepth: Int = 8) throws(RedisError) -> [String?] {
        var out: [String?] = []
        out.reserveCapacity(keys.count)
        try mget(keys: keys, batchSize: batchSize, pipelineDepth: pipelineDepth) { _, value in
            if let value {
                out.append(String(decoding: value, as: UTF8.self))
            } else {
                out.append(nil)
            }
        }
        return out
    }

    /// Binary-safe `mget(keys:batchSize:pipelineDepth:)`: raw value bytes.
    public func mgetBytes(
        keys: [String],
        batchSize: Int = 1000,
        pipelineDepth: Int = 8
    ) throws(RedisError) -> [[UInt8]?] {
        var out: [[UInt8]?] = []
        out.reserveCapacity(keys.count)
        try mget(keys: keys, batchSize: batchSize, pipelineDepth: pipelineDepth) { _, value in
            out.append(value.map { Array($0) })
        }
        return out
    }

    /// Allocation-free form of the pipelined MGET sweep: calls `visit(index, value)` for every key,
    /// in order, with the value's bytes (valid only during the call) or `nil` (missing or not a
    /// string). Compare against the expected values here instead of building strings.
    public func mget(
        keys: [String],
        batchSize: Int = 1000,
        pipelineDepth: Int = 8,
        visit: (_ index: Int, _ value: UnsafeBufferPointer<UInt8>?) -> Void
    ) throws(RedisError) {
        try readValues(.strings, count: keys.count, batchSize: batchSize, pipelineDepth: pipelineDepth) { i, frame in
            frame.appendArgument(keys[i])
        } visit: { i, value in visit(i, value) }
    }

    /// Values of hash fields, in order: one pipelined `HGET key field` each, sent `batchSize` at a
    /// time with up to `pipelineDepth` batches in flight.
    ///
    /// - Returns: the field's value, or `nil` when the key or the field is missing, *or* the key
    ///   holds another type than hash (`WRONGTYPE` is folded into `nil`, as MGET does for
    ///   strings: ask `types(_:)` for the nil ones).
    public func hmget(
        _ fields: [RedisHashField],
        batchSize: Int = 1000,
        pipelineDepth: Int = 8
    ) throws(RedisError) -> [String?] {
        var out: [String?] = []
        out.reserveCapacity(fields.count)
        try readValues(.hashFields, count: fields.count, batchSize: batchSize, pipelineDepth: pipelineDepth) { i, frame in
            frame.appendArgument(fields[i].key)
            frame.appendArgument(fields[i].field)
        } visit: { _, value in
            out.append(value.map { String(decoding: $0, as: UTF8.self) })
        }
        return out
    }

    /// How ``readValues(_:count:batchSize:pipelineDepth:arguments:visit:)`` reads.
    package enum ValueReads {
        /// String keys: one `MGET` of `batchSize` keys per batch; `arguments` appends the key.
        case strings
        /// Hash fields: `batchSize` pipelined `HGET key field` per batch; `arguments` appends the
        /// key and the field.
        case hashFields
        /// String keys one command each: `batchSize` pipelined `GET key` per batch (a Redis
        /// Cluster node: keys of many slots in one pipeline, where one `MGET` must stay inside a
        /// slot); `arguments` appends the key.
        case stringGets
    }

    /// The one pipelined read of watched values (sweeps and change reads, strings and hash fields
    /// alike): batches of `batchSize`, up to `pipelineDepth` of them in flight, so the reply of one
    /// batch is compared while the next ones travel. `arguments(i, &frame)` appends the key
    /// argument(s) of value `i` straight into the request frame (no string per key);
    /// `visit(i, bytes)` gets the value's bytes (valid only during the call) or nil when the key
    /// or field is missing or holds another type (MGET's nil; `WRONGTYPE` for HGET).
    func readValues(
        _ kind: ValueReads,
        count: Int,
        batchSize: Int,
        pipelineDepth: Int,
        arguments: (_ index: Int, _ frame: inout RESPCommandBuffer) -> Void,
        visit: (_ index: Int, _ value: UnsafeBufferPointer<UInt8>?) throws(RedisError) -> Void
    ) throws(RedisError) {
        try readValueBatches(kind, count: count, batchSize: batchSize, pipelineDepth: pipelineDepth, arguments: arguments) { values throws(RedisError) in
            for j in 0..<values.count { try visit(values.first + j, values[j]) }
        }
    }

    /// ``readValues(_:count:batchSize:pipelineDepth:arguments:visit:)`` a reply at a time: one
    /// call per MGET reply (its whole batch) or per HGET reply, so the caller can take a lock once
    /// per batch. While `keepSending()` is true the pipeline stays full; once it is false no
    /// further batch is sent and the ones in flight are read (so a sweep reads one pipeline per
    /// time slice, never draining it between batches).
    /// - Returns: how many values were read: all `count`, or a prefix of whole batches when
    ///   `keepSending` stopped it (at least `pipelineDepth` batches).
    @discardableResult
    package func readValueBatches(
        _ kind: ValueReads,
        count: Int,
        batchSize: Int,
        pipelineDepth: Int,
        keepSending: () -> Bool = { true },
        arguments: (_ index: Int, _ frame: inout RESPCommandBuffer) -> Void,
        visit: (_ values: ReplyValues) throws(RedisError) -> Void
    ) throws(RedisError) -> Int {
        let batch = max(1, batchSize)
        let chunks = (count + batch - 1) / batch
        let what = switch kind {
        case .strings: "MGET"
        case .hashFields: "HGET"
        case .stringGets: "GET"
        }
        let read = try windowedPipeline(
            chunks: chunks,
            depth: pipelineDepth,
            doing: what,
            keepSending: keepSending,
            encode: { c, frame in
                let lo = c * batch
                let hi = min(lo + batch, count)
                switch kind {
                case .strings:
                    frame.beginCommand(argumentCount: hi - lo + 1)
                    frame.appendArgument("MGET")
                    for i in lo..<hi { arguments(i, &frame) }
                    return 1
                case .hashFields, .stringGets:
                    for i in lo..<hi {
                        frame.beginCommand(argumentCount: kind == .hashFields ? 3 : 2)
                        frame.appendArgument(what)
                        arguments(i, &frame)
                    }
                    return hi - lo
                }
            },
            handle: { c, i, reply throws(RedisError) in
                let r = reply.pointee
                switch kind {
                case .strings:
                    let lo = c * batch
                    let n = min(lo + batch, count) - lo
                    guard r.type == REDIS_REPLY_ARRAY, r.elements == n, let elements = r.element else {
                        if r.type == REDIS_REPLY_ERROR {
                            throw serverError(String(decoding: Self.rawBytes(r), as: UTF8.self), doing: what)
                        }
                        throw RedisError(.protocol, "MGET at \(configuration.endpoint): expected an array of \(n), got type \(r.type) with \(r.elements) elements")
                    }
                    try visit(ReplyValues(first: lo, count: n, elements: elements, single: nil))
                case .hashFields, .stringGets:
                    let index = c * batch + i
                    switch r.type {
                    case REDIS_REPLY_STRING: try visit(ReplyValues(first: index, count: 1, elements: nil, single: Self.valueBytes(r)))
                    case REDIS_REPLY_NIL: try visit(ReplyValues(first: index, count: 1, elements: nil, single: nil))
                    case REDIS_REPLY_ERROR:
                        let text = String(decoding: Self.rawBytes(r), as: UTF8.self)
                        guard text.hasPrefix("WRONGTYPE") else { throw serverError(text, doing: what) }
                        try visit(ReplyValues(first: index, count: 1, elements: nil, single: nil))
                    default:
                        throw RedisError(.protocol, "\(what) at \(configuration.endpoint): unexpected reply type \(r.type)")
                    }
                }
            }
        )
        return min(read * batch, count)
    }

    @inline(__always)
    static func valueBytes(_ r: redisReply) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: UnsafeRawPointer(r.str)?.assumingMemoryBound(to: UInt8.self), count: r.str == nil ? 0 : r.len)
    }

    /// `TYPE key`.
    public func type(_ key: String) throws(RedisError) -> RedisKeyType {
        let reply = try command(["TYPE", key])
        guard let name = reply.string else {
            throw RedisError(.protocol, "TYPE at \(configuration.endpoint): expected a status reply, got \(reply)")
        }
        return RedisKeyType(name)
    }

    /// `TYPE` of many keys, pipelined like `hmget` (for the nil results of a sweep).
    public func types(
        _ keys: [String],
        batchSize: Int = 1000,
        pipelineDepth: Int = 8
    ) throws(RedisError) -> [RedisKeyType] {
        var out: [RedisKeyType] = []
        out.reserveCapacity(keys.count)
        let batch = max(1, batchSize)
        try windowedPipeline(
            chunks: (keys.count + batch - 1) / batch,
            depth: pipelineDepth,
            doing: "TYPE",
            encode: { c, frame in
                let lo = c * batch
                let hi = min(lo + batch, keys.count)
                for i in lo..<hi {
                    frame.beginCommand(argumentCount: 2)
                    frame.appendArgument("TYPE")
                    frame.appendArgument(keys[i])
                }
                return hi - lo
            },
            handle: { _, _, reply throws(RedisError) in
                let r = reply.pointee
                switch r.type {
                case REDIS_REPLY_STATUS, REDIS_REPLY_STRING:
                    out.append(RedisKeyType(String(decoding: Self.rawBytes(r), as: UTF8.self)))
                case REDIS_REPLY_ERROR:
                    throw serverError(String(decoding: Self.rawBytes(r), as: UTF8.self), doing: "TYPE")
                default:
                    throw RedisError(.protocol, "TYPE at \(configuration.endpoint): unexpected reply type \(r.type)")
                }
            }
        )
        return out
    }

    // MARK: - SCAN

    /// Iterates `SCAN cursor MATCH pattern COUNT count [TYPE type]` until the cursor returns to 0,
    /// calling `body` with each (possibly empty) page of key names. Keys that exist for the whole
    /// scan are seen at least once; a key may be seen twice (SCAN's guarantee).
    ///
    /// - Parameters:
    ///   - pattern: a glob (`RedisKeyTemplate.scanPattern` gives one).
    ///   - count: SCAN's COUNT hint (keys examined per call, not returned).
    ///   - type: only keys of this type (`SCAN ... TYPE`, Redis 6+).
    ///   - body: return `false` to stop early.
    public func scan(
        pattern: String,
        count: Int = 1000,
        type: RedisKeyType? = nil,
        _ body: (_ keys: [String]) -> Bool
    ) throws(RedisError) {
        var cursor = "0"
        repeat {
            var args = ["SCAN", cursor, "MATCH", pattern, "COUNT", String(max(1, count))]
            if let type { args += ["TYPE", type.description] }
            let reply = try command(args)
            guard case .array(let parts) = reply, parts.count == 2, let next = parts[0].string,
                case .array(let names) = parts[1]
            else {
                throw RedisError(
                    .protocol,
                    "SCAN at \(configuration.endpoint): expected [cursor, [keys]], got \(reply)"
                )
            }
            cursor = next
            if !body(names.compactMap(\.string)) { return }
        } while cursor != "0"
    }

    /// Every key matching `pattern` (see `scan(pattern:count:type:_:)`; duplicates removed).
    public func scanAll(pattern: String, count: Int = 1000, type: RedisKeyType? = nil) throws(RedisError) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        try scan(pattern: pattern, count: count, type: type) { page in
            for k in page where seen.insert(k).inserted { out.append(k) }
            return true
        }
        return out
    }

    // MARK: - CONFIG

    /// `CONFIG GET parameter` (a glob may match several parameters).
    /// - Returns: parameter name to value; empty when nothing matches.
    public func configGet(_ parameter: String) throws(RedisError) -> [String: String] {
        let reply = try command(["CONFIG", "GET", parameter])
        guard case .array(let items) = reply, items.count % 2 == 0 else {
            throw RedisError(
                .protocol,
                "CONFIG GET at \(configuration.endpoint): expected name/value pairs, got \(reply)"
            )
        }
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < items.count {
            if let name = items[i].string { out[name] = items[i + 1].string ?? "" }
            i += 2
        }
        return out
    }

    /// `CONFIG SET parameter value`.
    public func configSet(_ parameter: String, _ value: String) throws(RedisError) {
        _ = try command(["CONFIG", "SET", parameter, value])
    }

    // MARK: - Compare-and-set repairs

    /// Atomically sets `key` to `new` only if it currently holds `expected` (or does not exist, when
    /// `expected` is nil). `new == nil` deletes the key instead. An existing TTL is kept
    /// (`SET ... KEEPTTL`).
    ///
    /// Runs a Lua script loaded once per connection (`SCRIPT LOAD`, then `EVALSHA`; after a
    /// `NOSCRIPT`, e.g. once Redis restarted, `EVAL` sends the source again).
    ///
    /// - Returns: whether it wrote.
    /// - Throws: `.server` with `WRONGTYPE` when the key holds another type than string.
    @discardableResult
    public func compareAndSet(key: String, expected: String?, new: String?) throws(RedisError) -> Bool {
        let reply = try evalCached(
            RedisScripts.stringCAS,
            keys: [key],
            args: [expected == nil ? "0" : "1", expected ?? "", new == nil ? "0" : "1", new ?? ""]
        )
        return reply.integer == 1
    }

    /// Hash-field form of `compareAndSet(key:expected:new:)`: sets (`HSET`) or deletes (`HDEL`)
    /// `field` of hash `key` only if the field currently holds `expected` (or is absent when
    /// `expected` is nil).
    ///
    /// - Returns: whether it wrote.
    @discardableResult
    public func compareAndSetHashField(
        key: String,
        field: String,
        expected: String?,
        new: String?
    ) throws(RedisError) -> Bool {
        let reply = try evalCached(
            RedisScripts.hashFieldCAS,
            keys: [key],
            args: [field, expected == nil ? "0" : "1", expected ?? "", new == nil ? "0" : "1", new ?? ""]
        )
        return reply.integer == 1
    }

    /// `EVALSHA` of a script loaded once (`SCRIPT LOAD`), falling back to `EVAL` on `NOSCRIPT`.
    func evalCached(_ source: String, keys: [String], args: [String]) throws(RedisError) -> RedisReply {
        let sha: String
        if let known = scriptSHAs[source] {
            sha = known
        } else {
            guard let loaded = try command(["SCRIPT", "LOAD", source]).string else {
                throw RedisError(.protocol, "SCRIPT LOAD at \(configuration.endpoint): no SHA1 in the reply")
            }
            scriptSHAs[source] = loaded
            sha = loaded
        }
        let tail = [String(keys.count)] + keys + args
        do {
            return try command(["EVALSHA", sha] + tail)
        } catch  where error.serverErrorCode == "NOSCRIPT" {
            return try command(["EVAL", source] + tail)
        }
    }

    // MARK: - Windowed pipeline

    /// Sends `chunks` chunks of commands with at most `depth` chunks in flight. `encode(c, &frame)`
    /// writes chunk `c`'s commands and returns how many it wrote; `handle(c, i, reply)` sees the
    /// `i`-th reply of chunk `c`, in order. Chunk `c + depth` is sent as soon as chunk `c`'s
    /// first reply is in, before that reply is handled, so Redis works while we decode.
    ///
    /// If `handle` throws, the replies still in flight are read and dropped, so the connection
    /// stays usable; transport errors break it. Once `keepSending()` is false (asked before each
    /// chunk after the first `depth`), no more chunks are sent.
    /// - Returns: how many chunks were sent and read.
    @discardableResult
    func windowedPipeline(
        chunks: Int,
        depth: Int,
        doing what: String,
        keepSending: () -> Bool = { true },
        encode: (_ chunk: Int, _ frame: inout RESPCommandBuffer) -> Int,
        handle: (_ chunk: Int, _ index: Int, _ reply: UnsafeMutablePointer<redisReply>) throws(RedisError) -> Void
    ) throws(RedisError) -> Int {
        guard chunks > 0 else { return 0 }
        let depth = max(1, depth)
        var counts = [Int](repeating: 0, count: depth)  // replies expected per in-flight chunk (ring)
        var sent = 0
        var outstanding = 0  // replies sent but not yet read

        func send() throws(RedisError) {
            frame.reset()
            let n = encode(sent, &frame)
            counts[sent % depth] = n
            outstanding += n
            try append(frame, doing: what)
            sent += 1
        }

        // Each of the first chunks is written as soon as it is encoded, so Redis starts at once.
        while sent < min(depth, chunks) {
            try send()
            try flush(doing: what)
        }
        var chunk = 0
        var sending = true
        while chunk < sent {
            let n = counts[chunk % depth]
            for i in 0..<n {
                let reply = try nextReply(doing: what)
                outstanding -= 1
                if i == 0, sending, sent < chunks {
                    sending = keepSending()
                    if sending {
                        do {
                            try send()
                            try flush(doing: what)
                        } catch {
                            freeReplyObject(reply)
                            throw error
                        }
                    }
                }
                do {
                    try handle(chunk, i, reply)
                } catch {
                    freeReplyObject(reply)
                    if isConnected { try discardReplies(outstanding, doing: what) }
                    throw error
                }
                freeReplyObject(reply)
            }
            chunk += 1
        }
        return sent
    }
}

/// The values of one reply of ``RedisConnection/readValueBatches(_:count:batchSize:pipelineDepth:arguments:visit:)``:
/// values `first ..< first + count` of the read, each the value's bytes (valid only during the
/// call) or nil (missing, or another type).
package struct ReplyValues {
    package let first: Int
    package let count: Int
    fileprivate let elements: UnsafeMutablePointer<UnsafeMutablePointer<redisReply>?>?
    fileprivate let single: UnsafeBufferPointer<UInt8>?

    @inline(__always)
    package subscript(j: Int) -> UnsafeBufferPointer<UInt8>? {
        guard let elements else { return single }
        guard let e = elements[j], e.pointee.type == REDIS_REPLY_STRING else { return nil }
        return RedisConnection.valueBytes(e.pointee)
    }
}
