import Foundation
import Synchronization
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient
import BinlogSimulator

/// Every Redis suite nests in this one so they run one at a time: some tests FLUSHALL, change
/// server configuration or restart the server.
@Suite(.serialized) struct RedisTests {}

// MARK: - Environment

/// The Redis the tests talk to: 127.0.0.1:$BR_REDIS_PORT (default 26379), started by
/// `scripts/redis-start` (CI does it; locally: `scripts/redis-start`).
enum RedisTestEnv {
    static let port: Int = ProcessInfo.processInfo.environment["BR_REDIS_PORT"].flatMap { Int($0) } ?? 26379

    static var configuration: RedisConfiguration {
        RedisConfiguration(host: "127.0.0.1", port: port, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
    }

    /// The repository root (three levels above this file).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `$BR_STATE_DIR`, or the scripts' default `<repo>/.state`.
    static var stateDir: String {
        ProcessInfo.processInfo.environment["BR_STATE_DIR"] ?? repoRoot.appendingPathComponent(".state").path
    }

    /// A connection, or a recorded issue that says Redis is not reachable (and nil).
    static func connect(
        _ configuration: RedisConfiguration = RedisTestEnv.configuration,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> RedisConnection? {
        do {
            return try RedisConnection(configuration: configuration)
        } catch {
            Issue.record(
                "Redis is not reachable at 127.0.0.1:\(port) (set BR_REDIS_PORT; start it with scripts/redis-start): \(error)",
                sourceLocation: sourceLocation
            )
            return nil
        }
    }

    /// A fresh key prefix, so tests never see each other's keys.
    static func uniquePrefix(_ tag: String) -> String { "brtest:\(tag):\(UInt32.random(in: 0...UInt32.max)):" }

    /// Whether the Redis on `port` is the one `scripts/redis-start` started from `stateDir`: its
    /// pid file names the `process_id` that server reports. Only then may the tests restart it
    /// with the scripts (redis-stop goes by the pid file, whatever the port).
    static var scriptsOwnRedis: Bool {
        guard let text = try? String(contentsOfFile: stateDir + "/redis/redis.pid", encoding: .utf8),
            let pid = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            let c = try? RedisConnection(configuration: configuration),
            let info = try? c.command(["INFO", "server"]).string
        else { return false }
        return info.split(whereSeparator: \.isNewline).contains("process_id:\(pid)")
    }

    /// Runs `scripts/<name>` with the test's environment (BR_STATE_DIR, BR_REDIS_PORT).
    @discardableResult
    static func script(_ name: String, _ args: [String] = []) -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "br-script-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        ).path
        defer { unlink(output) }
        var env = ProcessInfo.processInfo.environment
        env["BR_REDIS_PORT"] = String(port)
        env["BR_STATE_DIR"] = stateDir
        guard
            let pid = ChildProcess.spawn(
                [repoRoot.appendingPathComponent("scripts/\(name)").path] + args,
                environment: env,
                output: .file(output)
            )
        else { return (-1, "cannot run scripts/\(name): \(String(cString: strerror(errno)))") }
        let status = ChildProcess.wait(pid)
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}

extension ChildProcess {
    /// SIGTERM, then SIGKILL if it has not exited within `grace`; reaps it.
    static func stop(_ pid: pid_t, grace: Duration = .seconds(3)) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        let exited = eventually(timeout: grace) { waitpid(pid, &status, WNOHANG) == pid }
        if !exited {
            kill(pid, SIGKILL)
            wait(pid)
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(3), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

// MARK: - Notification collector

/// Collects what a listener's callback receives.
final class NotificationCollector: Sendable {
    private let items = Mutex<[RedisNotification]>([])

    var handler: @Sendable (RedisNotification) -> Void { { [self] n in items.withLock { $0.append(n) } } }

    var all: [RedisNotification] { items.withLock { $0 } }

    func reset() { items.withLock { $0.removeAll() } }

    var keys: Set<String> {
        var out = Set<String>()
        for case .keys(let k) in all { out.formUnion(k) }
        return out
    }

    func contains(_ predicate: (RedisNotification) -> Bool) -> Bool { all.contains(where: predicate) }

    /// Waits until `key` was reported.
    func waitForKey(_ key: String, timeout: Duration = .seconds(3)) -> Bool {
        eventually(timeout: timeout) { keys.contains(key) }
    }

    func waitFor(timeout: Duration = .seconds(3), _ predicate: @escaping (RedisNotification) -> Bool) -> Bool {
        eventually(timeout: timeout) { contains(predicate) }
    }
}

extension RedisNotification {
    var isFlushed: Bool { if case .flushed = self { return true } else { return false } }
    var isDisconnected: Bool { if case .disconnected = self { return true } else { return false } }
    var isReconnected: Bool { if case .reconnected = self { return true } else { return false } }
    var isStopped: Bool { if case .stopped = self { return true } else { return false } }
}
