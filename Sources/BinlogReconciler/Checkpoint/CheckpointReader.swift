import BinlogParser
import CZstd

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Receives a checkpoint's content as it is parsed (entries in key order within each watch).
protocol CheckpointVisitor {
    mutating func header(_ header: CheckpointHeader, watchCount: Int, divergenceCount: Int) throws(CheckpointError)
    mutating func beginWatch(
        _ schema: CheckpointWatchSchema,
        integerKeys: UInt64,
        otherKeys: UInt64
    ) throws(CheckpointError)
    /// Integer keys in ascending order with their integer values; at the indices listed in
    /// `exceptions` the value is the exception's (NULL or text) instead.
    mutating func intBlock(
        keys: UnsafeBufferPointer<Int64>,
        values: UnsafeBufferPointer<Int64>,
        exceptions: [(Int, ShadowValue)]
    ) throws(CheckpointError)
    mutating func otherEntry(_ key: ShadowKey, _ value: ShadowValue) throws(CheckpointError)
    mutating func endWatch() throws(CheckpointError)
    mutating func divergence(_ d: CheckpointDivergence) throws(CheckpointError)
    /// A prepared XA transaction with its held changes (version 2).
    mutating func heldXA(_ h: CheckpointHeldXA) throws(CheckpointError)
    /// True once the visitor threw only to stop reading (no diagnosis then).
    var isStopped: Bool { get }
}

extension CheckpointVisitor {
    var isStopped: Bool { false }
    mutating func heldXA(_ h: CheckpointHeldXA) throws(CheckpointError) {}
}

/// Reads a checkpoint file in bounded memory: checks the 40-byte header, streams the body through
/// the zstd decompressor into an 8 MiB window, parses the content for a visitor, and verifies the
/// lengths and both CRC-32s at the end. Any failure of the body is re-checked against the body
/// CRC, so damaged bytes are reported as `checksumMismatch`, never as a parse error.
final class CheckpointReader {
    let file: PosixFile
    let path: String
    let preamble: CheckpointPreamble
    let fileSize: UInt64

    private let dctx: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inPos = 0
    private var inEnd = 0
    private var bodyRead: UInt64 = 0
    private var bodyCRC: UInt32 = 0

    private let window: UnsafeMutableRawBufferPointer
    private let windowBase: UnsafeMutablePointer<UInt8>
    private var pos = 0
    private var end = 0
    /// Content offset of `window[0]`.
    private var windowOffset: UInt64 = 0
    private var produced: UInt64 = 0
    private var contentCRC: UInt32 = 0
    private var frameDone = false

    /// The watches' names in file order (held XA changes name their watch by index).
    private var watchNames: [String] = []
    private let blockKeys = UnsafeMutablePointer<Int64>.allocate(capacity: CheckpointFormat.maxBlockEntries)
    private let blockValues = UnsafeMutablePointer<Int64>.allocate(capacity: CheckpointFormat.maxBlockEntries)

