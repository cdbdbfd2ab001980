import ArgumentParser
import BinlogFold
import BinlogParser
import BinlogReconciler

/// Hidden benchmark: stream a source's binlog from the start of one file to its current end
/// (NON_BLOCK), decode every event and every row, print one JSON line. Used by
/// `scripts/bench-replication`.
struct BenchReplicationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replication",
        abstract: "Time a NON_BLOCK binlog dump decoded with BinlogParser (benchmark).",
        discussion: """
            Prints {"events":…, "rows":…, "bytes":…, "seconds":…} on stdout. The password comes from
            the environment variable named by --password-env (default BR_MYSQL_PASSWORD) or from
            --password-file, never from the command line.
            """)

    @Option(help: "Source host.")
    var host = "127.0.0.1"

    @Option(help: "Source port.")
    var port: Int

    @Option(help: "User with REPLICATION SLAVE.")
    var user = "reconciler"

    @Option(name: .customLong("password-env"), help: "Environment variable holding the password.")
    var passwordEnv = "BR_MYSQL_PASSWORD"

    @Option(name: .customLong("password-file"), help: "File whose first line is the password.")
    var passwordFile: String?

    @Option(help: "First binlog file to stream.")
    var file: String

    @Option(help: "Start position in --file.")
    var position: UInt64 = 4

    @Option(name: .customLong("server-id"), help: "Replica server id to announce (unique on the source).")
    var serverID: UInt32 = 4_200_042

    @Flag(name: .customLong("no-rows"), help: "Decode events but not row images.")
    var noRows = false

    @Option(help: ArgumentHelp(
        "Instead of decoding every column, do what the sidecar does: apply the events to a shadow map of one watch (db.table:key:value, e.g. shop.products:id:stock).",
        valueName: "watch"))
    var shadow: String?

    @Flag(name: .customLong("libmariadb-fetch"), help: "Read the packets with mariadb_rpl_fetch instead of from the socket directly.")
    var libmariadbFetch = false

    @Flag(name: .customLong("no-fetch-thread"), help: "Fetch on the decoding thread (ReplicationStream.Options.fetchAhead off).")
    var noFetchThread = false

    func run() throws {
        let password: SourcePassword
        if let passwordFile {
            password = try SourcePassword.fromFile(passwordFile)
        } else if let p = SourcePassword.fromEnvironment(passwordEnv) {
            password = p
        } else {
            throw ValidationError("no password: set \(passwordEnv) or give --password-file")
        }
        let config = SourceConfiguration(
            host: host, port: port, user: user, password: password, tls: .init(mode: .disabled),
            replicaServerID: serverID, heartbeatPeriod: .seconds(1))
        // --shadow: the daemon's tail path (TransactionAssembler decoding only the watched columns
        // into a ShadowState), column names from the table map (binlog_row_metadata=FULL).
        var assembler: TransactionAssembler?
        var state = ShadowState(watchCount: 1, position: BinlogCoordinates(file: file, position: position))
        if let shadow {
            let parts = shadow.split(separator: ":").map(String.init)
            let table = parts.first?.split(separator: ".").map(String.init) ?? []
            guard parts.count == 3, table.count == 2 else { throw ValidationError("--shadow wants db.table:key:value") }
            let watch = WatchConfiguration(
                name: "bench", database: table[0], table: table[1], keyColumns: [parts[1]], valueColumn: parts[2],
                target: .string(try RedisKeyTemplate("bench:{\(parts[1])}", keyColumns: [parts[1]])))
            assembler = TransactionAssembler(watches: [watch]) { _, _ in nil }
        }
        var changes = 0
        let clock = ContinuousClock()
        let started = clock.now
        let stream = try ReplicationStream(
            configuration: config, start: .filePosition(file: file, position: position), options: .init(stopAtEnd: true, fetchAhead: !noFetchThread, readsSocketDirectly: !libmariadbFetch))
        var decoder = BinlogEventDecoder()
        decoder.checksumBeforeFormatDescription = stream.checksumAlgorithm
        var events = 0
        var rows = 0
        var rowsEvents = 0
        // Every column of every row, through the allocation-free reader (integers as they are,
        // other types as a ColumnValue each): one selection of all columns, rebuilt when the
        // column count changes. Tables of more than 64 columns go through `rows()`.
        var all = RowSelection()
        let noRows = self.noRows  // read once, not through the property wrapper per event
        if var assembler {
            // The daemon's loop: the one event source (each event decoded once and located,
            // payloads expanded) into the fold.
            var source = BinlogEventSource(provider: StreamRawEvents(stream: stream), decoder: decoder)
            while let e = try source.next() {
                if e.inPayload == nil { events += 1 }
                if case .rows = e.event.body { rowsEvents += 1 }
                if let tx = try assembler.consume(e.event, end: BinlogCoordinates(file: e.file, position: e.end), state: &state) {
                    changes += tx.changes.count
                }
            }
        }
        while assembler == nil, let raw = try stream.next() {
            events += 1
            let e = try decoder.decode(raw, checksumVerified: stream.lastEventChecksumVerified)
            if case .rows(let r) = e.body {
                rowsEvents += 1
                if noRows { continue }
                if all.columns.count != r.columnCount, let s = RowSelection(columns: Array(0..<r.columnCount)) { all = s }
                if all.columns.count == r.columnCount {
                    try r.forEachRow(into: &all) { _ in rows += 1 }
                } else {
                    rows += try r.rows().count
                }
            }
        }
        let elapsed = clock.now - started
        let (s, atto) = elapsed.components
        let seconds = Double(s) + Double(atto) / 1e18
        var w = JSONWriter()
        w.beginObject()
        let tool = shadow != nil ? "swift-stream+shadow" : "swift-stream+parser"
        var variant: [String] = []
        if noFetchThread { variant.append("no fetch thread") }
        if libmariadbFetch { variant.append("mariadb_rpl_fetch") }
        w.field("tool", variant.isEmpty ? tool : tool + " (" + variant.joined(separator: ", ") + ")")
        w.field("events", events)
        w.field("rows_events", rowsEvents)
        w.field("rows", rows)
        if shadow != nil {
            w.field("row_changes_applied", changes)
            w.field("shadow_keys", state.maps[0].count)
        }
        w.field("bytes", stream.byteCount)
        w.key("seconds")
        w.double((seconds * 1000).rounded() / 1000)
        w.field("end", stream.resumeCoordinates.map { "\($0)" } ?? "")
        w.endObject()
        let out = OutputSink.standardOutput()
        out.writeLine(&w)
        out.flush()
    }
}
