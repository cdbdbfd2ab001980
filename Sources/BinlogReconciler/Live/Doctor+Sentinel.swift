import Foundation

extension Doctor {
    /// The server the Redis checks talk to: the configured one; in sentinel mode the primary a
    /// quorum of the sentinels names (the `redis.sentinel` finding says which, or what is wrong).
    func redisTarget(_ out: inout [Finding]) throws -> RedisConfiguration {
        var base = try configuration.redis.redisConfiguration()
        guard configuration.redis.mode == .sentinel else { return base }
        let finding = Self.sentinelFinding(try configuration.redis.sentinelResolver(), dataBase: base)
        out.append(finding.finding)
        guard let primary = finding.primary else {
            throw RedisError(.notConfigured, "no primary to check (see redis.sentinel)")
        }
        base.endpoint = primary
        return base
    }

    /// Whether a majority of the sentinels names the same primary and it says `ROLE` master.
    static func sentinelFinding(_ resolver: RedisSentinelResolver, dataBase: RedisConfiguration) -> (finding: Finding, primary: RedisConfiguration.Endpoint?) {
        defer { resolver.close() }
        let answers = resolver.ask()
        let configured = resolver.sentinels.count
        let name = resolver.masterName
        let resolution: RedisSentinelResolver.Resolution
        do {
            resolution = try RedisSentinelResolver.decide(answers, configured: configured, masterName: name)
        } catch {
            let unknown = answers.contains(.unknownName)
            return (Finding(
                check: "redis.sentinel", severity: .error, detail: error.message,
                fix: unknown
                    ? "check [redis] master_name (SENTINEL MASTERS on a sentinel lists the names it monitors)"
                    : "check [redis] sentinels, sentinel_username and sentinel_password_env, and that the sentinels run (SENTINEL CKQUORUM \(name))"), nil)
        }
        var c = dataBase
        c.endpoint = resolution.primary
        do {
            let conn = try RedisConnection(configuration: c)
            try RedisSentinelResolver.checkMaster(conn)
        } catch {
            return (Finding(
                check: "redis.sentinel", severity: .error,
                detail: "\(resolution.agreeing) of \(configured) sentinels name \(resolution.primary) for '\(name)', but: \(error)",
                fix: "wait for the failover to end; check [redis] username and password_env (the data nodes' credentials)"), nil)
        }
        let others = configured - resolution.agreeing
        return (Finding(
            check: "redis.sentinel", severity: others == 0 ? .ok : .warning,
            detail: "\(resolution.agreeing) of \(configured) sentinels name \(resolution.primary) the primary of '\(name)' (ROLE master)"
                + (others == 0 ? "" : "; the others: \(RedisSentinelResolver.describe(answers.filter { $0 != .named(resolution.primary) }))"),
            fix: others == 0 ? nil : "check the sentinels that disagree or do not answer"), resolution.primary)
    }
}
