// libFuzzer entry point for the binlog parser. Built and run by scripts/fuzz
// (swiftc -sanitize=fuzzer,address); any trap, and any allocation or RSS over libFuzzer's limit
// (-rss_limit_mb / -malloc_limit_mb), is a finding. BR_FUZZ_TARGET picks what the input is:
//   binlog      (default) a binlog file, magic optional: framed, decoded, rows and payloads expanded,
//               every event (payloads' included) rendered as `events` JSON (EventJSON, as
//               `binlog-reconciler events` prints it) and folded
//               through the live path's event source (BinlogEventSource) into the one fold
//               (TransactionFold, XA held by xid, DDL targets read): mutated inputs reorder and
//               drop boundary events;
//   json        a MySQL binary JSON document (type byte, value), decoded and printed;
//   compressed  first byte even: a MariaDB compressed body (header byte, length, zlib stream);
//               odd: a zstd TRANSACTION_PAYLOAD whose inner events are decoded.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let fuzzTarget: String = getenv("BR_FUZZ_TARGET").map { String(cString: $0) } ?? "binlog"

/// The fuzz limits: small, so that an input that gets around them is caught by the RSS limit.
let fuzzLimits: DecodingLimits = {
    var l = DecodingLimits()
    l.maxDecompressedEventSize = 1 << 20
    l.maxDecompressedBytesPerFile = 16 << 20
    l.maxTableMapBytes = 16 << 20
    return l
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    switch fuzzTarget {
    case "json": fuzzJSON(input)
    case "compressed": fuzzCompressed(input)
    default: fuzzBinlog(input)
    }
    return 0
}

func fuzzBinlog(_ input: UnsafeRawBufferPointer) {
    var bytes = Array(input)
    if bytes.count < 4 || Array(bytes.prefix(4)) != BinlogFramer.magic { bytes = BinlogFramer.magic + bytes }
    var decoder = BinlogEventDecoder()
    decoder.verifyChecksums = input.count & 1 == 0
    decoder.limits = fuzzLimits
    // The live path's event source (payloads expanded in place, events located) and the one fold
    // (TransactionFold) over a storage that only counts.
    var events = BinlogEventSource(provider: FramedFileEvents(bytes: bytes, file: "fuzz", maxEventSize: 1 << 20), decoder: decoder)
    var fold = TransactionFold()
    var storage = FuzzStorage()
    var context = 0
    do {
        while let e = try events.next() {
            precondition(!e.reachesEnd || e.end >= e.start, "an event of the file ends before it starts")
            _ = fold.consume(e.event, at: FuzzLocation(end: e.end), storage: &storage, context: &context)
            precondition(storage.held.totalChanges >= 0 && storage.held.totalChanges <= storage.held.maxChanges)
            if case .rows(let r) = e.event.body {
                // The selected-columns reader first (its errors must not stop the full decode).
                if var selection = RowSelection(columns: [0, r.columnCount / 2, max(0, r.columnCount - 1), r.columnCount + 1]) {
                    var n = 0
                    try? r.forEachRow(into: &selection) { (s: inout RowSelection) throws(BinlogDecodingError) in n += s.after.isAbsent(0) ? 1 : 0 }
                }
            }
            try renderEventJSON(e.event, inPayload: e.inPayload)
        }
    } catch {
        _ = "\(error)"
    }
}

struct FuzzLocation: CustomStringConvertible {
    var end: UInt64
    var description: String { "fuzz:\(end)" }
}

/// The one fold's storage, counting only: pending rows, held by xid, DDL targets read.
struct FuzzStorage: FoldStorage {
    typealias Context = Int
    typealias Failure = Never
    var held = HeldTransactions<Int>(maxChanges: 10_000)
    var pending = 0

    func willBegin(timestamp: UInt32) -> Bool { true }
    mutating func discardPending() { pending = 0 }
    mutating func rows(_ r: RowsEvent, context: inout Int) { pending += 1 }
    mutating func statement(_ q: QueryEvent, at: FuzzLocation, context: inout Int) {
        _ = DDLStatement.effects(of: q.query, defaultDatabase: q.database)
    }
    mutating func commit(at: FuzzLocation, boundaries: TransactionBoundaries, context: inout Int) {
        context += pending
        pending = 0
    }
    mutating func hold(xid: String, at: FuzzLocation, timestamp: UInt32, context: inout Int) {
        _ = held.hold(xid, changes: pending, count: pending, at: at.description, timestamp: timestamp)
    }
    mutating func restore(xid: String, at: FuzzLocation, context: inout Int) {
        pending = held.release(xid)?.changes ?? 0
    }
    mutating func drop(xid: String, context: inout Int) { _ = held.release(xid) }
}

