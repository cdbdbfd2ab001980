import CZlib
import Foundation
import Testing
@testable import BinlogParser

/// The fast paths against the plain ones: CRC32 against zlib, the read-ahead reader against the
/// single-threaded one (same events, same errors after the same events), and selected-column row
/// reading against full row decoding.
@Suite struct PipelineTests {
    // MARK: - CRC32

    @Test func sliceBy16MatchesZlibOnRandomData() {
        var rng = RobustnessTests.SplitMix(state: 2024)
        let data = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        data.withUnsafeBytes { raw in
            func zlibCRC(_ b: UnsafeRawBufferPointer) -> UInt32 {
                guard let base = b.baseAddress else { return 0 }
                return UInt32(truncatingIfNeeded: CZlib.crc32(0, base.assumingMemoryBound(to: UInt8.self), uInt(b.count)))
            }
            // Every length up to 1100 at several alignments, then random slices up to 64 KiB.
            for length in 0...1100 {
                for start in [0, 1, 3, 7] {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    let expected = zlibCRC(slice)
                    #expect(CRC32.sliceBy16(0, slice) == expected, "length \(length) at \(start)")
                    #expect(CRC32.checksum(slice) == expected, "length \(length) at \(start)")
                }
            }
            for _ in 0..<300 {
                let start = Int.random(in: 0..<raw.count, using: &rng)
                let end = Int.random(in: start...raw.count, using: &rng)
                let slice = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                #expect(CRC32.sliceBy16(0, slice) == zlibCRC(slice))
                #expect(CRC32.checksum(slice) == zlibCRC(slice))
                // Continuing a checksum across two pieces.
                let mid = Int.random(in: start...end, using: &rng)
                let first = CRC32.sliceBy16(0, UnsafeRawBufferPointer(rebasing: raw[start..<mid]))
                #expect(CRC32.sliceBy16(first, UnsafeRawBufferPointer(rebasing: raw[mid..<end])) == zlibCRC(slice))
            }
        }
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    // MARK: - Read-ahead

    /// Everything a reader returns, rendered, and the error it ends with.
    static func render(_ path: String, readAhead: Bool, chunkSize: Int? = nil, verify: Bool = true) -> (lines: [String], error: String?) {
        var lines: [String] = []
        var w = JSONWriter()
        do {
            let events = try BinlogFileEvents(path: path, verifyChecksums: verify, readAhead: readAhead)
            if let chunkSize { events.readAheadChunkSize = chunkSize }
            while let located = try events.next() {
                var rows: [RowChange]? = nil
                if case .rows(let r) = located.event.body { rows = try r.rows() }
                EventJSON.write(located.event, file: "f", inPayload: located.inPayload, rows: rows, into: &w)
                lines.append(String(decoding: w.bytes, as: UTF8.self))
                w.reset()
            }
            lines.append("skipped \(events.skippedCount), read \(events.reader.bytesRead)")
            return (lines, nil)
        } catch {
            return (lines, error.description)
        }
    }

    static func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString).binlog").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: Fixtures.ourBinlogNames)
    func readAheadGivesTheSameEvents(_ name: String) throws {
        let path = Fixtures.url(name).path
        let plain = Self.render(path, readAhead: false)
        #expect(plain.error == nil, "\(name): \(plain.error ?? "")")
        for chunk in [nil, 1, 19, 100, 4096] as [Int?] {
            let ahead = Self.render(path, readAhead: true, chunkSize: chunk)
            #expect(ahead.error == plain.error, "\(name), chunk \(chunk ?? 0)")
            #expect(ahead.lines == plain.lines, "\(name), chunk \(chunk ?? 0): \(ahead.lines.count) lines, \(plain.lines.count) expected")
        }
    }

