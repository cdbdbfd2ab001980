/// Cuts a byte stream into events, fed in arbitrary chunks.
///
/// It reads nothing but the 19-byte header's `event_size`, so it frames every event type, known or
/// not. Hostile lengths are refused before any allocation: an event must be at least 19 bytes and at
/// most ``maxEventSize``.
public struct BinlogFramer: Sendable {
    /// Binlog files start with these four bytes.
    public static let magic: [UInt8] = [0xfe, 0x62, 0x69, 0x6e]

    /// Largest event accepted (MySQL's `max_allowed_packet` ceiling is 1 GiB).
    public var maxEventSize: Int = 1 << 30

    /// The bytes appended and not yet dropped; events are slices of it.
    private(set) var buffer: [UInt8] = []
    /// Index in `buffer` of the first byte not yet returned as an event.
    private(set) var readIndex = 0
    /// Absolute offset of `buffer[readIndex]`.
    public private(set) var offset: UInt64
    private var needMagic: Bool

    /// - Parameters:
    ///   - startOffset: the absolute offset of the first byte that will be appended.
    ///   - expectMagic: whether the stream starts with the 4-byte file magic (files: yes; a
    ///     replication stream or a transaction payload: no).
    public init(startOffset: UInt64 = 0, expectMagic: Bool) {
        self.offset = startOffset
        self.needMagic = expectMagic
    }

    /// Bytes appended but not yet returned as events.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// How many more bytes the next event needs before `next()` can return it (at least 1 when it
    /// returned nil); readers use it to size their next read.
    public var bytesWanted: Int {
        let available = buffer.count - readIndex
        if needMagic { return max(1, 4 - available) }
        if available < EventHeader.size { return EventHeader.size - available }
        let size = buffer.withUnsafeBytes { raw -> Int in
            Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: readIndex + 9, as: UInt32.self)))
        }
        // Never more than an acceptable event could need (`nextRange()` refuses the rest).
        return max(1, min(size, maxEventSize) - available)
    }

    /// How many bytes a reader should append next: at least `chunk` (less what is pending, with
    /// `minusPending`), and what the next event still needs, but no more than is buffered already
    /// (or `chunk`): a header's declared size is believed only as its bytes arrive, so a short input
    /// whose last header declares a huge event costs a buffer about its own size, and a real large
    /// event is read in doublings.
    public func nextReadSize(chunk: Int, minusPending: Bool = false) -> Int {
        let pending = bufferedByteCount
        let base = minusPending ? max(1, chunk - pending) : max(1, chunk)
        return max(base, min(bytesWanted, max(chunk, pending)))
    }

    /// Appends a chunk. When nothing is pending the chunk becomes the buffer without a copy.
    public mutating func append(_ chunk: [UInt8]) {
        if readIndex == buffer.count {
            buffer = chunk
        } else {
            var merged = [UInt8]()
            merged.reserveCapacity(buffer.count - readIndex + chunk.count)
            merged.append(contentsOf: buffer[readIndex...])
            merged.append(contentsOf: chunk)
            buffer = merged
        }
        readIndex = 0
    }

    /// Appends up to `capacity` bytes written by `fill` straight into a new buffer that starts with
    /// the pending bytes. `fill` returns how many bytes it wrote (0 at the end of input).
    public mutating func append(capacity: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows -> Int {
        let pending = buffer.count - readIndex
        var written = 0
        let newBuffer = try [UInt8](unsafeUninitializedCapacity: pending + capacity) { storage, count in
            let raw = UnsafeMutableRawBufferPointer(storage)
            if pending > 0 {
                buffer.withUnsafeBytes { old in
                    raw.baseAddress!.copyMemory(from: old.baseAddress! + readIndex, byteCount: pending)
                }
            }
            count = pending
            written = try fill(UnsafeMutableRawBufferPointer(rebasing: raw[pending..<(pending + capacity)]))
            count = pending + max(0, min(written, capacity))
        }
        buffer = newBuffer
        readIndex = 0
        return written
    }

    /// The next complete event, or nil when more bytes are needed.
    public mutating func next() throws(BinlogDecodingError) -> RawEvent? {
        guard let (start, length, offset) = try nextRange() else { return nil }
        return RawEvent(offset: offset, bytes: buffer[start..<(start + length)])
    }

    /// Like ``next()``, without building the event: where the next complete event is in `buffer`
    /// (`start`, `length`) and its absolute offset.
    mutating func nextRange() throws(BinlogDecodingError) -> (start: Int, length: Int, offset: UInt64)? {
        let available = buffer.count - readIndex
        if needMagic {
            guard available >= 4 else { return nil }
            try checkMagic()
            needMagic = false
            readIndex += 4
            offset += 4
            return try nextRange()
        }
        guard available >= EventHeader.size else { return nil }
        let size = buffer.withUnsafeBytes { raw -> UInt32 in
            UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: readIndex + 9, as: UInt32.self))
        }
        guard size >= UInt32(EventHeader.size), Int(size) <= maxEventSize else {
            throw BinlogDecodingError(
                .invalidEventLength(UInt64(size)), field: "header.eventSize", byteOffset: offset + 9,
                eventType: BinlogEventType(buffer[readIndex + 4]), eventStart: offset)
        }
        let length = Int(size)
        guard available >= length else { return nil }
        let start = readIndex
        let eventOffset = offset
        readIndex += length
        offset += UInt64(length)
        return (start, length, eventOffset)
    }

    /// Call at the end of the input: throws when a partial event is left over.
    public func finish() throws(BinlogDecodingError) {
        let available = buffer.count - readIndex
        if needMagic {
            throw BinlogDecodingError(.notABinlog("file is empty or shorter than the 4-byte magic"), field: "magic", byteOffset: offset)
        }
        guard available > 0 else { return }
        if available < EventHeader.size {
            throw BinlogDecodingError(
                .truncated(needed: EventHeader.size, available: available), field: "header", byteOffset: offset,
                eventStart: offset)
        }
        let type = BinlogEventType(buffer[readIndex + 4])
        let size = buffer.withUnsafeBytes { raw -> UInt32 in
            UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: readIndex + 9, as: UInt32.self))
        }
        throw BinlogDecodingError(
            .truncated(needed: Int(size), available: available), field: "event", byteOffset: offset + UInt64(available),
            eventType: type, eventStart: offset)
    }

    private func checkMagic() throws(BinlogDecodingError) {
        let head = Array(buffer[readIndex..<(readIndex + 4)])
        if head == Self.magic { return }
        let why: String
        if head[0] == 0x1f && head[1] == 0x8b {
            why = "it is gzip-compressed; decompress it first (gunzip)"
        } else if head == [0x28, 0xb5, 0x2f, 0xfd] {
            why = "it is zstd-compressed; decompress it first (unzstd)"
        } else if head[0] == 0xfe && head[1] == 0x62 {
            why = "bad magic"
        } else {
            why = "it does not start with the binlog magic FE 62 69 6E (found \(head.map { hex2($0) }.joined(separator: " ")))"
        }
        throw BinlogDecodingError(.notABinlog(why), field: "magic", byteOffset: offset)
    }
}

@inline(__always)
func hex2(_ b: UInt8) -> String {
    let digits: [Character] = Array("0123456789ABCDEF")
    return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
}
