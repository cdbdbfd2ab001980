import CZlib
import CZstd
import Foundation
import Testing
@testable import BinlogParser

/// Hostile files end in a located error with memory bounded, never in a multi-gigabyte allocation
/// or a trap. Every input is generated here (none is committed); each test names what the code
/// before `DecodingLimits` did with it.
@Suite struct HostileInputTests {
    // MARK: - Builders

    /// TABLE_MAP of `d.t`: the given column types (no metadata unless given), all nullable.
    static func tableMap(tableID: UInt64 = 7, types: [UInt8], metadata: [UInt8] = [], columnCount: UInt64? = nil) -> [UInt8] {
        var w = ByteWriter()
        w.u48(tableID); w.u16(1)
        w.u8(1); w.str("d"); w.u8(0)
        w.u8(1); w.str("t"); w.u8(0)
        w.lenenc(columnCount ?? UInt64(types.count))
        w.raw(types)
        w.lenenc(UInt64(metadata.count)); w.raw(metadata)
        w.raw([UInt8](repeating: 0xff, count: (types.count + 7) / 8))
        return w.bytes
    }

    /// A v2 WRITE_ROWS body (no extra data) for `columns` columns, all present.
    static func writeRowsV2(tableID: UInt64 = 7, columns: Int, rows: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.u48(tableID); w.u16(1)
        w.u16(2)
        w.lenenc(UInt64(columns))
        w.raw([UInt8](repeating: 0xff, count: (columns + 7) / 8))
        w.raw(rows)
        return w.bytes
    }

    /// A small-array document nested `depth` deep whose two entries at every level point at the
    /// same child: 2^depth leaves in about 10 bytes a level.
    static func selfReferencingJSON(depth: Int) -> [UInt8] {
        var w = ByteWriter()
        w.u8(0x02)  // small array
        for level in 0..<depth {
            w.u16(2); w.u16(UInt16(10 * (depth - level) + 4))
            w.u8(0x02); w.u16(10)  // both entries: the array right after this header
            w.u8(0x02); w.u16(10)
        }
        w.u16(0); w.u16(4)  // the leaf: an empty array
        return w.bytes
    }

