import Foundation
import Testing

@testable import BinlogReconciler
@testable import RedisClient

extension DaemonSentinelTests {
    /// `report_stream` in Sentinel mode across a `SENTINEL FAILOVER`: the record written before
    /// (replicated) and the one written after are both in the stream on the new primary; none
    /// was dropped on the demoted one (which answers `READONLY`).
    @Test func theReportStreamFollowsThePrimary() throws {
        guard DaemonCheckTests.serversUp else { Issue.record("MariaDB and Redis must run (scripts/test starts them)"); return }
        let rows = 500
        let (db, prefix) = try Self.setUp(rows: rows)
        let stream = "\(prefix):reports"
        defer {
            Self.tearDown(db, prefix, rows: rows)
            _ = try? Env.primary().command(["DEL", stream])
        }
        let config = try Self.config(db: db, prefix: prefix)
        // [reconcile] is the last table of the file.
        try (try String(contentsOfFile: config, encoding: .utf8) + "\nreport_stream = \"\(stream)\"\n").write(toFile: config, atomically: true, encoding: .utf8)
        let run = try RunningDaemon(config: config, name: "sentinel-stream-\(db)")
        defer { run.stop() }
        func records(on c: RedisConnection) -> [String] {
            DaemonClusterTests.streamRecords(try? c.command(["XRANGE", stream, "-", "+"]))
        }
        func diverge(_ id: Int, count: Int) throws {
            _ = try Env.primary().command(["SET", "\(prefix):\(id):stock", "0"])
            #expect(DaemonClusterTests.waitUntil(20) { run.records.filter { $0["event"] as? String == "divergence" }.count >= count }, "\(run.log.suffix(3000))")
        }
        try diverge(17, count: 1)
        #expect(DaemonClusterTests.waitUntil(10) { (try? records(on: Env.primary()).count) == 1 }, "\(run.log.suffix(3000))")
        _ = try Self.failOver()
        try diverge(18, count: 2)
        let lines = run.report.split(separator: "\n").map(String.init)
        let primary = try Env.primary()
        #expect(DaemonClusterTests.waitUntil(15) { Set(records(on: primary)).isSuperset(of: lines) }, "\(records(on: primary)) \(run.log.suffix(3000))")
        #expect(!run.log.contains("records dropped from the stream"), "\(run.log.suffix(3000))")
    }
}
