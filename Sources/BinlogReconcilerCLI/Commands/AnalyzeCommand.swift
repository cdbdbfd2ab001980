import ArgumentParser
import BinlogParser
import BinlogReconciler

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Replay binlog files and print the final value of every key of one table.",
        discussion: """
            Prints {"key":…, "value":…, "file":…, "pos":…} per key that exists at the end, sorted
            by key (numbers numerically); file/pos is the end of the commit of its last change.
            With --timeline KEY prints each committed change of that key instead.
            Only committed transactions are applied; one left open at the end is reported on stderr.

            Examples:
              binlog-reconciler analyze mysql-bin.000001 mysql-bin.000002 --table shop.products --key id --value stock
              binlog-reconciler analyze relay.000007 --table shop.products --key id --value stock --until-time "2026-11-11 00:00:05"
              binlog-reconciler analyze old.bin --table shop.products --columns id,name,stock --key id --value stock
            """)

    @Argument(help: "Binlog files, replayed in the order given.")
    var files: [String]

    @Option(help: "The table, as db.table.")
    var table: String

    @Option(help: "Key column(s), comma-separated for a composite key (names, or @N for the N-th column).")
    var key: String

    @Option(help: "The value column (name, or @N).")
    var value: String

    @Option(help: "Column names in table order, for binlogs without column names (binlog_row_metadata=MINIMAL/NO_LOG).")
    var columns: String?

    @Option(help: "Print every committed change of this key (composite: a,b) instead of the final state.")
    var timeline: String?

    @Option(name: .customLong("until-pos"), help: "Stop after the last transaction ending at or before FILE:POS.")
    var untilPos: String?

    @Option(name: .customLong("until-gtid"), help: "Stop after the transaction with this GTID.")
    var untilGTID: String?

    @Option(name: .customLong("until-time"), help: "Stop after the last transaction that started at or before this UTC time (\"YYYY-MM-DD HH:MM:SS\").")
    var untilTime: String?

    @Flag(name: .customLong("no-verify-checksum"), help: "Do not verify CRC32 event checksums.")
    var noVerifyChecksum = false

    @OptionGroup var limits: DecodingLimitOptions

    func validate() throws {
        if [untilPos, untilGTID, untilTime].compactMap({ $0 }).count > 1 {
            throw ValidationError("give at most one of --until-pos, --until-gtid, --until-time")
        }
        if let p = untilPos, parsePosition(p) == nil { throw ValidationError("--until-pos wants FILE:POS, got \(p)") }
        if let t = untilTime, parseUTCTime(t) == nil { throw ValidationError("--until-time wants \"YYYY-MM-DD HH:MM:SS\" (UTC), got \(t)") }
    }

    func run() throws {
        var options = BinlogAnalyzer.Options(
            table: table, keyColumns: key.split(separator: ",").map { String($0).trimmed }, valueColumn: value)
        options.columnNames = columns.map { $0.split(separator: ",").map { String($0).trimmed } }
        options.timelineKey = timeline
        options.verifyChecksums = !noVerifyChecksum
        options.limits = try limits.decodingLimits()
        if let p = untilPos, let (f, pos) = parsePosition(p) { options.stop = .position(file: f, pos: pos) }
        if let g = untilGTID { options.stop = .gtid(g) }
        if let t = untilTime, let secs = parseUTCTime(t) { options.stop = .time(secs) }

        var analyzer = BinlogAnalyzer(options: options)
        let started = monotonicSeconds()
        let showProgress = standardErrorIsTerminal
        var lastProgress = started
        for file in files {
            do throws(BinlogDecodingError) {
                try analyzer.replay(path: file) { read, total in
                    guard showProgress else { return }
                    let now = monotonicSeconds()
                    if now - lastProgress > 0.5 {
                        lastProgress = now
                        let pct = total > 0 ? Double(read) * 100 / Double(total) : 0
                        printError("\u{1b}[2K\rbinlog-reconciler: \(file): \(Int(pct))% (\(read >> 20) of \(total >> 20) MiB)", newline: false)
                    }
                }
            } catch {
                if showProgress { printError("") }
                printError("binlog-reconciler: " + error.description)
                throw ExitCode(1)
            }
            if analyzer.isStopped { break }
        }
        if showProgress { printError("\u{1b}[2K\r", newline: false) }
        analyzer.finish()
        let elapsed = monotonicSeconds() - started

        let out = OutputSink.standardOutput()
        var w = JSONWriter()
        if timeline != nil {
            for c in analyzer.timeline {
                w.beginObject()
                w.field("key", timeline ?? "")
                w.field("file", c.file)
                w.field("pos", c.pos)
                w.key("gtid")
                if let g = c.gtid { w.string(g) } else { w.null() }
                w.field("timestamp", c.timestamp)
                w.field("time", MySQLDateTime(unixSeconds: Int64(c.timestamp), microseconds: 0, precision: 0).description)
                w.key("before")
                if let b = c.before { EventJSON.writeValue(b, into: &w) } else { w.null() }
                w.key("after")
                if let a = c.after { EventJSON.writeValue(a, into: &w) } else { w.null() }
                w.endObject()
                out.writeLine(&w)
            }
        } else {
            for (k, entry) in analyzer.sortedState() {
                w.beginObject()
                w.key("key")
                k.writeJSON(into: &w)
                w.key("value")
                EventJSON.writeValue(entry.value, into: &w)
                w.field("file", analyzer.files[entry.fileIndex])
                w.field("pos", entry.pos)
                w.endObject()
                out.writeLine(&w)
            }
        }
        out.flush()

        let s = analyzer.summary
        let keysAtEnd = analyzer.keyCount
        var line = "binlog-reconciler analyze: \(s.events) events, \(s.transactions) transactions"
        line += ", \(s.rows) rows of \(table), \(s.keysChanged) keys changed, \(keysAtEnd) keys at the end"
        if let a = s.firstTimestamp, let b = s.lastTimestamp {
            line += "; time span \(MySQLDateTime(unixSeconds: Int64(a), microseconds: 0, precision: 0)) .. \(MySQLDateTime(unixSeconds: Int64(b), microseconds: 0, precision: 0)) UTC"
        }
        let mb: Double = Double(s.bytes) / 1_000_000
        let secs: Double = max(elapsed, 1e-9)
        let rate: Double = mb / secs
        let eventRate: Double = Double(s.events) / secs
        line += "; \(fmt(elapsed, 2)) s, \(fmt(rate, 1)) MB/s, \(Int(eventRate)) events/s, \(Int(Double(s.rows) / secs)) rows/s"
        printError(line)
        if s.stoppedEarly { printError("binlog-reconciler analyze: stopped at the requested --until point") }
        if s.openTransactionAtEnd {
            printError("binlog-reconciler analyze: a transaction was still open at the end of the last file; its changes were not applied")
        }
        for w in analyzer.warnings { printError("binlog-reconciler analyze: warning: \(w)") }
        let prepared = analyzer.preparedAtEnd
        if !prepared.isEmpty {
            printError("binlog-reconciler analyze: \(prepared.count) XA transaction(s) prepared and not committed in these files (their changes are not applied): \(prepared.prefix(5).joined(separator: " "))\(prepared.count > 5 ? " …" : "")")
        }
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

func parsePosition(_ s: String) -> (String, UInt64)? {
    guard let colon = s.lastIndex(of: ":"), let pos = UInt64(s[s.index(after: colon)...]) else { return nil }
    return (String(s[..<colon]), pos)
}

/// "YYYY-MM-DD HH:MM:SS" in UTC to Unix seconds.
func parseUTCTime(_ s: String) -> UInt32? {
    let parts = s.split(whereSeparator: { $0 == " " || $0 == "T" })
    guard parts.count == 2 else { return nil }
    let d = parts[0].split(separator: "-").compactMap { Int($0) }
    let t = parts[1].split(separator: ":").compactMap { Int($0) }
    guard d.count == 3, t.count == 3 else { return nil }
    let dt = MySQLDateTime(year: d[0], month: d[1], day: d[2], hour: t[0], minute: t[1], second: t[2], microseconds: 0, precision: 0)
    let v = dt.unixSeconds
    guard v >= 0, v <= Int64(UInt32.max) else { return nil }
    return UInt32(v)
}

func fmt(_ v: Double, _ digits: Int) -> String {
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (v * p).rounded() / p
    return String(r)
}
