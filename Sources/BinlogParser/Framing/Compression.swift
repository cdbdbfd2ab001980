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
            throw BinlogDecodingError(
                .decompression("the header declares \(length) decompressed bytes, over the \(maxSize)-byte limit (--max-decompressed-bytes)"),
                field: field, byteOffset: offset + 1)
        }
        let input = UnsafeRawBufferPointer(rebasing: raw[(1 + lengthBytes)...])
        let dataOffset = offset + UInt64(1 + lengthBytes)
        // A declared length that these compressed bytes cannot reach is refused before anything
        // is allocated (a short event declaring a large size).
        let most = maxOutput(compressedBytes: input.count)
        guard length <= most else {
            throw BinlogDecodingError(
                .decompression("the header declares \(length) decompressed bytes, but \(input.count) bytes of zlib decompress to at most \(most)"),
                field: field, byteOffset: offset + 1)
        }
        // The declared length only bounds the output: the buffer grows as zlib produces bytes
        // (starting small when the declared length is large), so an event declaring more than it
        // decompresses to allocates about what it really decompresses to.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer {
            inflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        var status = inflateInit_(stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            throw BinlogDecodingError(.decompression("zlib init error \(status)"), field: field, byteOffset: dataOffset)
        }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        var out: [UInt8] = []
        var capacity = length <= initialOutputSize ? length : max(initialOutputSize, min(length, input.count * 4))
        while true {
            let old = out
            out = [UInt8](unsafeUninitializedCapacity: max(capacity, 1)) { buf, count in
                if !old.isEmpty {
                    old.withUnsafeBufferPointer { o in _ = buf.initialize(from: o) }
                }
                let base = buf.baseAddress! + old.count
                stream.pointee.next_out = base
                stream.pointee.avail_out = uInt(capacity - old.count)
                status = inflate(stream, Z_FINISH)
                count = old.count + (stream.pointee.next_out! - base)
            }
            if status == Z_STREAM_END { break }
            // Z_BUF_ERROR with output room left: the input ended in the middle of the stream.
            guard status == Z_OK || (status == Z_BUF_ERROR && stream.pointee.avail_out == 0) else {
                let why = status == Z_BUF_ERROR ? "zlib stream is truncated" : "zlib error \(status)"
                throw BinlogDecodingError(.decompression(why), field: field, byteOffset: dataOffset + UInt64(input.count - Int(stream.pointee.avail_in)))
            }
            guard out.count < length else {
                throw BinlogDecodingError(.decompression("zlib produces more than the \(length) bytes the header says"), field: field, byteOffset: offset)
            }
            capacity = min(length, max(out.count * 2, initialOutputSize))
        }
        guard out.count == length else {
            throw BinlogDecodingError(.decompression("zlib produced \(out.count) bytes, header says \(length)"), field: field, byteOffset: offset)
        }
        return out
    }

    /// Output buffer of a decompression whose declared length is larger (then grown by doubling).
    static let initialOutputSize = 1 << 20

    /// The most a zlib stream of `compressedBytes` bytes can decompress to. Deflate's best case is
    /// a 258-byte match coded in 2 bits (1032:1); headers, block headers and the checksum only
    /// lower it. The margin covers a stream of a few bytes.
    static func maxOutput(compressedBytes: Int) -> Int {
        compressedBytes > (Int.max - 1024) / 1032 ? Int.max : compressedBytes * 1032 + 1024
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
