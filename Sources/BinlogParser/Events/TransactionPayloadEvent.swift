/// TRANSACTION_PAYLOAD_EVENT (40, MySQL 8.0.20+ `binlog_transaction_compression`): a whole
/// transaction's events, compressed.
///
/// ```
/// header fields: (type lenenc, length lenenc, value: lenenc integer in `length` bytes)*, type 0 = end
///   1 = compressed payload size, 2 = compression type (0 = zstd, 255 = none), 3 = uncompressed size
/// payload: the inner events (v4 headers, no checksums), compressed
/// ```
/// The inner events are decompressed as a stream by ``TransactionPayloadReader`` with a bounded
/// buffer, never materialised whole.
public struct TransactionPayloadEvent: Sendable {
    public var compressionType: UInt64
    public var payloadSize: UInt64
    public var uncompressedSize: UInt64?
    var payload: ArraySlice<UInt8>
    var payloadOffset: UInt64

    public var compressionName: String {
        switch compressionType {
        case 0: "ZSTD"
        case 255: "NONE"
        default: "UNKNOWN_\(compressionType)"
        }
    }

    static func decode(_ c: inout ByteCursor, event: ArraySlice<UInt8>, eventStart: UInt64) throws(BinlogDecodingError) -> TransactionPayloadEvent {
        var compression: UInt64 = 0
        var size: UInt64?
        var uncompressed: UInt64?
        while true {
            let type = try c.lengthEncoded("payload.fieldType")
            if type == 0 { break }
            let length = try c.lengthEncodedCount("payload.fieldLength")
            var v = try c.subCursor(length, "payload.field[\(type)]")
            switch type {
            case 1: size = try v.lengthEncoded("payload.size")
            case 2: compression = try v.lengthEncoded("payload.compressionType")
            case 3: uncompressed = try v.lengthEncoded("payload.uncompressedSize")
            default: break
            }
        }
        let start = c.position
        let length = c.remaining
        if let size, size != UInt64(length) {
            throw c.fail(.invalidValue("payload size field says \(size) bytes, the event holds \(length)"), "payload.size")
        }
        guard compression == 0 || compression == 255 else {
            throw c.fail(.unsupported("payload compression type \(compression)"), "payload.compressionType")
        }
        let base = event.startIndex + start
        let payload = event[base..<(base + length)]
        c.position = c.end
        return TransactionPayloadEvent(
            compressionType: compression, payloadSize: UInt64(length), uncompressedSize: uncompressed, payload: payload,
            payloadOffset: eventStart + UInt64(start))
    }
}

/// Streams the inner events out of a TRANSACTION_PAYLOAD_EVENT.
///
/// Memory stays bounded by ``chunkSize`` plus the largest inner event (itself bounded by
/// `maxEventSize`, by default ``DecodingLimits/maxDecompressedEventSize``), however large the
/// transaction; the payload's whole decompressed size is bounded by `maxTotalSize`. Buffers grow
/// as decompressed bytes arrive, never to a size an inner header merely declares. Offsets of the
/// inner events are positions in the decompressed payload, starting at 0.
public struct TransactionPayloadReader: Sendable {
    public static let chunkSize = 256 * 1024
    private let event: TransactionPayloadEvent
    private var framer = BinlogFramer(startOffset: 0, expectMagic: false)
    private var stream: ZstdStream?
    private var inPos = 0
    private var produced: UInt64 = 0
    private var inputDone = false
    private let maxEventSize: Int
    private let maxTotalSize: UInt64
    /// Absolute offset of the enclosing payload event, for errors.
    public let eventStart: UInt64
    /// Bytes decompressed so far.
    public var decompressedByteCount: UInt64 { produced }

