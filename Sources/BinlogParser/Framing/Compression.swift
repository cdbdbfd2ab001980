import CZlib
import CZstd

/// MariaDB's compressed events (`log_bin_compress=ON`, codes 165–171).
///
/// The compressed part (the query text, or the row images) starts with one header byte
/// `1 aaa 0 lll`: bit 7 set, `aaa` the algorithm (0 = zlib), `lll` how many bytes (1–4) of
/// big-endian uncompressed length follow; then the zlib stream.
enum MariaDBCompression {
    static func uncompress(_ raw: UnsafeRawBufferPointer, maxSize: Int, field: String, at offset: UInt64) throws(BinlogDecodingError) -> [UInt8] {
        guard raw.count >= 1 else {
            throw BinlogDecodingError(.truncated(needed: 1, available: 0), field: field + ".compressionHeader", byteOffset: offset)
        }
        let header = raw[0]
        guard header & 0x80 != 0 else {
            throw BinlogDecodingError(.decompression("header byte 0x\(String(header, radix: 16)) lacks the compressed flag"), field: field, byteOffset: offset)
        }
        let algorithm = (header >> 4) & 0x07
        let lengthBytes = Int(header & 0x07)
        guard algorithm == 0 else {
            throw BinlogDecodingError(.unsupported("compression algorithm \(algorithm) (only zlib, 0, exists)"), field: field, byteOffset: offset)
        }
        guard (1...4).contains(lengthBytes), raw.count >= 1 + lengthBytes else {
            throw BinlogDecodingError(.decompression("bad length-of-length \(lengthBytes)"), field: field, byteOffset: offset)
        }
        var length = 0
        for i in 0..<lengthBytes { length = length << 8 | Int(raw[1 + i]) }
        guard length <= maxSize else {
            throw BinlogDecodingError(.decompression("uncompressed length \(length) is over the limit \(maxSize)"), field: field, byteOffset: offset + 1)
        }
        let input = UnsafeRawBufferPointer(rebasing: raw[(1 + lengthBytes)...])
        var produced: uLongf = uLongf(length)
        var status: Int32 = Z_OK
        let out = [UInt8](unsafeUninitializedCapacity: max(length, 1)) { buf, count in
            status = CZlib.uncompress(
                buf.baseAddress, &produced, input.baseAddress?.assumingMemoryBound(to: Bytef.self) ?? nil, uLong(input.count))
            count = status == Z_OK ? Int(produced) : 0
        }
        guard status == Z_OK else {
            throw BinlogDecodingError(.decompression("zlib error \(status)"), field: field, byteOffset: offset + UInt64(1 + lengthBytes))
        }
        guard out.count == length else {
            throw BinlogDecodingError(.decompression("zlib produced \(out.count) bytes, header says \(length)"), field: field, byteOffset: offset)
        }
        return out
    }
}

/// A zstd decompression context that frees itself.
final class ZstdStream: @unchecked Sendable {
    let stream: OpaquePointer

    init() throws(BinlogDecodingError) {
        guard let s = ZSTD_createDStream() else {
            throw BinlogDecodingError(.decompression("ZSTD_createDStream failed"), field: "payload", byteOffset: 0)
        }
        stream = s
        ZSTD_initDStream(stream)
    }

    deinit { ZSTD_freeDStream(stream) }

    /// Decompresses from `input` starting at `inPos` into `output`; returns bytes written.
    func decompress(_ input: UnsafeRawBufferPointer, inPos: inout Int, into output: UnsafeMutableRawBufferPointer) -> (written: Int, error: String?, frameDone: Bool) {
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: inPos)
        var outBuf = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let r = ZSTD_decompressStream(stream, &outBuf, &inBuf)
        inPos = inBuf.pos
        if ZSTD_isError(r) != 0 {
            return (outBuf.pos, String(cString: ZSTD_getErrorName(r)), false)
        }
        return (outBuf.pos, nil, r == 0)
    }
}
