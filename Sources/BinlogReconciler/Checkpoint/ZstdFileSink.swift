import BinlogParser
import CZstd

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Compresses content chunks into one zstd frame written to a file after the 40-byte header,
/// keeping the CRC-32s and lengths the header needs. Memory: one 1 MiB output buffer plus zstd's
/// context (level 3: a 2 MiB window).
final class ZstdFileSink {
    let file: PosixFile
    private let cctx: OpaquePointer
    private let out: UnsafeMutableRawBufferPointer
    private(set) var bodyCRC: UInt32 = 0
    private(set) var bodyLength: UInt64 = 0
    private(set) var contentCRC: UInt32 = 0
    private(set) var contentLength: UInt64 = 0

    init(file: PosixFile, level: Int32, workers: Int32) throws(CheckpointError) {
        self.file = file
        guard let c = ZSTD_createCCtx() else {
            throw CheckpointError(.io(operation: "ZSTD_createCCtx", errno: ENOMEM), path: file.path)
        }
        cctx = c
        out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
        if workers > 0 { ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers) }
    }

    deinit {
        ZSTD_freeCCtx(cctx)
        out.deallocate()
    }

    /// Compresses `chunk` (uncompressed content) and writes whatever zstd produces.
    func consume(_ chunk: UnsafeRawBufferPointer) throws(CheckpointError) {
        guard chunk.count > 0 else { return }
        contentCRC = updateCRC(contentCRC, chunk)
        contentLength += UInt64(chunk.count)
        var input = ZSTD_inBuffer(src: chunk.baseAddress, size: chunk.count, pos: 0)
        while input.pos < input.size {
            try step(&input, ZSTD_e_continue)
        }
    }

    /// Ends the frame and flushes it.
    func finish() throws(CheckpointError) {
        var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&input, ZSTD_e_end) != 0 {}
    }

    @discardableResult
    private func step(_ input: inout ZSTD_inBuffer, _ op: ZSTD_EndDirective) throws(CheckpointError) -> Int {
        var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
        let r = ZSTD_compressStream2(cctx, &output, &input, op)
        if ZSTD_isError(r) != 0 {
            throw CheckpointError(
                .invalidInput("zstd compression failed: " + String(cString: ZSTD_getErrorName(r))),
                path: file.path
            )
        }
        if output.pos > 0 {
            let produced = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<output.pos])
            bodyCRC = updateCRC(bodyCRC, produced)
            bodyLength += UInt64(output.pos)
            try file.writeAll(produced)
        }
        return r
    }
}

@inline(__always)
func updateCRC(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 { CRC32.update(crc, bytes) }
