import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// Every configuration error names the file and the line (and the key) it is about, whether the
/// TOML reader or a check made after it finds it.
@Suite struct ConfigurationErrorTests {
    /// A valid file; the tests change one line of it. Line numbers are 1-based.
    static let valid: [String] = [
        "# test configuration",                 // 1
        "[source]",                             // 2
        "host = \"127.0.0.1\"",                 // 3
        "password_env = \"BR_CONFIG_TEST_PW\"", // 4
        "",                                     // 5
        "[redis]",                              // 6
        "port = 6379",                          // 7
        "",                                     // 8
        "[[watch]]",                            // 9
        "table = \"shop.products\"",            // 10
        "key = \"id\"",                         // 11
        "value = \"stock\"",                    // 12
        "redis_key = \"product:{id}:stock\"",   // 13
        "",                                     // 14
        "[reconcile]",                          // 15
        "repair_per_second = 50",               // 16
    ]
    static let environment = ["BR_CONFIG_TEST_PW": "pw"]

    /// Writes `lines` to a temporary file and loads it: the error's text, and the file's path.
    static func loadError(_ lines: [String]) throws -> (message: String, path: String) {
        let path = NSTemporaryDirectory() + "br-config-\(UUID().uuidString).toml"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ReconcilerConfiguration.load(path: path, environment: environment)
        } catch {
            return (error.description, path)
        }
        Issue.record("the configuration was accepted: \(lines)")
        return ("", path)
    }

    /// `valid` with line `n` (1-based) replaced by `text` (which may hold several lines).
    static func replacing(_ n: Int, with text: String) -> [String] {
        var l = valid
        l[n - 1] = text
        return l
    }

    @Test func theBaseFileIsValid() throws {
        let c = try ReconcilerConfiguration.parse(Self.valid.joined(separator: "\n"), environment: Self.environment)
        #expect(c.watches.count == 1)
        #expect(c.source.password.value == "pw")
    }

    @Test func unknownKey() throws {
        let (m, path) = try Self.loadError(Self.replacing(7, with: "cluster_mode = true"))
        #expect(m == "\(path):7: [redis] unknown key 'cluster_mode'")
    }

    @Test func unknownKeyInASubTableAndAtTheTop() throws {
        let (m, path) = try Self.loadError(Self.replacing(5, with: "[source.tls]\nmode = \"required\"\nverify = true"))
        #expect(m == "\(path):7: [source.tls] unknown key 'verify'")
        let (top, topPath) = try Self.loadError(["log_level = \"debug\""] + Self.valid)
        #expect(top.hasPrefix("\(topPath):1: unknown section or key 'log_level'"), "\(top)")
    }

    @Test func wrongType() throws {
        let (m, path) = try Self.loadError(Self.replacing(7, with: "port = \"6379\""))
        #expect(m == "\(path):7: [redis] port: expected an integer, got string")
        // A multi-line value: the line the key is on.
        let (list, listPath) = try Self.loadError(Self.replacing(11, with: "key = [\n  \"id\",\n  7,\n]"))
        #expect(list == "\(listPath):11: [[watch]] #1 key: expected a list of strings, got integer")
        let (section, sectionPath) = try Self.loadError(["metrics = 5"] + Self.valid)
        #expect(section == "\(sectionPath):1: metrics must be a table ([metrics]), got integer")
        let (tls, tlsPath) = try Self.loadError(Self.replacing(5, with: "tls = \"required\""))
        #expect(tls == "\(tlsPath):5: source.tls must be a table ([source.tls]), got string")
    }

    @Test func outOfRange() throws {
        let (m, path) = try Self.loadError(Self.replacing(16, with: "repair_per_second = 0"))
        #expect(m.hasPrefix("\(path):16: [reconcile] repair_per_second must be above 0 and at most 1000000"), "\(m)")
        #expect(m.hasSuffix("got 0"), "\(m)")
        let (port, portPath) = try Self.loadError(Self.replacing(7, with: "port = 70000"))
        #expect(port == "\(portPath):7: [redis] port must be between 1 and 65535, got 70000")
        let (lead, leadPath) = try Self.loadError(Self.replacing(14, with: "lead_seconds = 1e400"))
        #expect(lead == "\(leadPath):14: [[watch]] #1 lead_seconds: expected a finite number, got inf")
    }

    @Test func missingKeyNamesTheTableHeader() throws {
        let (m, path) = try Self.loadError(Self.replacing(12, with: ""))
        #expect(m == "\(path):9: [[watch]] #1 missing key 'value' (value = \"column\" is required)")
        // The second [[watch]]: its own header.
        let second = Self.valid + ["[[watch]]", "name = \"two\"", "table = \"shop.products\"", "key = \"id\"", "value = \"stock\"", "redis_hash = \"p:{id}\""]
        let (hash, hashPath) = try Self.loadError(second)
        #expect(hash.hasPrefix("\(hashPath):17: [[watch]] #2 missing key 'redis_field'"), "\(hash)")
    }

    @Test func noTableAtAllNamesTheFileOnly() throws {
        let (m, path) = try Self.loadError(Array(Self.valid[0..<8]))
        #expect(m.hasPrefix("\(path): no [[watch]]"), "\(m)")
        // The password is needed later (doctor, check, run): the error still says where.
        let withoutSource = Array(Self.valid[5...])
        let file = NSTemporaryDirectory() + "br-config-\(UUID().uuidString).toml"
        try withoutSource.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let c = try ReconcilerConfiguration.load(path: file, environment: [:])
        #expect(throws: ConfigurationError.self) { try c.source.replicationConfiguration() }
        do { _ = try c.source.replicationConfiguration() } catch {
            #expect(error.description == "\(file): [source] no password: set password_env or password_file")
        }
        let withSource = Self.valid.filter { !$0.hasPrefix("password_env") }
        try withSource.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let d = try ReconcilerConfiguration.load(path: file, environment: [:])
        #expect(throws: ConfigurationError.self) { try d.source.replicationConfiguration() }
        do { _ = try d.source.replicationConfiguration() } catch {
            #expect(error.description == "\(file):2: [source] no password: set password_env or password_file")
        }
    }

    @Test func duplicateKeyAndDuplicateTable() throws {
        let (m, path) = try Self.loadError(Self.valid + ["", "repair_per_second = 5"])
        #expect(m == "\(path):18: key repair_per_second is defined twice")
        let (t, tPath) = try Self.loadError(Self.valid + ["[redis]"])
        #expect(t == "\(tPath):17: table [redis] is defined twice")
    }

    @Test func duplicateWatches() throws {
        let again = ["[[watch]]", "table = \"shop.orders\"", "name = \"shop.products\"", "key = \"id\"", "value = \"n\"", "redis_key = \"order:{id}\""]
        let (m, path) = try Self.loadError(Self.valid + again)
        #expect(m.hasPrefix("\(path):19: [[watch]] #2 name: shop.products is used twice (first by [[watch]] #1, line 10)"), "\(m)")
        let sameKey = ["[[watch]]", "table = \"shop.other\"", "key = \"id\"", "value = \"stock\"", "redis_key = \"product:{id}:stock\""]
        let (k, kPath) = try Self.loadError(Self.valid + sameKey)
        #expect(k.hasPrefix("\(kPath):21: [[watch]] #2 redis_key product:{id}:stock is also watched by [[watch]] #1 (line 13)"), "\(k)")
    }

    @Test func badKeyTemplate() throws {
        let (m, path) = try Self.loadError(Self.replacing(13, with: "redis_key = \"product:{sku}:stock\""))
        #expect(m == "\(path):13: [[watch]] #1 redis_key: key template product:{sku}:stock names {sku}, which is not a key column (id)")
        let (open, openPath) = try Self.loadError(Self.replacing(13, with: "redis_key = \"product:{id\""))
        #expect(open == "\(openPath):13: [[watch]] #1 redis_key: key template product:{id: '{' without '}'")
    }

    @Test func syntaxError() throws {
        let (m, path) = try Self.loadError(Self.replacing(3, with: "host = 127.0.0.1"))
        #expect(m == "\(path):3: cannot read value '127.0.0.1' (strings need quotes)")
        let (s, sPath) = try Self.loadError(Self.replacing(10, with: "table = \"shop.products"))
        #expect(s == "\(sPath):10: newline in a single-line string")
    }

    @Test func secretErrorsNameTheirKey() throws {
        let (m, path) = try Self.loadError(Self.replacing(4, with: "password_env = \"BR_CONFIG_TEST_UNSET\""))
        #expect(m == "\(path):4: [source] password_env: environment variable BR_CONFIG_TEST_UNSET is not set")
        let (lit, litPath) = try Self.loadError(Self.replacing(8, with: "password = \"hunter2\""))
        #expect(lit.hasPrefix("\(litPath):8: [redis] password: passwords are not accepted in the file"), "\(lit)")
        #expect(!lit.contains("hunter2"))
    }

    /// Without a file name (`parse`), errors start with the line.
    @Test func parseWithoutAFileNamesTheLine() {
        #expect {
            try ReconcilerConfiguration.parse(Self.replacing(7, with: "modes = 1").joined(separator: "\n"), environment: Self.environment)
        } throws: { error in
            "\(error)" == "line 7: [redis] unknown key 'modes'"
        }
    }

    /// `[redis] mode`, `nodes`, `sentinels`, `master_name` and `read_from` (issue 13's contract):
    /// what each mode needs and refuses, at the key's line.
    @Test func redisTopologyKeys() throws {
        let cluster = try ReconcilerConfiguration.parse(
            Self.replacing(7, with: "mode = \"cluster\"\nnodes = [\"10.0.0.1:7000\", \"[::1]:7001\"]").joined(separator: "\n"),
            environment: Self.environment)
        #expect(cluster.redis.mode == .cluster)
        #expect(try cluster.redis.clusterSeeds() == [.tcp(host: "10.0.0.1", port: 7000), .tcp(host: "::1", port: 7001)])
        #expect(try cluster.redis.redisConfiguration().endpoint == .tcp(host: "10.0.0.1", port: 7000))

        let (mode, p1) = try Self.loadError(Self.replacing(7, with: "mode = \"clustered\""))
        #expect(mode == "\(p1):7: [redis] mode: clustered is not one of standalone, cluster, sentinel")
        let (noNodes, p2) = try Self.loadError(Self.replacing(7, with: "mode = \"cluster\""))
        #expect(noNodes.hasPrefix("\(p2):6: [redis] missing key 'nodes'"), "\(noNodes)")
        let (withPort, p3) = try Self.loadError(Self.replacing(7, with: "port = 7000\nmode = \"cluster\"\nnodes = [\"a:1\"]"))
        #expect(withPort == "\(p3):7: [redis] port: not with mode = \"cluster\": give the seed nodes in nodes = [...]")
        let (db, p4) = try Self.loadError(Self.replacing(7, with: "mode = \"cluster\"\nnodes = [\"a:1\"]\ndatabase = 2"))
        #expect(db == "\(p4):9: [redis] database: Redis Cluster has database 0 only (got 2)")
        let (badNode, p5) = try Self.loadError(Self.replacing(7, with: "mode = \"cluster\"\nnodes = [\"a:1\", \"b\"]"))
        #expect(badNode == "\(p5):8: [redis] nodes: b is not host:port")
        let (replica, p6) = try Self.loadError(Self.replacing(7, with: "read_from = \"replica\""))
        #expect(replica.hasPrefix("\(p6):7: [redis] read_from: replica reads need mode = \"cluster\" or \"sentinel\""), "\(replica)")
        let (sentinel, p7) = try Self.loadError(Self.replacing(7, with: "mode = \"sentinel\"\nsentinels = [\"s:26379\"]"))
        #expect(sentinel.hasPrefix("\(p7):6: [redis] missing key 'master_name'"), "\(sentinel)")
        let (nodesAlone, p8) = try Self.loadError(Self.replacing(7, with: "nodes = [\"a:1\"]"))
        #expect(nodesAlone == "\(p8):7: [redis] nodes: only with mode = \"cluster\" (mode is standalone)")
        let (sentinelPw, p9) = try Self.loadError(Self.replacing(7, with: "mode = \"sentinel\"\nsentinels = [\"s:1\"]\nmaster_name = \"shop\"\nsentinel_password = \"x\""))
        #expect(sentinelPw.hasPrefix("\(p9):10: [redis] sentinel_password: passwords are not accepted in the file"), "\(sentinelPw)")
    }

    /// Deep nesting is an error, not a stack overflow (found by no test before: the reader recursed
    /// once per level).
    @Test func deepNestingIsRefused() {
        for text in [
            "a = " + String(repeating: "[", count: 100_000),
            "a = " + String(repeating: "{b = ", count: 100_000),
            String(repeating: "a.", count: 100_000) + "a = 1",
            "[" + String(repeating: "a.", count: 100_000) + "a]",
            "x = {" + String(repeating: "a.", count: 100) + "a = 1}",
        ] {
            #expect(throws: TOMLError.self) { try TOML.parse(text) }
        }
        let nested = "a = " + String(repeating: "[", count: TOML.maxDepth) + String(repeating: "]", count: TOML.maxDepth)
        #expect(throws: Never.self) { try TOML.parse(nested) }
        let tooDeep = "a = " + String(repeating: "[", count: TOML.maxDepth + 1) + String(repeating: "]", count: TOML.maxDepth + 1)
        #expect(throws: TOMLError.self) { try TOML.parse(tooDeep) }
    }

    /// The TOML representation keeps where each key and table is.
    @Test func tomlKeepsTheLines() throws {
        let doc = try TOML.parse("""
            top = 1
            [a.b]
            x = \"\"\"
            two
            lines\"\"\"
            y.z = 2
            [a]
            w = { v = 1 }
            [[arr]]
            [[arr]]
            k = 3
            """)
        #expect(doc.line == 0)
        #expect(doc.lines["top"] == 1)
        let a = try #require(doc["a"]?.table)
        #expect(doc.lines["a"] == 2)   // implied by [a.b]
        #expect(a.line == 7)           // its own header
        let b = try #require(a["b"]?.table)
        #expect(b.line == 2)
        #expect(b.lines["x"] == 3)
        #expect(b.lines["y"] == 6)
        #expect(b["y"]?.table?.lines["z"] == 6)
        #expect(a.lines["w"] == 8)
        #expect(a["w"]?.table?.line == 8)
        let arr = try #require(doc["arr"]?.array)
        #expect(arr.map { $0.table?.line } == [9, 10])
        #expect(arr[1].table?.lines["k"] == 11)
    }
}
