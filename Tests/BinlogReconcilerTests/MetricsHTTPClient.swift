import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny blocking HTTP/1.1 client over a POSIX TCP socket, for the metrics server tests: it sends
/// raw request bytes and parses the responses (status line, headers, Content-Length body), so a test
/// can use any method, pipeline requests or watch the connection close.
struct MetricsHTTPClient {
    struct Response {
        var status: Int
        /// Lower-cased names.
        var headers: [String: String]
        var body: String
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// One request on a fresh connection with `Connection: close`.
    static func request(_ method: String, _ path: String, port: Int, host: String = "127.0.0.1") throws -> Response {
        let raw = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        let responses = try exchange(raw, port: port, host: host)
        guard responses.count == 1 else { throw Failure(description: "expected 1 response, got \(responses.count)") }
        return responses[0]
    }

    /// Sends `raw` on one connection and reads until the server closes it; returns every response.
    static func exchange(_ raw: String, port: Int, host: String = "127.0.0.1") throws -> [Response] {
        let fd = try openConnection(port: port, host: host)
        defer { close(fd) }
        var bytes = Array(raw.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, 0) }
            guard n > 0 else { throw Failure(description: "send: errno \(errno)") }
            sent += n
        }
        bytes.removeAll()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw Failure(description: "recv: errno \(errno) (timeout?)") }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return try parse(bytes)
    }

    /// Connects to `host:port` (IPv4) with a 5 s receive timeout; throws with errno on refusal.
    static func openConnection(port: Int, host: String = "127.0.0.1") throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port)).bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            throw Failure(description: "bad IPv4 address \(host)")
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw Failure(description: "connect \(host):\(port): errno \(e)")
        }
        return fd
    }

    /// Splits a byte stream into responses (Content-Length framing only, which is what the server sends).
    static func parse(_ bytes: [UInt8]) throws -> [Response] {
        var responses: [Response] = []
        var i = 0
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while i < bytes.count {
            guard let headEnd = find(separator, in: bytes, from: i) else {
                throw Failure(description: "incomplete head: \(String(decoding: bytes[i...], as: UTF8.self))")
            }
            let lines = String(decoding: bytes[i..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let statusParts = lines[0].split(separator: " ", maxSplits: 2)
            guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
                throw Failure(description: "bad status line \(lines[0])")
            }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers[name] = value
            }
            guard let length = headers["content-length"].flatMap({ Int($0) }) else {
                throw Failure(description: "no Content-Length in \(headers)")
            }
            let bodyStart = headEnd + separator.count
            guard bodyStart + length <= bytes.count else { throw Failure(description: "short body") }
            responses.append(Response(status: status, headers: headers, body: String(decoding: bytes[bodyStart..<bodyStart + length], as: UTF8.self)))
            i = bodyStart + length
        }
        return responses
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
