import Testing
@testable import BinlogParser

/// Hostile input never traps: truncations, byte flips, absurd lengths, odd chunking.
@Suite struct RobustnessTests {
    /// Small deterministic PRNG so failures are reproducible.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    /// Decodes a file's events (and their rows), swallowing decoding errors: only a trap fails.
    static func decodeIgnoringErrors(_ bytes: [UInt8], verify: Bool) -> (events: Int, error: BinlogDecodingError?) {
        var framer = BinlogFramer(startOffset: 0, expectMagic: true)
        framer.append(bytes)
        var decoder = BinlogEventDecoder()
        decoder.verifyChecksums = verify
        var n = 0
        do {
            while let raw = try framer.next() {
                let e = try decoder.decode(raw)
                if case .rows(let r) = e.body { _ = try r.rows() }
                if case .transactionPayload(let p) = e.body {
                    var reader = try TransactionPayloadReader(p, eventStart: e.offset)
                    while let inner = try reader.next() { _ = try decoder.decode(inner, insidePayload: true) }
                }
                n += 1
            }
            try framer.finish()
            return (n, nil)
        } catch {
            return (n, error)
        }
    }

    @Test(arguments: Fixtures.ourBinlogNames)
    func everyStrictPrefixOfEveryEventThrowsOrDecodes(_ name: String) throws {
        let bytes = try Fixtures.bytes(name)
        let raws = try Fixtures.rawEvents(bytes)
        var decoder = BinlogEventDecoder()
        decoder.verifyChecksums = false
        var rng = SplitMix(state: 42)
        var checked = 0
        for raw in raws {
            defer { _ = try? decoder.decode(raw) }  // keep table maps and the FDE in force
            let size = raw.size
            guard size < 64 * 1024 else { continue }
            var lengths = Array(EventHeader.size..<size)
            if lengths.count > 300 {
                lengths = Array(lengths.prefix(100)) + Array(lengths.suffix(100)) + (0..<100).map { _ in Int.random(in: EventHeader.size..<size, using: &rng) }
            }
            for length in lengths {
                // The header's event_size is patched to the prefix length, so the body decoders
                // (not the framer) meet the short input.
                var prefix = Array(raw.bytes.prefix(length))
                for i in 0..<4 { prefix[9 + i] = UInt8(truncatingIfNeeded: UInt32(length) >> (8 * UInt32(i))) }
                var d = decoder
                if let e = try? d.decode(RawEvent(offset: raw.offset, bytes: prefix[...])), case .rows(let r) = e.body {
                    _ = try? r.rows()
                }
                checked += 1
            }
        }
        #expect(checked > 0)
    }

    @Test(arguments: Fixtures.ourBinlogNames)
    func truncatedFilesReportTheCutEvent(_ name: String) throws {
        let bytes = try Fixtures.bytes(name)
        let raws = try Fixtures.rawEvents(bytes)
        for raw in raws.prefix(40) {
            let cut = Int(raw.offset) + raw.size / 2
            let result = Self.decodeIgnoringErrors(Array(bytes.prefix(cut)), verify: true)
            let error = try #require(result.error, "\(name) cut at \(cut) must fail")
            #expect(error.eventStart == raw.offset, "\(name) cut at \(cut): \(error)")
            if case .truncated = error.kind {} else { Issue.record("\(name) cut at \(cut): \(error)") }
        }
    }

    @Test(arguments: ["types-full.binlog", "compressed.binlog", "ddl-pk-change.binlog", "image-minimal.binlog", "gtid-domains.binlog"])
    func byteFlipsAreChecksumErrorsNeverTraps(_ name: String) throws {
        let bytes = try Fixtures.bytes(name)
        var rng = SplitMix(state: UInt64(name.utf8.count))
        var caught = 0
        for _ in 0..<400 {
            var copy = bytes
            let at = Int.random(in: 4..<copy.count, using: &rng)
            copy[at] ^= UInt8.random(in: 1...255, using: &rng)
            let verified = Self.decodeIgnoringErrors(copy, verify: true)
            if let e = verified.error {
                caught += 1
                switch e.kind {
                case .checksumMismatch, .invalidEventLength, .truncated, .notABinlog: break
                default:
                    // A flip in an event's length field moves framing; anything else must be a checksum error.
                    if e.field != "header.eventSize" { Issue.record("\(name) flip at \(at): unexpected \(e)") }
                }
            }
            _ = Self.decodeIgnoringErrors(copy, verify: false)
        }
        #expect(caught == 400, "every flip of a checksummed file must be detected (\(caught)/400)")
    }

