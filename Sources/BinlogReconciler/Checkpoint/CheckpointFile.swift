/// Reading and writing single checkpoint files. ``CheckpointStore`` adds atomic replacement,
/// retention and fallback to an older file.
public enum CheckpointFile {
    /// Writes `checkpoint` to a new file at `path` (it must not exist) and fsyncs it. Not atomic
    /// by itself: ``CheckpointStore/write(_:)`` writes to a temporary file and renames it.
    /// - Parameters:
    ///   - level: zstd compression level (3 is fast and compact for this data).
    ///   - workers: zstd worker threads (0: compress on the calling thread).
    @discardableResult
    public static func write(
        _ checkpoint: Checkpoint,
        to path: String,
        level: Int32 = 3,
        workers: Int32 = 0
    ) throws(CheckpointError) -> CheckpointWriteStats {
        let file = try PosixFile.create(path)
        let stats = try encodeCheckpoint(checkpoint, into: file, level: level, workers: workers)
        try file.sync()
        try file.closeChecked()
        return stats
    }

    /// Reads and fully verifies a checkpoint.
    public static func read(path: String) throws(CheckpointError) -> Checkpoint {
        let reader = try CheckpointReader(path: path)
        var loader = LoadingVisitor(path: path, bodyLength: reader.preamble.bodyLength)
        try reader.read(into: &loader)
        return loader.checkpoint()
    }

    /// Verifies a checkpoint completely and returns its header, schemas and counts, without
    /// keeping the shadow maps in memory.
    public static func summary(path: String) throws(CheckpointError) -> CheckpointSummary {
        let reader = try CheckpointReader(path: path)
        var v = SummaryVisitor()
        try reader.read(into: &v)
        guard let header = v.header else { throw CheckpointError(.corrupt("no header section"), path: path) }
        return CheckpointSummary(
            formatVersion: reader.preamble.version,
            header: header,
            watches: v.watches,
            divergenceCount: v.divergenceCount,
            heldXA: v.heldXA,
            fileBytes: reader.fileSize,
            contentBytes: reader.preamble.contentLength
        )
    }

    /// Calls `body` with every entry (watch name, key, value) in watch order and, within a watch,
    /// in key order, streaming: memory stays bounded however large the maps. Entries are handed
    /// out before the final checksum is checked: use `summary(path:)` first to verify the file.
    /// `body` returns false to stop early.
    public static func forEachEntry(
        path: String,
        _ body: @escaping (String, ShadowKey, ShadowValue) -> Bool
    ) throws(CheckpointError) {
        let reader = try CheckpointReader(path: path)
        var v = EntryVisitor(body: body)
        do {
            try reader.read(into: &v)
        } catch {
            if v.stopped { return }
            throw error
        }
    }
}

// MARK: - Visitors

/// Builds a ``Checkpoint`` in memory.
struct LoadingVisitor: CheckpointVisitor {
    let path: String
    let bodyLength: UInt64
    var header: CheckpointHeader? = nil
    var watches: [CheckpointWatch] = []
    var divergences: [CheckpointDivergence] = []
    var heldXA: [CheckpointHeldXA] = []
    var names = Set<String>()
    var schema: CheckpointWatchSchema? = nil
    var ints: [Int64: Int64] = [:]
    var others: [ShadowKey: ShadowValue] = [:]

    init(path: String, bodyLength: UInt64) {
        self.path = path
        self.bodyLength = bodyLength
    }

    mutating func header(_ header: CheckpointHeader, watchCount: Int, divergenceCount: Int) throws(CheckpointError) {
        self.header = header
    }

    mutating func beginWatch(
        _ schema: CheckpointWatchSchema,
        integerKeys: UInt64,
        otherKeys: UInt64
    ) throws(CheckpointError) {
        guard names.insert(schema.name).inserted else {
            throw CheckpointError(.corrupt("two watches are named \(schema.name)"), path: path)
        }
        self.schema = schema
        ints = [:]
        others = [:]
        // The declared count is trusted only as far as the body's size makes it plausible.
        let plausible = bodyLength.multipliedReportingOverflow(by: 8).partialValue &+ 65_536
        ints.reserveCapacity(Int(min(integerKeys, plausible, UInt64(Int32.max))))
    }

