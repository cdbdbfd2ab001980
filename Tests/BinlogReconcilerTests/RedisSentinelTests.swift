import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcilerCore
@testable import RedisClient

/// The Sentinel resolver's decisions on canned replies: the quorum, the reply shapes, the roles,
/// and which failures mean a failover.
struct RedisSentinelTests {
    typealias R = RedisSentinelResolver
    static let a = RedisConfiguration.Endpoint.tcp(host: "127.0.0.1", port: 7000)
    static let b = RedisConfiguration.Endpoint.tcp(host: "127.0.0.1", port: 7001)

    @Test func aMajorityOfTheConfiguredSentinelsMustNameTheSamePrimary() throws {
        let r = try R.decide([.named(Self.a), .named(Self.a), .named(Self.b)], configured: 3, masterName: "shop")
        #expect(r.primary == Self.a && r.agreeing == 2)
        // Two of three answer and agree: still a majority of the configured three.
        #expect(try R.decide([.named(Self.b), .failed("refused"), .named(Self.b)], configured: 3, masterName: "shop").primary == Self.b)
        // One of three: no quorum, whatever the others say.
        #expect(throws: RedisError.self) { try R.decide([.named(Self.a), .failed("refused"), .failed("timeout")], configured: 3, masterName: "shop") }
        #expect(throws: RedisError.self) { try R.decide([.named(Self.a), .unknownName, .named(Self.b)], configured: 3, masterName: "shop") }
        // A 2-2 split of four sentinels (a failover half seen): no primary.
        #expect(throws: RedisError.self) { try R.decide([.named(Self.a), .named(Self.a), .named(Self.b), .named(Self.b)], configured: 4, masterName: "shop") }
        #expect(try R.decide([.named(Self.a), .named(Self.a), .named(Self.a), .named(Self.b)], configured: 4, masterName: "shop").agreeing == 3)
        #expect(R.quorum(configured: 1) == 1 && R.quorum(configured: 3) == 2 && R.quorum(configured: 4) == 3 && R.quorum(configured: 5) == 3)
        do {
            _ = try R.decide([.named(Self.a), .unknownName, .failed("127.0.0.1:27312: connection refused")], configured: 3, masterName: "shop")
            Issue.record("no quorum was accepted")
        } catch {
            #expect(error.kind == .notConfigured)
            #expect(error.message.contains("127.0.0.1:7000; master name unknown; 127.0.0.1:27312: connection refused"), "\(error.message)")
        }
    }

    @Test func getMasterAddrByNameReplies() {
        #expect(R.parseMasterAddress(.array([.bulk("10.0.0.5"), .bulk("6380")])) == .named(.tcp(host: "10.0.0.5", port: 6380)))
        #expect(R.parseMasterAddress(.null) == .unknownName)
        if case .failed(let why) = R.parseMasterAddress(.error("NOAUTH Authentication required.")) { #expect(why.hasPrefix("NOAUTH")) } else { Issue.record("an error reply was taken") }
        for bad: RedisReply in [.array([.bulk("h")]), .array([.bulk("h"), .bulk("x")]), .array([.bulk("h"), .bulk("0")]), .array([.bulk(""), .bulk("1")]), .bulk("h:1"), .integer(1)] {
            if case .failed = R.parseMasterAddress(bad) {} else { Issue.record("\(bad) was taken for an address") }
        }
    }

    @Test func roleReplies() {
        #expect(R.isMaster(role: .array([.bulk("master"), .integer(0), .array([])])))
        #expect(!R.isMaster(role: .array([.bulk("slave"), .bulk("127.0.0.1"), .integer(7000), .bulk("connected"), .integer(1)])))
        #expect(!R.isMaster(role: .array([.bulk("sentinel"), .array([.bulk("shop")])])))
        #expect(!R.isMaster(role: .error("ERR unknown command")))
    }

    @Test func whichFailuresMeanAFailover() {
        #expect(RedisSentinelClient.isFailoverSignal(RedisError(.connectionLost, "x")))
        #expect(RedisSentinelClient.isFailoverSignal(RedisError(.connectionFailed, "x")))
        #expect(RedisSentinelClient.isFailoverSignal(RedisError(.timeout, "x")))
        #expect(RedisSentinelClient.isFailoverSignal(RedisError(.server, "x", serverMessage: "READONLY You can't write against a read only replica.")))
        #expect(RedisSentinelClient.isFailoverSignal(RedisError(.server, "x", serverMessage: "LOADING Redis is loading the dataset in memory")))
        #expect(RedisSentinelClient.isFailoverSignal(RedisError(.server, "x", serverMessage: "MASTERDOWN Link with MASTER is down")))
        #expect(!RedisSentinelClient.isFailoverSignal(RedisError(.server, "x", serverMessage: "WRONGTYPE Operation against a key")))
        #expect(!RedisSentinelClient.isFailoverSignal(RedisError(.authenticationFailed, "x", serverMessage: "WRONGPASS")))
        #expect(Reconciler.runID(infoServer: "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\ntcp_port:1\r\n") == "abc123")
        #expect(Reconciler.runID(infoServer: "# Server\r\n") == nil)
    }

    @Test func sentinelSettingsBecomeAResolver() throws {
        var s = RedisSettings()
        s.mode = .sentinel
        s.sentinels = ["127.0.0.1:27310", "[::1]:27311"]
        s.masterName = "shop"
        s.sentinelUsername = "watcher"
        let r = try s.sentinelResolver()
        #expect(r.sentinels == [.tcp(host: "127.0.0.1", port: 27310), .tcp(host: "::1", port: 27311)])
        #expect(r.masterName == "shop" && r.sentinelBase.username == "watcher")
        s.masterName = nil
        #expect(throws: ConfigurationError.self) { try s.sentinelResolver() }
    }
}
