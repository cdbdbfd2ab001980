import Foundation
import Synchronization
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

extension RedisTests {
    /// Stops and starts the private Redis with scripts/redis-stop and scripts/redis-start (with
    /// BR_STATE_DIR and BR_REDIS_PORT), so it only runs against a Redis those scripts started.
    @Suite struct Restart {
        @Test(
            .enabled(
                if: RedisTestEnv.scriptsOwnRedis,
                "the Redis on BR_REDIS_PORT was not started by scripts/redis-start from BR_STATE_DIR"
            ),
            .timeLimit(.minutes(1))
        )
        func connectionsAndListenersSurviveARedisRestart() throws {
            guard let c = RedisTestEnv.connect() else { return }
            // Whatever happens below, leave Redis running.
            defer {
                let started = RedisTestEnv.script("redis-start")
                if started.status != 0 {
                    Issue.record("scripts/redis-start failed after the restart test: \(started.output)")
                }
            }
            let saved = try c.configGet("notify-keyspace-events")["notify-keyspace-events"] ?? ""
            defer { _ = try? c.withRetry { c throws(RedisError) in try c.configSet("notify-keyspace-events", saved) } }

            let prefix = RedisTestEnv.uniquePrefix("restart")
            let tracked = NotificationCollector()
            let tracking = RedisNotificationListener(
                configuration: RedisTestEnv.configuration,
                source: .tracking(prefixes: [prefix]),
                reconnectPolicy: RedisRetryPolicy(
                    maxAttempts: 100,
                    initialDelay: .milliseconds(20),
                    maxDelay: .milliseconds(200)
                )
            )
            try tracking.start(tracked.handler)
            defer { tracking.stop() }
            let keyspaced = NotificationCollector()
            let keyspace = RedisNotificationListener(
                configuration: RedisTestEnv.configuration,
                source: .keyspaceEvents(prefix: prefix, configureServer: true),
                reconnectPolicy: RedisRetryPolicy(
                    maxAttempts: 100,
                    initialDelay: .milliseconds(20),
                    maxDelay: .milliseconds(200)
                )
            )
            try keyspace.start(keyspaced.handler)
            defer { keyspace.stop() }

            _ = try c.command(["SET", prefix + "before", "1"])
            #expect(tracked.waitForKey(prefix + "before"))
            #expect(keyspaced.waitForKey(prefix + "before"))

            // The scripts must not pass this process's descriptors (the build lock, sockets) on to
            // the daemon: check what the restarted server holds afterwards.
            let stopped = RedisTestEnv.script("redis-stop")
            try #require(stopped.status == 0, "scripts/redis-stop: \(stopped.output)")
            #expect(tracked.waitFor { $0.isDisconnected }, "\(tracked.all)")
            #expect(keyspaced.waitFor { $0.isDisconnected }, "\(keyspaced.all)")
            let lost = #expect(throws: RedisError.self) { try c.command(["GET", prefix + "before"]) }
            #expect(lost?.isRetryable == true)

            // Start Redis again while withRetry is backing off.
            let restarted = Mutex<(Int32, String)?>(nil)
            let starter = Thread {
                usleep(300_000)
                let result = RedisTestEnv.script("redis-start")
                restarted.withLock { $0 = (result.status, result.output) }
            }
            starter.start()
            var retries = 0
            let value = try c.withRetry(
                RedisRetryPolicy(maxAttempts: 40, initialDelay: .milliseconds(50), maxDelay: .milliseconds(500)),
                onRetry: { _, _, _ in retries += 1 }
            ) { c throws(RedisError) in try c.command(["GET", prefix + "before"]) }
            #expect(eventually(timeout: .seconds(10)) { restarted.withLock { $0 != nil } })
            if let (status, output) = restarted.withLock({ $0 }), status != 0 {
                Issue.record("scripts/redis-start: \(output)")
            }
            #expect(retries >= 1)
            #expect(value == .null)  // no persistence: the restarted Redis is empty

            // Both listeners resubscribe by themselves and report it; then changes flow again.
            #expect(tracked.waitFor(timeout: .seconds(10)) { $0.isReconnected }, "\(tracked.all)")
            #expect(keyspaced.waitFor(timeout: .seconds(10)) { $0.isReconnected }, "\(keyspaced.all)")
            _ = try c.command(["SET", prefix + "after", "2"])
            #expect(tracked.waitForKey(prefix + "after"))
            #expect(keyspaced.waitForKey(prefix + "after"))  // notify-keyspace-events was set again
            let pid = try #require(
                try c.command(["INFO", "server"]).string?.split(whereSeparator: \.isNewline)
                    .first { $0.hasPrefix("process_id:") }.flatMap { Int($0.dropFirst("process_id:".count)) })
            let held = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            let lockLeaks = held.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
                .filter { $0.hasSuffix(".lock") }
            #expect(lockLeaks.isEmpty, "the restarted redis-server holds \(lockLeaks)")
            let blocked = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8))?
                .split(whereSeparator: \.isNewline).first { $0.hasPrefix("SigBlk:") }
            #expect(blocked == nil || blocked?.hasSuffix("0000000000000000") == true, "\(blocked ?? "")")
            #expect(!tracked.contains { $0.isStopped })
            #expect(!keyspaced.contains { $0.isStopped })
        }
    }
}
