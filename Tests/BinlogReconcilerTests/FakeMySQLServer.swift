import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `scripts/fake-mysql-server.py`, started on a free loopback port: a server that offers no TLS and
/// tries to get the password in clear (see the script for the scenarios). It records every byte it
/// receives, so a test can show that the password never left the client.
final class FakeMySQLServer {
    let port: Int
    let logPath: String
    private let pid: pid_t

    /// - Parameter tls: a certificate and key: then the fake offers TLS and runs the exchange inside it.
    init(scenario: String, tls: (cert: String, key: String)? = nil) throws {
        logPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("br-fake-mysql-\(UUID().uuidString).log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        // posix_spawn and waitpid rather than Foundation.Process: Process.waitUntilExit hung when
        // several parameterized cases ended at once on the 2-thread cooperative pool.
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestFailure("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let script = TestEnv.repoRoot.appendingPathComponent("scripts/fake-mysql-server.py").path
        var args = ["python3", script, "--log", logPath, "--scenario", scenario]
        if let tls { args += ["--tls-cert", tls.cert, "--tls-key", tls.key] }
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, "python3", &actions, nil, &argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw TestFailure("cannot start python3: \(rc)")
        }
        pid = child
        // The first line of stdout is the port.
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(fds[0], &byte, 1) == 1, byte != 0x0A { line.append(byte) }
        close(fds[0])
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
            throw TestFailure("the fake server did not print its port")
        }
        self.port = port
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(atPath: logPath)
    }

    private var lines: [Substring] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n")
    }

    /// Number of connections the fake has seen.
    var connections: Int { lines.filter { $0.hasSuffix(" open") }.count }

    /// Waits until every connection the fake accepted is closed (the client has gone and every byte
    /// it sent is logged).
    func waitUntilIdle(timeout: Duration = .seconds(10)) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let l = lines
            let open = l.filter { $0.hasSuffix(" open") }.count
            let closed = l.filter { $0.hasSuffix(" closed") }.count
            if open == closed { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Every byte received on connection `n` (1-based), or on all connections: by default what
    /// came in clear on the wire, with `insideTLS` what came inside TLS (decrypted).
    func received(connection n: Int? = nil, insideTLS: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count == 4, parts[2] == (insideTLS ? "recv-tls" : "recv") else { continue }
            if let n, parts[1] != "\(n)" { continue }
            var hex = parts[3].utf8.makeIterator()
            while let hi = hex.next(), let lo = hex.next() {
                out.append(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)!)
            }
        }
        return out
    }
}

extension Array where Element == UInt8 {
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        for i in 0...(count - needle.count) where self[i] == needle[0] {
            if Array(self[i..<(i + needle.count)]) == needle { return true }
        }
        return false
    }
}