    /// - Parameters:
    ///   - maxEventSize: the largest inner event accepted.
    ///   - maxTotalSize: the most bytes the payload may decompress to (what is left of a file's
    ///     ``DecodingLimits/maxDecompressedBytesPerFile``).
    public init(
        _ event: TransactionPayloadEvent, eventStart: UInt64, maxEventSize: Int = DecodingLimits().maxDecompressedEventSize,
        maxTotalSize: UInt64 = DecodingLimits().maxDecompressedBytesPerFile
    ) throws(BinlogDecodingError) {
        self.event = event
        self.eventStart = eventStart
        self.maxEventSize = maxEventSize
        self.maxTotalSize = maxTotalSize
        framer.maxEventSize = maxEventSize
        if event.compressionType == 0 {
            stream = try ZstdStream()
        } else {
            framer.append(Array(event.payload))
            inputDone = true
        }
    }

    /// The next inner event, or nil at the end of the payload.
    public mutating func next() throws(BinlogDecodingError) -> RawEvent? {
        while true {
            do {
                if let e = try framer.next() { return e }
            } catch {
                var e = error
                e.inPayload = eventStart
                if case .invalidEventLength(let size) = e.kind, size > UInt64(maxEventSize) {
                    e.kind = .decompression("the event declares \(size) bytes, over the \(maxEventSize)-byte limit for a decompressed event (--max-decompressed-bytes)")
                }
                throw e
            }
            if inputDone {
                do { try framer.finish() } catch {
                    var e = error
                    e.inPayload = eventStart
                    throw e
                }
                return nil
            }
            try pump()
        }
    }

    private mutating func pump() throws(BinlogDecodingError) {
        guard let stream else { inputDone = true; return }
        var pos = inPos
        // Never past the total allowed (plus one byte, to tell "exactly at" from "over").
        let left = maxTotalSize >= produced ? maxTotalSize - produced : 0
        let want = Int(clamping: min(UInt64(framer.nextReadSize(chunk: Self.chunkSize)), left < UInt64.max ? left + 1 : left))
        var failure: String?
        var frameDone = false
        let payload = event.payload
        let written = framer.append(capacity: want) { out in
            payload.withUnsafeBytes { input in
                var total = 0
                while total < out.count {
                    let before = pos
                    let r = stream.decompress(input, inPos: &pos, into: UnsafeMutableRawBufferPointer(rebasing: out[total...]))
                    total += r.written
                    if let e = r.error { failure = e; break }
                    if r.frameDone { frameDone = true; break }
                    if r.written == 0 && pos == before { break }
                }
                return total
            }
        }
        inPos = pos
        produced += UInt64(written)
        if let failure {
            throw BinlogDecodingError(.decompression("zstd: \(failure)"), field: "payload", byteOffset: event.payloadOffset + UInt64(inPos), eventType: .transactionPayload, eventStart: eventStart)
        }
        if produced > maxTotalSize {
            throw BinlogDecodingError(.decompression("payload decompresses to more than \(maxTotalSize) bytes, the limit left for this file (--max-decompressed-file-bytes)"), field: "payload", byteOffset: event.payloadOffset + UInt64(inPos), eventType: .transactionPayload, eventStart: eventStart)
        }
        if let limit = event.uncompressedSize, produced > limit {
            throw BinlogDecodingError(.decompression("payload decompresses to more than its declared \(limit) bytes"), field: "payload", byteOffset: event.payloadOffset + UInt64(inPos), eventType: .transactionPayload, eventStart: eventStart)
        }
        if frameDone && inPos >= event.payload.count { inputDone = true; return }
        if written == 0 {
            if inPos < event.payload.count && !frameDone {
                throw BinlogDecodingError(.decompression("zstd made no progress"), field: "payload", byteOffset: event.payloadOffset + UInt64(inPos), eventType: .transactionPayload, eventStart: eventStart)
            }
            if inPos >= event.payload.count {
                if !frameDone {
                    throw BinlogDecodingError(.decompression("zstd stream ends in the middle of a frame"), field: "payload", byteOffset: event.payloadOffset + UInt64(inPos), eventType: .transactionPayload, eventStart: eventStart)
                }
                inputDone = true
            }
        }
    }
}
