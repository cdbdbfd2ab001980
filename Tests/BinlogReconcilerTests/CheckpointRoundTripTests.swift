import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Helpers shared by the Checkpoint*Tests files

/// A fresh directory under /tmp, removed by `removeTree`.
func makeTempDirectory(_ tag: String = "ckpt") -> String {
    var template = Array("/tmp/br-\(tag)-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return String(cString: p!)
}

func removeTree(_ path: String) {
    guard let dir = opendir(path) else {
        unlink(path)
        return
    }
    var names: [String] = []
    while let e = readdir(dir) {
        let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if n != "." && n != ".." { names.append(n) }
    }
    closedir(dir)
    for n in names {
        let p = path + "/" + n
        var st = stat()
        if lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { removeTree(p) } else { unlink(p) }
    }
    rmdir(path)
}

func readAll(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY)
    precondition(fd >= 0)
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}

func writeAll(_ path: String, _ bytes: [UInt8]) {
    unlink(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0)
    defer { close(fd) }
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
        precondition(n > 0)
        off += n
    }
}

func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let e = readdir(dir) {
        let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if n != "." && n != ".." { names.append(n) }
    }
    return names.sorted()
}

func schema(_ name: String, keys: [String] = ["id"], keyType: String = "bigint") -> CheckpointWatchSchema {
    CheckpointWatchSchema(
        name: name,
        table: "shop.\(name)",
        keyColumns: keys.map { CheckpointColumn(name: $0, type: keyType) },
        valueColumn: CheckpointColumn(name: "stock", type: "int"),
        schemaSince: CheckpointPosition(file: "mysql-bin.000003", position: 4)
    )
}

func header(flavour: CheckpointSource.Flavour = .mariadb) -> CheckpointHeader {
    CheckpointHeader(
        createdMillis: 1_767_225_600_123,
        source: flavour == .mariadb
            ? CheckpointSource(flavour: .mariadb, serverID: 7, gtidDomains: [0, 3])
            : CheckpointSource(flavour: .mysql, serverID: 1, serverUUID: "3e11fa47-71ca-11e1-9e33-c80aa9429562"),
        position: CheckpointPosition(file: "mysql-bin.000042", position: 123_456),
        gtidState: flavour == .mariadb ? "0-7-1000,3-7-12" : "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5000",
        watchesFingerprint: CheckpointFingerprint.of(["products", "product:{id}:stock"]),
        schemaFingerprint: CheckpointFingerprint.schema([schema("products")])
    )
}

func snapshot(_ entries: [(ShadowKey, ShadowValue?)]) -> ShadowMapSnapshot {
    var m = ShadowMap()
    for (k, v) in entries { m[k] = v }
    return ShadowMapSnapshot(m)
}

