#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory of checkpoint files `checkpoint-<16-digit sequence>.ckpt`, written atomically,
/// the newest `keep` retained, loaded newest-valid-first.
///
/// Writing: a temporary file `.checkpoint-<seq>.ckpt.tmp.<pid>` in the same directory is
/// written, fsynced and renamed over the final name, then the directory is fsynced; on any failure
/// (a full disk included) the temporary file is removed and the older checkpoints stay as they
/// were. One writer per directory (stale temporary files of dead processes are removed).
public struct CheckpointStore: Sendable {
    public let directory: String
    /// How many checkpoint files to keep (at least 1).
    public let keep: Int
    /// zstd level and worker threads for writing.
    public var compressionLevel: Int32 = 3
    public var compressionWorkers: Int32 = 0

    public static let filePrefix = "checkpoint-"
    public static let fileSuffix = ".ckpt"

    /// A checkpoint file in the directory.
    public struct FileInfo: Sendable, Hashable {
        public var path: String
        public var sequence: UInt64
        public var bytes: UInt64
    }

    /// What `write(_:)` did.
    public struct WriteResult: Sendable, Hashable {
        public var file: FileInfo
        public var stats: CheckpointWriteStats
        /// Older checkpoint files removed to keep `keep`.
        public var removed: [String]
        /// Removals that failed (the new checkpoint is written regardless).
        public var pruneErrors: [CheckpointError]
    }

    /// Creates the directory (and missing parents) if it does not exist.
    static let testPauseMilliseconds: Int? = getenv("BR_TEST_CHECKPOINT_PAUSE_MS").flatMap { Int(String(cString: $0)) }.map { min(max($0, 0), 10_000) }

