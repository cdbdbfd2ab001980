import ReconcilerCore

// MARK: - RedisSentinelClient

/// The reconciler's connection to the primary of a Sentinel-monitored master. Used by one thread
/// at a time (the reconcile loop).
///
/// Every command goes through ``withPrimary(_:_:)``. The primary is resolved again (quorum of the
/// sentinels, then `ROLE` master on it) when
/// - the command failed as a failover makes it fail: the connection was lost or refused, or the
///   server answered `READONLY` (a demoted primary), `LOADING` or `MASTERDOWN`;
/// - `pollInterval` seconds passed since the last resolution (polling on the caller's thread: a
///   demoted primary still answers reads, so a failure alone would not notice it).
/// A command that failed returned nothing to its caller, so a read that raced a failover is never
/// taken for an observation. After a switch, `onPrimaryChange` is called (on the caller's thread)
/// with the new connection, before the command runs on it.
package final class RedisSentinelClient {
    package let resolver: RedisSentinelResolver
    /// Credentials and timeouts of the data nodes (the endpoint is the primary's).
    package let dataBase: RedisConfiguration
    package private(set) var connection: RedisConnection
    package private(set) var resolution: RedisSentinelResolver.Resolution
    /// Primary changes seen.
    package private(set) var switches = 0
    /// Monotonic time of the last switch, and of the first command that succeeded after it.
    package private(set) var switchedAt: Double?
    package private(set) var firstSuccessAfterSwitch: Double?
    package var pollInterval: Double
    package var onPrimaryChange: ((_ old: RedisConfiguration.Endpoint, _ new: RedisConnection) -> Void)?
    /// Called once after a switch, when the first command on the new primary succeeded, with the
    /// seconds since the switch.
    package var onFirstSuccessAfterSwitch: ((Double) -> Void)?
    private var nextPoll: Double
    private var awaitingFirstSuccess = false
    /// Reads on the primary's replicas (`read_from = "replica"`), when set.
    package var replicaPool: RedisReplicaPool?

    package var primary: RedisConfiguration.Endpoint { connection.configuration.endpoint }

    /// Resolves the primary and connects to it.
    package init(resolver: RedisSentinelResolver, dataBase: RedisConfiguration, pollInterval: Double = 0.5) throws(RedisError) {
        self.resolver = resolver
        self.dataBase = dataBase
        self.pollInterval = pollInterval
        (resolution, connection) = try resolver.connectPrimary(dataBase: dataBase)
        nextPoll = monotonicSeconds() + pollInterval
    }

    /// Whether `error` is how a command fails during a failover.
    package static func isFailoverSignal(_ error: RedisError) -> Bool {
        if error.isRetryable { return true }
        guard error.kind == .server, let code = error.serverErrorCode else { return false }
        return ["READONLY", "LOADING", "MASTERDOWN"].contains(code)
    }

    /// Runs `body` on the primary; see the type's description. Up to `policy.maxAttempts`
    /// attempts with its backoff between them.
    /// - Throws: a non-failover error at once; after the last attempt, a retryable error
    ///   (`.connectionFailed` when the last failure was a server reply such as `READONLY`), so that
    ///   the caller treats it as Redis being unreachable.
    package func withPrimary<T>(_ policy: RedisRetryPolicy, _ body: (RedisConnection) throws(RedisError) -> T) throws(RedisError) -> T {
        pollIfDue()
        var attempt = 1
        while true {
            do throws(RedisError) {
                if !connection.isConnected { try connection.reconnect() }
                let result = try body(connection)
                if awaitingFirstSuccess {
                    awaitingFirstSuccess = false
                    let now = monotonicSeconds()
                    firstSuccessAfterSwitch = now
                    onFirstSuccessAfterSwitch?(now - (switchedAt ?? now))
                }
                return result
            } catch {
                guard Self.isFailoverSignal(error) else { throw error }
                guard attempt < policy.maxAttempts else {
                    if error.isRetryable { throw error }
                    throw RedisError(.connectionFailed, "Sentinel: the primary \(primary) refused: \(error)", serverMessage: error.serverMessage)
                }
                connection.close()
                sleepFor(policy.delay(afterAttempt: attempt))
                poll()
                attempt += 1
            }
        }
    }

    /// ``poll()`` when `pollInterval` has passed since the last resolution (the reconcile loop
    /// calls it every turn, so that a failover is noticed while no command is sent).
    package func pollIfDue() {
        if monotonicSeconds() >= nextPoll { poll() }
    }

    /// Resolves again now; switches when a quorum names another primary that says master.
    /// Failures are left for the next command to report (the current connection is kept).
    package func poll() {
        nextPoll = monotonicSeconds() + pollInterval
        guard let r = try? resolver.resolve() else { return }
        resolution = r
        guard r.primary != primary else { return }
        var c = dataBase
        c.endpoint = r.primary
        guard let conn = try? RedisConnection(configuration: c), (try? RedisSentinelResolver.checkMaster(conn)) != nil else { return }
        let old = primary
        replicaPool?.forgetMaster(old)
        connection.close()
        connection = conn
        switches += 1
        switchedAt = monotonicSeconds()
        awaitingFirstSuccess = true
        onPrimaryChange?(old, conn)
    }
}
