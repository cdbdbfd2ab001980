import BinlogParser
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

#if canImport(Glibc)
import Glibc
#endif

/// A small but complete checkpoint: header, two watches (integer block with exceptions, text and
/// composite keys), divergences.
func smallCheckpoint() -> Checkpoint {
    let a = snapshot(
        (Int64(1)...40).map { (.int($0), $0 % 9 == 0 ? .null : .int($0 * 7)) } + [(.text("k"), .text("v"))]
    )
    let b = snapshot([(.composite(["x", "y"]), .int(1)), (.text("abc"), .int(2)), (.text("abd"), .null)])
    return Checkpoint(
        header: header(),
        watches: [CheckpointWatch(schema: schema("a"), map: a), CheckpointWatch(schema: schema("b"), map: b)],
        divergences: [
            CheckpointDivergence(
                id: 9,
                watch: "a",
                key: .int(3),
                redisKey: "p:3",
                kind: "value_mismatch",
                firstSeenMillis: 5,
                expected: "21",
                redisValue: "20",
                lastAgreedGTID: "0-7-9",
                lastAgreedMillis: 4
            )
        ]
    )
}

/// Writes a file with arbitrary (uncompressed) content, correctly compressed and checksummed,
/// to test what the parser does with intact but malformed content.
func writeCrafted(_ content: [UInt8], to path: String, version: UInt16 = 1) throws {
    let file = try PosixFile.create(path)
    try withBytes([UInt8](repeating: 0, count: 40)) { (raw) throws(CheckpointError) in try file.writeAll(raw) }
    let sink = try ZstdFileSink(file: file, level: 3, workers: 0)
    try withBytes(content) { (raw) throws(CheckpointError) in try sink.consume(raw) }
    try sink.finish()
    let p = CheckpointPreamble(
        version: version,
        flags: 1,
        bodyCRC: sink.bodyCRC,
        bodyLength: sink.bodyLength,
        contentLength: sink.contentLength,
        contentCRC: sink.contentCRC
    )
    try file.pwriteAll(p.encoded(), at: 0)
    try file.closeChecked()
}

func varintBytes(_ v: UInt64) -> [UInt8] {
    var v = v
    var out: [UInt8] = []
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
    return out
}

func stringBytes(_ s: String) -> [UInt8] { varintBytes(UInt64(s.utf8.count)) + Array(s.utf8) }

/// A valid header section with `watches` watches and 0 divergences.
func headerSection(watches: UInt64 = 0, divergences: UInt64 = 0) -> [UInt8] {
    var b: [UInt8] = [0x48]
    b += varintBytes(zigzag(1000)) + [2] + varintBytes(7) + [0] + varintBytes(0)
    b += stringBytes("bin.000001") + varintBytes(4) + stringBytes("") + stringBytes("f1") + stringBytes("f2")
    b += varintBytes(watches) + varintBytes(divergences)
    return b
}

func watchSection(name: String = "w", intCount: UInt64, otherCount: UInt64) -> [UInt8] {
    var b: [UInt8] =
        [0x57] + stringBytes(name) + stringBytes("db.t") + varintBytes(1) + stringBytes("id") + stringBytes("bigint")
    b += stringBytes("v") + stringBytes("int") + stringBytes("bin.000001") + varintBytes(4)
    b += varintBytes(intCount) + varintBytes(otherCount)
    return b
}

func loadError(_ path: String) -> CheckpointError? {
    do {
        _ = try CheckpointFile.read(path: path)
        return nil
    } catch {
        return error
    }
}

