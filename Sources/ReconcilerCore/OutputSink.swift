import Synchronization
import BinlogParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writes of JSON lines to a file descriptor (stdout for data commands). One writer: not
/// shared between threads (`ReportSink` keeps its own inside a mutex).
public final class OutputSink {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let flushAt: Int
    public private(set) var failed = false

    public init(fd: Int32 = 1, bufferSize: Int = 1 << 20) {
        self.fd = fd
        self.flushAt = bufferSize
        buffer.reserveCapacity(bufferSize + 4096)
    }

    /// A new sink on standard output (each command makes one; it flushes when it goes away).
    public static func standardOutput() -> OutputSink { OutputSink(fd: 1) }

    /// Appends one JSON line.
    public func writeLine(_ json: [UInt8]) {
        buffer.append(contentsOf: json)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= flushAt { flush() }
    }

    /// Appends bytes without a newline (part of a line that is being written in pieces).
    public func append(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= flushAt { flush() }
    }

    public func writeLine(_ writer: inout JSONWriter) {
        writeLine(writer.bytes)
        writer.reset()
    }

    public func flush() {
        var offset = 0
        while offset < buffer.count && !failed {
            let n = buffer.withUnsafeBytes { raw in write(fd, raw.baseAddress! + offset, raw.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                failed = true  // EPIPE (e.g. `| head`): stop writing quietly
                break
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Writes a line to standard error (progress and summaries; never stdout).
public func printError(_ s: String, newline: Bool = true) {
    var line = s
    if newline { line += "\n" }
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Monotonic seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Whether standard error is a terminal (progress lines are shown only then).
public var standardErrorIsTerminal: Bool { isatty(2) == 1 }

/// An `OutputSink` that several threads write to (one line at a time, under a mutex).
public final class SharedOutputSink: Sendable {
    private let sink: Mutex<OutputSink>

    public init(fd: Int32, bufferSize: Int = 1 << 20) { sink = Mutex(OutputSink(fd: fd, bufferSize: bufferSize)) }

    public func writeLine(_ bytes: [UInt8]) { sink.withLock { $0.writeLine(bytes) } }

    public func flush() { sink.withLock { $0.flush() } }
}