    /// Missing directories are created with mode 0700. The checkpoint directory itself must
    /// belong to the user running the sidecar and must not be group- or world-writable, or the
    /// store refuses it (``CheckpointError/Kind/unsafeDirectory(_:)``, with the fix): anyone who
    /// can write there could plant a newer checkpoint whose values a repair would push into Redis.
    /// Checkpoint files left readable by others by an older version are made 0600.
    public init(directory: String, keep: Int = 3) throws(CheckpointError) {
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.keep = max(1, keep)
        var prefix = self.directory.hasPrefix("/") ? "" : "."
        for part in self.directory.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw CheckpointError(.io(operation: "mkdir", errno: errno), path: prefix)
            }
        }
        try Self.checkOwnership(self.directory)
        for file in (try? list()) ?? [] {
            var st = stat()
            if stat(file.path, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0o077) != 0 { _ = chmod(file.path, 0o600) }
        }
    }

    /// Refuses a directory another user owns or could write to.
    static func checkOwnership(_ directory: String) throws(CheckpointError) {
        var st = stat()
        guard stat(directory, &st) == 0 else { throw CheckpointError(.io(operation: "stat", errno: errno), path: directory) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw CheckpointError(.unsafeDirectory("it is not a directory"), path: directory)
        }
        let me = geteuid()
        if st.st_uid != me {
            throw CheckpointError(.unsafeDirectory("it belongs to uid \(st.st_uid), not to uid \(me) that runs the sidecar; fix: chown \(me) '\(directory)' && chmod 700 '\(directory)'"), path: directory)
        }
        if (st.st_mode & 0o022) != 0 {
            let mode = String(st.st_mode & 0o7777, radix: 8)
            throw CheckpointError(.unsafeDirectory("it is group- or world-writable (mode \(mode)); fix: chmod 700 '\(directory)'"), path: directory)
        }
    }

    public func path(forSequence seq: UInt64) -> String { directory + "/" + Self.fileName(forSequence: seq) }

    public static func fileName(forSequence seq: UInt64) -> String {
        let digits = String(seq)
        return filePrefix + String(repeating: "0", count: max(0, 16 - digits.count)) + digits + fileSuffix
    }

    /// Checkpoint files, newest (highest sequence) first.
    public func list() throws(CheckpointError) -> [FileInfo] {
        var out: [FileInfo] = []
        for name in try entries() {
            guard let seq = Self.sequence(ofName: name) else { continue }
            let path = directory + "/" + name
            var st = stat()
            let bytes: UInt64 = stat(path, &st) == 0 ? UInt64(max(0, st.st_size)) : 0
            out.append(FileInfo(path: path, sequence: seq, bytes: bytes))
        }
        return out.sorted { $0.sequence > $1.sequence }
    }

    /// Writes `checkpoint` as the newest file, atomically, then removes the oldest beyond `keep`.
    @discardableResult
    public func write(_ checkpoint: Checkpoint) throws(CheckpointError) -> WriteResult {
        removeStaleTemporaries()
        let seq = (try list().first?.sequence ?? 0) + 1
        let final = path(forSequence: seq)
        let tempName = "." + Self.fileName(forSequence: seq) + ".tmp.\(getpid())"
        let temp = directory + "/" + tempName
        let stats: CheckpointWriteStats
        do throws(CheckpointError) {
            let file = try PosixFile.create(temp)
            do throws(CheckpointError) {
                stats = try encodeCheckpoint(
                    checkpoint,
                    into: file,
                    level: compressionLevel,
                    workers: compressionWorkers
                )
                try file.sync()
                try file.closeChecked()
            } catch {
                try? file.closeChecked()
                throw error
            }
            // Test hook: BR_TEST_CHECKPOINT_PAUSE_MS widens the window between the complete temporary
            // file and the rename, so crash tests can kill the process inside a checkpoint write.
            if let ms = Self.testPauseMilliseconds { usleep(UInt32(ms) * 1000) }
            if rename(temp, final) != 0 {
                throw CheckpointError(.io(operation: "rename to \(final)", errno: errno), path: temp)
            }
        } catch {
            unlink(temp)
            var e = error
            e.path = final + " (temporary file \(tempName))"
            throw e
        }
        try syncDirectory()

        var removed: [String] = []
        var pruneErrors: [CheckpointError] = []
        if let files = try? list(), files.count > keep {
            for old in files[keep...] {
                if unlink(old.path) == 0 {
                    removed.append(old.path)
                } else {
                    pruneErrors.append(CheckpointError(.io(operation: "unlink", errno: errno), path: old.path))
                }
            }
            if !removed.isEmpty { try? syncDirectory() }
        }
        var st = stat()
        let bytes: UInt64 = stat(final, &st) == 0 ? UInt64(max(0, st.st_size)) : stats.fileBytes
        return WriteResult(
            file: FileInfo(path: final, sequence: seq, bytes: bytes),
            stats: stats,
            removed: removed,
            pruneErrors: pruneErrors
        )
    }

    /// The newest checkpoint that reads back completely, and the newer ones skipped (torn,
    /// corrupt, unreadable) with the reason. Nil when the directory has no checkpoint files;
    /// throws `.noValidCheckpoint` when it has some but none is valid.
    public func loadNewestValid() throws(CheckpointError) -> LoadedCheckpoint? {
        let files = try list()
        guard !files.isEmpty else { return nil }
        var skipped: [SkippedCheckpoint] = []
        for f in files {
            do {
                let cp = try CheckpointFile.read(path: f.path)
                return LoadedCheckpoint(checkpoint: cp, path: f.path, skipped: skipped)
            } catch {
                skipped.append(SkippedCheckpoint(path: f.path, error: error))
            }
        }
        throw CheckpointError(.noValidCheckpoint(skipped: skipped), path: directory)
    }

    // MARK: - Helpers

    static func sequence(ofName name: String) -> UInt64? {
        guard name.hasPrefix(filePrefix), name.hasSuffix(fileSuffix) else { return nil }
        let digits = name.dropFirst(filePrefix.count).dropLast(fileSuffix.count)
        guard digits.count == 16, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    private func entries() throws(CheckpointError) -> [String] {
        guard let dir = opendir(directory) else {
            throw CheckpointError(.io(operation: "opendir", errno: errno), path: directory)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            names.append(name)
        }
        return names
    }

    private func syncDirectory() throws(CheckpointError) {
        let d = try PosixFile.openDirectory(directory)
        try d.sync()
        try d.closeChecked()
    }

    /// Removes `.checkpoint-*.tmp.<pid>` files left by processes that no longer run.
    private func removeStaleTemporaries() {
        guard let names = try? entries() else { return }
        for name in names where name.hasPrefix("." + Self.filePrefix) {
            let parts = name.split(separator: ".")
            guard parts.count >= 3, parts[parts.count - 2] == "tmp", let pid = Int32(parts[parts.count - 1]) else {
                continue
            }
            if pid != getpid() && kill(pid, 0) == 0 { continue }  // its writer is alive
            if pid != getpid() && errno != ESRCH { continue }
            unlink(directory + "/" + name)
        }
    }
}

/// A checkpoint read back by ``CheckpointStore/loadNewestValid()``.
public struct LoadedCheckpoint: Sendable {
    public var checkpoint: Checkpoint
    public var path: String
    /// Newer files that were not valid, newest first, each with its error.
    public var skipped: [SkippedCheckpoint]
}
