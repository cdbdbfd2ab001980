import BinlogParser

/// Constants and the fixed 40-byte header of the checkpoint file format (docs/checkpoint-format.md).
///
/// ```
/// offset size field
///  0      8   magic           89 42 52 43 4B 50 54 0A  ("\x89BRCKPT\n")
///  8      2   version         u16 LE, 2 (1 is still read)
/// 10      2   flags           u16 LE, bit 0 = body is one zstd frame (required); others 0
/// 12      4   body_crc32      u32 LE, CRC-32 (zlib) of the body bytes as stored
/// 16      8   body_length     u64 LE, bytes of body after the header
/// 24      8   content_length  u64 LE, bytes of the uncompressed content
/// 32      4   content_crc32   u32 LE, CRC-32 of the uncompressed content
/// 36      4   header_crc32    u32 LE, CRC-32 of bytes 0..<36
/// 40      …   body            exactly body_length bytes; the file ends there
/// ```
/// Bytes 0..<10 (magic and version) keep their meaning in every future version.
enum CheckpointFormat {
    static let magic: [UInt8] = [0x89, 0x42, 0x52, 0x43, 0x4B, 0x50, 0x54, 0x0A]
    /// The version written. Version 2 added the held-XA section; version 1 files still load.
    static let version: UInt16 = 2
    static let readableVersions: ClosedRange<UInt16> = 1...2
    static let headerSize = 40
    static let flagZstd: UInt16 = 1

    // Content section tags.
    static let tagHeader: UInt8 = 0x48  // 'H'
    static let tagWatch: UInt8 = 0x57  // 'W'
    static let tagIntBlock: UInt8 = 0x49  // 'I'
    static let tagOtherBlock: UInt8 = 0x4F  // 'O'
    static let tagDivergences: UInt8 = 0x44  // 'D'
    static let tagHeldXA: UInt8 = 0x58  // 'X' (version 2)
    static let tagEnd: UInt8 = 0x45  // 'E'

    // Key and value kinds.
    static let keyInt: UInt8 = 0
    static let keyText: UInt8 = 1
    static let keyComposite: UInt8 = 2
    static let valueNull: UInt8 = 0
    static let valueInt: UInt8 = 1
    static let valueText: UInt8 = 2

    static let flavourMySQL: UInt8 = 1
    static let flavourMariaDB: UInt8 = 2

    // Limits checked on reading (and respected on writing).
    static let maxBlockEntries = 65_536
    /// An int block: n keys + n values (≤ 10 bytes each) + exceptions; an other block is bounded
    /// by this too (the writer closes it before).
    static let maxBlockBytes = 4 << 20
    static let maxStringBytes = 64 << 20
    static let maxWatches = 65_536
    static let maxKeyColumns = 4_096
    static let maxCompositeParts = 4_096
    static let maxDomains = 65_536
    /// Row changes held by prepared XA transactions, in all (the live fold's own bound).
    static let maxHeldChanges = 1_000_000
    /// Decompressor window limit (2^25 = 32 MiB); the writer uses zstd level 3 (2 MiB window).
    static let maxWindowLog: Int32 = 25
    /// Chunk of uncompressed content handed to the compressor at a time.
    static let chunkSize = 1 << 20
}

/// The decoded fixed header.
struct CheckpointPreamble: Sendable, Hashable {
    var version: UInt16
    var flags: UInt16
    var bodyCRC: UInt32
    var bodyLength: UInt64
    var contentLength: UInt64
    var contentCRC: UInt32

    func encoded() -> [UInt8] {
        var b = CheckpointFormat.magic
        b.reserveCapacity(CheckpointFormat.headerSize)
        appendLE(&b, UInt64(version), 2)
        appendLE(&b, UInt64(flags), 2)
        appendLE(&b, UInt64(bodyCRC), 4)
        appendLE(&b, bodyLength, 8)
        appendLE(&b, contentLength, 8)
        appendLE(&b, UInt64(contentCRC), 4)
        appendLE(&b, UInt64(CRC32.checksum(b)), 4)
        return b
    }

