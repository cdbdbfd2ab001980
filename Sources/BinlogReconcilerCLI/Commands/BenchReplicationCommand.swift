import ArgumentParser
import BinlogParser
import BinlogReconciler

/// Hidden benchmark: stream a source's binlog from the start of one file to its current end
/// (NON_BLOCK), decode every event and every row, print one JSON line. Used by
/// `scripts/bench-replication`.
struct BenchReplicationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-replication",
        abstract: "Time a NON_BLOCK binlog dump decoded with BinlogParser (benchmark).",
        discussion: """
            Prints {"events":…, "rows":…, "bytes":…, "seconds":…} on stdout. The password comes from
            the environment variable named by --password-env (default BR_MYSQL_PASSWORD) or from
            --password-file, never from the command line.
            """,
        shouldDisplay: false)

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
        let clock = ContinuousClock()
        let started = clock.now
        let stream = try ReplicationStream(
            configuration: config, start: .filePosition(file: file, position: position), options: .init(stopAtEnd: true))
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
        while let raw = try stream.next() {
            events += 1
            let e = try decoder.decode(raw)
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
        w.field("tool", "swift-stream+parser")
        w.field("events", events)
        w.field("rows_events", rowsEvents)
        w.field("rows", rows)
        w.field("bytes", stream.byteCount)
        w.key("seconds")
        w.double((seconds * 1000).rounded() / 1000)
        w.field("end", stream.resumeCoordinates.map { "\($0)" } ?? "")
        w.endObject()
        let out = OutputSink.standardOutput
        out.writeLine(&w)
        out.flush()
    }
}
