import Foundation
import Logging
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient
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
        #expect(probes.allSatisfy { $0.status == 200 && $0.seconds < 2 }, "\(probes)")
        #expect(try MetricsHTTPClient.request("GET", "/health", port: port).status == 200)
        // The flooding connection itself was closed (more than 16 unanswered requests), after at most
        // the answers to the requests it was allowed to have in flight.
        let end = Self.readUntilClosed(fd)
        #expect(end.closed, "the flooding connection is still open")
        #expect(end.responses <= server.limits.maxPipelinedRequests + 1)
    }

    /// The same flood with the pipelining cap out of the way: backpressure alone bounds memory (the
    /// server stops reading while its answers cannot be written), and once the client reads, every
    /// one of the 100,000 requests is answered, in order, with 200.
    @Test func backpressureAloneBoundsMemoryAndLosesNoRequest() throws {
        var limits = MetricsServer.Limits()
        limits.maxPipelinedRequests = 10_000_000
        let f = try Self.server(limits)
        defer { f.server.stop() }
        let before = ResidentMemorySampler.residentBytes()
        let sampler = ResidentMemorySampler()
        let probe = HealthProbe(port: f.port)
        let fd = try MetricsHTTPClient.openConnection(port: f.port)
        defer { close(fd) }
        let flood = MetricsFloodClient.pipelinedRequests("/metrics", count: Self.floodRequests)
        let result = MetricsFloodClient.flood(fd: fd, bytes: flood)
        Thread.sleep(forTimeInterval: 2)
        let probes = probe.finish()
        let peak = sampler.finish()
        let growth = peak - before
        print("backpressure flood: \(result.bytesSent) of \(flood.count) bytes sent, \(result.outcome); RSS growth \(growth / Self.mebibyte) MB; \(probes.count) health probes, slowest \(probes.map(\.seconds).max() ?? 0) s")
        #expect(growth < 100 * Self.mebibyte, "RSS grew by \(growth / Self.mebibyte) MB")
        #expect(probes.count >= 5)
        #expect(probes.allSatisfy { $0.status == 200 && $0.seconds < 2 }, "\(probes)")
        // Now read: the rest is sent and everything is answered.
        let statuses = MetricsFloodClient.drain(fd: fd, bytes: flood, from: result.bytesSent, expected: Self.floodRequests)
        #expect(statuses == [200: Self.floodRequests])
    }

    /// A client that sends and never reads is disconnected once nothing moves for the idle timeout.
    @Test func aClientThatStopsReadingIsDisconnected() throws {
        var limits = MetricsServer.Limits()
        limits.maxPipelinedRequests = 10_000_000
        limits.idleTimeout = .milliseconds(500)
        let f = try Self.server(limits)
        defer { f.server.stop() }
        let fd = try MetricsHTTPClient.openConnection(port: f.port)
        defer { close(fd) }
        let flood = MetricsFloodClient.pipelinedRequests("/metrics", count: Self.floodRequests)
        _ = MetricsFloodClient.flood(fd: fd, bytes: flood, stallAfter: .seconds(1))
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try Self.waitUntil(.seconds(5)) { f.server.connectionCounts?.open == 0 }, "still open: \(String(describing: f.server.connectionCounts))")
        #expect(try MetricsHTTPClient.request("GET", "/health", port: f.port).status == 200)
    }

    /// Idle keep-alive connections and requests sent too slowly are closed after the idle timeout;
    /// a connection that keeps asking stays open past it.
    @Test func idleAndSlowConnectionsAreClosed() throws {
        var limits = MetricsServer.Limits()
        limits.idleTimeout = .milliseconds(500)
        let f = try Self.server(limits)
        defer { f.server.stop() }
        let clock = ContinuousClock()

        let idle = try MetricsHTTPClient.openConnection(port: f.port)
        defer { close(idle) }
        var start = clock.now
        #expect(Self.readUntilClosed(idle).closed)
        let idleClosedAfter = clock.now - start

        // A request head that never ends (slowloris): one byte now and then, slower than the timeout allows in total.
        let slow = try MetricsHTTPClient.openConnection(port: f.port)
        defer { close(slow) }
        start = clock.now
        var slowClosed = false
        for byte in Array("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8) {
            if send(slow, [byte], 1, Int32(MSG_NOSIGNAL)) != 1 { slowClosed = true; break }
            Thread.sleep(forTimeInterval: 0.1)
            if clock.now - start > .seconds(5) { break }
        }
        if !slowClosed { slowClosed = Self.readUntilClosed(slow).closed }
        let slowClosedAfter = clock.now - start
        #expect(slowClosed)

        // Keep-alive requests every 200 ms for 1.5 s on one connection: all answered.
        let busy = try MetricsHTTPClient.openConnection(port: f.port)
        defer { close(busy) }
        for _ in 0..<8 {
            let status = try Self.keepAliveGet("/health", fd: busy)
            #expect(status == 200)
            Thread.sleep(forTimeInterval: 0.2)
        }
        print("idle connection closed after \(idleClosedAfter), slow request after \(slowClosedAfter) (timeout 0.5 s)")
        #expect(idleClosedAfter < .seconds(3))
        #expect(slowClosedAfter < .seconds(3))
    }

    /// Over the connection cap a new connection is closed at once; the open ones keep working, and a
    /// freed slot is usable again.
    @Test func connectionsOverTheCapAreClosedWhileOthersWork() throws {
        var limits = MetricsServer.Limits()
        limits.maxConnections = 4
        let f = try Self.server(limits)
        defer { f.server.stop() }
        #expect(f.server.effectiveMaxConnections == 4)
        var open: [Int32] = []
        defer { for fd in open { close(fd) } }
        for _ in 0..<4 {
            let fd = try MetricsHTTPClient.openConnection(port: f.port)
            open.append(fd)
            #expect(try Self.keepAliveGet("/health", fd: fd) == 200)
        }
        for _ in 0..<3 {
            let extra = try MetricsHTTPClient.openConnection(port: f.port)
            _ = send(extra, Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 35, Int32(MSG_NOSIGNAL))
            let end = Self.readUntilClosed(extra)
            close(extra)
            #expect(end.closed && end.responses == 0)
        }
        #expect(f.server.connectionCounts?.rejected == 3)
        for fd in open { #expect(try Self.keepAliveGet("/health", fd: fd) == 200) }
        #expect(try Self.keepAliveGet("/metrics", fd: open[0]) == 200)
        close(open.removeLast())
        #expect(try Self.waitUntil(.seconds(5)) { f.server.connectionCounts?.open == 3 })
        #expect(try MetricsHTTPClient.request("GET", "/health", port: f.port).status == 200)
    }

    /// A head over the header cap gets 400 and a body over the body cap 413; both close the connection.
    @Test func oversizedRequestsAreRefused() throws {
        var limits = MetricsServer.Limits()
        limits.maxHeaderBytes = 1024
        limits.maxBodyBytes = 100
        let f = try Self.server(limits)
        defer { f.server.stop() }
        let big = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n"
        #expect(try MetricsHTTPClient.exchange(big, port: f.port).map(\.status) == [400])
        let longURI = "GET /metrics?\(String(repeating: "q", count: 2000)) HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(try MetricsHTTPClient.exchange(longURI, port: f.port).map(\.status) == [400])
        let fits = "GET /metrics?\(String(repeating: "q", count: 500)) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        #expect(try MetricsHTTPClient.exchange(fits, port: f.port).map(\.status) == [200])
        let body = "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n\(String(repeating: "b", count: 1000))"
            + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(try MetricsHTTPClient.exchange(body, port: f.port).map(\.status) == [413])
        let smallBody = "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nConnection: close\r\n\r\n\(String(repeating: "b", count: 50))"
        #expect(try MetricsHTTPClient.exchange(smallBody, port: f.port).map(\.status) == [405])
    }

    /// Half of RLIMIT_NOFILE (at least 64 descriptors) stays for the rest of the daemon.
    @Test func connectionCapStaysUnderTheFileDescriptorLimit() throws {
        #expect(MetricsServer.Limits.fileDescriptorCeiling(softLimit: 1024) == (512, 512))
        #expect(MetricsServer.Limits.fileDescriptorCeiling(softLimit: 100) == (36, 64))
        #expect(MetricsServer.Limits.fileDescriptorCeiling(softLimit: 20) == (1, 64))
        #expect(MetricsServer.Limits.fileDescriptorCeiling(softLimit: nil).ceiling == nil)
        var limits = MetricsServer.Limits()
        limits.maxConnections = 1_000_000
        let f = try Self.server(limits)
        defer { f.server.stop() }
        let soft = MetricsServer.Limits.openFileSoftLimit()
        let expected = MetricsServer.Limits.fileDescriptorCeiling(softLimit: soft).ceiling ?? 1_000_000
        #expect(f.server.effectiveMaxConnections == min(expected, 1_000_000))
        if let soft { #expect(try #require(f.server.effectiveMaxConnections) <= soft / 2) }
    }

    // MARK: - Helpers

    struct Fixture {
        let server: MetricsServer
        let port: Int
    }

    static func server(_ limits: MetricsServer.Limits) throws -> Fixture {
        let health = HealthState(heartbeatPeriod: .seconds(10))
        health.recordBinlogEvent()
        let server = MetricsServer(metrics: ReconcilerMetrics(), health: health, logger: quiet, limits: limits)
        try server.start(port: 0)
        return Fixture(server: server, port: try #require(server.boundPort))
    }

    /// Reads (blocking, 5 s receive timeout) until EOF or a reset; counts the responses seen.
    static func readUntilClosed(_ fd: Int32) -> (closed: Bool, responses: Int) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var counter = MetricsFloodClient.ResponseCounter()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { counter.feed(buffer[0..<n]); continue }
            if n == 0 { return (true, counter.total) }
            return (errno == ECONNRESET, counter.total)
        }
    }

    /// One keep-alive GET on an open connection; returns its status.
    static func keepAliveGet(_ path: String, fd: Int32) throws -> Int {
        let raw = Array("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        guard send(fd, raw, raw.count, Int32(MSG_NOSIGNAL)) == raw.count else { throw MetricsHTTPClient.Failure(description: "send: errno \(errno)") }
        var counter = MetricsFloodClient.ResponseCounter()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while counter.total == 0 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw MetricsHTTPClient.Failure(description: "recv: \(n), errno \(errno)") }
            counter.feed(buffer[0..<n])
        }
        return counter.statuses.keys.first!
    }

    static func waitUntil(_ timeout: Duration, _ condition: () throws -> Bool) throws -> Bool {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < timeout {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }
}