    /// Decodes and checks the header of a file of `fileSize` bytes whose first
    /// `min(fileSize, 40)` bytes are `bytes`.
    static func decode(_ bytes: [UInt8], fileSize: UInt64, path: String) throws(CheckpointError) -> CheckpointPreamble {
        let magic = CheckpointFormat.magic
        if fileSize == 0 { throw CheckpointError(.empty, path: path) }
        let n = min(bytes.count, magic.count)
        if Array(bytes[0..<n]) != Array(magic[0..<n]) {
            // One damaged magic byte in an otherwise intact header is damage, not a foreign file.
            if bytes.count >= CheckpointFormat.headerSize {
                var fixed = Array(bytes[0..<CheckpointFormat.headerSize])
                fixed.replaceSubrange(0..<8, with: magic)
                if CRC32.checksum(Array(fixed[0..<36])) == readLE32(fixed, 36) {
                    throw CheckpointError(
                        .corrupt(
                            "damaged magic bytes \(hexBytes(Array(bytes[0..<8]))) (the rest of the header is intact)"
                        ),
                        path: path,
                        fileOffset: 0
                    )
                }
            }
            throw CheckpointError(.notACheckpoint(looksLike: describeForeign(bytes)), path: path, fileOffset: 0)
        }
        if bytes.count < 10 {
            throw CheckpointError(
                .truncated(expectedBytes: UInt64(CheckpointFormat.headerSize), actualBytes: fileSize),
                path: path
            )
        }
        let version = UInt16(bytes[8]) | UInt16(bytes[9]) << 8
        if !CheckpointFormat.readableVersions.contains(version) {
            // A flipped bit in the version of an otherwise intact header of a known version is damage.
            if bytes.count >= CheckpointFormat.headerSize {
                for known in CheckpointFormat.readableVersions {
                    var fixed = Array(bytes[0..<36])
                    fixed[8] = UInt8(known & 0xFF)
                    fixed[9] = UInt8(known >> 8)
                    if CRC32.checksum(fixed) == readLE32(bytes, 36) {
                        throw CheckpointError(
                            .corrupt("damaged version field (\(version); the rest of the version-\(known) header is intact)"),
                            path: path,
                            fileOffset: 8
                        )
                    }
                }
            }
            throw CheckpointError(.unsupportedVersion(version), path: path, fileOffset: 8)
        }
        if bytes.count < CheckpointFormat.headerSize {
            throw CheckpointError(
                .truncated(expectedBytes: UInt64(CheckpointFormat.headerSize), actualBytes: fileSize),
                path: path
            )
        }
        let stored = readLE32(bytes, 36)
        let computed = CRC32.checksum(Array(bytes[0..<36]))
        if stored != computed {
            throw CheckpointError(
                .headerChecksumMismatch(stored: stored, computed: computed),
                path: path,
                fileOffset: 36
            )
        }
        let p = CheckpointPreamble(
            version: version,
            flags: UInt16(bytes[10]) | UInt16(bytes[11]) << 8,
            bodyCRC: readLE32(bytes, 12),
            bodyLength: readLE64(bytes, 16),
            contentLength: readLE64(bytes, 24),
            contentCRC: readLE32(bytes, 32)
        )
        if p.flags != CheckpointFormat.flagZstd {
            throw CheckpointError(
                .corrupt("unknown flags 0x\(String(p.flags, radix: 16)) (version \(version) requires 0x1, zstd)"),
                path: path,
                fileOffset: 10
            )
        }
        let (total, overflow) = p.bodyLength.addingReportingOverflow(UInt64(CheckpointFormat.headerSize))
        if overflow || fileSize < total {
            throw CheckpointError(
                .truncated(expectedBytes: overflow ? UInt64.max : total, actualBytes: fileSize),
                path: path
            )
        }
        if fileSize > total {
            throw CheckpointError(
                .corrupt("\(fileSize - total) bytes after the end of the body (header says \(total) bytes in all)"),
                path: path,
                fileOffset: total
            )
        }
        return p
    }

    static func describeForeign(_ bytes: [UInt8]) -> String {
        let known: [([UInt8], String)] = [
            ([0x89, 0x50, 0x4E, 0x47], "a PNG image"),
            ([0xFE, 0x62, 0x69, 0x6E], "a MySQL/MariaDB binlog"),
            ([0x28, 0xB5, 0x2F, 0xFD], "a bare zstd frame"),
            ([0x1F, 0x8B], "a gzip file"),
            ([0x50, 0x4B, 0x03, 0x04], "a zip archive"),
            ([0x7F, 0x45, 0x4C, 0x46], "an ELF binary"),
            ([0x7B], "text starting with '{' (JSON?)"),
        ]
        for (prefix, name) in known where bytes.count >= prefix.count && Array(bytes[0..<prefix.count]) == prefix {
            return "looks like \(name)"
        }
        return "first bytes \(hexBytes(Array(bytes.prefix(8))))"
    }
}

func appendLE(_ b: inout [UInt8], _ v: UInt64, _ n: Int) {
    for i in 0..<n { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}

func readLE32(_ b: [UInt8], _ at: Int) -> UInt32 {
    var v: UInt32 = 0
    for i in 0..<4 { v |= UInt32(b[at + i]) << (8 * UInt32(i)) }
    return v
}

func readLE64(_ b: [UInt8], _ at: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
    return v
}

func hexBytes(_ b: [UInt8]) -> String {
    let d = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for x in b {
        out.append(d[Int(x >> 4)])
        out.append(d[Int(x & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}