    init(path: String) throws(CheckpointError) {
        self.path = path
        file = try PosixFile.openForReading(path)
        fileSize = try file.size()
        var head = [UInt8](repeating: 0, count: CheckpointFormat.headerSize)
        let file = self.file
        var got = 0
        var failure: CheckpointError? = nil
        head.withUnsafeMutableBytes { raw in
            do throws(CheckpointError) { got = try file.readFully(into: raw) } catch { failure = error }
        }
        if let failure { throw failure }
        preamble = try CheckpointPreamble.decode(Array(head[0..<got]), fileSize: fileSize, path: path)
        guard let d = ZSTD_createDCtx() else {
            throw CheckpointError(.io(operation: "ZSTD_createDCtx", errno: ENOMEM), path: path)
        }
        dctx = d
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, CheckpointFormat.maxWindowLog)
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        window = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * CheckpointFormat.maxBlockBytes, alignment: 16)
        windowBase = window.baseAddress!.assumingMemoryBound(to: UInt8.self)
    }

    deinit {
        ZSTD_freeDCtx(dctx)
        input.deallocate()
        window.deallocate()
        blockKeys.deallocate()
        blockValues.deallocate()
    }

    var contentOffset: UInt64 { windowOffset + UInt64(pos) }

    func corrupt(_ what: String) -> CheckpointError {
        CheckpointError(.corrupt(what), path: path, contentOffset: contentOffset)
    }

    // MARK: - Streaming

    @inline(__always)
    private func ensure(_ n: Int) throws(CheckpointError) {
        if end - pos < n { try refill(n) }
    }

    private func refill(_ n: Int) throws(CheckpointError) {
        guard n <= window.count / 2 else { throw corrupt("a record of \(n) bytes is over the limit") }
        if pos > 0 {
            if end > pos { memmove(windowBase, windowBase + pos, end - pos) }
            windowOffset += UInt64(pos)
            end -= pos
            pos = 0
        }
        while end < n {
            if frameDone {
                throw corrupt("the content ends early (\(n - end) more bytes needed)")
            }
            try decompressSome()
        }
    }

    /// Runs the decompressor once, appending to the window at `end`.
    private func decompressSome() throws(CheckpointError) {
        if inPos == inEnd { try readInput() }
        var inb = ZSTD_inBuffer(src: input.baseAddress, size: inEnd, pos: inPos)
        var outb = ZSTD_outBuffer(dst: window.baseAddress, size: window.count, pos: end)
        let r = ZSTD_decompressStream(dctx, &outb, &inb)
        inPos = inb.pos
        if ZSTD_isError(r) != 0 {
            throw corrupt("zstd: " + String(cString: ZSTD_getErrorName(r)))
        }
        let fresh = outb.pos - end
        if fresh > 0 {
            contentCRC = updateCRC(contentCRC, UnsafeRawBufferPointer(start: windowBase + end, count: fresh))
            produced += UInt64(fresh)
            end = outb.pos
            if produced > preamble.contentLength {
                throw corrupt("more content than the header's \(preamble.contentLength) bytes")
            }
        }
        if r == 0 { frameDone = true }
    }

    private func readInput() throws(CheckpointError) {
        let remaining = preamble.bodyLength - bodyRead
        if remaining == 0 {
            throw corrupt("the compressed body ends before its zstd frame does")
        }
        let want = Int(min(UInt64(input.count), remaining))
        let n = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: input[0..<want]))
        if n == 0 {
            throw CheckpointError(
                .truncated(
                    expectedBytes: UInt64(CheckpointFormat.headerSize) + preamble.bodyLength,
                    actualBytes: UInt64(CheckpointFormat.headerSize) + bodyRead
                ),
                path: path
            )
        }
        bodyCRC = updateCRC(bodyCRC, UnsafeRawBufferPointer(rebasing: input[0..<n]))
        bodyRead += UInt64(n)
        inPos = 0
        inEnd = n
    }

    /// After a parse or decompression failure: if the body's bytes do not match their CRC, the
    /// file is damaged, which is the better explanation.
    private func diagnose(_ error: CheckpointError) -> CheckpointError {
        guard case .corrupt = error.kind else { return error }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while bodyRead < preamble.bodyLength {
            let want = Int(min(UInt64(chunk.count), preamble.bodyLength - bodyRead))
            var n = 0
            var failed = false
            let file = self.file
            chunk.withUnsafeMutableBytes { raw in
                do throws(CheckpointError) {
                    n = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]))
                } catch { failed = true }
            }
            if failed || n == 0 { return error }
            chunk.withUnsafeBytes { bodyCRC = updateCRC(bodyCRC, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            bodyRead += UInt64(n)
        }
        if bodyCRC != preamble.bodyCRC {
            return CheckpointError(
                .checksumMismatch(region: "body", stored: preamble.bodyCRC, computed: bodyCRC),
                path: path,
                fileOffset: 12
            )
        }
        return error
    }

    /// Checks that the content ended exactly at the end marker, the frame at the body's end, and the CRCs.
    private func finish() throws(CheckpointError) {
        guard pos == end else { throw corrupt("content continues after the end marker") }
        while !frameDone {
            pos = 0
            end = 0
            try decompressSome()
            if end > 0 { throw corrupt("content continues after the end marker") }
        }
        if inPos != inEnd || bodyRead != preamble.bodyLength {
            throw corrupt("\(preamble.bodyLength - bodyRead + UInt64(inEnd - inPos)) bytes after the zstd frame")
        }
        if bodyCRC != preamble.bodyCRC {
            throw CheckpointError(
                .checksumMismatch(region: "body", stored: preamble.bodyCRC, computed: bodyCRC),
                path: path,
                fileOffset: 12
            )
        }
        if produced != preamble.contentLength {
            throw CheckpointError(
                .corrupt("content is \(produced) bytes, the header says \(preamble.contentLength)"),
                path: path
            )
        }
        if contentCRC != preamble.contentCRC {
            throw CheckpointError(
                .checksumMismatch(region: "content", stored: preamble.contentCRC, computed: contentCRC),
                path: path,
                fileOffset: 32
            )
        }
    }

    // MARK: - Primitives

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

    func optionalString(_ field: String) throws(CheckpointError) -> String? {
        switch try u8(field + ".present") {
        case 0: return nil
        case 1: return try string(field)
        case let b: throw corrupt("\(field).present is \(b), expected 0 or 1")
        }
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

    // MARK: - Content

    /// Parses the whole content for `visitor`, then verifies the end of the file and the CRCs.
    func read<V: CheckpointVisitor>(into visitor: inout V) throws(CheckpointError) {
        do {
            try parse(&visitor)
            try finish()
        } catch {
            if visitor.isStopped { throw error }
            throw diagnose(error)
        }
    }

    private func parse<V: CheckpointVisitor>(_ v: inout V) throws(CheckpointError) {
        try tag(CheckpointFormat.tagHeader, "header section")
        let created = try zvarint("created")
        let flavour: CheckpointSource.Flavour
        switch try u8("source.flavour") {
        case CheckpointFormat.flavourMySQL: flavour = .mysql
        case CheckpointFormat.flavourMariaDB: flavour = .mariadb
        case let f: throw corrupt("source.flavour is \(f)")
        }
        let serverIDRaw = try varint("source.serverID")
        guard let serverID = UInt32(exactly: serverIDRaw) else {
            throw corrupt("source.serverID \(serverIDRaw) is over 2^32")
        }
        let uuid = try optionalString("source.serverUUID")
        let domainCount = try count("source.gtidDomains.count", 0...CheckpointFormat.maxDomains)
        var domains: [UInt32] = []
        for _ in 0..<domainCount {
            let d = try varint("source.gtidDomain")
            guard let d32 = UInt32(exactly: d) else { throw corrupt("GTID domain \(d) is over 2^32") }
            domains.append(d32)
        }
        let file = try string("position.file")
        let position = try varint("position.pos")
        let gtid = try string("gtidState")
        let wfp = try string("watchesFingerprint")
        let sfp = try string("schemaFingerprint")
        let watchCount = try count("watchCount", 0...CheckpointFormat.maxWatches)
        let divergenceCount = try count("divergenceCount", 0...Int(Int32.max))
        let header = CheckpointHeader(
            createdMillis: created,
            source: CheckpointSource(flavour: flavour, serverID: serverID, serverUUID: uuid, gtidDomains: domains),
            position: CheckpointPosition(file: file, position: position),
            gtidState: gtid,
            watchesFingerprint: wfp,
            schemaFingerprint: sfp
        )
        try v.header(header, watchCount: watchCount, divergenceCount: divergenceCount)

        for _ in 0..<watchCount { try parseWatch(&v) }

        try tag(CheckpointFormat.tagDivergences, "divergence section")
        let n = try count("divergences.count", 0...Int(Int32.max))
        guard n == divergenceCount else { throw corrupt("\(n) divergences, the header says \(divergenceCount)") }
        for _ in 0..<n {
            let id = try varint("divergence.id")
            let watch = try string("divergence.watch")
            let key = try fullKey("divergence.key")
            let redisKey = try string("divergence.redisKey")
            let kind = try string("divergence.kind")
            let firstSeen = try zvarint("divergence.firstSeen")
            let expected = try optionalString("divergence.expected")
            let redisValue = try optionalString("divergence.redisValue")
            let gtid = try optionalString("divergence.lastAgreedGTID")
            var agreedAt: Int64? = nil
            switch try u8("divergence.lastAgreedTime.present") {
            case 0: break
            case 1: agreedAt = try zvarint("divergence.lastAgreedTime")
            case let b: throw corrupt("divergence.lastAgreedTime.present is \(b)")
            }
            try v.divergence(
                CheckpointDivergence(
                    id: id,
                    watch: watch,
                    key: key,
                    redisKey: redisKey,
                    kind: kind,
                    firstSeenMillis: firstSeen,
                    expected: expected,
                    redisValue: redisValue,
                    lastAgreedGTID: gtid,
                    lastAgreedMillis: agreedAt
                )
            )
        }
        if preamble.version >= 2 { try parseHeldXA(&v) }
        try tag(CheckpointFormat.tagEnd, "end marker")
    }

    /// `'X', varint count, count × (string xid, string prepared_at, varint timestamp,
    /// varint change_count, change_count × (varint watch_index, full_key, u8 0 | u8 1 value))`.
    private func parseHeldXA<V: CheckpointVisitor>(_ v: inout V) throws(CheckpointError) {
        try tag(CheckpointFormat.tagHeldXA, "held XA section")
        let n = try count("heldXA.count", 0...CheckpointFormat.maxHeldChanges)
        var total = 0
        var xids = Set<String>()
        for _ in 0..<n {
            let xid = try string("heldXA.xid")
            guard xids.insert(xid).inserted else { throw corrupt("held XA transaction \(xid) appears twice") }
            let at = try string("heldXA.preparedAt")
            let ts = try varint("heldXA.timestamp")
            guard let ts32 = UInt32(exactly: ts) else { throw corrupt("heldXA.timestamp \(ts) is over 2^32") }
            let m = try count("heldXA.changes.count", 0...(CheckpointFormat.maxHeldChanges - total))
            total += m
            var changes: [CheckpointHeldChange] = []
            changes.reserveCapacity(min(m, 65_536))
            for _ in 0..<m {
                let w = try varint("heldXA.change.watch")
                guard w < UInt64(watchNames.count) else { throw corrupt("heldXA.change.watch is \(w); the file has \(watchNames.count) watches") }
                let key = try fullKey("heldXA.change.key")
                var new: ShadowValue? = nil
                switch try u8("heldXA.change.present") {
                case 0: break
                case 1: new = try value("heldXA.change.value")
                case let b: throw corrupt("heldXA.change.present is \(b)")
                }
                changes.append(CheckpointHeldChange(watch: watchNames[Int(w)], key: key, new: new))
            }
            try v.heldXA(CheckpointHeldXA(xid: xid, preparedAt: at, timestamp: ts32, changes: changes))
        }
    }

    private func parseWatch<V: CheckpointVisitor>(_ v: inout V) throws(CheckpointError) {
        try tag(CheckpointFormat.tagWatch, "watch section")
        let name = try string("watch.name")
        watchNames.append(name)
        let table = try string("watch.table")
        let keyCount = try count("watch.keyColumns.count", 1...CheckpointFormat.maxKeyColumns)
        var keyColumns: [CheckpointColumn] = []
        for _ in 0..<keyCount {
            let n = try string("watch.keyColumn.name")
            let t = try string("watch.keyColumn.type")
            keyColumns.append(CheckpointColumn(name: n, type: t))
        }
        let valueName = try string("watch.valueColumn.name")
        let valueType = try string("watch.valueColumn.type")
        let sinceFile = try string("watch.schemaSince.file")
        let sincePos = try varint("watch.schemaSince.pos")
        let intCount = try varint("watch.integerKeyCount")
        let otherCount = try varint("watch.otherKeyCount")
        let schema = CheckpointWatchSchema(
            name: name,
            table: table,
            keyColumns: keyColumns,
            valueColumn: CheckpointColumn(name: valueName, type: valueType),
            schemaSince: CheckpointPosition(file: sinceFile, position: sincePos)
        )
        try v.beginWatch(schema, integerKeys: intCount, otherKeys: otherCount)

        var seen: UInt64 = 0
        var last: Int64? = nil
        var exceptions: [(Int, ShadowValue)] = []
        while seen < intCount {
            try tag(CheckpointFormat.tagIntBlock, "integer block of watch \(name)")
            let n = try count("intBlock.count", 1...Int(min(UInt64(CheckpointFormat.maxBlockEntries), intCount - seen)))
            let length = try count("intBlock.columnsLength", (2 * n)...(20 * n))
            try ensure(length)
            try decodeColumns(n: n, length: length, after: last)
            last = blockKeys[n - 1]
            exceptions.removeAll(keepingCapacity: true)
            let exceptionCount = try count("intBlock.exceptions", 0...n)
            var previousIndex = -1
            for _ in 0..<exceptionCount {
                let index = try count("intBlock.exception.index", 0...(n - 1))
                guard index > previousIndex else { throw corrupt("exception indices out of order") }
                previousIndex = index
                guard blockValues[index] == 0 else {
                    throw corrupt("exception at index \(index) over a non-zero value")
                }
                let value = try self.value("intBlock.exception.value")
                if case .int = value { throw corrupt("an integer value as an exception") }
                exceptions.append((index, value))
            }
            try v.intBlock(
                keys: UnsafeBufferPointer(start: blockKeys, count: n),
                values: UnsafeBufferPointer(start: blockValues, count: n),
                exceptions: exceptions
            )
            seen += UInt64(n)
        }

        var others: UInt64 = 0
        var previous: ShadowKey? = nil
        while others < otherCount {
            try tag(CheckpointFormat.tagOtherBlock, "text/composite block of watch \(name)")
            let n = try count(
                "otherBlock.count",
                1...Int(min(UInt64(CheckpointFormat.maxBlockEntries), otherCount - others))
            )
            var previousText: [UInt8] = []
            for _ in 0..<n {
                let key: ShadowKey
                switch try u8("otherBlock.key.kind") {
                case CheckpointFormat.keyText:
                    let shared = try count("otherBlock.key.shared", 0...previousText.count)
                    let suffixLength = try count("otherBlock.key.suffixLength", 0...CheckpointFormat.maxStringBytes)
                    var b = Array(previousText[0..<shared])
                    b += try bytes(suffixLength, "otherBlock.key")
                    key = .text(try utf8(b, "otherBlock.key"))
                    previousText = b
                case CheckpointFormat.keyComposite:
                    let parts = try count("otherBlock.key.parts", 0...CheckpointFormat.maxCompositeParts)
                    var list: [String] = []
                    for _ in 0..<parts { list.append(try string("otherBlock.key.part")) }
                    key = .composite(list)
                case let k:
                    throw corrupt("otherBlock.key.kind is \(k) (1 text or 2 composite)")
                }
                if let p = previous, !(p < key) { throw corrupt("keys of watch \(name) out of order at \(key)") }
                previous = key
                try v.otherEntry(key, try value("otherBlock.value"))
            }
            others += UInt64(n)
        }
        try v.endWatch()
    }

    /// Decodes the key and value columns of an integer block from the window (all `length` bytes present).
    private func decodeColumns(n: Int, length: Int, after last: Int64?) throws(CheckpointError) {
        let p = UnsafePointer(windowBase + pos)
        var i = 0
        guard let first = decodeVarint(p, &i, length) else { throw corrupt("bad key varint in integer block") }
        var key = unzigzag(first)
        if let last, key <= last { throw corrupt("integer keys out of order: \(key) after \(last)") }
        blockKeys[0] = key
        for j in 1..<max(1, n) {
            guard let d = decodeVarint(p, &i, length) else { throw corrupt("bad key varint in integer block") }
            let room = UInt64(bitPattern: Int64.max &- key)
            guard d < room else { throw corrupt("integer key past Int64.max") }
            key = key &+ Int64(bitPattern: d &+ 1)
            blockKeys[j] = key
        }
        for j in 0..<n {
            guard let u = decodeVarint(p, &i, length) else { throw corrupt("bad value varint in integer block") }
            blockValues[j] = unzigzag(u)
        }
        guard i == length else { throw corrupt("integer block columns are \(i) bytes, the block says \(length)") }
        pos += length
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
