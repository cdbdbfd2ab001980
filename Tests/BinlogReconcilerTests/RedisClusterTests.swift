import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

/// Redis Cluster groundwork without a server: CRC16 and key slots, MOVED/ASK decoding, and slot
/// maps from canned `CLUSTER SHARDS` / `CLUSTER SLOTS` replies.
@Suite struct RedisClusterTests {
    // MARK: CRC16 and slots

    @Test func crc16MatchesTheSpecificationsTestVector() {
        let v = Array("123456789".utf8)
        #expect(v.withUnsafeBytes { RedisClusterSlot.crc16($0) } == 0x31C3)
        #expect([UInt8]().withUnsafeBytes { RedisClusterSlot.crc16($0) } == 0)
    }

    /// The table is the spec's: entries printed there, and every entry equal to the bitwise
    /// CRC-16/XMODEM (polynomial 0x1021) of its index.
    @Test func crc16TableIsTheBitwiseXmodemTable() {
        let table = RedisClusterSlot.crc16Table
        #expect(table.count == 256)
        #expect(Array(table[0..<8]) == [0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7])
        #expect(table[255] == 0x1ef0)
        for i in 0..<256 {
            var c = UInt16(i) << 8
            for _ in 0..<8 { c = c & 0x8000 != 0 ? (c << 1) ^ 0x1021 : c << 1 }
            #expect(table[i] == c, "entry \(i)")
        }
    }