/// Every event as `binlog-reconciler events` prints it (Sources/BinlogParser/Output/EventJSON.swift,
/// the calls of EventsCommand): rows events with their rows streamed, the others whole. The JSON
/// must be well-formed UTF-8 as far as a cheap check goes (balanced outside strings).
func renderEventJSON(_ e: BinlogEvent, inPayload: UInt64? = nil) throws(BinlogDecodingError) {
    var w = JSONWriter()
    if case .rows(let r) = e.body {
        try EventJSON.write(e, file: "fuzz", inPayload: inPayload, streamingRowsOf: r, into: &w, drainAt: 1 << 16) { w in
            w.bytes.removeAll(keepingCapacity: true)
        }
    } else {
        EventJSON.write(e, file: "fuzz", inPayload: inPayload, into: &w)
        precondition(w.bytes.first == UInt8(ascii: "{") && w.bytes.last == UInt8(ascii: "}"), "events JSON is not an object")
        precondition(String(validating: w.bytes, as: UTF8.self) != nil, "events JSON is not UTF-8")
    }
}

func expandPayload(
    _ p: TransactionPayloadEvent, eventStart: UInt64, decoder: inout BinlogEventDecoder,
    _ each: (BinlogEvent) throws(BinlogDecodingError) -> Void = { _ in }
) throws(BinlogDecodingError) {
    var reader = try TransactionPayloadReader(
        p, eventStart: eventStart, maxEventSize: fuzzLimits.maxDecompressedEventSize, maxTotalSize: fuzzLimits.maxDecompressedBytesPerFile)
    var n = 0
    while let inner = try reader.next(), n < 1000 {
        let e = try decoder.decode(inner, insidePayload: true)
        try each(e)
        if case .rows(let r) = e.body {
            try r.forEachRow { (_: RowImage?, _: RowImage?) throws(BinlogDecodingError) in }
        }
        n += 1
    }
}

func fuzzJSON(_ input: UnsafeRawBufferPointer) {
    do {
        let v = try BinaryJSON.decode(input, baseOffset: 0)
        var w = JSONWriter()
        EventJSON.writeJSONValue(v, into: &w)
    } catch {
        _ = error.description
    }
}

func fuzzCompressed(_ input: UnsafeRawBufferPointer) {
    guard let mode = input.first else { return }
    let rest = UnsafeRawBufferPointer(rebasing: input[1...])
    do {
        if mode & 1 == 0 {
            let out = try MariaDBCompression.uncompress(rest, maxSize: fuzzLimits.maxDecompressedEventSize, field: "rows.compressed", at: 0)
            precondition(out.count <= fuzzLimits.maxDecompressedEventSize)
        } else {
            // Inner events are decoded under a MySQL 8.0 FDE, as in a real file.
            var decoder = BinlogEventDecoder()
            decoder.limits = fuzzLimits
            _ = try decoder.decode(RawEvent(offset: 4, bytes: ArraySlice(fuzzFormatDescription)))
            let payload = TransactionPayloadEvent(
                compressionType: 0, payloadSize: UInt64(rest.count), uncompressedSize: nil, payload: ArraySlice(rest), payloadOffset: 0)
            try expandPayload(payload, eventStart: 0, decoder: &decoder)
        }
    } catch {
        _ = error.description
    }
}

/// A MySQL 8.0.35 FORMAT_DESCRIPTION_EVENT without checksum.
let fuzzFormatDescription: [UInt8] = {
    let postHeaders: [UInt8] = [
        0, 13, 0, 8, 0, 0, 0, 0, 4, 0, 4, 0, 0, 0, 98, 0, 4, 26, 8, 0, 0, 0, 8, 8, 8, 2, 0, 0, 0, 10, 10, 10, 42, 42, 0,
        18, 52, 0, 10, 40, 0, 0,
    ]
    var body: [UInt8] = [4, 0] + Array("8.0.35".utf8) + [UInt8](repeating: 0, count: 44) + [0, 0, 0, 0, 19] + postHeaders + [0]
    let size = UInt32(19 + body.count)
    var e: [UInt8] = [0, 0, 0, 0, 15, 1, 0, 0, 0]
    e += [UInt8(size & 0xff), UInt8(size >> 8 & 0xff), 0, 0, 0, 0, 0, 0, 0, 0]
    e += body
    body = []
    return e
}()
