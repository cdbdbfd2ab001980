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

    @OptionGroup var limits: DecodingLimitOptions

    /// Rows events with more bytes of row images than this are checked before they are printed.
    static let rowsCheckedFirst = 64 << 10

    func run() throws {
        let out = OutputSink.standardOutput()
        var w = JSONWriter()
        defer { out.flush() }
        // Read once: option property wrappers are slow to read per event.
        let startPosition = self.startPosition, stopPosition = self.stopPosition, verify = !noVerifyChecksum
        let limits = try self.limits.decodingLimits()
        for file in files {
            do throws(BinlogDecodingError) {
                let events = try BinlogFileEvents(path: file, verifyChecksums: verify, limits: limits)
                try events.forEach { located throws(BinlogDecodingError) in
                    let e = located.event
                    if located.inPayload == nil {
                        if let s = startPosition, e.offset < s { return true }
                        if let s = stopPosition, e.offset >= s { return false }
                    }
                    if case .rows(let r) = e.body {
                        // Rows are decoded and written one at a time, never all held. A large event's
                        // rows are decoded once first, so that a bad row is reported before any of
                        // its event is printed (its JSON is then written out in pieces).
                        let large = r.rowDataByteCount > Self.rowsCheckedFirst
                        do throws(BinlogDecodingError) {
                            if large { try r.forEachRow { (_: RowImage?, _: RowImage?) throws(BinlogDecodingError) in } }
                            try EventJSON.write(
                                e, file: file, inPayload: located.inPayload, streamingRowsOf: r, into: &w,
                                drainAt: large ? 1 << 20 : Int.max
                            ) { w in
                                out.append(w.bytes)
                                w.bytes.removeAll(keepingCapacity: true)
                            }
                        } catch {
                            w.reset()
                            var err = error
                            err.source = file
                            err.inPayload = located.inPayload
                            throw err
                        }
                    } else {
                        EventJSON.write(e, file: file, inPayload: located.inPayload, into: &w)
                    }
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