    @Test(arguments: ["types-full.binlog", "compressed.binlog", "ddl-pk-change.binlog", "checksum-none.binlog", "gtid-domains.binlog"])
    func readAheadFailsWhereThePlainReaderFails(_ name: String) throws {
        let bytes = try Fixtures.bytes(name)
        var rng = RobustnessTests.SplitMix(state: UInt64(name.utf8.count) &* 31)
        for round in 0..<60 {
            var copy = bytes
            switch round % 3 {
            case 0:  // a flipped byte
                let at = Int.random(in: 0..<copy.count, using: &rng)
                copy[at] ^= UInt8.random(in: 1...255, using: &rng)
            case 1:  // cut short
                copy = Array(copy.prefix(Int.random(in: 0..<copy.count, using: &rng)))
            default:  // two flips, the second maybe in an event skipped by the caller
                for _ in 0..<2 {
                    let at = Int.random(in: 4..<copy.count, using: &rng)
                    copy[at] ^= UInt8.random(in: 1...255, using: &rng)
                }
            }
            let path = try Self.temporaryFile(copy)
            defer { try? FileManager.default.removeItem(atPath: path) }
            for verify in [true, false] {
                let plain = Self.render(path, readAhead: false, verify: verify)
                for chunk in [nil, 7, 300] as [Int?] {
                    let ahead = Self.render(path, readAhead: true, chunkSize: chunk, verify: verify)
                    #expect(ahead.error == plain.error, "\(name) round \(round) verify \(verify) chunk \(chunk ?? 0)")
                    #expect(ahead.lines == plain.lines, "\(name) round \(round) verify \(verify) chunk \(chunk ?? 0)")
                }
            }
        }
    }

    /// A relay-log-like file with several FDEs of different checksum settings: the read-ahead
    /// thread follows the algorithm from FDE to FDE as the decoder does.
    @Test func readAheadFollowsChecksumChangesBetweenFDEs() throws {
        let none = try Fixtures.bytes("checksum-none.binlog")
        let crc = try Fixtures.bytes("ddl-pk-change.binlog")
        let files: [[UInt8]] = [
            crc + Array(none.dropFirst(4)) + Array(crc.dropFirst(4)),
            none + Array(crc.dropFirst(4)) + Array(none.dropFirst(4)),
        ]
        for (n, bytes) in files.enumerated() {
            let path = try Self.temporaryFile(bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let plain = Self.render(path, readAhead: false)
            for chunk in [nil, 50, 1000] as [Int?] {
                let ahead = Self.render(path, readAhead: true, chunkSize: chunk)
                #expect(ahead.error == plain.error, "file \(n) chunk \(chunk ?? 0)")
                #expect(ahead.lines == plain.lines, "file \(n) chunk \(chunk ?? 0)")
            }
            // A corrupted event in the second part is still caught, after everything before it.
            var rng = RobustnessTests.SplitMix(state: UInt64(n))
            for _ in 0..<20 {
                var copy = bytes
                let at = Int.random(in: (none.count + crc.count - 4)..<copy.count, using: &rng)
                copy[at] ^= 0x5a
                let bad = try Self.temporaryFile(copy)
                defer { try? FileManager.default.removeItem(atPath: bad) }
                let p = Self.render(bad, readAhead: false)
                let a = Self.render(bad, readAhead: true, chunkSize: 64)
                #expect(a.error == p.error)
                #expect(a.lines == p.lines)
            }
        }
    }

    @Test func readerStopsCleanlyWhenDroppedEarly() throws {
        for _ in 0..<50 {
            let events = try BinlogFileEvents(path: Fixtures.url("large-tx.binlog").path)
            events.readAheadChunkSize = 4096
            _ = try events.next()
            _ = try events.next()
        }
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)").path
        #expect(throws: BinlogDecodingError.self) { _ = try BinlogFileEvents(path: missing) }
    }

    // MARK: - Selected columns