    static func zlib(_ data: [UInt8], level: Int32 = 1) -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = compress2(&out, &size, data, uLong(data.count), level)
        precondition(status == Z_OK)
        return Array(out[0..<Int(size)])
    }

    /// zlib of `count` zero bytes, streamed (the zeros are never all in memory).
    static func zlibZeros(_ count: Int) -> [UInt8] {
        let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        s.initialize(to: z_stream())
        defer { deflateEnd(s); s.deallocate() }
        precondition(deflateInit_(s, 1, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        var zeros = [UInt8](repeating: 0, count: 1 << 20)
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var left = count
        repeat {
            let n = min(left, zeros.count)
            left -= n
            zeros.withUnsafeMutableBufferPointer { z in
                s.pointee.next_in = z.baseAddress
                s.pointee.avail_in = uInt(n)
                repeat {
                    chunk.withUnsafeMutableBufferPointer { c in
                        s.pointee.next_out = c.baseAddress
                        s.pointee.avail_out = uInt(c.count)
                        _ = deflate(s, left == 0 ? Z_FINISH : Z_NO_FLUSH)
                        out += c[0..<(c.count - Int(s.pointee.avail_out))]
                    }
                } while s.pointee.avail_out == 0
            }
        } while left > 0
        return out
    }

    /// MariaDB's compressed-body header: `1000 0lll` then the big-endian length in `lll` bytes.
    static func mariaDBCompressed(declaring length: UInt64, _ zlibStream: [UInt8]) -> [UInt8] {
        [0x84, UInt8(length >> 24 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + zlibStream
    }

    /// A zstd frame of `head` followed by `zeros` zero bytes, as raw and RLE blocks (32768:1), so
    /// a payload of a few KB decompresses to gigabytes without the test holding them.
    static func zstdBomb(head: [UInt8], zeros: Int) -> [UInt8] {
        var w = ByteWriter()
        w.u32(0xFD2F_B528)
        w.u8(0x00)  // no content size, no checksum, not single-segment
        w.u8(0x38)  // window 128 KiB
        func block(last: Bool, type: UInt32, size: Int) {
            let h = UInt32(last ? 1 : 0) | type << 1 | UInt32(size) << 3
            w.u8(UInt8(h & 0xff)); w.u8(UInt8(h >> 8 & 0xff)); w.u8(UInt8(h >> 16 & 0xff))
        }
        block(last: zeros == 0, type: 0, size: head.count)
        w.raw(head)
        var left = zeros
        while left > 0 {
            let n = min(left, 128 << 10)
            left -= n
            block(last: left == 0, type: 1, size: n)
            w.u8(0)
        }
        return w.bytes
    }

    /// A TRANSACTION_PAYLOAD_EVENT body (zstd) around `compressed`.
    static func payloadBody(_ compressed: [UInt8]) -> [UInt8] {
        var body = ByteWriter()
        body.lenenc(2); body.lenenc(1); body.lenenc(0)
        var psize = ByteWriter(); psize.lenenc(UInt64(compressed.count))
        body.lenenc(1); body.lenenc(UInt64(psize.bytes.count)); body.raw(psize.bytes)
        body.lenenc(0)
        body.raw(compressed)
        return body.bytes
    }

    /// A 19-byte event header (no body) declaring `size` bytes.
    static func header(type: UInt8, size: UInt32) -> [UInt8] {
        var w = ByteWriter()
        w.u32(0); w.u8(type); w.u32(1); w.u32(size); w.u32(0); w.u16(0)
        return w.bytes
    }

    /// Writes a file to a temporary path, calls `body`, removes it.
    static func withFile<R>(_ bytes: [UInt8], _ body: (String) throws -> R) throws -> R {
        let path = NSTemporaryDirectory() + "hostile-\(UUID().uuidString).binlog"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// Every event of a file through the reader the CLI uses, rows included; the first error.
    static func firstError(_ path: String, limits: DecodingLimits = DecodingLimits(), rows: Bool = true) -> BinlogDecodingError? {
        do {
            let events = try BinlogFileEvents(path: path, limits: limits)
            try events.forEach { located throws(BinlogDecodingError) in
                if rows, case .rows(let r) = located.event.body {
                    do throws(BinlogDecodingError) { try r.forEachRow { (_: RowImage?, _: RowImage?) throws(BinlogDecodingError) in } } catch {
                        var e = error
                        e.source = path
                        throw e
                    }
                }
                return true
            }
            return nil
        } catch {
            return error
        }
    }

    /// The error names the file, an offset, the event (type and start) and a field.
    static func expectLocated(_ e: BinlogDecodingError?, path: String, type: BinlogEventType, field: String, saying: String) {
        guard let e else { Issue.record("no error: the hostile input was accepted"); return }
        #expect(e.source == path)
        #expect(e.eventType == type, "\(e)")
        #expect(e.eventStart != nil, "\(e)")
        #expect(e.field.hasPrefix(field), "\(e)")
        #expect(e.message.contains(saying), "\(e)")
        #expect(e.description.hasPrefix("\(path):\(e.byteOffset): event \(type.name) at "), "\(e)")
    }

    // MARK: - JSON

    /// Old code: decoded all 2^18 leaves (2^depth: the 806-byte report reached 2.8 GB).
    @Test func selfReferencingJSONDocumentIsRefused() throws {
        let doc = Self.selfReferencingJSON(depth: 18)
        var row = ByteWriter()
        row.u8(0)  // null bitmap: not null
        row.u32(UInt32(doc.count)); row.raw(doc)
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 19, body: Self.tableMap(types: [245], metadata: [4])),
            EventBuilder.event(type: 30, body: Self.writeRowsV2(columns: 1, rows: row.bytes)),
        ])
        let e = try Self.withFile(file) { path in
            let e = Self.firstError(path)
            Self.expectLocated(e, path: path, type: .writeRows, field: "json", saying: "entries overlap")
            return e
        }
        // The offset is inside the rows event (after the FDE and the table map).
        let rowsStart = UInt64(4 + EventBuilder.formatDescription().count + EventBuilder.event(type: 19, body: Self.tableMap(types: [245], metadata: [4])).count)
        #expect(e?.eventStart == rowsStart)
        #expect((e?.byteOffset ?? 0) > rowsStart)
    }

    /// Legitimate documents (values in their own bytes) spend at most their size.
    @Test func jsonBudgetAdmitsDisjointDocuments() throws {
        // [[], [], … 1000 empty arrays] as a large array: every value is its own 4 bytes + entry.
        var w = ByteWriter()
        let n = 1000
        w.u8(0x03)
        let header = 8 + 5 * n
        w.u32(UInt32(n)); w.u32(UInt32(header + 4 * n))
        for i in 0..<n { w.u8(0x02); w.u32(UInt32(header + 4 * i)) }
        for _ in 0..<n { w.u16(0); w.u16(4) }
        let v = try w.bytes.withUnsafeBytes { try BinaryJSON.decode($0, baseOffset: 0) }
        #expect(v == .array([JSONValue](repeating: .array([]), count: n)))
        // The same document with every entry pointing at the first child decodes too (n values in
        // more than n bytes); pointing many entries at a long string does not.
        var s = ByteWriter()
        let count = 200
        s.u8(0x02)
        let hs = 4 + 3 * count
        s.u16(UInt16(count)); s.u16(UInt16(hs + 1 + 100))
        for _ in 0..<count { s.u8(0x0c); s.u16(UInt16(hs)) }
        s.u8(100); s.raw([UInt8](repeating: 0x61, count: 100))
        #expect(throws: BinlogDecodingError.self) { _ = try s.bytes.withUnsafeBytes { try BinaryJSON.decode($0, baseOffset: 0) } }
    }

    // MARK: - MariaDB compressed events

    /// Old code: decompressed all 100 MiB the header declared (limit 1 GiB), then decoded them.
    @Test func mariaDBCompressedRowsBombIsRefused() throws {
        let declared = 100 << 20
        let body = Self.mariaDBCompressed(declaring: UInt64(declared), Self.zlibZeros(declared))
        #expect(body.count < 512 << 10)
        var rows = ByteWriter()
        rows.u48(7); rows.u16(1)
        rows.lenenc(1); rows.raw([0xff])
        rows.raw(body)
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 19, body: Self.tableMap(types: [3])),
            EventBuilder.event(type: 166, body: rows.bytes),
        ])
        try Self.withFile(file) { path in
            Self.expectLocated(Self.firstError(path), path: path, type: .writeRowsCompressedV1, field: "rows.compressed", saying: "over the 67108864-byte limit")
            // Raised by the caller, the same event decompresses.
            var limits = DecodingLimits()
            limits.maxDecompressedEventSize = 128 << 20
            #expect(Self.firstError(path, limits: limits, rows: false) == nil)
        }
    }

    /// The output grows as zlib produces it: an event declaring 48 MiB (under the limit) that
    /// decompresses to 1 KiB never gets a 48 MiB buffer. Old code allocated the declared size.
    @Test func mariaDBDecompressionAllocatesWhatItProduces() throws {
        let data = [UInt8]((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        // Honest header: the exact buffer.
        let honest = Self.mariaDBCompressed(declaring: UInt64(data.count), Self.zlib(data))
        let out = try honest.withUnsafeBytes { try MariaDBCompression.uncompress($0, maxSize: 64 << 20, field: "f", at: 0) }
        #expect(out == data)
        #expect(out.capacity < data.count + 4096)
        // A lying header: an error, and the largest buffer made is the first (1 MiB), not 48 MiB.
        let lying = Self.mariaDBCompressed(declaring: 48 << 20, Self.zlib(data))
        #expect(MariaDBCompression.initialOutputSize <= 1 << 20)
        #expect(throws: BinlogDecodingError.self) {
            _ = try lying.withUnsafeBytes { try MariaDBCompression.uncompress($0, maxSize: 64 << 20, field: "f", at: 0) }
        }
        // A real 5 MiB stream behind a 5 MiB header grows in doublings and comes out whole.
        let big = Self.mariaDBCompressed(declaring: 5 << 20, Self.zlibZeros(5 << 20))
        let bigOut = try big.withUnsafeBytes { try MariaDBCompression.uncompress($0, maxSize: 64 << 20, field: "f", at: 0) }
        #expect(bigOut.count == 5 << 20 && bigOut.allSatisfy { $0 == 0 })
        #expect(bigOut.capacity < 2 * bigOut.count)
    }

    /// Old code: a few bytes of zlib declaring 1 GiB under a raised limit got a 1 MiB buffer (and a
    /// declared size up to 1 MiB its whole size) before zlib ran, and were refused only after. Now
    /// the declared size is checked against the most the compressed bytes can decompress to (zlib
    /// at best 1032:1) before any buffer is made, with the error at the length field.
    @Test func mariaDBDeclaredSizeIsCheckedAgainstTheCompressedBytes() throws {
        let stream = Self.zlib([UInt8](repeating: 0, count: 100))
        for declared in [1 << 30, 1 << 20] {
            let lying = Self.mariaDBCompressed(declaring: UInt64(declared), stream)
            #expect(lying.count < 64)
            do {
                _ = try lying.withUnsafeBytes { try MariaDBCompression.uncompress($0, maxSize: 2 << 30, field: "f", at: 100) }
                Issue.record("a \(lying.count)-byte body declaring \(declared) bytes was accepted")
            } catch let error as BinlogDecodingError {
                #expect(error.byteOffset == 101, "\(error)")
                #expect(error.message.contains("at most"), "\(error)")
            } catch {
                Issue.record("\(error)")
            }
        }
        // The tightest real stream (zeros at zlib's best ratio) is still accepted.
        let zeros = Self.zlib([UInt8](repeating: 0, count: 5 << 20), level: 9)
        #expect((5 << 20) / zeros.count > 1020)
        let real = Self.mariaDBCompressed(declaring: 5 << 20, zeros)
        let out = try real.withUnsafeBytes { try MariaDBCompression.uncompress($0, maxSize: 64 << 20, field: "f", at: 0) }
        #expect(out.count == 5 << 20)
        // In a file: a rows event of a few bytes declaring 1 GiB, under limits raised to 2 GiB.
        var rows = ByteWriter()
        rows.u48(7); rows.u16(1)
        rows.lenenc(1); rows.raw([0xff])
        rows.raw(Self.mariaDBCompressed(declaring: 1 << 30, stream))
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 19, body: Self.tableMap(types: [3])),
            EventBuilder.event(type: 166, body: rows.bytes),
        ])
        try Self.withFile(file) { path in
            var limits = DecodingLimits()
            limits.maxDecompressedEventSize = 2 << 30
            Self.expectLocated(Self.firstError(path, limits: limits), path: path, type: .writeRowsCompressedV1, field: "rows.compressed", saying: "at most")
        }
    }

    // MARK: - zstd TRANSACTION_PAYLOAD

    /// Old code: accepted an inner event of up to 1 GiB and read all of it (15.5 KB → 2.96 GB).
    @Test func zstdPayloadBombIsRefused() throws {
        let declared = 200 << 20
        let compressed = Self.zstdBomb(head: Self.header(type: 200, size: UInt32(declared)), zeros: declared - 19)
        #expect(compressed.count < 16 << 10)
        let file = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 40, body: Self.payloadBody(compressed))])
        try Self.withFile(file) { path in
            let e = Self.firstError(path)
            #expect(e?.inPayload == UInt64(4 + EventBuilder.formatDescription().count), "\(String(describing: e))")
            #expect(e?.description.contains("(inside TRANSACTION_PAYLOAD_EVENT at ") == true, "\(String(describing: e))")
            #expect(e?.message.contains("over the 67108864-byte limit") == true, "\(String(describing: e))")
            #expect(e?.source == path && e?.eventStart == 0)
        }
    }

    /// Many small inner events: the payload's total is bounded by the file's limit.
    @Test func zstdPayloadTotalIsCappedPerFile() throws {
        var inner: [UInt8] = []
        for _ in 0..<4096 { inner += EventBuilder.event(type: 200, body: [UInt8](repeating: 0, count: 1005), checksum: false) }
        var all: [UInt8] = []
        for _ in 0..<8 { all += inner }  // 32 MiB of events
        let compressed = EventBuilder.zstd(all)
        let file = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 40, body: Self.payloadBody(compressed))])
        try Self.withFile(file) { path in
            var limits = DecodingLimits()
            limits.maxDecompressedBytesPerFile = 4 << 20
            let e = Self.firstError(path, limits: limits)
            #expect(e?.eventType == .transactionPayload && e?.source == path, "\(String(describing: e))")
            #expect(e?.message.contains("more than 4194304 bytes") == true, "\(String(describing: e))")
            // Under the default limits the same file decodes completely, memory bounded by one chunk.
            #expect(Self.firstError(path) == nil)
        }
    }

    // MARK: - Table maps

    /// Old code: decoded a million columns per map and cached them (6.75 MB → 1.7 GB).
    @Test func tableMapsWithAMillionColumnsAreRefused() throws {
        let wide = Self.tableMap(types: [UInt8](repeating: 3, count: 1_000_000))
        let file = EventBuilder.file([EventBuilder.formatDescription()] + (0..<4).map { _ in EventBuilder.event(type: 19, body: wide) })
        try Self.withFile(file) { path in
            Self.expectLocated(Self.firstError(path), path: path, type: .tableMap, field: "tableMap.columnCount", saying: "1000000 columns")
        }
    }

    /// Old code: kept every 4,096-column map of a statement that never ends (about 2 MB each).
    @Test func tableMapsInForceAreBoundedByBytes() throws {
        let types = [UInt8](repeating: 3, count: 4096)
        let file = EventBuilder.file([EventBuilder.formatDescription()] + (0..<200).map { i in
            EventBuilder.event(type: 19, body: Self.tableMap(tableID: UInt64(100 + i), types: types))
        })
        try Self.withFile(file) { path in
            Self.expectLocated(Self.firstError(path), path: path, type: .tableMap, field: "tableMap", saying: "over the 67108864-byte limit")
        }
    }

    /// Statements that end (rows events with STMT_END) keep the cache under its byte limit.
    @Test func tableMapCacheIsBoundedByBytes() throws {
        var decoder = BinlogEventDecoder()
        decoder.limits.maxTableMapBytes = 8 << 20
        let types = [UInt8](repeating: 3, count: 4096)
        var events = [EventBuilder.formatDescription()]
        for i in 0..<60 {
            events.append(EventBuilder.event(type: 19, body: Self.tableMap(tableID: UInt64(100 + i), types: types)))
            var row = ByteWriter()
            row.raw([UInt8](repeating: 0xff, count: 512))  // all NULL
            events.append(EventBuilder.event(type: 30, body: Self.writeRowsV2(tableID: UInt64(100 + i), columns: 4096, rows: row.bytes)))
        }
        var peak = 0
        for raw in try Fixtures.rawEvents(EventBuilder.file(events)) {
            _ = try decoder.decode(raw)
            peak = max(peak, decoder.tableMapCacheBytes)
        }
        #expect(peak > 0 && peak <= 8 << 20)
    }

    /// Rows events keep their 4,096-column cap.
    @Test func rowsEventColumnCountIsCapped() throws {
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 19, body: Self.tableMap(types: [3])),
            EventBuilder.event(type: 30, body: Self.writeRowsV2(columns: 5000, rows: [])),
        ])
        try Self.withFile(file) { path in
            Self.expectLocated(Self.firstError(path), path: path, type: .writeRows, field: "rows.columnCount", saying: "5000 columns")
        }
    }

    // MARK: - Framing, GTID sets

    /// Old code: `bytesWanted` was the declared size (here 2 GiB) whatever `maxEventSize` said, and
    /// readers allocated it before reading.
    @Test func readSizesDoNotTrustDeclaredEventSizes() throws {
        var framer = BinlogFramer(startOffset: 0, expectMagic: false)
        framer.maxEventSize = 1 << 20
        framer.append(Self.header(type: 2, size: 0x7fff_ffff))
        #expect(framer.bytesWanted <= 1 << 20)
        // Under maxEventSize, a declared size is believed only as bytes arrive: reads double.
        framer.maxEventSize = 1 << 30
        #expect(framer.bytesWanted > 1 << 29)
        #expect(framer.nextReadSize(chunk: 4096) == 4096)
        // A file whose last header declares ~1 GiB ends in a located truncation error.
        let file = EventBuilder.file([EventBuilder.formatDescription(), Self.header(type: 2, size: (1 << 30) - 1) + [1, 2, 3]])
        try Self.withFile(file) { path in
            let e = Self.firstError(path)
            #expect(e?.source == path && e?.eventType == .query && e?.field == "event", "\(String(describing: e))")
            if case .truncated = e?.kind {} else { Issue.record("\(String(describing: e))") }
        }
    }

    /// Older code trapped computing `end - 1` on Int64.min; the code before this test printed the
    /// wrapped value, so the interval [1, Int64.min) read as `1-9223372036854775807`, a valid
    /// set claiming every transaction. MySQL refuses an interval unless 1 <= start < end
    /// (Gtid_set::add_gtid_encoding); so does the decoder now, with a located error, and the
    /// description of an interval built by hand never wraps.
    @Test func gtidSetIntervalsAreValidated() throws {
        func body(_ intervals: [(Int64, Int64)]) -> [UInt8] {
            var w = ByteWriter()
            w.u64(1)
            w.raw([UInt8](repeating: 0xab, count: 16))
            w.u64(UInt64(intervals.count))
            for (s, e) in intervals { w.u64(UInt64(bitPattern: s)); w.u64(UInt64(bitPattern: e)) }
            return w.bytes
        }
        let valid = try EventBuilder.decodeAll(EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 35, body: body([(1, 6), (9, 10)]))]))
        guard case .previousGTIDs(let p) = valid[1].body else { Issue.record("no previous GTIDs"); return }
        #expect(p.gtidSet == "abababab-abab-abab-abab-abababababab:1-5:9")
        for bad in [(1, Int64.min), (Int64.max, Int64.min), (0, 5), (7, 7), (Int64.min, 3)] {
            let file = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 35, body: body([(1, 6), bad]))])
            try Self.withFile(file) { path in
                let e = Self.firstError(path)
                #expect(e?.source == path && e?.eventType == .previousGTIDs && e?.field == "previousGTIDs.end", "\(bad): \(String(describing: e))")
                #expect(e?.message.contains("\(bad.0)") == true, "\(String(describing: e))")
            }
        }
        var entry = GTIDSetEntry(sid: [UInt8](repeating: 0xab, count: 16), tag: "")
        entry.intervals = [(1, Int64.min), (Int64.min, Int64.min &+ 1)]
        #expect(!entry.description.contains("9223372036854775807"), "\(entry.description)")
        #expect(entry.description.hasSuffix(":-9223372036854775808"), "\(entry.description)")
    }

    // MARK: - events: rows streamed

    /// The streaming writer gives the same JSON as the one holding all rows, drained in pieces of
    /// about `drainAt` bytes (one row over at most), never the whole event at once.
    @Test func rowsAreStreamedIntoTheEventJSON() throws {
        var rows = ByteWriter()
        for i in 0..<5000 { rows.u8(0); rows.u32(UInt32(i)) }
        let file = EventBuilder.file([
            EventBuilder.formatDescription(),
            EventBuilder.event(type: 19, body: Self.tableMap(types: [3])),
            EventBuilder.event(type: 30, body: Self.writeRowsV2(columns: 1, rows: rows.bytes)),
        ])
        let events = try EventBuilder.decodeAll(file)
        guard case .rows(let r) = events[2].body else { Issue.record("no rows"); return }
        var whole = JSONWriter()
        EventJSON.write(events[2], file: "f", rows: try r.rows(), into: &whole)
        var streamed: [UInt8] = []
        var pieces: [Int] = []
        var w = JSONWriter()
        try EventJSON.write(events[2], file: "f", streamingRowsOf: r, into: &w, drainAt: 4096) { w in
            pieces.append(w.bytes.count)
            streamed += w.bytes
            w.bytes.removeAll(keepingCapacity: true)
        }
        streamed += w.bytes
        #expect(streamed == whole.bytes)
        #expect(pieces.count > 10 && pieces.allSatisfy { $0 < 4096 + 64 })
    }

    /// What the byte-count option accepts.
    @Test func byteCountsParse() {
        #expect(DecodingLimits.parseByteCount("64M") == 64 << 20)
        #expect(DecodingLimits.parseByteCount("2g") == 2 << 30)
        #expect(DecodingLimits.parseByteCount("512KiB") == 512 << 10)
        #expect(DecodingLimits.parseByteCount("1000") == 1000)
        #expect(DecodingLimits.parseByteCount("0") == nil)
        #expect(DecodingLimits.parseByteCount("-5") == nil)
        #expect(DecodingLimits.parseByteCount("99999999999T") == nil)
    }
}
