#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a binlog file in chunks (never whole) and frames its events.
///
/// Errors carry the file name, so they read `mysql-bin.000001:1234: event ...: ...`.
public final class BinlogFileReader {
    public let path: String
    /// The size of the file when it was opened.
    public let fileSize: UInt64
    public var chunkSize = 4 << 20
    private var fd: Int32
    private var framer = BinlogFramer(startOffset: 0, expectMagic: true)
    private var atEOF = false
    /// Bytes read from the file so far.
    public private(set) var bytesRead: UInt64 = 0

    public init(path: String, maxEventSize: Int = 1 << 30) throws(BinlogDecodingError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw BinlogDecodingError(.unsupported("cannot open: \(why)"), field: "", byteOffset: 0, source: path)
        }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw BinlogDecodingError(.unsupported("is a directory"), field: "", byteOffset: 0, source: path)
        }
        self.fd = fd
        self.fileSize = UInt64(max(0, st.st_size))
        framer.maxEventSize = maxEventSize
        #if canImport(Glibc)
        posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The next event, or nil at the end of the file. A partial event at the end is an error.
    public func next() throws(BinlogDecodingError) -> RawEvent? {
        while true {
            do {
                if let event = try framer.next() { return event }
                if atEOF {
                    try framer.finish()
                    return nil
                }
            } catch {
                var e = error
                e.source = path
                throw e
            }
            try fill()
        }
    }

    private func fill() throws(BinlogDecodingError) {
        let want = max(chunkSize, framer.bytesWanted)
        var readError: Int32 = 0
        let fd = self.fd
        let n = framer.append(capacity: want) { buf in
            var total = 0
            while total < buf.count {
                let r = read(fd, buf.baseAddress! + total, buf.count - total)
                if r < 0 {
                    if errno == EINTR { continue }
                    readError = errno
                    return total
                }
                if r == 0 { break }
                total += r
            }
            return total
        }
        if readError != 0 {
            throw BinlogDecodingError(.unsupported("read failed: \(String(cString: strerror(readError)))"), field: "", byteOffset: bytesRead, source: path)
        }
        bytesRead += UInt64(n)
        if n < want { atEOF = true }
    }
}