    @Test(arguments: Fixtures.ourBinlogNames)
    func selectedRowsMatchFullRows(_ name: String) throws {
        var checked = 0
        for located in try Fixtures.events(Fixtures.url(name).path) {
            guard case .rows(let r) = located.event.body else { continue }
            let full = try r.rows()
            let n = r.columnCount
            let selections: [[Int]] = [[0], [n - 1], [0, n - 1], [n / 2, 0, n / 2], [n + 2, 0], Array(0..<min(n, 64))]
            for columns in selections where columns.allSatisfy({ $0 >= 0 }) {
                guard var selection = RowSelection(columns: columns) else { Issue.record("selection \(columns)"); continue }
                var i = 0
                try r.forEachRow(into: &selection) { (selected: inout RowSelection) throws(BinlogDecodingError) in
                    guard i < full.count else { Issue.record("\(name): more selected rows than rows"); return }
                    let row = full[i]
                    for (image, values) in [(row.before, selected.before), (row.after, selected.after)] {
                        guard let image else { continue }
                        for (k, column) in columns.enumerated() {
                            let absent = column >= n || image.absent.contains(column)
                            #expect(values.isAbsent(k) == absent, "\(name) at \(located.event.offset) row \(i) column \(column)")
                            let expected = column < image.values.count ? image.values[column] : .null
                            #expect(values[k] == expected, "\(name) at \(located.event.offset) row \(i) column \(column)")
                            if case .int(let v) = expected { #expect(values.int64(k) == v) } else { #expect(values.int64(k) == nil) }
                        }
                        #expect(values.values == (0..<columns.count).map { values[$0] })
                    }
                    i += 1
                    checked += 1
                }
                #expect(i == full.count, "\(name) at \(located.event.offset): \(i) rows, \(full.count) expected")
            }
        }
        _ = checked
    }

    @Test func selectionLimits() {
        #expect(RowSelection(columns: Array(0..<65)) == nil)
        #expect(RowSelection(columns: [-1]) == nil)
        #expect(RowSelection(columns: [4096]) == nil)
        #expect(RowSelection(columns: [3, 3])?.columns == [3, 3])
    }

    // MARK: - Text and JSON fast paths

    @Test func utf8ValidationMatchesTheStandardLibrary() {
        var rng = RobustnessTests.SplitMix(state: 11)
        let samples: [[UInt8]] = [[], Array("plain ascii text, long enough".utf8), Array("é日本語🎉".utf8), [0xff], [0xc3], [0x41, 0x80, 0x41]]
        var inputs = samples
        for _ in 0..<3000 {
            let n = Int.random(in: 0..<40, using: &rng)
            let mostlyASCII = Bool.random(using: &rng)
            inputs.append((0..<n).map { _ in mostlyASCII && Int.random(in: 0..<10, using: &rng) > 0 ? UInt8.random(in: 0..<0x80, using: &rng) : UInt8.random(in: 0...255, using: &rng) })
        }
        for bytes in inputs {
            bytes.withUnsafeBytes { raw in
                #expect(validUTF8(raw) == String(validating: raw, as: UTF8.self), "\(bytes)")
            }
        }
    }

    /// The escaping the writer had before it scanned 8 bytes at a time.
    static func referenceJSONString(_ s: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        let digits = Array("0123456789abcdef".utf8)
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5c, 0x22]
            case 0x5c: out += [0x5c, 0x5c]
            case 0x0a: out += [0x5c, UInt8(ascii: "n")]
            case 0x0d: out += [0x5c, UInt8(ascii: "r")]
            case 0x09: out += [0x5c, UInt8(ascii: "t")]
            case 0..<0x20: out += [0x5c, UInt8(ascii: "u"), 0x30, 0x30, digits[Int(b >> 4)], digits[Int(b & 15)]]
            default: out.append(b)
            }
        }
        return out + [0x22]
    }

    @Test func jsonStringEscapingMatchesTheReference() {
        var rng = RobustnessTests.SplitMix(state: 12)
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1f}", "\u{7f}", "é", "日", "🎉", "/"]
        for n in 0..<600 {
            let length = n < 100 ? n : Int.random(in: 0..<200, using: &rng)
            let s = String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] })
            var w = JSONWriter(capacity: 16)
            w.string(s)
            #expect(w.bytes == Self.referenceJSONString(s), "\(s.debugDescription)")
        }
        // Commas and nesting, deeper than the 64 levels kept in a word.
        var w = JSONWriter()
        w.beginArray()
        for _ in 0..<100 { w.beginArray(); w.int(1); w.int(2) }
        for _ in 0..<100 { w.endArray(); w.null() }
        w.endArray()
        let expected = "[" + String(repeating: "[1,2,", count: 100).dropLast() + String(repeating: "],null", count: 100) + "]"
        #expect(String(decoding: w.bytes, as: UTF8.self) == expected)
        var o = JSONWriter()
        o.beginObject(); o.key("a\"b"); o.bool(true); o.field("c", false); o.member("d", 5); o.memberKey("e"); o.null(); o.endObject()
        #expect(String(decoding: o.bytes, as: UTF8.self) == #"{"a\"b":true,"c":false,"d":5,"e":null}"#)
    }

    @Test func bitmapMatchesBytes() {
        var rng = RobustnessTests.SplitMix(state: 9)
        for count in [0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 300] {
            let bytes = (0..<((count + 7) / 8)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let b = Bitmap(bytes: bytes, count: count)
            var set = 0
            for i in 0..<count {
                let bit = (bytes[i / 8] >> UInt8(i % 8)) & 1 == 1
                #expect(b[i] == bit, "count \(count) bit \(i)")
                if bit { set += 1 }
            }
            #expect(b.setCount == set, "count \(count)")
            #expect(!b[count] && !b[-1])
            #expect(Bitmap(allSet: count).setCount == count)
            #expect(Bitmap(allSet: count).allSet)
        }
    }
}
