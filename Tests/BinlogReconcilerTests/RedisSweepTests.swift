import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

extension RedisTests {
    /// The reconciler helpers: pipelined reads, TYPE, SCAN, CONFIG and the CAS repairs.
    @Suite struct Sweep {
        @Test(arguments: [(1, 1), (3, 2), (7, 8), (1000, 8)] as [(Int, Int)])
        func mgetKeepsOrderAndReportsMissingKeysAsNil(batch: Int, depth: Int) throws {
            guard let c = RedisTestEnv.connect() else { return }
            let p = RedisTestEnv.uniquePrefix("mget")
            let keys = (0..<25).map { "\(p)\($0)" }
            defer { _ = try? c.command(["DEL"] + keys) }
            // Every third key is missing; key 4 is a hash (MGET reports nil for it too).
            var expected: [String?] = []
            var sets: [[String]] = []
            for (i, k) in keys.enumerated() {
                if i % 3 == 0 {
                    expected.append(nil)
                } else if i == 4 {
                    sets.append(["HSET", k, "f", "v"])
                    expected.append(nil)
                } else {
                    sets.append(["SET", k, "v\(i)"])
                    expected.append("v\(i)")
                }
            }
            _ = try c.pipeline(sets)
            #expect(try c.mget(keys: keys, batchSize: batch, pipelineDepth: depth) == expected)
            #expect(
                try c.mgetBytes(keys: keys, batchSize: batch, pipelineDepth: depth)
                    == expected.map { $0.map { Array($0.utf8) } }
            )
            var seen: [Int] = []
            try c.mget(keys: keys, batchSize: batch, pipelineDepth: depth) { i, value in
                seen.append(i)
                #expect(value.map { String(decoding: $0, as: UTF8.self) } == expected[i])
            }
            #expect(seen == Array(0..<25))
            #expect(try c.mget(keys: [], batchSize: batch) == [])
            // The nil ones: missing or of another type.
            let types = try c.types(
                keys.enumerated().filter { expected[$0.offset] == nil }.map(\.element),
                batchSize: 2
            )
            #expect(types.filter { $0 == .hash }.count == 1)
            #expect(types.filter { $0 == .none }.count == 9)
            // The connection is in sync afterwards.
            #expect(try c.command(["PING"]) == .status("PONG"))
        }

