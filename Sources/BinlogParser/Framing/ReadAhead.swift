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

/// A bounded blocking queue between the read-ahead thread and its consumer.
final class ReadAheadQueue: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var items: [ReadAheadChunk] = []
    private var cancelled = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    /// Waits for room; false when the consumer went away.
    func push(_ chunk: ReadAheadChunk) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while items.count >= capacity && !cancelled { pthread_cond_wait(changed, mutex) }
        if cancelled { return false }
        items.append(chunk)
        pthread_cond_broadcast(changed)
        return true
    }

    /// Waits for a chunk.
    func pop() -> ReadAheadChunk {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while items.isEmpty { pthread_cond_wait(changed, mutex) }
        let chunk = items.removeFirst()
        pthread_cond_broadcast(changed)
        return chunk
    }

    func cancel() {
        pthread_mutex_lock(mutex)
        cancelled = true
        items.removeAll()
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    var isCancelled: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return cancelled
    }
}

/// The read-ahead thread: reads `fd` (which its owner keeps open until ``join()`` returned).
final class ReadAhead: @unchecked Sendable {
    let queue: ReadAheadQueue
    private let fd: Int32
    private let path: String
    private let chunkSize: Int
    private let maxEventSize: Int
    private let verify: Bool
    private let checksumBeforeFormatDescription: ChecksumAlgorithm
    #if canImport(Darwin)
    private var thread: pthread_t?
    #else
    private var thread = pthread_t()
    #endif
    private var started = false

    init(fd: Int32, path: String, chunkSize: Int, depth: Int, maxEventSize: Int, verify: Bool, checksumBeforeFormatDescription: ChecksumAlgorithm) {
        self.fd = fd
        self.path = path
        self.chunkSize = max(chunkSize, 1)
        self.maxEventSize = maxEventSize
        self.verify = verify
        self.checksumBeforeFormatDescription = checksumBeforeFormatDescription
        queue = ReadAheadQueue(capacity: depth)
    }

    /// Starts the thread; false when the system refused (the caller then reads on its own thread).
    func start() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        #if canImport(Darwin)
        let body: @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? = { context in
            Unmanaged<ReadAhead>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }
        #else
        let body: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
            guard let context else { return nil }
            Unmanaged<ReadAhead>.fromOpaque(context).takeRetainedValue().run()
            return nil
        }
        #endif
        let status = pthread_create(&thread, nil, body, context)
        if status != 0 {
            Unmanaged<ReadAhead>.fromOpaque(context).release()
            return false
        }
        started = true
        return true
    }

    /// Stops the thread (if it still runs) and waits for it.
    func stopAndJoin() {
        guard started else { return }
        started = false
        queue.cancel()
        #if canImport(Darwin)
        if let thread { pthread_join(thread, nil) }
        #else
        pthread_join(thread, nil)
        #endif
    }

    private func run() {
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
                        _ = queue.push(chunk)
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
                        guard queue.push(chunk) else { return }
                        chunk = ReadAheadChunk(buffer: framer.buffer)
                        chunk.verifiedWith = verify ? checksum : nil
                        chunk.bytesRead = bytesRead
                        empty = true
                    } else if verify && checksum == .crc32 && !Self.checksumMatches(chunk.buffer, start: start, length: length) {
                        chunk.unconfirmed.append(start)
                    }
                }
                if !empty { guard queue.push(chunk) else { return } }
                if atEOF {
                    var last = ReadAheadChunk(buffer: [])
                    last.bytesRead = bytesRead
                    last.isLast = true
                    do { try framer.finish() } catch { last.error = error }
                    _ = queue.push(last)
                    return
                }
            }
            readFirst = false
            if queue.isCancelled { return }
            // Every buffer is `chunkSize` bytes in all (pending bytes included) unless an event
            // needs more: same-sized blocks are reused by malloc instead of being mapped afresh
            // (a quarter of the page faults).
            let want = framer.nextReadSize(chunk: chunkSize, minusPending: true)
            var readError: Int32 = 0
            let fd = self.fd
            let n = framer.append(capacity: want) { buf in
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
            if readError != 0 {
                var last = ReadAheadChunk(buffer: [])
                last.bytesRead = bytesRead
                last.isLast = true
                last.error = BinlogDecodingError(.unsupported("read failed: \(String(cString: strerror(readError)))"), field: "", byteOffset: bytesRead, source: path)
                _ = queue.push(last)
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