    /// `CLUSTER KEYSLOT` answers of Redis 7.0.15 for these keys (redis-cli, recorded here).
    static let serverSlots: [(String, Int)] = [
        ("123456789", 12739), ("foo", 12182), ("bar", 5061), ("product:1:stock", 6272),
        ("product:{17}:stock", 12304), ("{user1000}.following", 3443), ("{user1000}.followers", 3443),
        ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061), ("{}", 15257), ("{", 4092),
        ("}", 12090), ("a{b", 13340), ("", 0), ("héllo", 11061), ("{héllo}x", 11061), ("product:{{17}}:stock", 6377),
    ]

    @Test(arguments: serverSlots) func slotMatchesClusterKeyslot(_ key: String, _ slot: Int) {
        #expect(RedisClusterSlot.slot(of: key) == slot)
        #expect(RedisClusterSlot.slot(of: Array(key.utf8)) == slot)
        #expect(Array(key.utf8).withUnsafeBytes { RedisClusterSlot.slot(of: $0) } == slot)
    }

    @Test func hashTagIsTheFirstBraceWithANonEmptyClose() {
        func tag(_ key: String) -> String {
            let b = Array(key.utf8)
            let r = b.withUnsafeBytes { RedisClusterSlot.hashTagRange($0) }
            return String(decoding: b[r], as: UTF8.self)
        }
        #expect(tag("{user1000}.following") == "user1000")
        #expect(tag("foo{}{bar}") == "foo{}{bar}")  // empty first tag: the whole key
        #expect(tag("foo{{bar}}") == "{bar")
        #expect(tag("foo{bar}{zap}") == "bar")
        #expect(tag("product:{17}:stock") == "17")
        #expect(tag("no-tag") == "no-tag")
        #expect(tag("open{only") == "open{only")
        #expect(tag("}{x}") == "x")
        // Keys that share a tag share a slot.
        #expect(RedisClusterSlot.slot(of: "product:{17}:stock") == RedisClusterSlot.slot(of: "17"))
        #expect(RedisClusterSlot.slot(of: "order:{17}:lines") == RedisClusterSlot.slot(of: "product:{17}:stock"))
    }

    @Test func slotIsAlwaysInRangeForArbitraryBytes() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let n = Int.random(in: 0...40, using: &rng)
            let key = (0..<n).map { _ in [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8.random(in: 0...255, using: &rng)].randomElement()! }
            let slot = RedisClusterSlot.slot(of: key)
            #expect((0..<16_384).contains(slot))
        }
    }

    // MARK: Key templates with hash tags

    @Test func templateBracesEscapeForHashTags() throws {
        let t = try RedisKeyTemplate("product:{{{id}}}:stock", keyColumns: ["id"])
        #expect(t.parts == [.literal("product:{"), .column(0), .literal("}:stock")])
        #expect(t.render(.int(17)) == "product:{17}:stock")
        #expect(t.candidates("product:{17}:stock", integerColumns: [true]) == [.int(17)])
        #expect(t.candidates("product:17:stock", integerColumns: [true]) == [])
        #expect(t.scanPattern == "product:{*}:stock")
        #expect(RedisClusterSlot.slot(of: t.render(.int(17))) == 12304)
        let composite = try RedisKeyTemplate("inv:{{{shop}}}:{sku}", keyColumns: ["shop", "sku"])
        #expect(composite.render(.composite(["7", "a:b"])) == "inv:{7}:a:b")
        #expect(composite.candidates("inv:{7}:a:b", integerColumns: [true, false]) == [.composite(["7", "a:b"])])
        // Escapes alone, and a lone '}' stays literal as before.
        #expect(try RedisKeyTemplate("{{x}}:{id}", keyColumns: ["id"]).render(.int(1)) == "{x}:1")
        #expect(try RedisKeyTemplate("a}b:{id}", keyColumns: ["id"]).render(.int(1)) == "a}b:1")
        #expect(try RedisKeyTemplate("k:{id}", keyColumns: ["id"]).parts == [.literal("k:"), .column(0)])
        #expect(throws: ConfigurationError.self) { try RedisKeyTemplate("product:{{{id}:stock{", keyColumns: ["id"]) }
        #expect(throws: ConfigurationError.self) { try RedisKeyTemplate("product:{{{sku}}}", keyColumns: ["id"]) }
    }

    // MARK: Redirects

    @Test func movedAndAskAreDecoded() {
        let moved = RedisClusterRedirect(errorMessage: "MOVED 3999 127.0.0.1:6381")
        #expect(moved == RedisClusterRedirect(kind: .moved, slot: 3999, target: .tcp(host: "127.0.0.1", port: 6381)))
        #expect(moved?.description == "MOVED 3999 127.0.0.1:6381")
        let ask = RedisClusterRedirect(errorMessage: "ASK 0 10.0.0.2:7000")
        #expect(ask == RedisClusterRedirect(kind: .ask, slot: 0, target: .tcp(host: "10.0.0.2", port: 7000)))
        #expect(RedisClusterRedirect(errorMessage: "MOVED 16383 ::1:7002")?.target == .tcp(host: "::1", port: 7002))
        #expect(RedisClusterRedirect(errorMessage: "MOVED 5 redis-2.shop.internal:6379")?.target == .tcp(host: "redis-2.shop.internal", port: 6379))
        let unknownHost = RedisClusterRedirect(errorMessage: "MOVED 3999 :6381")
        #expect(unknownHost?.target == .tcp(host: "", port: 6381))
        #expect(unknownHost?.resolvingEmptyHost("10.1.1.1").target == .tcp(host: "10.1.1.1", port: 6381))
        #expect(moved?.resolvingEmptyHost("10.1.1.1") == moved)
        #expect(RedisClusterRedirect(reply: .error("ASK 12 h:1"))?.kind == .ask)
        #expect(RedisClusterRedirect(reply: .status("MOVED 1 h:1")) == nil)
        #expect(RedisClusterRedirect(error: RedisError(.server, "GET at x: MOVED 1 h:2", serverMessage: "MOVED 1 h:2"))?.slot == 1)
        #expect(RedisClusterRedirect(error: RedisError(.protocol, "x", serverMessage: "MOVED 1 h:2")) == nil)
    }

    @Test(arguments: [
        "MOVED", "MOVED 1", "MOVED 1 h", "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED x h:1", "MOVED 1 h:0", "MOVED 1 h:65536",
        "MOVED 1 h:x", "MOVED  1 h:1", "MOVED +1 h:1", "MOVED 1 h:+80", "MOVED 000001 h:1", "MOVED 1 h:1 extra", "moved 1 h:1", "ERR MOVED 1 h:1", "ASK 1 h:", "", "TRYAGAIN x",
    ])
    func malformedRedirectsAreNil(_ text: String) {
        #expect(RedisClusterRedirect(errorMessage: text) == nil)
    }

    @Test func clusterErrorsAreClassified() {
        #expect(RedisClusterErrorClass(errorMessage: "MOVED 1 h:2") == .redirect(RedisClusterRedirect(kind: .moved, slot: 1, target: .tcp(host: "h", port: 2))))
        #expect(RedisClusterErrorClass(errorMessage: "TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(RedisClusterErrorClass(errorMessage: "CLUSTERDOWN The cluster is down") == .clusterDown)
        #expect(RedisClusterErrorClass(errorMessage: "CROSSSLOT Keys in request don't hash to the same slot") == .crossSlot)
        #expect(RedisClusterErrorClass(errorMessage: "WRONGTYPE Operation against a key") == .other)
        #expect(RedisClusterErrorClass(errorMessage: "CLUSTERDOWN The cluster is down").isRetryable)
        #expect(!RedisClusterErrorClass(errorMessage: "CROSSSLOT x").isRetryable)
    }

    // MARK: Slot maps from canned replies

    static func node(_ id: String, _ port: Int64, _ role: String, offset: Int64 = 100, health: String = "online", ip: String = "127.0.0.1", endpoint: String? = nil) -> RedisReply {
        .array([
            .bulk("id"), .bulk(id), .bulk("port"), .integer(port), .bulk("ip"), .bulk(ip),
            .bulk("endpoint"), .bulk(endpoint ?? ip), .bulk("role"), .bulk(role),
            .bulk("replication-offset"), .integer(offset), .bulk("health"), .bulk(health),
        ])
    }

    static func shard(_ slots: [Int64], _ nodes: [RedisReply]) -> RedisReply {
        .array([.bulk("slots"), .array(slots.map { .integer($0) }), .bulk("nodes"), .array(nodes)])
    }

    static let idA = String(repeating: "a", count: 40), idB = String(repeating: "b", count: 40)
    static let idC = String(repeating: "c", count: 40), idD = String(repeating: "d", count: 40)
    static let idE = String(repeating: "e", count: 40), idF = String(repeating: "f", count: 40)

    /// What Redis 7.0 answers after a reshard moved 0-99 to the second master and a failover
    /// swapped the third master with its replica (shards in the server's own order).
    static let shardsReply: RedisReply = .array([
        shard([5461, 10922, 0, 99], [node(idB, 7001, "master"), node(idE, 7004, "replica")]),
        shard([100, 5460], [node(idA, 7000, "master"), node(idD, 7003, "replica", offset: 0, health: "loading")]),
        shard([10923, 16383], [node(idC, 7002, "replica", health: "online"), node(idF, 7005, "master")]),
    ])

    @Test func topologyFromClusterShards() throws {
        let t = try RedisClusterTopology(clusterShardsReply: Self.shardsReply)
        #expect(t.shards.count == 3)
        #expect(t.shards.map(\.master.id) == [Self.idB, Self.idA, Self.idF])  // by first slot: 0, 100, 10923
        #expect(t.shards[0].slotRanges == [0...99, 5461...10922])
        #expect(t.shards[0].slotCount == 100 + 5462)
        #expect(t.shards[1].replicas == [RedisClusterNode(id: Self.idD, endpoint: .tcp(host: "127.0.0.1", port: 7003), role: .replica, health: "loading", replicationOffset: 0)])
        #expect(t.shards[2].master.endpoint == .tcp(host: "127.0.0.1", port: 7005))
        #expect(t.shards[2].replicas.map(\.id) == [Self.idC])
        #expect(t.isFullyCovered && t.coveredSlotCount == 16_384 && t.uncoveredSlotRanges.isEmpty)
        #expect(t.shardIndex(forSlot: 0) == 0 && t.shardIndex(forSlot: 99) == 0 && t.shardIndex(forSlot: 100) == 1)
        #expect(t.shardIndex(forSlot: 16_383) == 2 && t.shardIndex(forSlot: 16_384) == nil && t.shardIndex(forSlot: -1) == nil)
        #expect(t.master(forSlot: 12304)?.id == Self.idF)
        #expect(t.shardIndex(forKey: "product:{17}:stock") == 2)
        #expect(t.shardIndex(ofMaster: .tcp(host: "127.0.0.1", port: 7000)) == 1)
        #expect(t.shardIndex(ofMaster: .tcp(host: "127.0.0.1", port: 7003)) == nil)
    }

    @Test func coverageGapsAreReported() throws {
        let reply: RedisReply = .array([
            Self.shard([0, 5460], [Self.node(Self.idA, 7000, "master")]),
            Self.shard([5462, 10922], [Self.node(Self.idB, 7001, "master")]),
            Self.shard([], [Self.node(Self.idC, 7002, "master")]),  // a master without slots
        ])
        let t = try RedisClusterTopology(clusterShardsReply: reply)
        #expect(!t.isFullyCovered)
        #expect(t.coveredSlotCount == 5461 + 5461)
        #expect(t.uncoveredSlotRanges == [5461...5461, 10923...16383])
        #expect(t.shardIndex(forSlot: 5461) == nil && t.master(forSlot: 12000) == nil)
        #expect(t.shards.count == 3 && t.shards[2].slotRanges.isEmpty)
    }

    @Test func endpointFallsBackToIPThenToTheConnectedHost() throws {
        let reply: RedisReply = .array([
            Self.shard([0, 16383], [
                Self.node(Self.idA, 7000, "master", ip: "10.0.0.1", endpoint: "?"),
                Self.node(Self.idB, 7001, "replica", ip: "", endpoint: ""),
                Self.node(Self.idC, 7002, "replica", ip: "10.0.0.3", endpoint: "redis-3.internal"),
            ])
        ])
        let t = try RedisClusterTopology(clusterShardsReply: reply, connectedHost: "10.9.9.9")
        #expect(t.shards[0].master.endpoint == .tcp(host: "10.0.0.1", port: 7000))
        #expect(t.shards[0].replicas.map(\.endpoint) == [.tcp(host: "10.9.9.9", port: 7001), .tcp(host: "redis-3.internal", port: 7002)])
    }

    @Test(arguments: [
        ("not an array", RedisReply.bulk("x")),
        ("shard not a map", .array([.array([.bulk("slots")])])),
        ("odd slots", .array([shard([0], [node(idA, 7000, "master")])])),
        ("reversed range", .array([shard([10, 5], [node(idA, 7000, "master")])])),
        ("slot past 16383", .array([shard([0, 16384], [node(idA, 7000, "master")])])),
        ("overlap", .array([shard([0, 10], [node(idA, 7000, "master")]), shard([10, 20], [node(idB, 7001, "master")])])),
        ("no master with slots", .array([shard([0, 10], [node(idA, 7000, "replica")])])),
        ("two masters", .array([shard([0, 10], [node(idA, 7000, "master"), node(idB, 7001, "master")])])),
        ("bad port", .array([shard([0, 10], [node(idA, 0, "master")])])),
        ("bad role", .array([shard([0, 10], [node(idA, 7000, "primary")])])),
        ("no nodes", .array([.array([.bulk("slots"), .array([])])])),
    ])
    func malformedClusterShardsRepliesAreProtocolErrors(_ name: String, _ reply: RedisReply) {
        let error = #expect(throws: RedisError.self, "\(name)") { try RedisClusterTopology(clusterShardsReply: reply) }
        #expect(error?.kind == .protocol, "\(name)")
    }

    @Test func shardWithoutMasterOrSlotsIsSkipped() throws {
        let reply: RedisReply = .array([
            Self.shard([0, 16383], [Self.node(Self.idA, 7000, "master")]),
            Self.shard([], [Self.node(Self.idB, 7001, "replica")]),
        ])
        let t = try RedisClusterTopology(clusterShardsReply: reply)
        #expect(t.shards.count == 1 && t.isFullyCovered)
    }

    /// CLUSTER SLOTS of Redis 7.0: `[start, end, [host, port, id, {metadata}], replicas...]`;
    /// one master can appear in several entries.
    @Test func topologyFromClusterSlots() throws {
        func n(_ host: String, _ port: Int64, _ id: String) -> RedisReply { .array([.bulk(host), .integer(port), .bulk(id), .array([])]) }
        let reply: RedisReply = .array([
            .array([.integer(0), .integer(99), n("127.0.0.1", 7001, Self.idB), n("127.0.0.1", 7004, Self.idE)]),
            .array([.integer(100), .integer(5460), n("127.0.0.1", 7000, Self.idA)]),
            .array([.integer(5461), .integer(10922), n("127.0.0.1", 7001, Self.idB), n("127.0.0.1", 7004, Self.idE)]),
            .array([.integer(10923), .integer(16383), n("", 7005, Self.idF), n("127.0.0.1", 7002, Self.idC)]),
        ])
        let t = try RedisClusterTopology(clusterSlotsReply: reply, connectedHost: "127.0.0.9")
        #expect(t.shards.map(\.master.id) == [Self.idB, Self.idA, Self.idF])
        #expect(t.shards[0].slotRanges == [0...99, 5461...10922])
        #expect(t.shards[0].replicas.map(\.id) == [Self.idE])
        #expect(t.shards[1].replicas.isEmpty)
        #expect(t.shards[2].master.endpoint == .tcp(host: "127.0.0.9", port: 7005))
        #expect(t.isFullyCovered)
        // Old servers (before 4.0) send no id: shards are grouped by address.
        let old: RedisReply = .array([
            .array([.integer(0), .integer(10), .array([.bulk("h"), .integer(1)])]),
            .array([.integer(11), .integer(16383), .array([.bulk("h"), .integer(1)])]),
        ])
        let o = try RedisClusterTopology(clusterSlotsReply: old)
        #expect(o.shards.count == 1 && o.shards[0].slotRanges == [0...16383] && o.shards[0].master.id.isEmpty)
        #expect(throws: RedisError.self) { try RedisClusterTopology(clusterSlotsReply: .array([.array([.integer(0), .integer(1)])])) }
        #expect(throws: RedisError.self) { try RedisClusterTopology(clusterSlotsReply: .array([.array([.integer(0), .integer(1), .array([.bulk("h")])])])) }
        #expect(throws: RedisError.self) { try RedisClusterTopology(clusterSlotsReply: .null) }
    }

    @Test func movedUpdatesTheMapWhenItNamesAKnownMaster() throws {
        // `#expect` cannot hold a mutating call.
        func apply(_ r: RedisClusterRedirect) -> Bool { t.apply(r) }
        var t = try RedisClusterTopology(clusterShardsReply: Self.shardsReply)
        let before = t
        // ASK never changes the map; an unknown node asks for a full refresh.
        #expect(!apply(RedisClusterRedirect(kind: .ask, slot: 100, target: .tcp(host: "127.0.0.1", port: 7001))))
        #expect(!apply(RedisClusterRedirect(kind: .moved, slot: 100, target: .tcp(host: "127.0.0.1", port: 7999))))
        #expect(!apply(RedisClusterRedirect(kind: .moved, slot: 100, target: .tcp(host: "", port: 7001))))
        #expect(!apply(RedisClusterRedirect(kind: .moved, slot: 16_384, target: .tcp(host: "127.0.0.1", port: 7001))))
        #expect(!apply(RedisClusterRedirect(kind: .moved, slot: -1, target: .tcp(host: "127.0.0.1", port: 7001))))
        #expect(t == before)
        #expect(apply(RedisClusterRedirect(kind: .moved, slot: 100, target: .tcp(host: "127.0.0.1", port: 7001))))
        #expect(t.shardIndex(forSlot: 100) == 0)
        #expect(t.shards[0].slotRanges == [0...100, 5461...10922])
        #expect(t.shards[1].slotRanges == [101...5460])
        #expect(apply(RedisClusterRedirect(kind: .moved, slot: 100, target: .tcp(host: "127.0.0.1", port: 7001))))
        #expect(t.isFullyCovered)
    }
}

