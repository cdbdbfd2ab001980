#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor that closes itself, with `EINTR`-safe whole reads and writes; every failure
/// becomes a ``CheckpointError`` naming the file.
final class PosixFile {
    let fd: Int32
    let path: String
    private var closed = false

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    static func openForReading(_ path: String) throws(CheckpointError) -> PosixFile {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw CheckpointError(.io(operation: "open", errno: errno), path: path) }
        return PosixFile(fd: fd, path: path)
    }

    /// Creates a new file (fails if it exists), mode 0600: checkpoints hold every key and value.
    static func create(_ path: String) throws(CheckpointError) -> PosixFile {
        let fd = retryingEINTR { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw CheckpointError(.io(operation: "create", errno: errno), path: path) }
        return PosixFile(fd: fd, path: path)
    }

    static func openDirectory(_ path: String) throws(CheckpointError) -> PosixFile {
        let fd = retryingEINTR { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw CheckpointError(.io(operation: "open directory", errno: errno), path: path) }
        return PosixFile(fd: fd, path: path)
    }

    func size() throws(CheckpointError) -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError(.io(operation: "stat", errno: errno), path: path) }
        return UInt64(max(0, st.st_size))
    }

    /// Writes all of `bytes` at the current offset.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.io(operation: "write", errno: errno), path: path)
            }
            if n == 0 { throw CheckpointError(.io(operation: "write", errno: EIO), path: path) }
            p += n
            left -= n
        }
    }

    /// Writes all of `bytes` at `offset` (the file offset is unchanged).
    func pwriteAll(_ bytes: [UInt8], at offset: Int) throws(CheckpointError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes {
                pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.io(operation: "write", errno: errno), path: path)
            }
            if n == 0 { throw CheckpointError(.io(operation: "write", errno: EIO), path: path) }
            done += n
        }
    }

    /// Reads up to `into.count` bytes; returns how many (0 at end of file).
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        var total = 0
        while total < buffer.count {
            let n = read(fd, base + total, buffer.count - total)
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.io(operation: "read", errno: errno), path: path)
            }
            if n == 0 { break }
            total += n
        }
        return total
    }

    func sync() throws(CheckpointError) {
        if retryingEINTR({ fsync(fd) }) != 0 {
            throw CheckpointError(.io(operation: "fsync", errno: errno), path: path)
        }
    }

    /// Closes and reports a failure (a late write error can surface here).
    func closeChecked() throws(CheckpointError) {
        guard !closed else { return }
        closed = true
        if close(fd) != 0 && errno != EINTR { throw CheckpointError(.io(operation: "close", errno: errno), path: path) }
    }

    deinit { if !closed { _ = close(fd) } }
}

@inline(__always)
func retryingEINTR(_ body: () -> Int32) -> Int32 {
    while true {
        let r = body()
        if r < 0 && errno == EINTR { continue }
        return r
    }
}