    mutating func intBlock(
        keys: UnsafeBufferPointer<Int64>,
        values: UnsafeBufferPointer<Int64>,
        exceptions: [(Int, ShadowValue)]
    ) throws(CheckpointError) {
        if exceptions.isEmpty {
            for i in 0..<keys.count { ints[keys[i]] = values[i] }
            return
        }
        var e = 0
        for i in 0..<keys.count {
            if e < exceptions.count && exceptions[e].0 == i {
                others[.int(keys[i])] = exceptions[e].1
                e += 1
            } else {
                ints[keys[i]] = values[i]
            }
        }
    }

    mutating func otherEntry(_ key: ShadowKey, _ value: ShadowValue) throws(CheckpointError) {
        others[key] = value
    }

    mutating func endWatch() throws(CheckpointError) {
        guard let schema else { return }
        watches.append(CheckpointWatch(schema: schema, map: ShadowMapSnapshot(ints: ints, others: others)))
        ints = [:]
        others = [:]
        self.schema = nil
    }

    mutating func divergence(_ d: CheckpointDivergence) throws(CheckpointError) {
        divergences.append(d)
    }

    mutating func heldXA(_ h: CheckpointHeldXA) throws(CheckpointError) {
        heldXA.append(h)
    }

    func checkpoint() -> Checkpoint {
        let h =
            header
            ?? CheckpointHeader(
                createdMillis: 0,
                source: CheckpointSource(flavour: .mysql, serverID: 0),
                position: CheckpointPosition(file: "", position: 0),
                gtidState: "",
                watchesFingerprint: "",
                schemaFingerprint: ""
            )
        return Checkpoint(header: h, watches: watches, divergences: divergences, heldXA: heldXA)
    }
}

/// Counts only.
struct SummaryVisitor: CheckpointVisitor {
    var header: CheckpointHeader? = nil
    var watches: [CheckpointSummary.Watch] = []
    var divergenceCount = 0
    var heldXA: [CheckpointHeldXA] = []

    mutating func heldXA(_ h: CheckpointHeldXA) throws(CheckpointError) { heldXA.append(h) }

    mutating func header(_ header: CheckpointHeader, watchCount: Int, divergenceCount: Int) throws(CheckpointError) {
        self.header = header
        self.divergenceCount = divergenceCount
    }
    mutating func beginWatch(
        _ schema: CheckpointWatchSchema,
        integerKeys: UInt64,
        otherKeys: UInt64
    ) throws(CheckpointError) {
        watches.append(.init(schema: schema, integerKeyCount: integerKeys, otherKeyCount: otherKeys))
    }
    mutating func intBlock(
        keys: UnsafeBufferPointer<Int64>,
        values: UnsafeBufferPointer<Int64>,
        exceptions: [(Int, ShadowValue)]
    ) throws(CheckpointError) {}
    mutating func otherEntry(_ key: ShadowKey, _ value: ShadowValue) throws(CheckpointError) {}
    mutating func endWatch() throws(CheckpointError) {}
    mutating func divergence(_ d: CheckpointDivergence) throws(CheckpointError) {}
}

/// Hands each entry to a closure.
struct EntryVisitor: CheckpointVisitor {
    static let stopMessage = "stopped by the caller"
    let body: (String, ShadowKey, ShadowValue) -> Bool
    var watch = ""
    var stopped = false
    var isStopped: Bool { stopped }

    mutating func stop() -> CheckpointError {
        stopped = true
        return CheckpointError(.corrupt(Self.stopMessage), path: "")
    }

    mutating func header(_ header: CheckpointHeader, watchCount: Int, divergenceCount: Int) throws(CheckpointError) {}
    mutating func beginWatch(
        _ schema: CheckpointWatchSchema,
        integerKeys: UInt64,
        otherKeys: UInt64
    ) throws(CheckpointError) {
        watch = schema.name
    }
    mutating func intBlock(
        keys: UnsafeBufferPointer<Int64>,
        values: UnsafeBufferPointer<Int64>,
        exceptions: [(Int, ShadowValue)]
    ) throws(CheckpointError) {
        var e = 0
        for i in 0..<keys.count {
            let value: ShadowValue
            if e < exceptions.count && exceptions[e].0 == i {
                value = exceptions[e].1
                e += 1
            } else {
                value = .int(values[i])
            }
            if !body(watch, .int(keys[i]), value) { throw stop() }
        }
    }
    mutating func otherEntry(_ key: ShadowKey, _ value: ShadowValue) throws(CheckpointError) {
        if !body(watch, key, value) { throw stop() }
    }
    mutating func endWatch() throws(CheckpointError) {}
    mutating func divergence(_ d: CheckpointDivergence) throws(CheckpointError) {}
}
