import BinlogParser

/// The events of a replication stream as the fold takes them: each raw event decoded, and a
/// TRANSACTION_PAYLOAD_EVENT (MySQL 8.0.20+ `binlog_transaction_compression`) replaced by the events
/// inside it, streamed (bounded memory: ``DecodingLimits``), all located at the payload's end (the
/// only position a replica can resume from). Files get the same expansion from
/// `BinlogFileEvents`; the live tail and the tests that replay files "as the dump hands them over"
/// use this.
public enum StreamEvents {
    /// Calls `body` with `event` (already decoded from `raw`), or with each event inside it when it
    /// is a transaction payload. `body`'s second argument is true for the events of a payload.
    public static func expand(
        _ event: BinlogEvent, raw: RawEvent, decoder: inout BinlogEventDecoder,
        _ body: (BinlogEvent, _ insidePayload: Bool) throws -> Void
    ) throws {
        guard case .transactionPayload(let payload) = event.body else {
            try body(event, false)
            return
        }
        let header = raw.header
        // In a stream, an event's offset is its end (log position) less its size.
        let start = header.logPosition != 0 ? UInt64(header.logPosition) &- UInt64(header.eventSize) : raw.offset
        var inner = try TransactionPayloadReader(
            payload, eventStart: start, maxEventSize: decoder.limits.maxDecompressedEventSize,
            maxTotalSize: decoder.limits.maxDecompressedBytesPerFile)
        while let innerRaw = try inner.next() {
            let e: BinlogEvent
            do { e = try decoder.decode(innerRaw, insidePayload: true) } catch {
                var located = error
                located.inPayload = start
                throw located
            }
            try body(e, true)
        }
    }
}
