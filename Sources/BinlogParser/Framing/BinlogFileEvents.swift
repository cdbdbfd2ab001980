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
public final class BinlogFileEvents {
    public let reader: BinlogFileReader
    public var decoder = BinlogEventDecoder()
    private var payload: TransactionPayloadReader?
    private var skip = [Bool](repeating: false, count: 256)
    /// Events verified and passed over because their type is skipped.
    public private(set) var skippedCount = 0

    /// Event types the caller does not want: their checksums are still verified, but they are not
    /// decoded or returned (e.g. ANNOTATE_ROWS for a reader that only wants row values).
    public func skipTypes(_ types: [BinlogEventType]) {
        for t in types where t != .formatDescription && t != .transactionPayload { skip[Int(t.rawValue)] = true }
    }
    private var payloadEnd: UInt64 = 0

    public init(path: String, verifyChecksums: Bool = true) throws(BinlogDecodingError) {
        reader = try BinlogFileReader(path: path)
        decoder.verifyChecksums = verifyChecksums
    }

    public var path: String { reader.path }

    public func next() throws(BinlogDecodingError) -> LocatedEvent? {
        do {
            if var p = payload {
                var next = try p.next()
                while let raw = next, skip[Int(raw.type.rawValue)] { skippedCount += 1; next = try p.next() }
                if let raw = next {
                    payload = p
                    var e = try decoder.decode(raw, insidePayload: true)
                    e.offset = raw.offset
                    return LocatedEvent(event: e, inPayload: p.eventStart, resumeOffset: payloadEnd)
                }
                payload = nil
            }
            var next = try reader.next()
            while let raw = next, skip[Int(raw.type.rawValue)] {
                try decoder.verifyChecksum(raw)
                skippedCount += 1
                next = try reader.next()
            }
            guard let raw = next else { return nil }
            let e = try decoder.decode(raw)
            if case .transactionPayload(let t) = e.body {
                payload = try TransactionPayloadReader(t, eventStart: e.offset)
                payloadEnd = e.nextOffset
            }
            return LocatedEvent(event: e, inPayload: nil, resumeOffset: e.nextOffset)
        } catch {
            var e = error
            e.source = reader.path
            if let p = payload, e.inPayload == nil, e.eventType != .transactionPayload { e.inPayload = p.eventStart }
            throw e
        }
    }
}
