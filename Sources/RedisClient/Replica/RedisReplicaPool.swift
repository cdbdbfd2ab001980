import ReconcilerCore

// MARK: - RedisReplicaPool

/// Reads on replicas (`[redis] read_from = "replica"`): the connections to the replicas, each
/// master's ``ReplicationClock``, and which replicas answer. Used by one thread (the reconcile
/// loop), beside a ``RedisClusterClient`` or a ``RedisSentinelClient``.
///
/// How stale a replica's read can be is measured, not assumed:
/// 1. every `sampleInterval` the caller has each master sampled (``sample(master:_:)``: `ROLE`,
///    whose reply carries the master's replication offset and lists its replicas);
/// 2. before a read on a replica, ``stamp(replica:master:maxStaleness:)`` asks the replica `ROLE`
///    (its applied offset r), on the connection the read then uses, so the read sees at least r;
/// 3. the master's clock gives the latest sample time whose offset was ≤ r: the replica has every
///    write the master made before then (`safeSince`), so the read shows the master's data of
///    some time between `safeSince` and the reply. Precision: the sampling interval (100 ms) plus
///    the round trips.
/// A replica that does not answer within `timeout` (stopped, partitioned) is not asked again for
/// `downFor` seconds; its keys are read on the master meanwhile.
package final class RedisReplicaPool {
    /// A replica ready for a read.
    package struct Stamp {
        package var connection: RedisConnection
        package var endpoint: RedisConfiguration.Endpoint
        /// The replica has every write its master made before this (monotonic) time.
        package var safeSince: Double
    }

    /// Why no replica read is possible now.
    package enum Unusable: Error, Equatable {
        /// None known, it does not answer, or it is not a replica (any more).
        case unavailable
        /// Further behind its master than allowed (or than the clock's samples reach).
        case behind(seconds: Double?)
    }

    /// Credentials of every node; short timeouts, so a stopped replica costs `timeout` at most.
    package let base: RedisConfiguration
    /// Send `READONLY` on each new connection (a cluster replica serves reads only after it).
    package let readOnly: Bool
    package var sampleInterval = 0.1
    package var downFor = 1.0
    private var clocks: [RedisConfiguration.Endpoint: ReplicationClock] = [:]
    /// The replicas each master listed in its last `ROLE` (Sentinel: where replicas are found).
    package private(set) var listedReplicas: [RedisConfiguration.Endpoint: [RedisConfiguration.Endpoint]] = [:]
    private var connections: [RedisConfiguration.Endpoint: RedisConnection] = [:]
    private var downUntil: [RedisConfiguration.Endpoint: Double] = [:]
    /// Each replica's last `ROLE`: its applied offset and when it was asked. Offsets only grow,
    /// so an offset asked a moment ago is still a lower bound of what a read sees: reused for
    /// `roleReuse` seconds instead of a `ROLE` before every read.
    private var lastRole: [RedisConfiguration.Endpoint: (offset: Int64, at: Double)] = [:]
    package var roleReuse = 0.05
    private var nextSample = 0.0

    /// - Parameter timeout: connect and command timeout on replicas.
    package init(base: RedisConfiguration, readOnly: Bool, timeout: Duration = .milliseconds(300)) {
        var b = base
        b.database = readOnly ? 0 : base.database
        b.connectTimeout = timeout
        b.commandTimeout = timeout
        self.base = b
        self.readOnly = readOnly
    }

    /// Whether the masters are due for a sample (every `sampleInterval`).
    package func sampleDue(now: Double) -> Bool {
        guard now >= nextSample else { return false }
        nextSample = now + sampleInterval
        return true
    }

    /// Samples `master`'s offset with `ROLE` on `connection` (one round trip). A failure is left to
    /// the master's own commands to notice (the clock just gets no sample).
    package func sample(master: RedisConfiguration.Endpoint, _ connection: RedisConnection) {
        let sentAt = monotonicSeconds()
        guard let reply = try? connection.command(["ROLE"]), let a = reply.array, a.count >= 3, a[0].string == "master",
            let offset = a[1].integer
        else { return }
        clocks[master, default: ReplicationClock()].record(offset: offset, sentAt: sentAt)
        var listed: [RedisConfiguration.Endpoint] = []
        for r in a[2].array ?? [] {
            guard let e = r.array, e.count >= 2, let host = e[0].string, let port = e[1].integer.map(Int.init), (1...65535).contains(port) else { continue }
            listed.append(.tcp(host: host, port: port))
        }
        listedReplicas[master] = listed
    }

    /// The replica `replica` of `master`, ready for a read whose data is at most `maxStaleness`
    /// seconds behind the master's: its connection (opened now if needed), after a `ROLE` that
    /// gave its applied offset.
    package func stamp(
        replica: RedisConfiguration.Endpoint, master: RedisConfiguration.Endpoint, maxStaleness: Double
    ) -> Result<Stamp, Unusable> {
        let now = monotonicSeconds()
        if let until = downUntil[replica], now < until { return .failure(.unavailable) }
        do throws(RedisError) {
            let conn = try connection(to: replica)
            let offset: Int64
            if let last = lastRole[replica], now - last.at < roleReuse {
                offset = last.offset
            } else {
                let role = try conn.command(["ROLE"])
                // ["slave", master host, master port, state, applied offset]
                guard let a = role.array, a.count >= 5, a[0].string == "slave", let o = a[4].integer, o >= 0 else {
                    markDown(replica)
                    return .failure(.unavailable)
                }
                offset = o
                lastRole[replica] = (o, now)
            }
            guard let since = clocks[master]?.safeSince(replicaOffset: offset) else { return .failure(.behind(seconds: nil)) }
            let staleness = monotonicSeconds() - since
            guard staleness <= maxStaleness else { return .failure(.behind(seconds: staleness)) }
            return .success(Stamp(connection: conn, endpoint: replica, safeSince: since))
        } catch {
            markDown(replica)
            return .failure(.unavailable)
        }
    }

    /// A read on `replica` failed: it is not asked again for `downFor` seconds.
    package func markDown(_ replica: RedisConfiguration.Endpoint) {
        connections[replica]?.close()
        connections[replica] = nil
        lastRole[replica] = nil
        downUntil[replica] = monotonicSeconds() + downFor
    }

    /// Forgets the clock of a node that is no longer a master (its offsets are another history).
    package func forgetMaster(_ master: RedisConfiguration.Endpoint) {
        clocks[master] = nil
        listedReplicas[master] = nil
    }

    private func connection(to endpoint: RedisConfiguration.Endpoint) throws(RedisError) -> RedisConnection {
        if let c = connections[endpoint], c.isConnected { return c }
        var cfg = base
        cfg.endpoint = endpoint
        let c = try RedisConnection(configuration: cfg)
        if readOnly { _ = try c.command(["READONLY"]) }
        connections[endpoint] = c
        return c
    }
}
