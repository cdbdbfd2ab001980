import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

/// The Redis Cluster on 127.0.0.1:$BR_REDIS_CLUSTER_PORT.. (3 masters, 3 replicas), started by
/// `scripts/redis-cluster-start`; the suite runs only when BR_REDIS_CLUSTER_PORT is set.
/// BR_REDIS_CLUSTER_PASSWORD, when set, is the nodes' password.
enum RedisClusterTestEnv {
    static let port: Int? = ProcessInfo.processInfo.environment["BR_REDIS_CLUSTER_PORT"].flatMap { Int($0) }
    static let password: String? = ProcessInfo.processInfo.environment["BR_REDIS_CLUSTER_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }

    static func configuration(_ endpoint: RedisConfiguration.Endpoint) -> RedisConfiguration {
        RedisConfiguration(endpoint: endpoint, password: password, connectTimeout: .seconds(2), commandTimeout: .seconds(5))
    }

    static func connect(_ endpoint: RedisConfiguration.Endpoint) throws -> RedisConnection {
        try RedisConnection(configuration: configuration(endpoint))
    }

    static var seed: RedisConfiguration.Endpoint { .tcp(host: "127.0.0.1", port: port ?? 0) }

    /// `redis-cli --json` on one node (JSON output of redis-cli 7), parsed with Foundation.
    static func redisCLIJSON(_ nodePort: Int, _ args: [String]) throws -> Any {
        var env: [String: String] = [:]
        if let password { env["REDISCLI_AUTH"] = password }
        let r = try TestEnv.run("redis-cli", ["--no-auth-warning", "--json", "-h", "127.0.0.1", "-p", String(nodePort)] + args, environment: env)
        guard r.status == 0 else { throw TestFailure("redis-cli \(args) failed: \(r.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
    }
}

@Suite(.serialized, .enabled(if: RedisClusterTestEnv.port != nil, "BR_REDIS_CLUSTER_PORT is not set (scripts/redis-cluster-start)"))
struct RedisClusterLiveTests {
    typealias Env = RedisClusterTestEnv

    func topology() throws -> RedisClusterTopology {
        try Env.connect(Env.seed).clusterTopology()
    }

    /// One shard as a comparable value: slot ranges, master (id, port), replicas' (id, port).
    struct ShardSummary: Hashable, CustomStringConvertible {
        var ranges: [ClosedRange<Int>]
        var master: String
        var replicas: Set<String>
        var description: String { "\(ranges) \(master) \(replicas.sorted())" }
    }

    static func summary(_ s: RedisClusterShard) -> ShardSummary {
        func name(_ n: RedisClusterNode) -> String { "\(n.id)@\(n.endpoint)" }
        return ShardSummary(ranges: s.slotRanges, master: name(s.master), replicas: Set(s.replicas.map(name)))
    }

    @Test func topologyFromClusterShardsMatchesRedisCLI() throws {
        let port = try #require(Env.port)
        // The map is read twice around redis-cli so a concurrent change cannot pass unnoticed
        // (replication offsets aside: they move with every write and every replication PING).
        let before = try topology()
        let json = try #require(try Env.redisCLIJSON(port, ["CLUSTER", "SHARDS"]) as? [[String: Any]])
        let after = try topology()
        try #require(before.shards.map(Self.summary) == after.shards.map(Self.summary), "the slot map changed during the test")
        var expected: Set<ShardSummary> = []
        for shard in json {
            let flat = try #require(shard["slots"] as? [Int])
            let ranges = stride(from: 0, to: flat.count, by: 2).map { flat[$0]...flat[$0 + 1] }.sorted { $0.lowerBound < $1.lowerBound }
            let nodes = try #require(shard["nodes"] as? [[String: Any]])
            func name(_ n: [String: Any]) -> String { "\(n["id"] as? String ?? "?")@\(n["endpoint"] as? String ?? "?"):\(n["port"] as? Int ?? 0)" }
            let master = try #require(nodes.first { $0["role"] as? String == "master" })
            expected.insert(ShardSummary(ranges: ranges, master: name(master), replicas: Set(nodes.filter { $0["role"] as? String == "replica" }.map(name))))
        }
        #expect(Set(before.shards.map(Self.summary)) == expected)
        #expect(before.shards.count == 3, "\(before.shards)")
        #expect(before.isFullyCovered, "uncovered: \(before.uncoveredSlotRanges)")
        #expect(before.shards.allSatisfy { $0.replicas.count == 1 }, "\(before.shards)")
        // Every slot owner agrees with what CLUSTER SLOTS says (the pre-7.0 path), replicas aside:
        // Redis 7.0 leaves a replica whose replication offset is still 0 out of CLUSTER SLOTS.
        let c = try Env.connect(Env.seed)
        let viaSlots = try RedisClusterTopology(clusterSlotsReply: try c.command(["CLUSTER", "SLOTS"]), connectedHost: "127.0.0.1")
        #expect(viaSlots.shards.map(\.master) == before.shards.map { var m = $0.master; m.health = nil; m.replicationOffset = nil; return m })
        #expect(viaSlots.shards.map(\.slotRanges) == before.shards.map(\.slotRanges))
    }

    @Test func keyslotMatchesClusterKeyslot() throws {
        let c = try Env.connect(Env.seed)
        var keys: [[UInt8]] = []
        for i in 1...500 { keys.append(Array("product:\(i):stock".utf8)) }
        for i in 1...500 { keys.append(Array("product:{\(i)}:stock".utf8)) }
        for i in 1...200 { keys.append(Array("{user\(i)}.following".utf8)); keys.append(Array("foo{}{bar\(i)}".utf8)) }
        keys += ["", "{", "}", "{}", "{{}}", "a{{b}}c", "}{x}", "héllo", "{héllo}:x"].map { Array($0.utf8) }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let n = Int.random(in: 0...24, using: &rng)
            keys.append((0..<n).map { _ in [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8.random(in: 0...255, using: &rng)].randomElement()! })
        }
        let replies = try c.pipeline(keys.map { [Array("CLUSTER".utf8), Array("KEYSLOT".utf8), $0] })
        var mismatches: [String] = []
        for (key, reply) in zip(keys, replies) where reply.integer != Int64(RedisClusterSlot.slot(of: key)) {
            mismatches.append("\(key): server \(reply), ours \(RedisClusterSlot.slot(of: key))")
        }
        #expect(replies.count == keys.count)
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func getOnTheWrongNodeAnswersMovedToTheOwningMaster() throws {
        let t = try topology()
        let tag = "brtest-moved-\(UInt32.random(in: 0...UInt32.max))"
        for key in ["\(tag):plain", "product:{\(tag)}:stock"] {
            let slot = RedisClusterSlot.slot(of: key)
            let owner = try #require(t.shardIndex(forSlot: slot))
            let ownerConnection = try Env.connect(t.shards[owner].master.endpoint)
            _ = try ownerConnection.command(["SET", key, "42"])
            defer { _ = try? ownerConnection.command(["DEL", key]) }
            #expect(try ownerConnection.command(["GET", key]) == .bulk("42"))
            for (i, shard) in t.shards.enumerated() where i != owner {
                let wrong = try Env.connect(shard.master.endpoint)
                let error = #expect(throws: RedisError.self) { try wrong.command(["GET", key]) }
                let redirect = try #require(error.flatMap { RedisClusterRedirect(error: $0) }, "\(String(describing: error))")
                #expect(redirect.kind == .moved)
                #expect(redirect.slot == slot)
                #expect(redirect.target == t.shards[owner].master.endpoint)
                #expect(t.shardIndex(ofMaster: redirect.target) == owner)
                #expect(RedisClusterErrorClass(errorMessage: error?.serverMessage ?? "") == .redirect(redirect))
            }
        }
    }

    @Test func multiKeyReadAcrossSlotsIsCrossSlot() throws {
        let c = try Env.connect(Env.seed)
        let a = "brtest:{a}:x", b = "brtest:{b}:x"
        try #require(RedisClusterSlot.slot(of: a) != RedisClusterSlot.slot(of: b))
        let error = #expect(throws: RedisError.self) { try c.command(["MGET", a, b]) }
        #expect(RedisClusterErrorClass(errorMessage: error?.serverMessage ?? "") == .crossSlot, "\(String(describing: error))")
    }

    /// Moves `slot` from shard `from` to shard `to` the way `redis-cli --cluster reshard` does,
    /// stopping after `beforeFinishing` has run with the slot half-migrated.
    func migrate(slot: Int, in t: RedisClusterTopology, from: Int, to: Int, firstKeys: [String] = [], beforeFinishing: () throws -> Void = {}) throws {
        let source = try Env.connect(t.shards[from].master.endpoint)
        let target = try Env.connect(t.shards[to].master.endpoint)
        guard case .tcp(let targetHost, let targetPort) = t.shards[to].master.endpoint else { throw TestFailure("not TCP") }
        let auth: [String] = Env.password.map { ["AUTH", $0] } ?? []
        _ = try target.command(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", t.shards[from].master.id])
        _ = try source.command(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", t.shards[to].master.id])
        func move(_ keys: [String]) throws {
            guard !keys.isEmpty else { return }
            _ = try source.command(["MIGRATE", targetHost, String(targetPort), "", "0", "5000"] + auth + ["KEYS"] + keys)
        }
        try move(firstKeys)
        try beforeFinishing()
        while true {
            let keys = try #require(try source.command(["CLUSTER", "GETKEYSINSLOT", String(slot), "100"]).array).compactMap(\.string)
            if keys.isEmpty { break }
            try move(keys)
        }
        // The new owner first, then the old one, then every other master (as redis-cli does).
        let others = t.shards.indices.filter { $0 != from && $0 != to }
        for i in [to, from] + others {
            _ = try Env.connect(t.shards[i].master.endpoint).command(["CLUSTER", "SETSLOT", String(slot), "NODE", t.shards[to].master.id])
        }
    }

    /// ASK during a hand-made migration of one slot: a key already moved answers ASK from the
    /// source, ASKING + GET on the target answers its value, a plain GET on the target still
    /// answers MOVED back to the source; the slot is then moved back.
    @Test func askDuringAMigrationIsDecodedAndAskingReadsTheTarget() throws {
        let t = try topology()
        let tag = "brtest-ask-\(UInt32.random(in: 0...UInt32.max))"
        let moved = "product:{\(tag)}:stock", staying = "order:{\(tag)}:lines"
        let slot = RedisClusterSlot.slot(of: moved)
        try #require(RedisClusterSlot.slot(of: staying) == slot)
        let from = try #require(t.shardIndex(forSlot: slot))
        let to = (from + 1) % t.shards.count
        let source = try Env.connect(t.shards[from].master.endpoint)
        _ = try source.command(["SET", moved, "17"])
        _ = try source.command(["SET", staying, "5"])

        try migrate(slot: slot, in: t, from: from, to: to, firstKeys: [moved]) {
            let error = #expect(throws: RedisError.self) { try source.command(["GET", moved]) }
            let redirect = try #require(error.flatMap { RedisClusterRedirect(error: $0) }, "\(String(describing: error))")
            #expect(redirect == RedisClusterRedirect(kind: .ask, slot: slot, target: t.shards[to].master.endpoint))
            // The key not migrated yet is still served by the source.
            #expect(try source.command(["GET", staying]) == .bulk("5"))
            // A multi-key read across the two halves of the slot: TRYAGAIN, to be retried.
            let split = #expect(throws: RedisError.self) { try source.command(["MGET", moved, staying]) }
            #expect(RedisClusterErrorClass(errorMessage: split?.serverMessage ?? "") == .tryAgain, "\(String(describing: split))")
            let target = try Env.connect(redirect.target)
            #expect(try target.commandAfterAsking(["GET", moved]) == .bulk("17"))
            // Without ASKING the target still sends the client back to the slot's owner.
            let plain = #expect(throws: RedisError.self) { try target.command(["GET", moved]) }
            #expect(plain.flatMap { RedisClusterRedirect(error: $0) } == RedisClusterRedirect(kind: .moved, slot: slot, target: t.shards[from].master.endpoint))
            // ASK never changes the map.
            var map = t
            let changed = map.apply(redirect)
            #expect(!changed && map == t)
        }
        // The slot now belongs to the target: the map read again says so, and so does the MOVED
        // the old owner answers, applied to the old map.
        let after = try topology()
        #expect(after.master(forSlot: slot)?.id == t.shards[to].master.id)
        let error = #expect(throws: RedisError.self) { try source.command(["GET", moved]) }
        let redirect = try #require(error.flatMap { RedisClusterRedirect(error: $0) })
        var map = t
        let applied = map.apply(redirect)
        #expect(applied && map.master(forSlot: slot)?.id == t.shards[to].master.id)
        #expect(try Env.connect(t.shards[to].master.endpoint).command(["MGET", moved, staying]) == .array([.bulk("17"), .bulk("5")]))

        // Put it back, keys and all.
        try migrate(slot: slot, in: after, from: try #require(after.shardIndex(forSlot: slot)), to: try #require(after.shardIndex(ofMaster: t.shards[from].master.endpoint)))
        #expect(try topology().master(forSlot: slot)?.id == t.shards[from].master.id)
        _ = try source.command(["DEL", moved, staying])
    }
}
