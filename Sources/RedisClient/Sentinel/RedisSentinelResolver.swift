import ReconcilerCore

// MARK: - RedisSentinelResolver

/// Finds the primary of a Sentinel-monitored master: asks every configured sentinel
/// `SENTINEL GET-MASTER-ADDR-BY-NAME name` (with the sentinels' own credentials), requires a
/// majority of the configured sentinels to name the same address, then checks that the address
/// says `ROLE` → `master` before it is used. Used by one thread at a time.
package final class RedisSentinelResolver {
    /// What one sentinel said.
    package enum Answer: Sendable, Equatable {
        /// It names this address as the primary.
        case named(RedisConfiguration.Endpoint)
        /// It does not know the master name (a nil reply).
        case unknownName
        /// It could not be asked, or answered with an error or an unexpected reply.
        case failed(String)
    }

    /// The primary a quorum agrees on.
    package struct Resolution: Sendable, Equatable {
        package var primary: RedisConfiguration.Endpoint
        /// Sentinels that name `primary`.
        package var agreeing: Int
        /// Every sentinel's answer, in the configured order.
        package var answers: [Answer]
    }

    package let sentinels: [RedisConfiguration.Endpoint]
    package let masterName: String
    /// The sentinels' credentials and timeouts (the endpoint is replaced per sentinel).
    package let sentinelBase: RedisConfiguration
    private var connections: [RedisConfiguration.Endpoint: RedisConnection] = [:]
    /// A sentinel that could not be reached is not asked again before this (monotonic) time, with
    /// its last failure as its answer meanwhile, so that polling never waits on a connect timeout
    /// more than once every `retryAfterFailure` seconds.
    private var failedUntil: [RedisConfiguration.Endpoint: (until: Double, answer: Answer)] = [:]
    package var retryAfterFailure = 5.0

    package init(sentinels: [RedisConfiguration.Endpoint], masterName: String, sentinelBase: RedisConfiguration) {
        self.sentinels = sentinels
        self.masterName = masterName
        var base = sentinelBase
        base.database = 0
        self.sentinelBase = base
    }

    /// The votes needed: a majority of the configured sentinels.
    package static func quorum(configured: Int) -> Int { configured / 2 + 1 }

    /// The address a majority of the `configured` sentinels names, from their answers.
    /// - Throws: `.notConfigured` naming every answer when no address has a majority.
    package static func decide(_ answers: [Answer], configured: Int, masterName: String) throws(RedisError) -> Resolution {
        var votes: [RedisConfiguration.Endpoint: Int] = [:]
        for case .named(let e) in answers { votes[e, default: 0] += 1 }
        let needed = quorum(configured: configured)
        if let (primary, n) = votes.max(by: { $0.value < $1.value }), n >= needed,
            votes.values.filter({ $0 == n }).count == 1
        {
            return Resolution(primary: primary, agreeing: n, answers: answers)
        }
        throw RedisError(
            .notConfigured,
            "Sentinel: no \(needed) of the \(configured) sentinels name the same primary for '\(masterName)' (\(describe(answers)))")
    }

    /// `[host, port]` of `SENTINEL GET-MASTER-ADDR-BY-NAME`.
    package static func parseMasterAddress(_ reply: RedisReply) -> Answer {
        if reply.isNull { return .unknownName }
        if let e = reply.errorMessage { return .failed(e) }
        guard let a = reply.array, a.count == 2, let host = a[0].string, let portText = a[1].string, let port = Int(portText),
            (1...65535).contains(port), !host.isEmpty
        else { return .failed("unexpected reply \(reply)") }
        return .named(.tcp(host: host, port: port))
    }

    /// Whether a `ROLE` reply says master.
    package static func isMaster(role reply: RedisReply) -> Bool {
        reply.array?.first?.string == "master"
    }

    /// One line: what each sentinel said.
    package static func describe(_ answers: [Answer]) -> String {
        answers.map { a in
            switch a {
            case .named(let e): "\(e)"
            case .unknownName: "master name unknown"
            case .failed(let why): why
            }
        }.joined(separator: "; ")
    }

    /// Asks every sentinel once (one connection each, kept for the next time).
    package func ask() -> [Answer] {
        sentinels.map { s in
            if let f = failedUntil[s], monotonicSeconds() < f.until { return f.answer }
            do throws(RedisError) {
                let conn: RedisConnection
                if let c = connections[s], c.isConnected {
                    conn = c
                } else {
                    var c = sentinelBase
                    c.endpoint = s
                    conn = try RedisConnection(configuration: c)
                    connections[s] = conn
                }
                return Self.parseMasterAddress(try conn.command(["SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName]))
            } catch {
                connections[s] = nil
                let answer = Answer.failed("\(s): \(error)")
                if error.isRetryable { failedUntil[s] = (monotonicSeconds() + retryAfterFailure, answer) }
                return answer
            }
        }
    }

    /// The primary a majority of the sentinels names (its role is not checked here).
    package func resolve() throws(RedisError) -> Resolution {
        try Self.decide(ask(), configured: sentinels.count, masterName: masterName)
    }

    /// Resolves and connects to the primary with `dataBase`'s credentials, and checks it says
    /// `ROLE` master.
    /// - Throws: `.notConfigured` when there is no quorum or the named primary is not a master
    ///   (a failover in progress); the connection's error when it cannot be reached.
    package func connectPrimary(dataBase: RedisConfiguration) throws(RedisError) -> (Resolution, RedisConnection) {
        let r = try resolve()
        var c = dataBase
        c.endpoint = r.primary
        let conn = try RedisConnection(configuration: c)
        try Self.checkMaster(conn)
        return (r, conn)
    }

    /// Throws `.notConfigured` unless the server says `ROLE` master.
    package static func checkMaster(_ conn: RedisConnection) throws(RedisError) {
        let role = try conn.command(["ROLE"])
        guard isMaster(role: role) else {
            throw RedisError(.notConfigured, "Sentinel: \(conn.configuration.endpoint) is named the primary but says ROLE \(role.array?.first?.string ?? "\(role)")")
        }
    }

    /// Closes the sentinel connections.
    package func close() {
        connections.removeAll()
        failedUntil.removeAll()
    }
}
