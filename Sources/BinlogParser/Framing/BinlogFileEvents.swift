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
    private var payloadEnd: UInt64 = 0

    public init(path: String, verifyChecksums: Bool = true) throws(BinlogDecodingError) {
        reader = try BinlogFileReader(path: path)
        decoder.verifyChecksums = verifyChecksums
    }

    public var path: String { reader.path }

    public func next() throws(BinlogDecodingError) -> LocatedEvent? {
        do {
            if var p = payload {
                if let raw = try p.next() {
                    payload = p
                    var e = try decoder.decode(raw, insidePayload: true)
                    e.offset = raw.offset
                    return LocatedEvent(event: e, inPayload: p.eventStart, resumeOffset: payloadEnd)
                }
                payload = nil
            }
            guard let raw = try reader.next() else { return nil }
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
