import Foundation
import Logging
import Testing
@testable import BinlogReconciler
#if canImport(Glibc)
import Glibc
#endif

/// The metrics server under abuse, over real loopback sockets: pipelined floods, idle and slow
/// connections, too many connections, oversized requests. Serialized: the flood tests measure this
/// process's resident memory, which a parallel flood would blur.
@Suite(.serialized) struct MetricsServerLimitsTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let floodRequests = 100_000
    static let mebibyte = 1024 * 1024

    /// 100,000 pipelined `GET /metrics` on one socket, never read: the server must not buffer the
    /// answers (the old server grew by about 1 GB here), and `/health` must keep answering on
    /// other connections meanwhile and afterwards.
    @Test func pipelinedFloodKeepsMemoryBoundedAndHealthAnswering() throws {
        let metrics = ReconcilerMetrics()
        let health = HealthState(heartbeatPeriod: .seconds(10))
        health.recordBinlogEvent()
        let server = MetricsServer(metrics: metrics, health: health, logger: Self.quiet)
        try server.start(port: 0)
        defer { server.stop() }
        let port = try #require(server.boundPort)
        let before = ResidentMemorySampler.residentBytes()
        let sampler = ResidentMemorySampler()
        let probe = HealthProbe(port: port)

        let fd = try MetricsHTTPClient.openConnection(port: port)
        defer { close(fd) }
        let flood = MetricsFloodClient.pipelinedRequests("/metrics", count: Self.floodRequests)
        let result = MetricsFloodClient.flood(fd: fd, bytes: flood)
        // Let the server work through whatever it accepted: until RSS has not moved by 1 MB for 3 s (60 s at most).
        let clock = ContinuousClock()
        let settleStart = clock.now
        var last = ResidentMemorySampler.residentBytes(), stableSince = clock.now
        while clock.now - stableSince < .seconds(3) && clock.now - settleStart < .seconds(60) {
            Thread.sleep(forTimeInterval: 0.25)
            let now = ResidentMemorySampler.residentBytes()
            if abs(now - last) > Self.mebibyte { last = now; stableSince = clock.now }
        }
        let probes = probe.finish()
        let peak = sampler.finish()
        let growth = peak - before
        print("flood: \(result.bytesSent) of \(flood.count) bytes sent, \(result.outcome); RSS \(before / Self.mebibyte) MB -> peak \(peak / Self.mebibyte) MB (growth \(growth / Self.mebibyte) MB); \(probes.count) health probes, slowest \(probes.map(\.seconds).max() ?? 0) s")
        #expect(growth < 100 * Self.mebibyte, "RSS grew by \(growth / Self.mebibyte) MB")
        #expect(probes.count >= 5)
        #expect(probes.allSatisfy { $0.status == 200 }, "\(probes.map(\.status))")
        #expect(try MetricsHTTPClient.request("GET", "/health", port: port).status == 200)
    }
}
