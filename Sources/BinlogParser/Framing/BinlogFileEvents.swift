/// An event with where it came from.
public struct LocatedEvent: Sendable {
    public var event: BinlogEvent
    /// The offset of the enclosing TRANSACTION_PAYLOAD_EVENT for events inside one.
    public var inPayload: UInt64?
    /// The end of the enclosing payload event (where a reader resumes), or the event's own end.
    public var resumeOffset: UInt64
}

/// Decoded events of one binlog file, in file order, with TRANSACTION_PAYLOAD contents expanded
/// in place (streamed, bounded memory).
///
/// By default a second thread reads, frames and checksums the file ahead (see ``ReadAhead``)
/// while the caller's thread decodes: the two stages of the offline pipeline.
public final class BinlogFileEvents {
    public let reader: BinlogFileReader
    public var decoder = BinlogEventDecoder()
    private var payload: TransactionPayloadReader?
    /// `payload != nil`, without touching the payload reader.
    private var expandingPayload = false
    private var payloadEnd: UInt64 = 0
    /// Bit `code` set: events of that type are skipped.
    private var skipBits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// Events verified and passed over because their type is skipped.
    public private(set) var skippedCount = 0
    /// Bytes decompressed from the transaction payloads finished so far.
    private var payloadBytesDone: UInt64 = 0

    /// Bytes decompressed so far in this file (MariaDB compressed events and transaction payloads),
    /// which ``DecodingLimits/maxDecompressedBytesPerFile`` bounds.
    public var decompressedByteCount: UInt64 {
        decoder.decompressedByteCount &+ payloadBytesDone &+ (payload?.decompressedByteCount ?? 0)
    }

    /// Event types the caller does not want: their checksums are still verified, but they are not
    /// decoded or returned (e.g. ANNOTATE_ROWS for a reader that only wants row values).
    public func skipTypes(_ types: [BinlogEventType]) {
        for t in types where t != .formatDescription && t != .transactionPayload {
            let bit = UInt64(1) << UInt64(t.rawValue & 63)
            switch t.rawValue >> 6 {
            case 0: skipBits.0 |= bit
            case 1: skipBits.1 |= bit
            case 2: skipBits.2 |= bit
            default: skipBits.3 |= bit
            }
        }
    }

    @inline(__always)
    private func skips(_ type: BinlogEventType) -> Bool {
        let word: UInt64
        switch type.rawValue >> 6 {
        case 0: word = skipBits.0
        case 1: word = skipBits.1
        case 2: word = skipBits.2
        default: word = skipBits.3
        }
        return (word >> UInt64(type.rawValue & 63)) & 1 == 1
    }

    /// Whether a second thread reads, frames and checksums ahead (see ``init(path:verifyChecksums:readAhead:)``).
    public let readsAhead: Bool
    private var readAheadStarted = false
    /// The read-ahead chunk size (tests make it small to cut events across chunks).
    var readAheadChunkSize = BinlogFileReader.readAheadChunkSize

    /// - Parameters:
    ///   - verifyChecksums: verify CRC32 event checksums (``BinlogEventDecoder/verifyChecksums``).
    ///   - readAhead: read, frame and checksum the file on a second thread while this one decodes
    ///     (the default). Events, errors and their order are the same either way: everything
    ///     before a bad event is returned before its error is thrown. The decoder settings in force
    ///     at the first ``next()`` are the ones the second thread checks with; the decoder checks
    ///     again whatever it was not told is verified.
    ///   - limits: bounds on decompressed sizes and table-map memory (see ``DecodingLimits``).
    public init(path: String, verifyChecksums: Bool = true, readAhead: Bool = true, limits: DecodingLimits = DecodingLimits()) throws(BinlogDecodingError) {
        reader = try BinlogFileReader(path: path)
        decoder.verifyChecksums = verifyChecksums
        decoder.limits = limits
        readsAhead = readAhead
    }

    public var path: String { reader.path }

    private func startReadAheadOnce() {
        guard readsAhead && !readAheadStarted else { return }
        readAheadStarted = true
        _ = reader.startReadAhead(
            verify: decoder.verifyChecksums, checksumBeforeFormatDescription: decoder.checksumBeforeFormatDescription,
            chunkSize: readAheadChunkSize)
    }

