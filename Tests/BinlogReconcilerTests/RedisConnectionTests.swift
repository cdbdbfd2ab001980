import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient
import BinlogSimulator

extension RedisTests {
    @Suite struct Connection {
        // MARK: Commands and pipelines

        @Test func commandsAndReplyKinds() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let k = RedisTestEnv.uniquePrefix("cmd") + "k"
            defer { _ = try? c.command(["DEL", k, k + ":list"]) }
            #expect(try c.command(["PING"]) == .status("PONG"))
            #expect(try c.command(["SET", k, "41"]) == .status("OK"))
            #expect(try c.command(["INCR", k]) == .integer(42))
            #expect(try c.command(["GET", k]).string == "42")
            #expect(try c.command(["GET", k + ":missing"]) == .null)
            _ = try c.command(["RPUSH", k + ":list", "a", "b"])
            #expect(try c.command(["LRANGE", k + ":list", "0", "-1"]) == .array([.bulk("a"), .bulk("b")]))
        }

        @Test func serverErrorIsThrownAndConnectionStaysUsable() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let k = RedisTestEnv.uniquePrefix("err") + "k"
            defer { _ = try? c.command(["DEL", k]) }
            _ = try c.command(["HSET", k, "f", "v"])
            let error = #expect(throws: RedisError.self) { try c.command(["GET", k]) }
            #expect(error?.kind == .server)
            #expect(error?.serverErrorCode == "WRONGTYPE")
            #expect(error?.message.hasPrefix("GET at 127.0.0.1:\(RedisTestEnv.port): WRONGTYPE") == true)
            #expect(c.isConnected)
            #expect(try c.command(["PING"]) == .status("PONG"))
        }

        @Test func pipelineReturnsRepliesInOrderWithErrorsInTheirSlots() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let k = RedisTestEnv.uniquePrefix("pipe") + "k"
            defer { _ = try? c.command(["DEL", k]) }
            let replies = try c.pipeline([
                ["SET", k, "1"], ["INCRBY", k, "4"], ["GET", k], ["HGET", k, "f"], ["PING"],
            ])
            #expect(replies.count == 5)
            #expect(replies[0] == .status("OK"))
            #expect(replies[1] == .integer(5))
            #expect(replies[2] == .bulk("5"))
            #expect(replies[3].errorMessage?.hasPrefix("WRONGTYPE") == true)
            #expect(replies[4] == .status("PONG"))
            #expect(try c.pipeline([] as [[String]]).isEmpty)
            // 2,000 commands in one round trip
            let many = try c.pipeline((0..<2000).map { _ in ["INCR", k] })
            #expect(many.last == .integer(2005))
        }

        @Test func binarySafeKeysAndValues() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let key: [UInt8] = Array(RedisTestEnv.uniquePrefix("bin").utf8) + [0, 0xFF, 13, 10]
            let value: [UInt8] = [0, 1, 2, 0xFF, 0xFE, 13, 10, 0x80, 0]
            defer { _ = try? c.command([Array("DEL".utf8), key]) }
            #expect(try c.command([Array("SET".utf8), key, value]) == .status("OK"))
            #expect(try c.command([Array("GET".utf8), key]) == .bulk(value))
            #expect(try c.command([Array("STRLEN".utf8), key]) == .integer(Int64(value.count)))
            let replies = try c.pipeline([[Array("GET".utf8), key], [Array("EXISTS".utf8), key]])
            #expect(replies == [.bulk(value), .integer(1)])
            let keyString = String(decoding: key, as: UTF8.self)
            // A key that is not valid UTF-8 cannot round-trip through String; the bytes API is the way.
            #expect(Array(keyString.utf8) != key)
            // Empty arguments are fine too.
            let emptyKey = RedisTestEnv.uniquePrefix("empty")
            defer { _ = try? c.command(["DEL", emptyKey]) }
            #expect(try c.command(["SET", emptyKey, ""]) == .status("OK"))
            #expect(try c.command(["GET", emptyKey]) == .bulk([]))
        }

        // MARK: AUTH

        @Test func aclUserAuthenticatesWithUsernameAndPassword() throws {
            guard let admin = RedisTestEnv.connect() else { return }
            let user = "brtest_\(UInt32.random(in: 0...UInt32.max))"
            let password = "pw-\(UInt64.random(in: 0...UInt64.max))"
            _ = try admin.command(["ACL", "SETUSER", user, "on", ">" + password, "~brtest:*", "+@all"])
            defer { _ = try? admin.command(["ACL", "DELUSER", user]) }

            var cfg = RedisTestEnv.configuration
            cfg.username = user
            cfg.password = password
            let c = try RedisConnection(configuration: cfg)
            #expect(try c.command(["ACL", "WHOAMI"]).string == user)
            // The ACL confines the user to brtest:* keys.
            let denied = #expect(throws: RedisError.self) { try c.command(["GET", "not-brtest"]) }
            #expect(denied?.serverErrorCode == "NOPERM")
        }

        @Test func wrongPasswordGivesAClearErrorWithoutThePassword() throws {
            guard let admin = RedisTestEnv.connect() else { return }
            let user = "brtest_\(UInt32.random(in: 0...UInt32.max))"
            let password = "right-\(UInt64.random(in: 0...UInt64.max))"
            let wrong = "wrong-\(UInt64.random(in: 0...UInt64.max))"
            _ = try admin.command(["ACL", "SETUSER", user, "on", ">" + password, "~*", "+@all"])
            defer { _ = try? admin.command(["ACL", "DELUSER", user]) }

            var cfg = RedisTestEnv.configuration
            cfg.username = user
            cfg.password = wrong
            let error = #expect(throws: RedisError.self) { try RedisConnection(configuration: cfg) }
            let text = error.map { "\($0) \(String(reflecting: $0)) \($0.serverMessage ?? "")" } ?? ""
            #expect(error?.kind == .authenticationFailed)
            #expect(error?.serverErrorCode == "WRONGPASS")
            #expect(text.contains("AUTH as user '\(user)' at 127.0.0.1:\(RedisTestEnv.port) refused: WRONGPASS"))
            #expect(!text.contains(wrong))
            #expect(!text.contains(password))
            #expect(error?.isRetryable == false)
            // The configuration itself never prints the password either.
            var dumped = ""
            dump(cfg, to: &dumped)
            for rendering in ["\(cfg)", String(reflecting: cfg), dumped] {
                #expect(!rendering.contains(wrong), "\(rendering)")
            }
            #expect("\(cfg)" == "redis://\(user):***@127.0.0.1:\(RedisTestEnv.port)/0")
        }

        @Test func defaultUserPasswordWithRequirepass() throws {
            guard let admin = RedisTestEnv.connect() else { return }
            let password = "rp-\(UInt64.random(in: 0...UInt64.max))"
            // AUTH <password> with no password configured: Redis refuses, and says so.
            var cfg = RedisTestEnv.configuration
            cfg.password = password
            let unconfigured = #expect(throws: RedisError.self) { try RedisConnection(configuration: cfg) }
            #expect(unconfigured?.kind == .authenticationFailed)
            #expect(unconfigured.map { "\($0)".contains(password) } == false)

            _ = try admin.command(["CONFIG", "SET", "requirepass", password])
            defer { _ = try? admin.command(["CONFIG", "SET", "requirepass", ""]) }
            let c = try RedisConnection(configuration: cfg)  // sends AUTH <password>
            #expect(try c.command(["ACL", "WHOAMI"]).string == "default")
            // Without a password the connection opens, but commands are refused.
            let anonymous = try RedisConnection(configuration: RedisTestEnv.configuration)
            let noauth = #expect(throws: RedisError.self) { try anonymous.command(["PING"]) }
            #expect(noauth?.serverErrorCode == "NOAUTH")
        }

        // MARK: SELECT

        @Test func selectsTheConfiguredDatabase() throws {
            guard let db0 = RedisTestEnv.connect() else { return }
            var cfg = RedisTestEnv.configuration
            cfg.database = 3
            let db3 = try RedisConnection(configuration: cfg)
            let k = RedisTestEnv.uniquePrefix("db") + "k"
            defer { _ = try? db3.command(["DEL", k]) }
            _ = try db3.command(["SET", k, "in-3"])
            #expect(try db0.command(["GET", k]) == .null)
            #expect(try RedisConnection(configuration: cfg).command(["GET", k]).string == "in-3")
            #expect(try db3.command(["CLIENT", "INFO"]).string?.contains(" db=3 ") == true)

            cfg.database = 9999
            let error = #expect(throws: RedisError.self) { try RedisConnection(configuration: cfg) }
            #expect(error?.kind == .server)
            #expect(error?.message.contains("SELECT 9999") == true)
        }

        // MARK: Failures

        @Test func refusedConnectionIsAConnectionFailure() {
            // Port 1 on loopback: nothing listens there.
            let error = #expect(throws: RedisError.self) {
                try RedisConnection(configuration: RedisConfiguration(host: "127.0.0.1", port: 1))
            }
            #expect(error?.kind == .connectionFailed)
            #expect(error?.message.contains("127.0.0.1:1") == true)
            #expect(error?.isRetryable == true)
            let missing = #expect(throws: RedisError.self) {
                try RedisConnection(configuration: RedisConfiguration(unixSocketPath: "/nonexistent/redis.sock"))
            }
            #expect(missing?.kind == .connectionFailed)
            #expect(missing?.message.contains("unix:/nonexistent/redis.sock") == true)
        }

        @Test func commandTimeoutBreaksTheConnectionUntilReconnect() throws {
            var cfg = RedisTestEnv.configuration
            cfg.commandTimeout = .milliseconds(150)
            guard let c = RedisTestEnv.connect(cfg) else { return }
            let list = RedisTestEnv.uniquePrefix("timeout") + "empty-list"
            let start = ContinuousClock.now
            let error = #expect(throws: RedisError.self) { try c.command(["BLPOP", list, "2"]) }
            #expect(error?.kind == .timeout)
            #expect(ContinuousClock.now - start < .seconds(1))
            #expect(!c.isConnected)
            let broken = #expect(throws: RedisError.self) { try c.command(["PING"]) }
            #expect(broken?.kind == .connectionLost)
            try c.reconnect()
            #expect(try c.command(["PING"]) == .status("PONG"))
        }

        @Test func killedConnectionIsReportedAsLostAndRetried() throws {
            guard let admin = RedisTestEnv.connect(), let c = RedisTestEnv.connect() else { return }
            let id = try #require(c.command(["CLIENT", "ID"]).integer)
            _ = try admin.command(["CLIENT", "KILL", "ID", String(id)])
            let error = #expect(throws: RedisError.self) { try c.command(["PING"]) }
            #expect(error?.kind == .connectionLost)
            var retries = 0
            let pong = try c.withRetry(onRetry: { _, _, _ in retries += 1 }) { c throws(RedisError) in
                try c.command(["PING"])
            }
            #expect(pong == .status("PONG"))
            #expect(retries == 0)  // withRetry reconnects a broken connection before the first attempt
        }

        // MARK: Unix socket

        @Test func connectsOverAUnixSocket() throws {
            let socket = "/tmp/br-redis-test-\(getpid()).sock"
            let args = [
                "redis-server", "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--logfile", "",
            ]
            guard let server = ChildProcess.spawn(args, environment: ProcessInfo.processInfo.environment) else {
                Issue.record("cannot start redis-server for the unix-socket test: \(String(cString: strerror(errno)))")
                return
            }
            defer {
                ChildProcess.stop(server)
                unlink(socket)
            }
            let cfg = RedisConfiguration(unixSocketPath: socket, database: 1)
            var c: RedisConnection?
            _ = eventually(timeout: .seconds(5)) {
                c = try? RedisConnection(configuration: cfg)
                return c != nil
            }
            let conn = try #require(c, "redis-server did not open \(socket)")
            #expect(try conn.command(["SET", "k", "v"]) == .status("OK"))
            #expect(try conn.command(["GET", "k"]).string == "v")
            #expect(try conn.command(["CLIENT", "INFO"]).string?.contains(" db=1 ") == true)
            #expect("\(cfg)" == "redis://unix:\(socket)/1")
        }

        // MARK: Retry policy

        @Test func retryPolicyBacksOffExponentiallyWithBoundedJitter() {
            let p = RedisRetryPolicy(
                maxAttempts: 10,
                initialDelay: .milliseconds(100),
                maxDelay: .seconds(1),
                multiplier: 2,
                jitter: 0.25
            )
            var g = SystemRandomNumberGenerator()
            for (attempt, nominal) in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)] {
                for _ in 0..<50 {
                    let d = p.delay(afterAttempt: attempt, using: &g).seconds
                    #expect(d <= nominal + 1e-9 && d >= nominal * 0.75 - 1e-9, "attempt \(attempt): \(d)")
                }
            }
            let noJitter = RedisRetryPolicy(initialDelay: .milliseconds(10), jitter: 0)
            #expect(noJitter.delay(afterAttempt: 3) == .milliseconds(40))
        }

        @Test func withRetryGivesUpAfterMaxAttemptsAndNeverRetriesServerErrors() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let policy = RedisRetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(1), maxDelay: .milliseconds(2))
            var attempts = 0
            let lost = #expect(throws: RedisError.self) {
                try c.withRetry(policy) { _ throws(RedisError) -> Int in
                    attempts += 1
                    throw RedisError(.connectionLost, "synthetic")
                }
            }
            #expect(lost?.message == "synthetic")
            #expect(attempts == 4)

            attempts = 0
            let k = RedisTestEnv.uniquePrefix("retry") + "hash"
            defer { _ = try? c.command(["DEL", k]) }
            _ = try c.command(["HSET", k, "f", "v"])
            let server = #expect(throws: RedisError.self) {
                try c.withRetry(policy) { c throws(RedisError) in
                    attempts += 1
                    return try c.command(["GET", k])
                }
            }
            #expect(server?.kind == .server)
            #expect(attempts == 1)
        }
    }
}
