@testable import BinlogParser
import CZstd

/// Builds binlog events byte by byte, for MySQL-only events that the MariaDB server here cannot
/// produce (v2 rows, tagged GTIDs, payloads, partial JSON, table-map optional metadata).
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt16(i)))) } }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    mutating func u48(_ v: UInt64) { for i in 0..<6 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func str(_ s: String) { bytes += Array(s.utf8) }
    mutating func lenenc(_ v: UInt64) {
        switch v {
        case 0..<251: u8(UInt8(v))
        case 251..<65536: u8(0xfc); u16(UInt16(v))
        case 65536..<16_777_216: u8(0xfd); for i in 0..<3 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
        default: u8(0xfe); u64(v)
        }
    }
    mutating func lenencString(_ s: String) { lenenc(UInt64(s.utf8.count)); str(s) }
}

enum EventBuilder {
    /// A whole event: 19-byte header, body, and a CRC32 when `checksum` is set.
    static func event(type: UInt8, body: [UInt8], timestamp: UInt32 = 1_700_000_000, serverID: UInt32 = 1, logPos: UInt32 = 0, checksum: Bool = true) -> [UInt8] {
        var w = ByteWriter()
        let size = UInt32(19 + body.count + (checksum ? 4 : 0))
        w.u32(timestamp)
        w.u8(type)
        w.u32(serverID)
        w.u32(size)
        w.u32(logPos)
        w.u16(0)
        w.raw(body)
        if checksum { w.u32(CRC32.checksum(w.bytes)) }
        return w.bytes
    }

    /// The post-header lengths of a MySQL 8.0.35 FDE (41 types), as one such server writes them.
    static let mysql80PostHeaders: [UInt8] = [
        0, 13, 0, 8, 0, 0, 0, 0, 4, 0, 4, 0, 0, 0, 98, 0, 4, 26, 8, 0, 0, 0, 8, 8, 8, 2, 0, 0, 0, 10, 10, 10, 42, 42, 0,
        18, 52, 0, 10, 40, 0, 0,
    ]

    static func formatDescription(version: String = "8.0.35", checksum: Bool = true) -> [UInt8] {
        var w = ByteWriter()
        w.u16(4)
        var v = Array(version.utf8)
        v += [UInt8](repeating: 0, count: 50 - v.count)
        w.raw(v)
        w.u32(1_700_000_000)
        w.u8(19)
        w.raw(mysql80PostHeaders)
        w.u8(checksum ? 1 : 0)
        return event(type: 15, body: w.bytes, checksum: true)
    }

    /// A file: magic + events.
    static func file(_ events: [[UInt8]]) -> [UInt8] {
        BinlogFramer.magic + events.flatMap { $0 }
    }

    static func zstd(_ data: [UInt8]) -> [UInt8] {
        let bound = ZSTD_compressBound(data.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { o in
            data.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, bound, i.baseAddress, data.count, 3) }
        }
        return Array(out[0..<n])
    }

    /// Decodes every event of a built file.
    static func decodeAll(_ bytes: [UInt8], verify: Bool = true) throws -> [BinlogEvent] {
        var decoder = BinlogEventDecoder()
        decoder.verifyChecksums = verify
        var out: [BinlogEvent] = []
        for raw in try Fixtures.rawEvents(bytes) {
            let e = try decoder.decode(raw)
            out.append(e)
            if case .transactionPayload(let p) = e.body {
                var reader = try TransactionPayloadReader(p, eventStart: e.offset)
                while let inner = try reader.next() { out.append(try decoder.decode(inner, insidePayload: true)) }
            }
        }
        return out
    }
}
