import BinlogParser

/// A raw event with where its source says it is: the file it belongs to (after a rotate, the new
/// file), the position after it, whether the reader is at that position of the source's binlog
/// once it is applied, and whether the source already verified its checksum.
public struct SourcedRaw: Sendable {
    /// The event; its `offset` is where it starts in `file` (for an artificial event: the position
    /// the reader is at).
    public var raw: RawEvent
    public var file: String
    /// The position after it: its end in the file, or the log position the source stamped on it.
    public var end: UInt64
    /// False for artificial events (the rotate and format description a dump starts with) and
    /// events with no log position.
    public var reachesEnd: Bool
    public var checksumVerified: Bool

    public init(raw: RawEvent, file: String, end: UInt64, reachesEnd: Bool, checksumVerified: Bool = false) {
        self.raw = raw
        self.file = file
        self.end = end
        self.reachesEnd = reachesEnd
        self.checksumVerified = checksumVerified
    }
}

/// Where raw events come from: a replication stream, or a file framed as the dump hands it over.
public protocol RawEventProvider {
    mutating func nextRaw() throws -> SourcedRaw?
}

/// A decoded event and its location, computed once, as the fold and the daemon take them.
public struct SourcedEvent: Sendable {
    public var event: BinlogEvent
    public var file: String
    /// Where it starts in `file`; for an event inside a TRANSACTION_PAYLOAD, where the payload starts.
    public var start: UInt64
    /// The position after it a reader resumes from; for an event inside a payload, the payload's end
    /// (the only position a replica can resume from).
    public var end: UInt64
    /// The start of the enclosing payload, for an event inside one.
    public var inPayload: UInt64?
    /// Once this event is applied the reader is at `end` of the source's binlog: as its
    /// ``SourcedRaw`` says for an event of the stream; inside a payload, only for its last event
    /// (the payload event itself comes first, and reaches its end only when it holds no event).
    public var reachesEnd: Bool
}

/// The one event source of the live path: decodes each raw event of a provider once, expands a
/// TRANSACTION_PAYLOAD_EVENT (MySQL 8.0.20+ `binlog_transaction_compression`) in place (the
/// payload event, then its events, streamed: bounded by ``DecodingLimits``), and locates every
/// event. Files read by `analyze` get the same expansion and order from `BinlogFileEvents`.
public struct BinlogEventSource<Provider: RawEventProvider> {
    public var provider: Provider
    public var decoder: BinlogEventDecoder
    private var payload: TransactionPayloadReader?
    /// The next raw event inside the payload (read one ahead, to know which event is its last).
    private var lookahead: RawEvent?
    private var payloadFile = ""
    private var payloadStart: UInt64 = 0
    private var payloadEnd: UInt64 = 0
    private var payloadInFile = false

    public init(provider: Provider, decoder: BinlogEventDecoder = BinlogEventDecoder()) {
        self.provider = provider
        self.decoder = decoder
    }

    /// Whether the last event returned was inside a payload whose other events are still to come.
    public var isInsidePayload: Bool { payload != nil }

    /// The next event, or nil when the provider has no more. Decoding errors name the file, the
    /// event and, inside a payload, the payload's offset.
    public mutating func next() throws -> SourcedEvent? {
        if payload != nil, let e = try nextInPayload() { return e }
        guard let s = try provider.nextRaw() else { return nil }
        let raw = s.raw
        let event: BinlogEvent
        do throws(BinlogDecodingError) { event = try decoder.decode(raw, checksumVerified: s.checksumVerified) } catch {
            var located = error
            if located.source == nil { located.source = s.file }
            throw located
        }
        let end = s.end
        guard case .transactionPayload(let p) = event.body else {
            return SourcedEvent(event: event, file: s.file, start: raw.offset, end: end, inPayload: nil, reachesEnd: s.reachesEnd)
        }
        var reader: TransactionPayloadReader
        do throws(BinlogDecodingError) {
            reader = try TransactionPayloadReader(
                p, eventStart: raw.offset, maxEventSize: decoder.limits.maxDecompressedEventSize,
                maxTotalSize: decoder.limits.maxDecompressedBytesPerFile)
            lookahead = try reader.next()
        } catch {
            var located = error
            if located.source == nil { located.source = s.file }
            throw located
        }
        if lookahead != nil {
            payload = reader
            payloadFile = s.file
            payloadStart = raw.offset
            payloadEnd = end
            payloadInFile = s.reachesEnd
        }
        return SourcedEvent(
            event: event, file: s.file, start: raw.offset, end: end, inPayload: nil, reachesEnd: s.reachesEnd && lookahead == nil)
    }

    private mutating func nextInPayload() throws -> SourcedEvent? {
        guard var reader = payload, let raw = lookahead else {
            payload = nil
            return nil
        }
        do throws(BinlogDecodingError) {
            var e = try decoder.decode(raw, insidePayload: true)
            e.offset = raw.offset
            lookahead = try reader.next()
            let last = lookahead == nil
            payload = last ? nil : reader
            return SourcedEvent(
                event: e, file: payloadFile, start: payloadStart, end: payloadEnd, inPayload: payloadStart,
                reachesEnd: last && payloadInFile)
        } catch {
            var located = error
            if located.source == nil { located.source = payloadFile }
            if located.inPayload == nil { located.inPayload = payloadStart }
            payload = nil
            lookahead = nil
            throw located
        }
    }
}

/// A whole binlog file's bytes framed as the dump hands them over (every event of the file, no
/// checksum verified ahead): how tests and the fuzzer replay files through the live path.
public struct FramedFileEvents: RawEventProvider {
    private var framer: BinlogFramer
    public let file: String

    /// - Parameter maxEventSize: a bound on an event's declared size (the framer's default if nil).
    public init(bytes: [UInt8], file: String, maxEventSize: Int? = nil) {
        framer = BinlogFramer(startOffset: 0, expectMagic: true)
        if let maxEventSize { framer.maxEventSize = maxEventSize }
        framer.append(bytes)
        self.file = file
    }

    public mutating func nextRaw() throws -> SourcedRaw? {
        guard let raw = try framer.next() else {
            try framer.finish()
            return nil
        }
        return SourcedRaw(raw: raw, file: file, end: raw.nextOffset, reachesEnd: true)
    }
}
