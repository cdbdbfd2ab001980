import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Raw-socket tools for the metrics server's limit tests: a client that writes a pipelined flood
/// without reading, a counter of the responses that come back, and the test process's resident
/// memory (the server runs in this process, so its buffers show up there).
enum MetricsFloodClient {
    enum Outcome: Equatable, CustomStringConvertible {
        /// Every byte went into the socket.
        case allSent
        /// No byte could be written for the stall period: the server stopped reading.
        case stalled
        /// The server closed the connection (EPIPE / ECONNRESET while sending).
        case closedByServer(errno: Int32)

        var description: String {
            switch self {
            case .allSent: "all sent"
            case .stalled: "stalled (server stopped reading)"
            case .closedByServer(let e): "closed by the server (errno \(e))"
            }
        }
    }

    struct FloodResult {
        var bytesSent: Int
        var outcome: Outcome
    }

    /// `count` copies of `GET path` on HTTP/1.1 keep-alive, back to back.
    static func pipelinedRequests(_ path: String, count: Int) -> [UInt8] {
        let one = Array("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        var all: [UInt8] = []
        all.reserveCapacity(one.count * count)
        for _ in 0..<count { all.append(contentsOf: one) }
        return all
    }

    /// Puts the socket in non-blocking mode.
    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// Writes `bytes` on a non-blocking socket without ever reading; stops when all are written, when
    /// nothing could be written for `stallAfter`, or when the server closes the connection.
    static func flood(fd: Int32, bytes: [UInt8], from start: Int = 0, stallAfter: Duration = .seconds(2)) -> FloodResult {
        setNonBlocking(fd)
        let clock = ContinuousClock()
        var sent = start
        var lastProgress = clock.now
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                lastProgress = clock.now
                continue
            }
            let e = errno
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) {
                if clock.now - lastProgress >= stallAfter { return FloodResult(bytesSent: sent, outcome: .stalled) }
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, 50)
                continue
            }
            return FloodResult(bytesSent: sent, outcome: .closedByServer(errno: e))
        }
        return FloodResult(bytesSent: sent, outcome: .allSent)
    }

    /// Writes what is left of `bytes` and reads responses at the same time until `expected`
    /// responses have arrived (or nothing moves for `timeout`); returns the statuses' counts.
    static func drain(fd: Int32, bytes: [UInt8], from start: Int, expected: Int, timeout: Duration = .seconds(20)) -> [Int: Int] {
        setNonBlocking(fd)
        let clock = ContinuousClock()
        var sent = start
        var counter = ResponseCounter()
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var lastProgress = clock.now
        while counter.total < expected && clock.now - lastProgress < timeout {
            var p = pollfd(fd: fd, events: Int16(POLLIN) | (sent < bytes.count ? Int16(POLLOUT) : 0), revents: 0)
            _ = poll(&p, 1, 100)
            if sent < bytes.count {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if n > 0 { sent += n; lastProgress = clock.now }
            }
            let r = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if r > 0 {
                counter.feed(buffer[0..<r])
                lastProgress = clock.now
            } else if r == 0 {
                break
            }
        }
        return counter.statuses
    }

    /// Counts HTTP responses in a byte stream (Content-Length framing, as the server sends).
    struct ResponseCounter {
        private var pending: [UInt8] = []
        private(set) var statuses: [Int: Int] = [:]
        var total: Int { statuses.values.reduce(0, +) }

        mutating func feed(_ bytes: ArraySlice<UInt8>) {
            pending.append(contentsOf: bytes)
            var i = 0
            let consumed: Int = pending.withUnsafeBufferPointer { p in
                while true {
                    guard let headEnd = Self.headEnd(p, from: i) else { return i }
                    // "HTTP/1.1 200 ..."
                    guard headEnd - i > 12 else { return i }
                    let status = Int(p[i + 9] - 48) * 100 + Int(p[i + 10] - 48) * 10 + Int(p[i + 11] - 48)
                    let length = Self.contentLength(p, from: i, to: headEnd) ?? 0
                    let next = headEnd + 4 + length
                    guard next <= p.count else { return i }
                    statuses[status, default: 0] += 1
                    i = next
                }
            }
            pending.removeFirst(consumed)
        }

        private static func headEnd(_ p: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
            var j = start
            while j + 3 < p.count {
                if p[j] == 13 && p[j + 1] == 10 && p[j + 2] == 13 && p[j + 3] == 10 { return j }
                j += 1
            }
            return nil
        }

        private static func contentLength(_ p: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Int? {
            let head = String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self).lowercased()
            guard let r = head.range(of: "content-length:") else { return nil }
            let digits = head[r.upperBound...].drop(while: { $0 == " " }).prefix(while: \.isNumber)
            return Int(digits)
        }
    }
}

/// The test process's resident set size, and its peak over a stretch of time.
final class ResidentMemorySampler: @unchecked Sendable {
    private let stop = Atomic<Bool>(false)
    private let peak = Atomic<Int>(0)
    private let done = DispatchSemaphore(value: 0)

    /// Bytes resident now (second field of /proc/self/statm, in pages).
    static func residentBytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = s.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Starts sampling every 20 ms on its own thread.
    init() {
        peak.store(Self.residentBytes(), ordering: .relaxed)
        let t = Thread { [self] in
            while !stop.load(ordering: .relaxed) {
                let now = Self.residentBytes()
                if now > peak.load(ordering: .relaxed) { peak.store(now, ordering: .relaxed) }
                usleep(20_000)
            }
            done.signal()
        }
        t.start()
    }

    /// Stops sampling; returns the highest RSS seen.
    func finish() -> Int {
        stop.store(true, ordering: .relaxed)
        done.wait()
        return max(peak.load(ordering: .relaxed), Self.residentBytes())
    }
}

/// Polls `/health` on fresh connections from another thread while a test floods the server.
final class HealthProbe: @unchecked Sendable {
    private let stop = Atomic<Bool>(false)
    private let results = Mutex<[(status: Int, seconds: Double)]>([])
    private let done = DispatchSemaphore(value: 0)

    init(port: Int, every: Duration = .milliseconds(100)) {
        let t = Thread { [self] in
            let clock = ContinuousClock()
            while !stop.load(ordering: .relaxed) {
                let start = clock.now
                let status = (try? MetricsHTTPClient.request("GET", "/health", port: port).status) ?? -1
                let elapsed = clock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                results.withLock { $0.append((status, seconds)) }
                Thread.sleep(forTimeInterval: Double(every.components.attoseconds) / 1e18 + Double(every.components.seconds))
            }
            done.signal()
        }
        t.start()
    }

    /// Stops probing; returns each probe's status (-1 when it failed) and latency.
    func finish() -> [(status: Int, seconds: Double)] {
        stop.store(true, ordering: .relaxed)
        done.wait()
        return results.withLock { $0 }
    }
}
