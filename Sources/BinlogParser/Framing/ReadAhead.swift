import ConcurrencyKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Events framed and checksummed ahead by a second thread.
///
/// Stage 1 of the offline pipeline (``BinlogFileEvents``): one thread reads the file in chunks,
/// cuts them into events with the same ``BinlogFramer`` as the single-threaded reader, and computes
/// the CRC32 of every event, while the caller's thread decodes the events of the chunk before. It
/// never throws a checksum error itself: it lists the events whose checksum it could not confirm,
/// and the decoder checks those again in file order (and throws its usual error), so errors come
/// out exactly where the single-threaded reader would throw them, after every event before them.
/// Framing and read errors end the stream after the chunk's events.
struct ReadAheadChunk: Sendable {
    /// Shared by the events of the chunk (`RawEvent.bytes` are slices of it).
    var buffer: [UInt8]
    /// Index of the chunk's first event in `buffer`, and one past its last.
    var start = 0
    var end = 0
    /// Absolute offset of `buffer[start]`.
    var offset: UInt64 = 0
    /// The checksum algorithm in force (as stage 1 tracked it from the FDEs) under which stage 1
    /// checked every event of the chunk except FDEs and those in `unconfirmed`; nil when stage 1
    /// did not verify.
    var verifiedWith: ChecksumAlgorithm?
    /// Start indexes of events whose checksum did not match (or that are too short to carry one).
    var unconfirmed: [Int] = []
    /// Bytes read from the file when the chunk was cut.
    var bytesRead: UInt64 = 0
    /// Thrown after the chunk's events; ends the stream.
    var error: BinlogDecodingError?
    /// No chunks follow.
    var isLast = false

    init(buffer: [UInt8]) { self.buffer = buffer }
}

/// The chunks between the read-ahead thread and its consumer (``BinlogFileReader``).
typealias ReadAheadQueue = BlockingQueue<FIFOBuffer<ReadAheadChunk>>

/// The read-ahead thread and its queue, owned by one ``BinlogFileReader``.
final class ReadAheadThread {
    let queue: ReadAheadQueue
    private let thread: JoinableThread

    /// Starts reading `fd` (which the caller keeps open until ``stopAndJoin()`` returned); nil when
    /// the system refused the thread (the caller then reads on its own thread).
    init?(fd: Int32, path: String, chunkSize: Int, depth: Int, maxEventSize: Int, verify: Bool, checksumBeforeFormatDescription: ChecksumAlgorithm) {
        let queue = ReadAheadQueue(capacity: depth)
        let stage = ReadAhead(
            queue: queue, fd: fd, path: path, chunkSize: max(chunkSize, 1), maxEventSize: maxEventSize, verify: verify,
            checksumBeforeFormatDescription: checksumBeforeFormatDescription)
        do {
            thread = try JoinableThread(name: "binlog-read-ahead") { stage.run() }
        } catch {
            return nil
        }
        self.queue = queue
    }

    /// Stops the thread (if it still runs) and waits for it; idempotent.
    func stopAndJoin() {
        queue.cancel()
        thread.join()
    }
}

/// Stage 1: what the read-ahead thread does.
private struct ReadAhead: Sendable {
    let queue: ReadAheadQueue
    let fd: Int32
    let path: String
    let chunkSize: Int
    let maxEventSize: Int
    let verify: Bool
    let checksumBeforeFormatDescription: ChecksumAlgorithm

    func run() {
        // The consumer never waits on a queue no chunk will come to (each path below puts a last
        // chunk first, unless the consumer cancelled).
        defer { queue.close() }
        var framer = BinlogFramer(startOffset: 0, expectMagic: true)
        framer.maxEventSize = maxEventSize
        var checksum = checksumBeforeFormatDescription
        var bytesRead: UInt64 = 0
        var atEOF = false
        var readFirst = true
        while true {
            if !readFirst {
                // Cut the complete events of the buffer into chunks (a chunk ends after each FDE,
                // whose checksum algorithm applies to the events after it).
                var chunk = ReadAheadChunk(buffer: framer.buffer)
                chunk.verifiedWith = verify ? checksum : nil
                chunk.bytesRead = bytesRead
                var empty = true
                while true {
                    let next: (start: Int, length: Int, offset: UInt64)?
                    do {
                        next = try framer.nextRange()
                    } catch {
                        chunk.error = error
                        chunk.isLast = true
                        queue.put(chunk)
                        return
                    }
                    guard let (start, length, offset) = next else { break }
                    if empty {
                        chunk.start = start
                        chunk.offset = offset
                        empty = false
                    }
                    chunk.end = start + length
                    if chunk.buffer[start + 4] == BinlogEventType.formatDescription.rawValue {
                        // The decoder verifies FDEs itself; here it is only decoded for the algorithm.
                        let decoded = chunk.buffer.withUnsafeBytes { raw in
                            try? FormatDescriptionEvent.decode(UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)]), at: offset)
                        }
                        if let decoded { checksum = decoded.checksumAlgorithm }
                        guard queue.put(chunk) else { return }
                        chunk = ReadAheadChunk(buffer: framer.buffer)
                        chunk.verifiedWith = verify ? checksum : nil
                        chunk.bytesRead = bytesRead
                        empty = true
                    } else if verify && checksum == .crc32 && !Self.checksumMatches(chunk.buffer, start: start, length: length) {
                        chunk.unconfirmed.append(start)
                    }
                }
                if !empty { guard queue.put(chunk) else { return } }
                if atEOF {
                    var last = ReadAheadChunk(buffer: [])
                    last.bytesRead = bytesRead
                    last.isLast = true
                    do { try framer.finish() } catch { last.error = error }
                    queue.put(last)
                    return
                }
            }
            readFirst = false
            if queue.isCancelled { return }
            // Every buffer is `chunkSize` bytes in all (pending bytes included) unless an event
            // needs more: same-sized blocks are reused by malloc instead of being mapped afresh
            // (a quarter of the page faults).
            let want = framer.nextReadSize(chunk: chunkSize, minusPending: true)
            let (n, readError) = framer.appendRead(from: fd, capacity: want)
            if readError != 0 {
                var last = ReadAheadChunk(buffer: [])
                last.bytesRead = bytesRead
                last.isLast = true
                last.error = BinlogDecodingError(.unsupported("read failed: \(String(cString: strerror(readError)))"), field: "", byteOffset: bytesRead, source: path)
                queue.put(last)
                return
            }
            bytesRead += UInt64(n)
            if n < want { atEOF = true }
        }
    }

    /// Whether the event's stored CRC32 matches its bytes (false when it is too short to have one).
    private static func checksumMatches(_ buffer: [UInt8], start: Int, length: Int) -> Bool {
        let bodyEnd = length - 4
        guard bodyEnd >= EventHeader.size, start >= 0, start + length <= buffer.count else { return false }
        return buffer.withUnsafeBytes { raw in
            let event = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
            let stored = UInt32(littleEndian: event.loadUnaligned(fromByteOffset: bodyEnd, as: UInt32.self))
            return CRC32.checksum(UnsafeRawBufferPointer(rebasing: event[0..<bodyEnd])) == stored
        }
    }
}
