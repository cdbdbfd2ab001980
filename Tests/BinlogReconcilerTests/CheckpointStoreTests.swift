import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

#if canImport(Glibc)
import Glibc
#endif

func checkpoint(marker: Int64, map: ShadowMapSnapshot? = nil) -> Checkpoint {
    var h = header()
    h.position.position = UInt64(marker)
    return Checkpoint(
        header: h,
        watches: [CheckpointWatch(schema: schema("p"), map: map ?? snapshot([(.int(marker), .int(marker))]))]
    )
}

/// Mounting a tmpfs needs root (CAP_SYS_ADMIN); probed once.
enum Tmpfs {
    static let permitted: Bool = {
        let dir = makeTempDirectory("probe")
        defer { removeTree(dir) }
        guard mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0 else { return false }
        umount(dir)
        return true
    }()
}

@Suite struct CheckpointStoreTests {
    @Test func keepsTheNewestN() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let store = try CheckpointStore(directory: dir, keep: 3)
        #expect(try store.loadNewestValid() == nil)
        var removed: [String] = []
        for i in Int64(1)...5 {
            let r = try store.write(checkpoint(marker: i))
            #expect(r.file.sequence == UInt64(i))
            #expect(r.file.path == dir + "/checkpoint-" + String(repeating: "0", count: 15) + "\(i).ckpt")
            removed += r.removed
        }
        #expect(try store.list().map(\.sequence) == [5, 4, 3])
        #expect(removed.count == 2)
        #expect(directoryEntries(dir).count == 3)
        let loaded = try #require(try store.loadNewestValid())
        #expect(loaded.checkpoint.header.position.position == 5)
        #expect(loaded.skipped.isEmpty)
        #expect(loaded.path.hasSuffix("5.ckpt"))
    }

    @Test func fallsBackWhenTheNewestIsCorruptOrTorn() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let store = try CheckpointStore(directory: dir, keep: 4)
        for i in Int64(1)...4 { try store.write(checkpoint(marker: i)) }
        let files = try store.list()
        // Newest: a flipped bit in the body; second newest: torn (cut short).
        var b = readAll(files[0].path)
        b[b.count - 3] ^= 0x10
        writeAll(files[0].path, b)
        let torn = readAll(files[1].path)
        writeAll(files[1].path, Array(torn[0..<(torn.count / 2)]))
        // A non-checkpoint file in the directory is ignored.
        writeAll(dir + "/notes.txt", Array("hello".utf8))

        let loaded = try #require(try store.loadNewestValid())
        #expect(loaded.checkpoint.header.position.position == 2)
        #expect(loaded.path == files[2].path)
        #expect(loaded.skipped.map(\.path) == [files[0].path, files[1].path])
        guard case .checksumMismatch = loaded.skipped[0].error.kind else {
            Issue.record("\(loaded.skipped[0])")
            return
        }
        guard case .truncated = loaded.skipped[1].error.kind else {
            Issue.record("\(loaded.skipped[1])")
            return
        }
        #expect(loaded.skipped[0].description.hasPrefix(files[0].path + ": checksum mismatch"))

        // The next write continues the sequence and is valid again.
        let r = try store.write(checkpoint(marker: 5))
        #expect(r.file.sequence == 5)
        #expect(try store.loadNewestValid()?.checkpoint.header.position.position == 5)
    }

    @Test func noValidCheckpointAtAll() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        let store = try CheckpointStore(directory: dir, keep: 2)
        try store.write(checkpoint(marker: 1))
        let path = try store.list()[0].path
        writeAll(path, [])
        do {
            _ = try store.loadNewestValid()
            Issue.record("expected noValidCheckpoint")
        } catch {
            guard case .noValidCheckpoint(let skipped) = error.kind else {
                Issue.record("\(error)")
                return
            }
            #expect(skipped.count == 1 && skipped[0].error.kind == .empty)
            #expect(error.description.contains("no valid checkpoint"))
        }
    }

    @Test func staleTemporaryFilesAreRemoved() throws {
        let dir = makeTempDirectory()
        defer { removeTree(dir) }
        // A pid that cannot be running (above pid_max).
        writeAll(dir + "/.checkpoint-0000000000000001.ckpt.tmp.2147483600", [1, 2, 3])
        let store = try CheckpointStore(directory: dir, keep: 2)
        try store.write(checkpoint(marker: 1))
        #expect(directoryEntries(dir) == ["checkpoint-0000000000000001.ckpt"])
    }

    @Test(.enabled(if: Tmpfs.permitted, "skipped: mount -t tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)"))
    func diskFullDuringWrite() throws {
        let dir = makeTempDirectory("full")
        defer { removeTree(dir) }
        #expect(mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") == 0)
        defer { umount(dir) }
        let store = try CheckpointStore(directory: dir, keep: 3)
        let small = try store.write(checkpoint(marker: 1))
        // 100 000 random 64-bit keys: about 800 KB compressed, more than the free space.
        var m = ShadowMap()
        var rng = SplitMix(seed: 3)
        for _ in 0..<100_000 { m[.int(Int64(bitPattern: rng.next()))] = .int(Int64(bitPattern: rng.next())) }
        do {
            try store.write(checkpoint(marker: 2, map: ShadowMapSnapshot(m)))
            Issue.record("the write should have failed")
        } catch {
            guard case .io(_, let code) = error.kind else {
                Issue.record("\(error)")
                return
            }
            #expect(code == ENOSPC)
            #expect(error.description.contains("No space left on device"))
            #expect(error.description.contains(dir + "/checkpoint-0000000000000002.ckpt"))
        }
        // No temporary file left; the old checkpoint is intact and loads.
        #expect(directoryEntries(dir) == ["checkpoint-0000000000000001.ckpt"])
        let loaded = try #require(try store.loadNewestValid())
        #expect(loaded.path == small.file.path)
        #expect(loaded.checkpoint.header.position.position == 1)
        #expect(loaded.skipped.isEmpty)
        // And with space back, writing works again.
        let r = try store.write(checkpoint(marker: 3))
        #expect(r.file.sequence == 2)
    }
}