    /// The next event, or nil at the end of the file.
    public func next() throws(BinlogDecodingError) -> LocatedEvent? {
        do {
            if expandingPayload { if let e = try nextInPayload() { return e } }
            startReadAheadOnce()
            while true {
                guard let checked = try reader.nextChecked() else { return nil }
                if let e = try decodeOuter(checked) { return e }
            }
        } catch {
            throw located(error)
        }
    }

    /// Calls `body` with each event, in file order, as ``next()`` would return them, until `body`
    /// returns false or the file ends. The same events and errors as calling ``next()`` in a loop,
    /// but faster: the events of each read-ahead chunk are framed from a local copy of the chunk.
    /// `body` must not call ``next()`` or `forEach` (errors it throws are passed on with the file
    /// name filled in when they have none, e.g. a row that fails to decode).
    public func forEach(_ body: (LocatedEvent) throws(BinlogDecodingError) -> Bool) throws(BinlogDecodingError) {
        startReadAheadOnce()
        while true {
            if expandingPayload || !reader.readsAhead {
                guard let e = try next() else { return }
                if try !call(body, e) { return }
                continue
            }
            let taken: ReadAheadCursor?
            do { taken = try reader.takeCursor() } catch { throw located(error) }
            guard var cursor = taken else { return }
            defer { reader.putBack(cursor) }
            while true {
                let event: LocatedEvent?
                do {
                    guard let checked = try cursor.next(path: reader.path) else { break }
                    event = try decodeOuter(checked)
                } catch {
                    throw located(error)
                }
                guard let event else { continue }
                if try !call(body, event) { return }
                if expandingPayload { break }
            }
        }
    }

    @inline(__always)
    private func call(_ body: (LocatedEvent) throws(BinlogDecodingError) -> Bool, _ e: LocatedEvent) throws(BinlogDecodingError) -> Bool {
        do {
            return try body(e)
        } catch {
            var err = error
            if err.source == nil { err.source = reader.path }
            if err.inPayload == nil, let p = e.inPayload, err.eventType != .transactionPayload { err.inPayload = p }
            throw err
        }
    }

    /// An event read from the file (not from a payload): nil when its type is skipped.
    @inline(__always)
    private func decodeOuter(_ checked: CheckedRawEvent) throws(BinlogDecodingError) -> LocatedEvent? {
        let raw = checked.event
        let verified = decoder.isVerified(under: checked.verifiedWith)
        if skips(raw.type) {
            if !verified { try decoder.verifyChecksum(raw) }
            skippedCount += 1
            return nil
        }
        let e = try decoder.decode(raw, insidePayload: false, checksumVerified: verified)
        let limit = decoder.limits.maxDecompressedBytesPerFile
        if decoder.decompressedByteCount &+ payloadBytesDone > limit {
            throw BinlogDecodingError(
                .decompression("the file's compressed events decompress to more than \(limit) bytes (--max-decompressed-file-bytes)"),
                field: "compressed", byteOffset: raw.offset, eventType: raw.type, eventStart: raw.offset)
        }
        if case .transactionPayload(let t) = e.body {
            let used = decoder.decompressedByteCount &+ payloadBytesDone
            payload = try TransactionPayloadReader(
                t, eventStart: e.offset, maxEventSize: decoder.limits.maxDecompressedEventSize, maxTotalSize: limit - used)
            expandingPayload = true
            payloadEnd = e.nextOffset
        }
        return LocatedEvent(event: e, inPayload: nil, resumeOffset: e.nextOffset)
    }

    /// The error with the file name and, inside a payload, the payload's offset.
    private func located(_ error: BinlogDecodingError) -> BinlogDecodingError {
        var e = error
        e.source = reader.path
        if let p = payload, e.inPayload == nil, e.eventType != .transactionPayload { e.inPayload = p.eventStart }
        return e
    }

    /// The next event of the payload being expanded; nil (and the payload dropped) at its end.
    private func nextInPayload() throws(BinlogDecodingError) -> LocatedEvent? {
        guard var p = payload else { return nil }
        var next = try p.next()
        while let raw = next, skips(raw.type) { skippedCount += 1; next = try p.next() }
        guard let raw = next else {
            payloadBytesDone &+= p.decompressedByteCount
            payload = nil
            expandingPayload = false
            return nil
        }
        payload = p
        var e = try decoder.decode(raw, insidePayload: true)
        e.offset = raw.offset
        return LocatedEvent(event: e, inPayload: p.eventStart, resumeOffset: payloadEnd)
    }
}
