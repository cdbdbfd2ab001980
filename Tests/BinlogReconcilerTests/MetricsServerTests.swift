import Dispatch
import Foundation
import Logging
import Synchronization
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The HTTP server over real TCP connections on loopback (port 0: the kernel picks a free port).
@Suite struct MetricsServerTests {
    struct Fixture {
        let metrics = ReconcilerMetrics()
        let health = HealthState(heartbeatPeriod: .seconds(10))
        let server: MetricsServer
        let port: Int

        init() throws {
            server = MetricsServer(metrics: metrics, health: health, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            try server.start(port: 0)
            port = try #require(server.boundPort)
        }

        func get(_ path: String) throws -> MetricsHTTPClient.Response {
            try MetricsHTTPClient.request("GET", path, port: port)
        }
    }

    @Test func bindsToLoopbackByDefaultOnAKernelChosenPort() throws {
        let f = try Fixture()
        defer { f.server.stop() }
        #expect(f.server.boundHost == "127.0.0.1")
        #expect(f.port > 0 && f.port < 65536)
        #if os(Linux)
        // The kernel's view: one listening socket on this port, on 127.0.0.1 (not 0.0.0.0).
        let port = String(f.port, radix: 16, uppercase: true)
        let padded = String(repeating: "0", count: 4 - port.count) + port
        let table = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)
        let listening = table.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[1].hasSuffix(":" + padded), fields[3] == "0A" else { return nil }
            return String(fields[1])
        }
        #expect(listening == ["0100007F:" + padded])
        #endif
    }

    @Test func metricsEndpointServesTheExposition() throws {
        let f = try Fixture()
        defer { f.server.stop() }
        f.metrics.setBinlogPosition(BinlogCoordinates(file: "mysql-bin.000007", position: 918))
        f.metrics.recordTransactionApplied(events: 4, rows: 2, applyLag: 0.2)
        f.metrics.recordReads(3, trigger: .notification)
        f.metrics.setOpenDivergences(1, watch: "stock", kind: .redisLower)
        let r = try f.get("/metrics")
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let s = samples(r.body)
        #expect(s["binlog_reconciler_binlog_file_info{file=\"mysql-bin.000007\"}"] == 1)
        #expect(s["binlog_reconciler_binlog_position_bytes"] == 918)
        #expect(s["binlog_reconciler_rows_applied_total"] == 2)
        #expect(s["binlog_reconciler_reads_total{trigger=\"notification\"}"] == 3)
        #expect(s["binlog_reconciler_divergences_open{watch=\"stock\",kind=\"redis_lower\"}"] == 1)
        #expect(r.body.contains("# TYPE binlog_reconciler_apply_lag_seconds histogram"))
        // A query string does not change the route; later updates show up in the next scrape.
        f.metrics.recordTransactionApplied(events: 1, rows: 5, applyLag: nil)
        let again = try f.get("/metrics?x=1")
        #expect(again.status == 200)
        #expect(samples(again.body)["binlog_reconciler_rows_applied_total"] == 7)
    }

    @Test func healthFlipsTo503AndBack() throws {
        let f = try Fixture()
        defer { f.server.stop() }
        f.health.recordBinlogEvent()
        var r = try f.get("/health")
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "application/json")
        #expect(r.body == #"{"status":"ok"}"#)

        // Stale stream: nothing for 10 heartbeat periods since start.
        let stale = HealthState(heartbeatPeriod: .seconds(1), now: .now - .seconds(10))
        let g = MetricsServer(metrics: f.metrics, health: stale, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        try g.start(port: 0)
        defer { g.stop() }
        let gPort = try #require(g.boundPort)
        r = try MetricsHTTPClient.request("GET", "/health", port: gPort)
        #expect(r.status == 503)
        #expect(r.body.hasPrefix(#"{"status":"unhealthy","reasons":["binlog stream stale: no event for "#))
        #expect(r.body.hasSuffix(#" (limit 3.0 s = 3 heartbeat periods)"]}"#))
        stale.recordBinlogEvent()
        r = try MetricsHTTPClient.request("GET", "/health", port: gPort)
        #expect(r.status == 200)

        // Redis down, then checkpoints failing, then both recover.
        f.health.setRedisReachable(false)
        r = try f.get("/health")
        #expect(r.status == 503)
        #expect(r.body == #"{"status":"unhealthy","reasons":["redis unreachable"]}"#)
        f.health.setCheckpointFailing(true)
        r = try f.get("/health")
        #expect(r.status == 503)
        #expect(r.body == #"{"status":"unhealthy","reasons":["redis unreachable","checkpoints failing"]}"#)
        f.health.setRedisReachable(true)
        r = try f.get("/health")
        #expect(r.body == #"{"status":"unhealthy","reasons":["checkpoints failing"]}"#)
        f.health.setCheckpointFailing(false)
        f.health.recordBinlogEvent()
        r = try f.get("/health")
        #expect(r.status == 200)
        #expect(r.body == #"{"status":"ok"}"#)
    }

    @Test func unknownPathsAre404AndOtherMethods405() throws {
        let f = try Fixture()
        defer { f.server.stop() }
        #expect(try f.get("/").status == 404)
        #expect(try f.get("/metricsx").status == 404)
        #expect(try MetricsHTTPClient.request("POST", "/nope", port: f.port).status == 404)
        for method in ["POST", "PUT", "DELETE", "HEAD"] {
            for path in ["/metrics", "/health"] {
                let r = try MetricsHTTPClient.request(method, path, port: f.port)
                #expect(r.status == 405, "\(method) \(path)")
                #expect(r.headers["allow"] == "GET")
            }
        }
        // A body sent with the request is read and discarded.
        let raw = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world"
        #expect(try MetricsHTTPClient.exchange(raw, port: f.port).map(\.status) == [405])
        // Garbage gets NIO's 400.
        let bad = try MetricsHTTPClient.exchange("NOT HTTP AT ALL\r\n\r\n", port: f.port)
        #expect(bad.map(\.status) == [400])
    }

    @Test func keepAliveAndPipelinedRequestsOnOneConnection() throws {
        let f = try Fixture()
        defer { f.server.stop() }
        let raw = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let responses = try MetricsHTTPClient.exchange(raw, port: f.port)
        #expect(responses.map(\.status) == [200, 404, 200])
        #expect(responses.last?.body.contains("binlog_reconciler_") == true)
    }

    @Test func stopClosesTheSocketAndIsIdempotentStartTwiceThrows() throws {
        let f = try Fixture()
        #expect(throws: MetricsServer.Failure.alreadyStarted) { try f.server.start(port: 0) }
        #expect(try f.get("/health").status == 200)
        f.server.stop()
        #expect(f.server.boundPort == nil)
        #expect(throws: MetricsHTTPClient.Failure.self) { try MetricsHTTPClient.request("GET", "/health", port: f.port) }
        f.server.stop()
        // It can be started again after a stop.
        try f.server.start(port: 0)
        let port = try #require(f.server.boundPort)
        #expect(try MetricsHTTPClient.request("GET", "/health", port: port).status == 200)
        f.server.stop()
    }

    @Test func bindingAnAddressInUseThrows() throws {
        let f = try Fixture()
        defer { f.server.stop() }
        let other = MetricsServer(metrics: f.metrics, health: f.health, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        #expect(throws: (any Error).self) { try other.start(port: f.port) }
        #expect(other.boundPort == nil)
    }

    @Test func scrapesWhileSeveralThreadsUpdate() throws {
        let f = try Fixture()
        defer { f.server.stop() }
        let writers = 4, perWriter = 20_000
        let scrapes = DispatchQueue(label: "scrapes")
        let group = DispatchGroup()
        let statuses = Mutex<[Int]>([])
        scrapes.async(group: group) {
            for _ in 0..<20 {
                let status = (try? f.get("/metrics").status) ?? -1
                statuses.withLock { $0.append(status) }
            }
        }
        DispatchQueue.concurrentPerform(iterations: writers) { t in
            for i in 0..<perWriter {
                f.metrics.recordReads(trigger: .sweep)
                f.metrics.setKeysTracked(i, watch: "w\(t)")
                f.health.recordBinlogEvent()
            }
        }
        group.wait()
        #expect(statuses.withLock { $0 } == Array(repeating: 200, count: 20))
        let s = samples(try f.get("/metrics").body)
        #expect(s["binlog_reconciler_reads_total{trigger=\"sweep\"}"] == Double(writers * perWriter))
        for t in 0..<writers { #expect(s["binlog_reconciler_keys_tracked{watch=\"w\(t)\"}"] == Double(perWriter - 1)) }
    }
}