func sequentialMap(_ n: Int, from first: Int64 = 1) -> ShadowMapSnapshot {
    var m = ShadowMap()
    var rng = SplitMix(seed: 42)
    for i in 0..<Int64(n) { m[.int(first + i)] = .int(Int64(100 + rng.next() % 900)) }
    return ShadowMapSnapshot(m)
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes `cp` to a fresh file and reads it back.
func roundTrip(_ cp: Checkpoint, in dir: String, name: String = "c.ckpt") throws -> (Checkpoint, String) {
    let path = dir + "/" + name
    try CheckpointFile.write(cp, to: path)
    return (try CheckpointFile.read(path: path), path)
}

func expectSameEntries(
    _ a: ShadowMapSnapshot,
    _ b: ShadowMapSnapshot,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    #expect(a.hasSameEntries(as: b), sourceLocation: sourceLocation)
    let x = a.sortedEntries()
    let y = b.sortedEntries()
    #expect(x.map(\.0) == y.map(\.0), sourceLocation: sourceLocation)
    #expect(x.map(\.1) == y.map(\.1), sourceLocation: sourceLocation)
}

// MARK: - Round trips

@Suite struct CheckpointRoundTripTests {
    @Test func integerMapAndHeader() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let map = sequentialMap(200_000)
        let cp = Checkpoint(header: header(), watches: [CheckpointWatch(schema: schema("products"), map: map)])
        let (back, path) = try roundTrip(cp, in: dir)
        #expect(back.header == cp.header)
        #expect(back.watches.count == 1)
        #expect(back.watches[0].schema == cp.watches[0].schema)
        expectSameEntries(back.watches[0].map, map)
        #expect(back.divergences.isEmpty)
        let s = try CheckpointFile.summary(path: path)
        #expect(s.formatVersion == 2)
        #expect(s.heldXA.isEmpty)
        #expect(s.watches.map(\.keyCount) == [200_000])
        // Sequential ids with 3-digit values: well under 3 bytes per key.
        #expect(Double(s.fileBytes) / 200_000 < 3)
    }

    @Test func heldXATransactionsRoundTrip() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let held = [
            CheckpointHeldXA(
                xid: "X'6a31',X'',1", preparedAt: "mysql-bin.000003:1234", timestamp: 1_700_000_123,
                changes: [
                    CheckpointHeldChange(watch: "stock", key: .int(7), new: .int(95)),
                    CheckpointHeldChange(watch: "skus", key: .text("sku-1"), new: nil),
                    CheckpointHeldChange(watch: "skus", key: .composite(["a", "b"]), new: .text("x")),
                    CheckpointHeldChange(watch: "stock", key: .int(8), new: .null),
                ]),
            CheckpointHeldXA(xid: "X'6a32',X'01',7", preparedAt: "mysql-bin.000003:2000", timestamp: 1_700_000_124, changes: []),
        ]
        let cp = Checkpoint(
            header: header(),
            watches: [CheckpointWatch(schema: schema("stock"), map: sequentialMap(10)), CheckpointWatch(schema: schema("skus"), map: sequentialMap(3))],
            heldXA: held)
        let (back, path) = try roundTrip(cp, in: dir)
        #expect(back.heldXA == held)
        #expect(try CheckpointFile.summary(path: path).heldXA == held)
        // A held change naming a watch the checkpoint lacks is refused at writing.
        var wrong = cp
        wrong.heldXA[0].changes[0].watch = "nope"
        #expect(throws: CheckpointError.self) { try CheckpointFile.write(wrong, to: dir + "/wrong.ckpt") }
    }

    @Test func mysqlHeader() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let cp = Checkpoint(header: header(flavour: .mysql), watches: [])
        let (back, _) = try roundTrip(cp, in: dir)
        #expect(back.header == cp.header)
        #expect(back.header.source.serverUUID == "3e11fa47-71ca-11e1-9e33-c80aa9429562")
    }

    @Test func sparseAndExtremeIntegers() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var m = ShadowMap()
        var rng = SplitMix(seed: 7)
        for _ in 0..<100_000 { m[.int(Int64(bitPattern: rng.next()))] = .int(Int64(bitPattern: rng.next())) }
        for k in [Int64.min, Int64.min + 1, -1, 0, 1, Int64.max - 1, Int64.max] { m[.int(k)] = .int(k) }
        let snap = ShadowMapSnapshot(m)
        let cp = Checkpoint(header: header(), watches: [CheckpointWatch(schema: schema("sparse"), map: snap)])
        let (back, _) = try roundTrip(cp, in: dir)
        expectSameEntries(back.watches[0].map, snap)
    }

    @Test func mixedKeysAndValuesIncludingNull() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var entries: [(ShadowKey, ShadowValue?)] = []
        // Integer keys whose values are NULL or text sit between integer-valued ones.
        for i in Int64(0)..<150_000 {
            let v: ShadowValue = i % 1000 == 7 ? .null : i % 977 == 3 ? .text("12.50") : .int(i % 500)
            entries.append((.int(i * 3), v))
        }
        entries += [
            (.int(-5), .null), (.int(Int64.max), .text("max")), (.int(Int64.min), .null),
            (.text(""), .int(1)), (.text("a"), .null), (.text("ab"), .text("")), (.text("abc"), .int(-3)),
            (.text("abd"), .text("x\ny\"z")), (.text("élan"), .text("ünïcödé 🎉")), (.text("17"), .int(17)),
            (.composite(["1", "2"]), .int(5)), (.composite(["1", "10"]), .null),
            (.composite(["a", "", "c"]), .text("t")),
        ]
        for i in 0..<70_000 { entries.append((.text("sku-\(i)"), .int(Int64(i)))) }
        let snap = snapshot(entries)
        let cp = Checkpoint(header: header(), watches: [CheckpointWatch(schema: schema("mixed"), map: snap)])
        let (back, path) = try roundTrip(cp, in: dir)
        expectSameEntries(back.watches[0].map, snap)
        #expect(back.watches[0].map[.int(21)] == .null)
        #expect(back.watches[0].map[.int(Int64.max)] == .text("max"))
        #expect(back.watches[0].map[.text("17")] == .int(17))
        #expect(back.watches[0].map[.int(17)] == nil)

        // Streaming entries come in key order.
        var seen: [(ShadowKey, ShadowValue)] = []
        try CheckpointFile.forEachEntry(path: path) { w, k, v in
            #expect(w == "mixed")
            seen.append((k, v))
            return true
        }
        let sorted = snap.sortedEntries()
        #expect(seen.map(\.0) == sorted.map(\.0))
        #expect(seen.map(\.1) == sorted.map(\.1))

        // Stopping early is not an error.
        var n = 0
        try CheckpointFile.forEachEntry(path: path) { _, _, _ in
            n += 1
            return n < 10
        }
        #expect(n == 10)
    }

    @Test func compositeKeys() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var entries: [(ShadowKey, ShadowValue?)] = []
        for w in 0..<50 { for s in 0..<40 { entries.append((.composite(["wh\(w)", "sku\(s)"]), .int(Int64(w * s)))) } }
        let snap = snapshot(entries)
        let cp = Checkpoint(
            header: header(),
            watches: [
                CheckpointWatch(
                    schema: schema("stock_by_wh", keys: ["warehouse", "sku"], keyType: "varchar(16)"),
                    map: snap
                )
            ]
        )
        let (back, _) = try roundTrip(cp, in: dir)
        expectSameEntries(back.watches[0].map, snap)
        #expect(back.watches[0].schema.keyColumns.map(\.name) == ["warehouse", "sku"])
    }

    @Test func emptyMapsAndNoWatches() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let (none, _) = try roundTrip(Checkpoint(header: header(), watches: []), in: dir, name: "none.ckpt")
        #expect(none.watches.isEmpty)
        let cp = Checkpoint(
            header: header(),
            watches: [
                CheckpointWatch(schema: schema("a"), map: ShadowMapSnapshot()),
                CheckpointWatch(schema: schema("b"), map: ShadowMapSnapshot()),
            ]
        )
        let (back, _) = try roundTrip(cp, in: dir)
        #expect(back.watches.map(\.schema.name) == ["a", "b"])
        #expect(back.watches.allSatisfy { $0.map.isEmpty })
    }

    @Test func severalWatchesAndDivergences() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let a = sequentialMap(1000)
        let b = snapshot([(.text("x"), .text("1")), (.int(3), .null)])
        let c = sequentialMap(70_000, from: -35_000)
        let divergences = [
            CheckpointDivergence(
                id: 1,
                watch: "a",
                key: .int(17),
                redisKey: "product:17:stock",
                kind: "value_mismatch",
                firstSeenMillis: 1_767_225_600_000,
                expected: "5",
                redisValue: "6",
                lastAgreedGTID: "0-7-990",
                lastAgreedMillis: 1_767_225_599_000
            ),
            CheckpointDivergence(
                id: 2,
                watch: "b",
                key: .text("x"),
                redisKey: "k:x",
                kind: "missing_in_redis",
                firstSeenMillis: -1,
                expected: "1",
                redisValue: nil
            ),
            CheckpointDivergence(
                id: UInt64.max,
                watch: "c",
                key: .composite(["a", "b"]),
                redisKey: "",
                kind: "unexpected_in_redis",
                firstSeenMillis: 0,
                expected: nil,
                redisValue: "",
                lastAgreedGTID: nil,
                lastAgreedMillis: 0
            ),
        ]
        let cp = Checkpoint(
            header: header(),
            watches: [
                CheckpointWatch(schema: schema("a"), map: a), CheckpointWatch(schema: schema("b"), map: b),
                CheckpointWatch(schema: schema("c"), map: c),
            ],
            divergences: divergences
        )
        let (back, path) = try roundTrip(cp, in: dir)
        #expect(back.watches.map(\.schema.name) == ["a", "b", "c"])
        expectSameEntries(back.watches[0].map, a)
        expectSameEntries(back.watches[1].map, b)
        expectSameEntries(back.watches[2].map, c)
        #expect(back.divergences == divergences)
        let s = try CheckpointFile.summary(path: path)
        #expect(s.divergenceCount == 3)
        #expect(s.watches.map(\.keyCount) == [1000, 2, 70_000])
        #expect(s.watches[1].integerKeyCount == 1 && s.watches[1].otherKeyCount == 1)
        // A loaded map becomes a live ShadowMap in O(1) and can be written.
        var live = ShadowMap(back.watches[0].map)
        live[.int(1)] = .int(-1)
        #expect(live[.int(1)] == .int(-1))
        #expect(back.watches[0].map[.int(1)] != .int(-1))
    }

    @Test func duplicateWatchNamesAreRefused() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let cp = Checkpoint(
            header: header(),
            watches: [
                CheckpointWatch(schema: schema("a"), map: ShadowMapSnapshot()),
                CheckpointWatch(schema: schema("a"), map: ShadowMapSnapshot()),
            ]
        )
        #expect(throws: CheckpointError.self) { try CheckpointFile.write(cp, to: dir + "/x.ckpt") }
    }

    @Test func snapshotTakenDuringWritesIsWhatIsStored() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        var live = ShadowMap()
        for i in Int64(1)...5000 { live[.int(i)] = .int(i) }
        let snap = live.beginSnapshot()
        let cp = Checkpoint(header: header(), watches: [CheckpointWatch(schema: schema("p"), map: snap)])
        for i in Int64(1)...100 { live[.int(i)] = .int(-i) }
        live[.int(9999)] = .null
        let (back, _) = try roundTrip(cp, in: dir)
        #expect(back.watches[0].map.count == 5000)
        #expect(back.watches[0].map[.int(1)] == .int(1))
        #expect(back.watches[0].map[.int(9999)] == nil)
    }
}