    @Test func chunkedFeedingGivesTheSameEvents() throws {
        let bytes = try Fixtures.bytes("types-full.binlog")
        let whole = try Fixtures.rawEvents(bytes)
        var rng = SplitMix(state: 7)
        for mode in ["1-byte", "random"] {
            var framer = BinlogFramer(startOffset: 0, expectMagic: true)
            var got: [RawEvent] = []
            var i = 0
            while i < bytes.count {
                let n = mode == "1-byte" ? 1 : Int.random(in: 1...5000, using: &rng)
                framer.append(Array(bytes[i..<min(bytes.count, i + n)]))
                i += n
                while let e = try framer.next() { got.append(e) }
            }
            try framer.finish()
            #expect(got.map(\.offset) == whole.map(\.offset), "\(mode)")
            #expect(got.map { Array($0.bytes) } == whole.map { Array($0.bytes) }, "\(mode)")
        }
    }

    @Test func hostileLengthsAreRefusedBeforeAllocating() throws {
        // An event claiming 4 GiB.
        var header = ByteWriter()
        header.u32(0); header.u8(2); header.u32(1); header.u32(0xffff_ffff); header.u32(0); header.u16(0)
        var framer = BinlogFramer(startOffset: 0, expectMagic: true)
        framer.append(BinlogFramer.magic + header.bytes)
        #expect(throws: BinlogDecodingError.self) { _ = try framer.next() }
        // An event shorter than its header.
        var tiny = ByteWriter()
        tiny.u32(0); tiny.u8(2); tiny.u32(1); tiny.u32(3); tiny.u32(0); tiny.u16(0)
        var f2 = BinlogFramer(startOffset: 0, expectMagic: true)
        f2.append(BinlogFramer.magic + tiny.bytes)
        #expect(throws: BinlogDecodingError.self) { _ = try f2.next() }
        // A table map with 2^60 columns.
        var tm = ByteWriter()
        tm.u48(1); tm.u16(0); tm.u8(1); tm.str("d"); tm.u8(0); tm.u8(1); tm.str("t"); tm.u8(0)
        tm.u8(0xfe); tm.u64(1 << 60)
        let file = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 19, body: tm.bytes)])
        #expect(throws: BinlogDecodingError.self) { _ = try EventBuilder.decodeAll(file) }
        // A BLOB claiming 4 GiB inside a rows event.
        var tm2 = ByteWriter()
        tm2.u48(1); tm2.u16(0); tm2.u8(1); tm2.str("d"); tm2.u8(0); tm2.u8(1); tm2.str("t"); tm2.u8(0)
        tm2.lenenc(1); tm2.u8(252); tm2.lenenc(1); tm2.u8(4); tm2.u8(1)
        var rows = ByteWriter()
        rows.u48(1); rows.u16(1); rows.lenenc(1); rows.u8(1); rows.u8(0); rows.u32(0xffff_ffff); rows.raw([1, 2, 3])
        let file2 = EventBuilder.file([EventBuilder.formatDescription(), EventBuilder.event(type: 19, body: tm2.bytes), EventBuilder.event(type: 23, body: rows.bytes)])
        let events = try EventBuilder.decodeAll(file2)
        guard case .rows(let r) = events[2].body else { Issue.record("no rows"); return }
        #expect(throws: BinlogDecodingError.self) { _ = try r.rows() }
    }

    @Test func notABinlogIsNamed() throws {
        var framer = BinlogFramer(startOffset: 0, expectMagic: true)
        framer.append([0x1f, 0x8b, 0x08, 0x00, 0, 0])
        do {
            _ = try framer.next()
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("gzip"))
        }
        var empty = BinlogFramer(startOffset: 0, expectMagic: true)
        #expect(throws: BinlogDecodingError.self) { try empty.finish() }
        _ = empty.bufferedByteCount
    }
}
