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
        self.maxEventSize = maxEventSize
        framer.maxEventSize = maxEventSize
        #if canImport(Glibc)
        posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
    }

    deinit {
        readAhead?.stopAndJoin()
        if fd >= 0 { close(fd) }
    }

    // Read-ahead mode (see ReadAhead): events come from chunks framed and checksummed by a second thread.
    private var readAhead: ReadAheadThread?
    /// The events of the chunk being handed out.
    private var cursor = ReadAheadCursor()
    /// No chunks follow the cursor's; `finalError` is thrown after its events.
    private var finished = false
    private var finalError: BinlogDecodingError?
    private var maxEventSize: Int

    /// Chunk size and queue depth of the read-ahead thread.
    static let readAheadChunkSize = 1 << 20
    static let readAheadDepth = 4

    /// Switches to read-ahead: a second thread reads, frames and (with `verify`) computes checksums
    /// ahead. Only before the first event was read; false when it could not start (reading then
    /// continues on the caller's thread).
    func startReadAhead(verify: Bool, checksumBeforeFormatDescription: ChecksumAlgorithm, chunkSize: Int = BinlogFileReader.readAheadChunkSize) -> Bool {
        guard readAhead == nil, bytesRead == 0, !atEOF else { return readAhead != nil }
        readAhead = ReadAheadThread(
            fd: fd, path: path, chunkSize: chunkSize, depth: Self.readAheadDepth,
            maxEventSize: maxEventSize, verify: verify, checksumBeforeFormatDescription: checksumBeforeFormatDescription)
        return readAhead != nil
    }

    /// The next event, and the checksum algorithm under which the read-ahead thread found its
    /// checksum correct (nil when it did not check it: no read-ahead, an FDE, or a mismatch).
    func nextChecked() throws(BinlogDecodingError) -> CheckedRawEvent? {
        guard readAhead != nil else {
            guard let e = try next() else { return nil }
            return CheckedRawEvent(event: e, verifiedWith: nil)
        }
        while true {
            if let e = try cursor.next(path: path) { return e }
            guard try advance() else { return nil }
        }
    }

    /// Whether events are read ahead (then ``takeCursor()`` can be used).
    var readsAhead: Bool { readAhead != nil }

    /// The events not handed out yet of the current chunk, or of the next one; nil at the end of
    /// the file (after the final error, if any, is thrown). The caller hands the cursor back with
    /// ``putBack(_:)`` before calling anything else on the reader.
    func takeCursor() throws(BinlogDecodingError) -> ReadAheadCursor? {
        while !cursor.hasMore {
            guard try advance() else { return nil }
        }
        var taken = ReadAheadCursor()
        swap(&taken, &cursor)
        return taken
    }

    func putBack(_ c: ReadAheadCursor) { cursor = c }

    /// Moves to the next chunk; false (or the final error) at the end.
    private func advance() throws(BinlogDecodingError) -> Bool {
        guard let readAhead else { return false }
        if finished {
            if var e = finalError {
                e.source = path
                throw e
            }
            return false
        }
        guard let chunk = readAhead.queue.take() else {
            // Only if the thread ended without its last chunk (a bug there), or the queue was cancelled.
            finished = true
            atEOF = true
            readAhead.stopAndJoin()
            throw BinlogDecodingError(.unsupported("the read-ahead thread ended before the end of the file"), field: "", byteOffset: bytesRead, source: path)
        }
        cursor = ReadAheadCursor(chunk)
        bytesRead = chunk.bytesRead
        if chunk.isLast || chunk.error != nil {
            finished = true
            finalError = chunk.error
            atEOF = true
            readAhead.stopAndJoin()
        }
        return true
    }

    /// The next event, or nil at the end of the file. A partial event at the end is an error.
    public func next() throws(BinlogDecodingError) -> RawEvent? {
        if readAhead != nil { return try nextChecked()?.event }
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
        let want = framer.nextReadSize(chunk: chunkSize)
        let (n, readError) = framer.appendRead(from: fd, capacity: want)
        if readError != 0 {
            throw BinlogDecodingError(.unsupported("read failed: \(String(cString: strerror(readError)))"), field: "", byteOffset: bytesRead, source: path)
        }
        bytesRead += UInt64(n)
        if n < want { atEOF = true }
    }
}

extension BinlogFramer {
    /// Appends up to `capacity` bytes read from `fd` (fewer only at the end of the file): how
    /// many, and the `errno` of a failed read (0 when none failed).
    mutating func appendRead(from fd: Int32, capacity: Int) -> (count: Int, error: Int32) {
        var readError: Int32 = 0
        let n = append(capacity: capacity) { buf in
            var total = 0
            while total < buf.count {
                guard let base = buf.baseAddress else { break }
                let r = read(fd, base + total, buf.count - total)
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
        return (n, readError)
    }
}

/// An event from ``BinlogFileReader/nextChecked()``: `verifiedWith` is the checksum algorithm under
/// which the read-ahead thread found its checksum correct (nil: not checked there).
struct CheckedRawEvent {
    var event: RawEvent
    var verifiedWith: ChecksumAlgorithm?
}

/// The events of one read-ahead chunk, handed out one at a time. A plain value: a reader that
/// holds it in a local variable frames each event without touching a class property.
struct ReadAheadCursor {
    private let buffer: [UInt8]
    private let start: Int
    private let end: Int
    private let offset: UInt64
    private let verifiedWith: ChecksumAlgorithm?
    private let unconfirmed: [Int]
    private var position: Int
    private var unconfirmedIndex = 0

    init() {
        buffer = []
        start = 0
        end = 0
        offset = 0
        verifiedWith = nil
        unconfirmed = []
        position = 0
    }

    init(_ chunk: ReadAheadChunk) {
        buffer = chunk.buffer
        start = chunk.start
        end = chunk.end
        offset = chunk.offset
        verifiedWith = chunk.verifiedWith
        unconfirmed = chunk.unconfirmed
        position = chunk.start
    }

    var hasMore: Bool { position < end }

    /// The next event of the chunk, nil after its last.
    @inline(__always)
    mutating func next(path: String) throws(BinlogDecodingError) -> CheckedRawEvent? {
        guard position < end else { return nil }
        let at = position
        // Stage 1 framed the chunk; these checks only keep a bug there from trapping here.
        guard at >= 0, end - at >= EventHeader.size, end <= buffer.count else { throw inconsistent(at, path) }
        let size = Int(buffer[at + 9]) | Int(buffer[at + 10]) << 8 | Int(buffer[at + 11]) << 16 | Int(buffer[at + 12]) << 24
        guard size >= EventHeader.size, size <= end - at else { throw inconsistent(at, path) }
        position = at + size
        var verified = verifiedWith
        if unconfirmedIndex < unconfirmed.count && unconfirmed[unconfirmedIndex] == at {
            unconfirmedIndex += 1
            verified = nil
        }
        return CheckedRawEvent(event: RawEvent(offset: offset + UInt64(at - start), bytes: buffer[at..<(at + size)]), verifiedWith: verified)
    }

    private func inconsistent(_ at: Int, _ path: String) -> BinlogDecodingError {
        BinlogDecodingError(.invalidValue("read-ahead chunk is inconsistent at index \(at)"), field: "header", byteOffset: offset + UInt64(max(0, at - start)), source: path)
    }
}
