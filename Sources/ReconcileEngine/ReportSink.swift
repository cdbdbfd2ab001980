import ReconcilerCore
import RedisClient
import BinlogParser
#if canImport(Glibc)
import Glibc
import Synchronization
#endif

/// Where report records go: stdout or a file (JSON lines), and optionally a Redis Stream.
public final class ReportSink: Sendable {
    private struct State {
        var output: OutputSink
        var written: [ReportRecord.Event: Int] = [:]
        var stream: ReportStreamWriter?
    }
    private let state: Mutex<State>

    /// Records written so far, by event.
    public var written: [ReportRecord.Event: Int] { state.withLock { $0.written } }

    /// Also XADD every record to a Redis Stream from now on.
    public func attach(stream writer: ReportStreamWriter) { state.withLock { $0.stream = writer } }

    /// Stops appending to the stream (after writing what is queued, within `timeout`).
    public func detachStream(timeout: Double = 2) {
        let w = state.withLock { s -> ReportStreamWriter? in defer { s.stream = nil }; return s.stream }
        w?.close(timeout: timeout)
    }

    public init(path: String) throws(ConfigurationError) {
        let output: OutputSink
        if path == "-" {
            output = OutputSink(fd: 1, bufferSize: 0)
        } else {
            // 0600: reports carry keys and values (an existing file keeps its mode).
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ConfigurationError("report file \(path): \(String(cString: strerror(errno)))") }
            output = OutputSink(fd: fd, bufferSize: 0)
        }
        state = Mutex(State(output: output))
    }

    public func write(_ record: ReportRecord) {
        var w = JSONWriter(capacity: 512)
        record.writeJSON(into: &w)
        let bytes = w.bytes
        state.withLock { s in
            s.output.writeLine(bytes)
            s.output.flush()
            s.written[record.event, default: 0] += 1
            s.stream?.append(record, json: bytes)
        }
    }

    public func count(_ e: ReportRecord.Event) -> Int { state.withLock { $0.written[e] ?? 0 } }
}
