import BinlogParser
import CZstd

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a checkpoint file in bounded memory: checks the 40-byte header, streams the body through
/// the zstd decompressor into an 8 MiB window, parses the content for a visitor, and verifies the
/// lengths and both CRC-32s at the end. Any failure of the body is re-checked against the body
/// CRC, so damaged bytes are reported as `checksumMismatch`, never as a parse error.
final class CheckpointReader {
    let file: PosixFile
    let path: String
    let preamble: CheckpointPreamble
    let fileSize: UInt64

    private let dctx: OpaquePointer
    private let input: UnsafeMutableRawBufferPointer
    private var inPos = 0
    private var inEnd = 0
    private var bodyRead: UInt64 = 0
    private var bodyCRC: UInt32 = 0

    private let window: UnsafeMutableRawBufferPointer
    let windowBase: UnsafeMutablePointer<UInt8>
    var pos = 0
    var end = 0
    /// Content offset of `window[0]`.
    private var windowOffset: UInt64 = 0
    private var produced: UInt64 = 0
    private var contentCRC: UInt32 = 0
    private var frameDone = false

    /// The watches' names in file order (held XA changes name their watch by index).
    var watchNames: [String] = []
    let blockKeys = UnsafeMutablePointer<Int64>.allocate(capacity: CheckpointFormat.maxBlockEntries)
    let blockValues = UnsafeMutablePointer<Int64>.allocate(capacity: CheckpointFormat.maxBlockEntries)

    init(path: String) throws(CheckpointError) {
        self.path = path
        file = try PosixFile.openForReading(path)
        fileSize = try file.size()
        var head = [UInt8](repeating: 0, count: CheckpointFormat.headerSize)
        let file = self.file
        var got = 0
        var failure: CheckpointError? = nil
        head.withUnsafeMutableBytes { raw in
            do throws(CheckpointError) { got = try file.readFully(into: raw) } catch { failure = error }
        }
        if let failure { throw failure }
        preamble = try CheckpointPreamble.decode(Array(head[0..<got]), fileSize: fileSize, path: path)
        guard let d = ZSTD_createDCtx() else {
            throw CheckpointError(.io(operation: "ZSTD_createDCtx", errno: ENOMEM), path: path)
        }
        dctx = d
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, CheckpointFormat.maxWindowLog)
        input = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        window = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * CheckpointFormat.maxBlockBytes, alignment: 16)
        windowBase = window.baseAddress!.assumingMemoryBound(to: UInt8.self)
    }

    deinit {
        ZSTD_freeDCtx(dctx)
        input.deallocate()
        window.deallocate()
        blockKeys.deallocate()
        blockValues.deallocate()
    }

    var contentOffset: UInt64 { windowOffset + UInt64(pos) }

    func corrupt(_ what: String) -> CheckpointError {
        CheckpointError(.corrupt(what), path: path, contentOffset: contentOffset)
    }

    // MARK: - Streaming

    @inline(__always)
    func ensure(_ n: Int) throws(CheckpointError) {
        if end - pos < n { try refill(n) }
    }

    private func refill(_ n: Int) throws(CheckpointError) {
        guard n <= window.count / 2 else { throw corrupt("a record of \(n) bytes is over the limit") }
        if pos > 0 {
            if end > pos { memmove(windowBase, windowBase + pos, end - pos) }
            windowOffset += UInt64(pos)
            end -= pos
            pos = 0
        }
        while end < n {
            if frameDone {
                throw corrupt("the content ends early (\(n - end) more bytes needed)")
            }
            try decompressSome()
        }
    }

    /// Runs the decompressor once, appending to the window at `end`.
    private func decompressSome() throws(CheckpointError) {
        if inPos == inEnd { try readInput() }
        var inb = ZSTD_inBuffer(src: input.baseAddress, size: inEnd, pos: inPos)
        var outb = ZSTD_outBuffer(dst: window.baseAddress, size: window.count, pos: end)
        let r = ZSTD_decompressStream(dctx, &outb, &inb)
        inPos = inb.pos
        if ZSTD_isError(r) != 0 {
            throw corrupt("zstd: " + String(cString: ZSTD_getErrorName(r)))
        }
        let fresh = outb.pos - end
        if fresh > 0 {
            contentCRC = updateCRC(contentCRC, UnsafeRawBufferPointer(start: windowBase + end, count: fresh))
            produced += UInt64(fresh)
            end = outb.pos
            if produced > preamble.contentLength {
                throw corrupt("more content than the header's \(preamble.contentLength) bytes")
            }
        }
        if r == 0 { frameDone = true }
    }

    private func readInput() throws(CheckpointError) {
        let remaining = preamble.bodyLength - bodyRead
        if remaining == 0 {
            throw corrupt("the compressed body ends before its zstd frame does")
        }
        let want = Int(min(UInt64(input.count), remaining))
        let n = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: input[0..<want]))
        if n == 0 {
            throw CheckpointError(
                .truncated(
                    expectedBytes: UInt64(CheckpointFormat.headerSize) + preamble.bodyLength,
                    actualBytes: UInt64(CheckpointFormat.headerSize) + bodyRead
                ),
                path: path
            )
        }
        bodyCRC = updateCRC(bodyCRC, UnsafeRawBufferPointer(rebasing: input[0..<n]))
        bodyRead += UInt64(n)
        inPos = 0
        inEnd = n
    }

    /// After a parse or decompression failure: if the body's bytes do not match their CRC, the
    /// file is damaged, which is the better explanation.
    func diagnose(_ error: CheckpointError) -> CheckpointError {
        guard case .corrupt = error.kind else { return error }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while bodyRead < preamble.bodyLength {
            let want = Int(min(UInt64(chunk.count), preamble.bodyLength - bodyRead))
            var n = 0
            var failed = false
            let file = self.file
            chunk.withUnsafeMutableBytes { raw in
                do throws(CheckpointError) {
                    n = try file.readFully(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]))
                } catch { failed = true }
            }
            if failed || n == 0 { return error }
            chunk.withUnsafeBytes { bodyCRC = updateCRC(bodyCRC, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            bodyRead += UInt64(n)
        }
        if bodyCRC != preamble.bodyCRC {
            return CheckpointError(
                .checksumMismatch(region: "body", stored: preamble.bodyCRC, computed: bodyCRC),
                path: path,
                fileOffset: 12
            )
        }
        return error
    }

    /// Checks that the content ended exactly at the end marker, the frame at the body's end, and the CRCs.
    func finish() throws(CheckpointError) {
        guard pos == end else { throw corrupt("content continues after the end marker") }
        while !frameDone {
            pos = 0
            end = 0
            try decompressSome()
            if end > 0 { throw corrupt("content continues after the end marker") }
        }
        if inPos != inEnd || bodyRead != preamble.bodyLength {
            throw corrupt("\(preamble.bodyLength - bodyRead + UInt64(inEnd - inPos)) bytes after the zstd frame")
        }
        if bodyCRC != preamble.bodyCRC {
            throw CheckpointError(
                .checksumMismatch(region: "body", stored: preamble.bodyCRC, computed: bodyCRC),
                path: path,
                fileOffset: 12
            )
        }
        if produced != preamble.contentLength {
            throw CheckpointError(
                .corrupt("content is \(produced) bytes, the header says \(preamble.contentLength)"),
                path: path
            )
        }
        if contentCRC != preamble.contentCRC {
            throw CheckpointError(
                .checksumMismatch(region: "content", stored: preamble.contentCRC, computed: contentCRC),
                path: path,
                fileOffset: 32
            )
        }
    }
}