        @Test func mgetBinaryValues() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let k = RedisTestEnv.uniquePrefix("mgetbin") + "k"
            defer { _ = try? c.command(["DEL", k]) }
            let value: [UInt8] = [0, 0xFF, 13, 10, 0x80]
            _ = try c.command([Array("SET".utf8), Array(k.utf8), value])
            #expect(try c.mgetBytes(keys: [k, k + "x"]) == [value, nil])
        }

        @Test func mgetServerErrorLeavesTheConnectionInSync() throws {
            guard let admin = RedisTestEnv.connect() else { return }
            let user = "brtest_\(UInt32.random(in: 0...UInt32.max))"
            _ = try admin.command(["ACL", "SETUSER", user, "on", ">pw", "~brtest:*", "+@all"])
            defer { _ = try? admin.command(["ACL", "DELUSER", user]) }
            var cfg = RedisTestEnv.configuration
            cfg.username = user
            cfg.password = "pw"
            let c = try RedisConnection(configuration: cfg)
            // Batch 3 of 5 touches a key outside the user's ACL: NOPERM, with batches 4 and 5 in flight.
            var keys = (0..<15).map { "brtest:acl:\($0)" }
            keys[7] = "forbidden:key"
            let error = #expect(throws: RedisError.self) { try c.mget(keys: keys, batchSize: 3, pipelineDepth: 4) }
            #expect(error?.serverErrorCode == "NOPERM")
            #expect(c.isConnected)
            #expect(try c.command(["PING"]) == .status("PONG"))
        }

        @Test func hmgetReadsHashFieldsPipelined() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let p = RedisTestEnv.uniquePrefix("hmget")
            defer { _ = try? c.command(["DEL", p + "h1", p + "h2", p + "s"]) }
            _ = try c.pipeline([
                ["HSET", p + "h1", "stock", "5", "price", "9.99"], ["HSET", p + "h2", "stock", "0"],
                ["SET", p + "s", "x"],
            ])
            let fields = [
                RedisHashField(key: p + "h1", field: "stock"), RedisHashField(key: p + "h1", field: "price"),
                RedisHashField(key: p + "h1", field: "missing"), RedisHashField(key: p + "h2", field: "stock"),
                RedisHashField(key: p + "nokey", field: "stock"), RedisHashField(key: p + "s", field: "stock"),
            ]
            let expected: [String?] = ["5", "9.99", nil, "0", nil, nil]
            #expect(try c.hmget(fields, batchSize: 4, pipelineDepth: 2) == expected)
            #expect(try c.hmget(fields, batchSize: 1, pipelineDepth: 1) == expected)
            #expect(try c.type(p + "s") == .string)
            #expect(try c.type(p + "h1") == .hash)
            #expect(try c.type(p + "nokey") == RedisKeyType.none)
        }

        @Test func scanVisitsEveryMatchingKey() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let p = RedisTestEnv.uniquePrefix("scan")
            let keys = (0..<40).map { "\(p)\($0):stock" }
            defer { _ = try? c.command(["DEL"] + keys + [p + "hash:stock"]) }
            _ = try c.pipeline(keys.map { ["SET", $0, "1"] } + [["HSET", p + "hash:stock", "f", "v"]])
            let template = try RedisKeyTemplate(p + "{id}:stock", keyColumns: ["id"])
            let all = try c.scanAll(pattern: template.scanPattern, count: 7)
            #expect(Set(all) == Set(keys + [p + "hash:stock"]))
            #expect(Set(try c.scanAll(pattern: template.scanPattern, count: 7, type: .string)) == Set(keys))
            var pages = 0
            try c.scan(pattern: template.scanPattern, count: 1) { page in
                if !page.isEmpty { pages += 1 }
                return pages < 2
            }
            #expect(pages == 2)
        }

        @Test func configGetAndSet() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let single = try c.configGet("maxmemory-policy")
            #expect(single.keys.sorted() == ["maxmemory-policy"])
            let several = try c.configGet("maxmemory*")
            #expect(several.count > 1)
            #expect(try c.configGet("no-such-parameter").isEmpty)
            let before = try #require(try c.configGet("slowlog-max-len")["slowlog-max-len"])
            try c.configSet("slowlog-max-len", "129")
            #expect(try c.configGet("slowlog-max-len")["slowlog-max-len"] == "129")
            try c.configSet("slowlog-max-len", before)
            let bad = #expect(throws: RedisError.self) { try c.configSet("no-such-parameter", "1") }
            #expect(bad?.kind == .server)
        }

        // MARK: CAS repairs

        @Test func compareAndSetWritesOnlyWhenTheValueMatches() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let k = RedisTestEnv.uniquePrefix("cas") + "stock"
            defer { _ = try? c.command(["DEL", k]) }
            // absent, expected absent -> write
            #expect(try c.compareAndSet(key: k, expected: nil, new: "10"))
            #expect(try c.command(["GET", k]).string == "10")
            // present, expected absent -> no write
            #expect(try c.compareAndSet(key: k, expected: nil, new: "11") == false)
            // wrong expectation -> no write
            #expect(try c.compareAndSet(key: k, expected: "9", new: "12") == false)
            #expect(try c.command(["GET", k]).string == "10")
            // matching expectation -> write, TTL kept
            _ = try c.command(["EXPIRE", k, "1000"])
            #expect(try c.compareAndSet(key: k, expected: "10", new: "7"))
            #expect(try c.command(["GET", k]).string == "7")
            #expect((try c.command(["TTL", k]).integer ?? -1) > 900)
            // new == nil deletes, only when it matches
            #expect(try c.compareAndSet(key: k, expected: "8", new: nil) == false)
            #expect(try c.compareAndSet(key: k, expected: "7", new: nil))
            #expect(try c.command(["EXISTS", k]) == .integer(0))
            // absent, expected a value -> no write
            #expect(try c.compareAndSet(key: k, expected: "7", new: "1") == false)
            #expect(try c.command(["EXISTS", k]) == .integer(0))
            // wrong type is an error, not a silent overwrite
            _ = try c.command(["HSET", k, "f", "v"])
            let error = #expect(throws: RedisError.self) { try c.compareAndSet(key: k, expected: nil, new: "1") }
            #expect(error?.message.contains("WRONGTYPE") == true)
            #expect(try c.type(k) == .hash)
        }

        @Test func compareAndSetSurvivesAFlushedScriptCache() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let k = RedisTestEnv.uniquePrefix("cas-noscript") + "stock"
            defer { _ = try? c.command(["DEL", k]) }
            #expect(try c.compareAndSet(key: k, expected: nil, new: "1"))  // SCRIPT LOAD + EVALSHA
            _ = try c.command(["SCRIPT", "FLUSH"])
            #expect(try c.compareAndSet(key: k, expected: "1", new: "2"))  // NOSCRIPT -> EVAL
            #expect(try c.compareAndSet(key: k, expected: "2", new: "3"))  // EVALSHA works again
            #expect(try c.command(["GET", k]).string == "3")
        }

        @Test func compareAndSetHashField() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let k = RedisTestEnv.uniquePrefix("hcas") + "product"
            defer { _ = try? c.command(["DEL", k]) }
            #expect(try c.compareAndSetHashField(key: k, field: "stock", expected: nil, new: "5"))
            #expect(try c.compareAndSetHashField(key: k, field: "stock", expected: nil, new: "6") == false)
            #expect(try c.compareAndSetHashField(key: k, field: "stock", expected: "4", new: "6") == false)
            #expect(try c.compareAndSetHashField(key: k, field: "stock", expected: "5", new: "6"))
            _ = try c.command(["HSET", k, "name", "widget"])
            #expect(try c.compareAndSetHashField(key: k, field: "stock", expected: "6", new: nil))
            #expect(try c.command(["HGETALL", k]) == .array([.bulk("name"), .bulk("widget")]))
        }
    }
}
