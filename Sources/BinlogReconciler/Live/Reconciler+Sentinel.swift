import Foundation
import Logging
import Synchronization

/// Sentinel mode: the watchdog of the current primary, replaced after a failover (the daemon
/// stops the last one).
final class SentinelWatchdogHolder: Sendable {
    private let current = Mutex<RedisWatchdog?>(nil)
    private let make: @Sendable (RedisConfiguration) -> RedisWatchdog

    init(make: @escaping @Sendable (RedisConfiguration) -> RedisWatchdog) { self.make = make }

    /// Starts a watchdog on `configuration`'s endpoint and stops the previous one.
    func start(on configuration: RedisConfiguration) {
        let w = make(configuration)
        w.start()
        current.withLock { c -> RedisWatchdog? in defer { c = w }; return c }?.stop()
    }

    func stop() { current.withLock { c -> RedisWatchdog? in defer { c = nil }; return c }?.stop() }
}

extension Reconciler {
    /// The data-node settings pointed at the current primary (sentinel mode: the one named after
    /// the last failover; otherwise `redisConfiguration`).
    var currentRedisConfiguration: RedisConfiguration {
        var c = redisConfiguration
        if let primary = shared.withLock({ $0.redisPrimary }) { c.endpoint = primary }
        return c
    }

    /// Sentinel mode: after `client` switches to another primary (on the reconcile thread), the
    /// switch is an incident (`redis_failover`: one `summary` after the sweep of every key that it
    /// requests), the notifications are started again on the new primary and the watchdog is
    /// replaced by one on it.
    func followPrimary(_ client: RedisSentinelClient, watchdog: SentinelWatchdogHolder?) {
        client.onPrimaryChange = { [self] old, conn in
            primaryChanged(from: old, to: conn, watchdog: watchdog)
        }
        client.onFirstSuccessAfterSwitch = { [self, unowned client] seconds in
            logger.notice("first successful Redis command on the new primary", metadata: [
                "primary": "\(client.primary)", "after_switch_ms": "\(Int(seconds * 1000))",
                "at_unix_ms": "\(Int64(Date().timeIntervalSince1970 * 1000))",
            ])
        }
    }

    func primaryChanged(from old: RedisConfiguration.Endpoint, to conn: RedisConnection, watchdog: SentinelWatchdogHolder?) {
        let new = conn.configuration.endpoint
        let runID = (try? conn.command(["INFO", "server"]).string).flatMap(Self.runID(infoServer:))
        shared.withLock { s in
            s.redisPrimary = new
            let previous = s.redisRunID
            _ = s.noteIncident(.failover) {
                $0.runID = runID
                $0.previousRunID = previous
            }
            if let runID { s.redisRunID = runID }
        }
        metrics.recordReconnect(.redis)
        logger.warning("Redis primary changed (Sentinel failover); sweeping every key", metadata: [
            "previous_primary": "\(old)", "primary": "\(new)", "run_id": "\(runID ?? "?")",
        ])
        // The notifications of the old primary (now a replica, or gone) are of no use.
        shared.withLock { s -> RedisNotificationListener? in defer { s.listener = nil }; return s.listener }?.stop()
        switch configuration.redis.notifications {
        case .tracking:
            do {
                let l = try startNotifications()
                shared.withLock { $0.listener = l }
            } catch {
                logger.warning("cannot start Redis notifications on the new primary; sweeps only", metadata: ["error": "\(error)"])
            }
        case .keyspace:
            checkKeyspaceEvents(conn, reconnected: true)
        case .off:
            break
        }
        watchdog?.start(on: currentRedisConfiguration)
    }

    /// `run_id` of an `INFO server` text.
    static func runID(infoServer text: String) -> String? {
        text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("run_id:") }.map { String($0.dropFirst(7)) }
    }
}

extension RedisSentinelClient {
    /// ``withPrimary(_:_:)`` for a body that throws any error: a `RedisError` is handled as there,
    /// any other error ends the call at once.
    func withPrimaryRethrowing<T>(_ policy: RedisRetryPolicy, _ body: (RedisConnection) throws -> T) throws -> T {
        var result: T?
        var other: (any Error)?
        try withPrimary(policy) { c throws(RedisError) in
            do {
                result = try body(c)
            } catch let e as RedisError {
                throw e
            } catch {
                other = error
            }
        }
        if let other { throw other }
        guard let result else { throw RedisError(.protocol, "Sentinel: the primary's read returned nothing") }
        return result
    }
}

extension RedisSettings {
    /// Sentinel mode: the resolver of `master_name` through `sentinels`, with the sentinels' own
    /// credentials and the [redis] timeouts.
    package func sentinelResolver() throws(ConfigurationError) -> RedisSentinelResolver {
        let endpoints = try Self.tcpEndpoints(sentinels, key: "sentinels")
        guard !endpoints.isEmpty, let name = masterName else { throw ConfigurationError("[redis] mode = \"sentinel\" needs sentinels and master_name") }
        let base = RedisConfiguration(
            endpoint: endpoints[0], username: sentinelUsername, password: sentinelPassword.value, database: 0,
            connectTimeout: .milliseconds(Int64(connectTimeoutSeconds * 1000)), commandTimeout: .milliseconds(Int64(commandTimeoutSeconds * 1000)))
        return RedisSentinelResolver(sentinels: endpoints, masterName: name, sentinelBase: base)
    }
}