@Suite struct CheckpointCorruptionTests {
    @Test func truncatedAtEveryByte() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let full = dir + "/full.ckpt"
        try CheckpointFile.write(smallCheckpoint(), to: full)
        let bytes = readAll(full)
        #expect(bytes.count > 100 && bytes.count < 2000)
        let cut = dir + "/cut.ckpt"
        for n in 0..<bytes.count {
            writeAll(cut, Array(bytes[0..<n]))
            let e = loadError(cut)
            #expect(e?.path == cut)
            switch e?.kind {
            case .empty?: #expect(n == 0)
            case .truncated(let expected, let actual)?:
                #expect(actual == UInt64(n))
                #expect(expected > actual)
            default: Issue.record("truncated to \(n) bytes: \(String(describing: e))")
            }
        }
        writeAll(cut, bytes)
        #expect(loadError(cut) == nil)
    }

    @Test func bitFlipsAnywhere() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let full = dir + "/full.ckpt"
        try CheckpointFile.write(smallCheckpoint(), to: full)
        let bytes = readAll(full)
        let damaged = dir + "/flip.ckpt"
        var kinds: [String: Int] = [:]
        for offset in 0..<bytes.count {
            for bit in [0, 3, 7] {
                var b = bytes
                b[offset] ^= UInt8(1) << UInt8(bit)
                writeAll(damaged, b)
                guard let e = loadError(damaged) else {
                    Issue.record("bit \(bit) of byte \(offset) flipped: loaded without error")
                    continue
                }
                #expect(e.path == damaged)
                switch e.kind {
                case .headerChecksumMismatch:
                    #expect(offset < 40)
                    kinds["header", default: 0] += 1
                case .corrupt(let what):
                    // Only the magic and version fields are diagnosed this way.
                    #expect(offset < 10 && (what.contains("magic") || what.contains("version")), "\(offset): \(what)")
                    kinds["magic/version", default: 0] += 1
                case .checksumMismatch(let region, _, _):
                    #expect(offset >= 40 && region == "body")
                    kinds["body", default: 0] += 1
                default:
                    Issue.record("bit \(bit) of byte \(offset): unexpected \(e)")
                }
            }
        }
        #expect(
            kinds["body", default: 0] > 0 && kinds["header", default: 0] > 0 && kinds["magic/version", default: 0] > 0
        )
    }

    @Test func emptyFile() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        writeAll(dir + "/e.ckpt", [])
        let e = loadError(dir + "/e.ckpt")
        #expect(e?.kind == .empty)
        #expect(e?.description.contains(dir + "/e.ckpt: empty file") == true)
    }

    @Test(
        arguments: [
            ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 60), "PNG"),
            ([0xFE, 0x62, 0x69, 0x6E] + [UInt8](repeating: 0x11, count: 100), "binlog"),
            (Array("hello, this is plain text and surely not a checkpoint\n".utf8), "first bytes"),
            ([0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0, 0], "zstd"),
            ([0x42], "first bytes"),
        ] as [([UInt8], String)]
    )
    func foreignFile(bytes: [UInt8], expected: String) throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        writeAll(dir + "/f.ckpt", bytes)
        let e = loadError(dir + "/f.ckpt")
        guard case .notACheckpoint(let what)? = e?.kind else {
            Issue.record("expected notACheckpoint, got \(String(describing: e))")
            return
        }
        #expect(what.contains(expected))
        #expect(e?.description.contains("not a checkpoint file") == true)
    }

    @Test func trailingBytes() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let path = dir + "/t.ckpt"
        try CheckpointFile.write(smallCheckpoint(), to: path)
        writeAll(path, readAll(path) + [0, 1, 2])
        guard case .corrupt(let what)? = loadError(path)?.kind else {
            Issue.record("expected corrupt")
            return
        }
        #expect(what.contains("3 bytes after the end"))
    }

    @Test func newerVersionIsRefusedAndVersionOneStillLoads() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let path = dir + "/v3.ckpt"
        try writeCrafted(headerSection() + [0x44, 0, 0x58, 0, 0x45], to: path, version: 3)
        #expect(loadError(path)?.kind == .unsupportedVersion(3))
        // Version 1 (no held-XA section) is still read.
        try writeCrafted(headerSection() + [0x44, 0, 0x45], to: dir + "/v1.ckpt")
        #expect(loadError(dir + "/v1.ckpt") == nil)
        #expect(try CheckpointFile.read(path: dir + "/v1.ckpt").heldXA.isEmpty)
        // Version 2 requires the held-XA section…
        try writeCrafted(headerSection() + [0x44, 0, 0x45], to: dir + "/v2-missing.ckpt", version: 2)
        #expect(loadError(dir + "/v2-missing.ckpt") != nil)
        try writeCrafted(headerSection() + [0x44, 0, 0x58, 0, 0x45], to: dir + "/v2.ckpt", version: 2)
        #expect(loadError(dir + "/v2.ckpt") == nil)
        // …and a held change must name a watch of the file (there is none here).
        try writeCrafted(
            headerSection() + [0x44, 0, 0x58, 1, 1, 0x78, 1, 0x61, 5, 1, 0, 0, 1, 0, 1, 2, 0x45], to: dir + "/v2-bad.ckpt", version: 2)
        let bad = loadError(dir + "/v2-bad.ckpt")
        #expect(bad != nil && "\(bad!)".contains("heldXA.change.watch"), "\(String(describing: bad))")
    }

    @Test func heldXACountsAreBounded() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        try writeCrafted(headerSection() + [0x44, 0, 0x58] + varintBytes(1 << 40) + [0x45], to: dir + "/h.ckpt", version: 2)
        let e = loadError(dir + "/h.ckpt")
        #expect(e != nil && "\(e!)".contains("heldXA.count"), "\(String(describing: e))")
    }

    /// Intact bytes, hostile content: huge counts and lengths are refused before anything is sized by them.
    @Test(
        arguments: [
            (headerSection(watches: 1 << 40), "watchCount"),
            (
                headerSection(watches: 1) + watchSection(intCount: 1 << 60, otherCount: 0) + [0x49] + varintBytes(1)
                    + varintBytes(2) + [2, 2, 0], "content ends early"
            ),
            (
                headerSection(watches: 1) + watchSection(intCount: 2, otherCount: 0) + [0x49] + varintBytes(1 << 20),
                "intBlock.count"
            ),
            (
                headerSection(watches: 1) + watchSection(intCount: 2, otherCount: 0) + [0x49] + varintBytes(2)
                    + varintBytes(1 << 30), "columnsLength"
            ),
            (
                headerSection(watches: 1) + watchSection(intCount: 1, otherCount: 0) + [
                    0x49, 1, 3, 0xFF, 0xFF, 0x01, 0,
                ], "value varint"
            ),
            (
                headerSection(watches: 1) + watchSection(intCount: 1, otherCount: 0) + [0x49, 1, 3, 2, 2, 0, 0],
                "columns are 2 bytes, the block says 3"
            ),
            (
                headerSection(watches: 1) + watchSection(intCount: 2, otherCount: 0) + [
                    0x49, 2, 13, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0, 0, 0,
                ], "past Int64.max"
            ),
            (
                [0x48] + varintBytes(0) + [2] + varintBytes(7) + [0] + varintBytes(0) + varintBytes(1 << 50),
                "position.file.length"
            ),
            ([0x48] + varintBytes(0) + [9], "source.flavour"),
            (
                [0x48] + varintBytes(0) + [2] + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
                "varint too long"
            ),
            (headerSection() + [0x44, 0, 0x45, 0x45], "after the end marker"),
            (headerSection() + [0x44, 0], "content ends early"),
            (headerSection() + [0x57], "divergence section"),
            (headerSection(divergences: 1) + [0x44, 0, 0x45], "divergences"),
            (
                headerSection(watches: 1) + watchSection(intCount: 0, otherCount: 1) + [0x4F, 1, 1] + varintBytes(5)
                    + varintBytes(1) + [0x41, 0], "otherBlock.key.shared"
            ),
            (
                headerSection(watches: 1) + watchSection(intCount: 0, otherCount: 2) + [
                    0x4F, 2, 1, 0, 1, 0x62, 0, 1, 0, 1, 0x61, 0,
                ], "out of order"
            ),
            (
                headerSection(watches: 1) + watchSection(intCount: 0, otherCount: 1) + [
                    0x4F, 1, 1, 0, 2, 0xC3, 0x28, 0,
                ], "UTF-8"
            ),
            (
                headerSection(watches: 2) + watchSection(intCount: 0, otherCount: 0)
                    + watchSection(intCount: 0, otherCount: 0) + [0x44, 0, 0x45], "two watches"
            ),
        ] as [([UInt8], String)]
    )
    func craftedContent(content: [UInt8], expected: String) throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let path = dir + "/c.ckpt"
        try writeCrafted(content, to: path)
        let e = loadError(path)
        guard case .corrupt(let what)? = e?.kind else {
            Issue.record("expected corrupt (\(expected)), got \(String(describing: e))")
            return
        }
        #expect(what.contains(expected), "\(what)")
        #expect(e?.path == path)
    }

    @Test func damagedContentChecksum() throws {
        // Body intact (its CRC matches) but the content CRC in the header is wrong: only a
        // writer bug could do this; it is still reported, as a content checksum mismatch.
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let path = dir + "/c.ckpt"
        try CheckpointFile.write(smallCheckpoint(), to: path)
        var b = readAll(path)
        b[32] ^= 1
        let crc = CRC32.checksum(Array(b[0..<36]))
        for i in 0..<4 { b[36 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        writeAll(path, b)
        guard case .checksumMismatch(let region, _, _)? = loadError(path)?.kind else {
            Issue.record("expected checksum mismatch")
            return
        }
        #expect(region == "content")
    }

    @Test func unreadableFileIsAnIOError() throws {
        let e = loadError("/nonexistent/dir/x.ckpt")
        #expect(e?.isIOError == true)
        #expect(e?.description.contains("/nonexistent/dir/x.ckpt: open failed") == true)
    }
}
