import Foundation
import Synchronization
import Testing

@testable import BinlogReconciler

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
                output: output
            )
        else { return (-1, "cannot run scripts/\(name): \(String(cString: strerror(errno)))") }
        let status = ChildProcess.wait(pid)
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}

/// `posix_spawn` with a clean signal state and no inherited descriptors but 0, 1 and 2.
///
/// Foundation's `Process` passes on the spawning thread's signal mask (Swift Testing runs on
/// libdispatch threads that block SIGTERM, so a redis-server started that way only dies with
/// SIGKILL) and every descriptor without FD_CLOEXEC: under `flock /tmp/swift-build.lock swift
/// test`, a daemonized redis-server would inherit the lock's descriptor and hold the build lock
/// for as long as it runs.
enum ChildProcess {
    /// Starts `argv[0]` (looked up in PATH) with stdin from /dev/null, stdout+stderr to `output`,
    /// and every other descriptor of this process closed.
    static func spawn(_ argv: [String], environment: [String: String], output: String = "/dev/null") -> pid_t? {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        for fd in openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid = pid_t()
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgs, cEnv)
        if rc != 0 {
            errno = rc
            return nil
        }
        return pid
    }

    /// This process's open descriptors (from /proc/self/fd). One that is closed before the spawn
    /// is harmless: glibc ignores EBADF from a close action.
    static func openDescriptors() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    }

    /// Waits for `pid`; returns its exit status (128 + signal when killed).
    @discardableResult
    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

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
