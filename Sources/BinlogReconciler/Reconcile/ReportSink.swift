import BinlogParser
#if canImport(Glibc)
import Glibc
#endif

/// Where report records go: stdout or a file (JSON lines), and optionally a Redis Stream.
public final class ReportSink: @unchecked Sendable {
    private let output: OutputSink
    private let lock = MutexLock()
    public private(set) var written: [ReportRecord.Event: Int] = [:]
    private var stream: ReportStreamWriter?

    /// Also XADD every record to a Redis Stream from now on.
    public func attach(stream writer: ReportStreamWriter) { lock.withLock { stream = writer } }

    /// Stops appending to the stream (after writing what is queued, within `timeout`).
    public func detachStream(timeout: Double = 2) {
        let w = lock.withLock { () -> ReportStreamWriter? in defer { stream = nil }; return stream }
        w?.close(timeout: timeout)
    }

    public init(path: String) throws(ConfigurationError) {
        if path == "-" {
            output = OutputSink(fd: 1, bufferSize: 0)
        } else {
            // 0600: reports carry keys and values (an existing file keeps its mode).
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ConfigurationError("report file \(path): \(String(cString: strerror(errno)))") }
            output = OutputSink(fd: fd, bufferSize: 0)
        }
    }

    public func write(_ record: ReportRecord) {
        var w = JSONWriter(capacity: 512)
        record.writeJSON(into: &w)
        let bytes = w.bytes
        lock.withLock {
            output.writeLine(bytes)
            output.flush()
            written[record.event, default: 0] += 1
            stream?.append(record, json: bytes)
        }
    }

    public func count(_ e: ReportRecord.Event) -> Int { lock.withLock { written[e] ?? 0 } }
}