extension RedisClusterTests {
    @Test func keysAreGroupedByShardIntoPerSlotBatches() throws {
        let reply: RedisReply = .array([
            Self.shard([0, 5460], [Self.node(Self.idA, 7000, "master")]),
            Self.shard([5461, 10922], [Self.node(Self.idB, 7001, "master")]),
            Self.shard([10924, 16383], [Self.node(Self.idC, 7002, "master")]),  // 10923 unserved
        ])
        let t = try RedisClusterTopology(clusterShardsReply: reply)
        let hot = RedisClusterSlot.slot(of: "order:{hot}:1")
        var keys = (1...5_200).map { "product:\($0):stock" }.filter { RedisClusterSlot.slot(of: $0) != hot }.prefix(5_000).map { $0 }
        keys += (1...40).map { "order:{hot}:\($0)" }  // 40 keys in one slot: batches of 16, 16, 8
        let unservedKey = try #require((0..<100_000).lazy.map { "u\($0)" }.first { RedisClusterSlot.slot(of: $0) == 10923 })
        keys.append(unservedKey)
        let slots = keys.map { RedisClusterSlot.slot(of: $0) }
        let groups = RedisClusterKeyGroups(slots: slots + [16_384, -1], topology: t, maxBatch: 16)
        #expect(groups.shards.count == 3)
        #expect(groups.unserved == [keys.count - 1, keys.count, keys.count + 1])
        var seen = Set<Int>()
        for (s, shard) in groups.shards.enumerated() {
            #expect(shard.batches.map(\.count).reduce(0, +) == shard.keys.count)
            var previousSlot = -1
            var next = 0
            for batch in shard.batches {
                #expect(batch.lowerBound == next && !batch.isEmpty && batch.count <= 16)
                next = batch.upperBound
                let batchSlots = Set(batch.map { slots[shard.keys[$0]] })
                #expect(batchSlots.count == 1, "a batch spans slots \(batchSlots)")
                let slot = try #require(batchSlots.first)
                #expect(slot >= previousSlot)
                previousSlot = slot
                #expect(t.shardIndex(forSlot: slot) == s)
            }
            for k in shard.keys { #expect(seen.insert(k).inserted) }
        }
        #expect(seen.count + 1 == keys.count)
        let hotShard = try #require(t.shardIndex(forSlot: hot))
        let hotBatches = groups.shards[hotShard].batches.filter { slots[groups.shards[hotShard].keys[$0.lowerBound]] == hot }
        #expect(hotBatches.map(\.count) == [16, 16, 8])
        // The keys of one slot keep the caller's order.
        #expect(hotBatches.flatMap { $0.map { groups.shards[hotShard].keys[$0] } } == Array(5_000..<5_040))
    }
}
