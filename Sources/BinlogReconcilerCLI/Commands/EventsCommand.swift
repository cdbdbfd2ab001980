import ArgumentParser
import BinlogParser
import BinlogReconciler

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print every event of binlog files as JSON lines (like mysqlbinlog, machine-readable).",
        discussion: """
            One JSON object per event, in file order: file, pos, next_pos, code, type, timestamp,
            server_id and the decoded fields; rows events carry table, columns and rows with typed
            values. Events inside a TRANSACTION_PAYLOAD_EVENT follow it with "in_payload". The format
            is documented in docs/cli.md.

            Exit status: 0 when every file decoded, 1 on the first error (printed on stderr as
            FILE:OFFSET: event TYPE: what went wrong, after everything decoded before it).
            """)

    @Argument(help: "Binlog or relay-log files, read in the order given.")
    var files: [String]

    @Flag(name: .customLong("no-verify-checksum"), help: "Do not verify CRC32 event checksums.")
    var noVerifyChecksum = false

    @Option(name: .customLong("start-position"), help: "Skip events that start before this offset (of each file).")
    var startPosition: UInt64?

    @Option(name: .customLong("stop-position"), help: "Stop at the first event that starts at or after this offset.")
    var stopPosition: UInt64?

    func run() throws {
        let out = OutputSink.standardOutput
        var w = JSONWriter()
        defer { out.flush() }
        // Read once: option property wrappers are slow to read per event.
        let startPosition = self.startPosition, stopPosition = self.stopPosition, verify = !noVerifyChecksum
        for file in files {
            do throws(BinlogDecodingError) {
                let events = try BinlogFileEvents(path: file, verifyChecksums: verify)
                try events.forEach { located throws(BinlogDecodingError) in
                    let e = located.event
                    if located.inPayload == nil {
                        if let s = startPosition, e.offset < s { return true }
                        if let s = stopPosition, e.offset >= s { return false }
                    }
                    var rows: [RowChange]? = nil
                    if case .rows(let r) = e.body {
                        do throws(BinlogDecodingError) { rows = try r.rows() } catch {
                            var err = error
                            err.source = file
                            err.inPayload = located.inPayload
                            throw err
                        }
                    }
                    EventJSON.write(e, file: file, inPayload: located.inPayload, rows: rows, into: &w)
                    out.writeLine(&w)
                    return !out.failed
                }
                if out.failed { return }
            } catch {
                out.flush()
                printError("binlog-reconciler: " + error.description)
                throw ExitCode(1)
            }
        }
    }
}
