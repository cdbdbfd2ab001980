import ReconcilerCore
// MARK: - RESPCommandBuffer

/// Builds RESP2 request frames into one reusable byte buffer, so a pipelined sweep formats its
/// commands without per-key allocations and hands hiredis a ready frame
/// (`redisAppendFormattedCommand`) instead of an argv it would format again.
///
/// Frame layout (RESP2 "array of bulk strings"):
/// `*<argc>\r\n` then, per argument, `$<byte length>\r\n<bytes>\r\n`.
package struct RESPCommandBuffer {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 64 * 1024) {
        bytes.reserveCapacity(capacity)
    }

    package var isEmpty: Bool { bytes.isEmpty }

    package mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    /// `*<argc>\r\n`
    package mutating func beginCommand(argumentCount: Int) {
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(argumentCount)
        appendCRLF()
    }

    /// One bulk-string argument from text.
    @inline(__always)
    mutating func appendArgument(_ text: String) {
        var text = text
        // Native strings are contiguous already; this only copies bridged/lazy ones.
        text.withUTF8 { appendArgument(UnsafeRawBufferPointer($0)) }
    }

    /// One bulk-string argument from raw bytes.
    @inline(__always)
    mutating func appendArgument(_ raw: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(raw.count)
        appendCRLF()
        bytes.append(contentsOf: raw)
        appendCRLF()
    }

    package mutating func appendArgument(_ raw: [UInt8]) {
        raw.withUnsafeBytes { appendArgument($0) }
    }

    /// A decimal integer as a bulk-string argument (`COUNT 1000`, `SELECT 3`).
    mutating func appendArgument(_ value: Int) {
        var length = value < 0 ? 2 : 1
        var v = value.magnitude
        while v >= 10 {
            length += 1
            v /= 10
        }
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(length)
        appendCRLF()
        appendDecimal(value)
        appendCRLF()
    }

    /// Appends the RESP frame of a whole command.
    package mutating func appendCommand(_ arguments: [String]) {
        beginCommand(argumentCount: arguments.count)
        for a in arguments { appendArgument(a) }
    }

    @inline(__always)
    private mutating func appendCRLF() {
        bytes.append(13)
        bytes.append(10)
    }

    @inline(__always)
    private mutating func appendDecimal(_ value: Int) {
        appendDecimal(value, into: &bytes)
    }

    @inline(__always)
    private func appendDecimal(_ value: Int, into out: inout [UInt8]) {
        var v = value.magnitude
        if value < 0 { out.append(UInt8(ascii: "-")) }
        if v < 10 {
            out.append(UInt8(truncatingIfNeeded: v) &+ 48)
            return
        }
        // Digits come out least significant first: append, then reverse them in place.
        let start = out.count
        while v > 0 {
            out.append(UInt8(truncatingIfNeeded: v % 10) &+ 48)
            v /= 10
        }
        out[start...].reverse()
    }
}
