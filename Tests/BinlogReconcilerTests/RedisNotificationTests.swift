import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

extension RedisTests {
    @Suite struct Notifications {
        /// SET, DEL, INCRBY, EXPIRE, an actual expiry, a CAS repair and FLUSHALL, each checked
        /// to be reported; keys outside the watched prefix are not.
        private func exerciseWrites(
            _ c: RedisConnection,
            _ collector: NotificationCollector,
            prefix: String
        ) throws {
            let k = prefix + "1:stock"
            func expectReported(
                _ what: String,
                _ body: () throws -> Void,
                sourceLocation: SourceLocation = #_sourceLocation
            ) rethrows {
                collector.reset()
                try body()
                #expect(collector.waitForKey(k), "\(what) of \(k) was not reported", sourceLocation: sourceLocation)
            }
            try expectReported("SET") { _ = try c.command(["SET", k, "10"]) }
            try expectReported("INCRBY") { _ = try c.command(["INCRBY", k, "-3"]) }
            try expectReported("EXPIRE") { _ = try c.command(["EXPIRE", k, "100"]) }
            try expectReported("CAS repair") {
                let wrote = try c.compareAndSet(key: k, expected: "7", new: "8")
                #expect(wrote)
            }
            try expectReported("DEL") { _ = try c.command(["DEL", k]) }
            try expectReported("expiry") { _ = try c.command(["SET", k, "1", "PX", "30"]) }
            // The SET itself is reported at once; wait for the expiry proper.
            collector.reset()
            #expect(collector.waitForKey(k), "expiry of \(k) was not reported")
            #expect(try c.command(["EXISTS", k]) == .integer(0))

            // Outside the prefix: not reported (ordering: the later in-prefix write arrives after it).
            collector.reset()
            _ = try c.command(["SET", "brtest:elsewhere:\(UInt32.random(in: 0...UInt32.max))", "1"])
            _ = try c.command(["SET", k, "2"])
            #expect(collector.waitForKey(k))
            #expect(collector.keys.allSatisfy { $0.hasPrefix(prefix) }, "\(collector.keys)")

            collector.reset()
            _ = try c.command(["FLUSHALL"])
            #expect(collector.waitFor { $0.isFlushed }, "FLUSHALL was not reported: \(collector.all)")
        }

        @Test func trackingBroadcastReportsWritesAndFlushes() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let prefix = RedisTestEnv.uniquePrefix("track")
            let collector = NotificationCollector()
            let listener = RedisNotificationListener(
                configuration: RedisTestEnv.configuration,
                source: .tracking(prefixes: [prefix, prefix.uppercased() + "X:"])
            )
            try listener.start(collector.handler)
            try exerciseWrites(c, collector, prefix: prefix)
            listener.stop()
            #expect(collector.all.last == .stopped(nil))
            #expect(!collector.contains { $0.isDisconnected })
            // Both connections are gone from the server.
            #expect(
                eventually { ((try? c.command(["CLIENT", "LIST"]).string) ?? "").split(separator: "\n").count == 1 }
            )
        }

        @Test func keyspaceEventsNeedConfigurationOrPermission() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let saved = try c.configGet("notify-keyspace-events")["notify-keyspace-events"] ?? ""
            defer { try? c.configSet("notify-keyspace-events", saved) }
            try c.configSet("notify-keyspace-events", "Kl")
            let refused = RedisNotificationListener(
                configuration: RedisTestEnv.configuration,
                source: .keyspaceEvents(prefix: "brtest:", configureServer: false)
            )
            let error = #expect(throws: RedisError.self) { try refused.start { _ in } }
            #expect(error?.kind == .notConfigured)
            #expect(error?.message.contains("notify-keyspace-events") == true)
            #expect(error?.message.contains("missing \"$gxe\"") == true)
            #expect(try c.configGet("notify-keyspace-events")["notify-keyspace-events"] == "lK")

            let allowed = RedisNotificationListener(
                configuration: RedisTestEnv.configuration,
                source: .keyspaceEvents(prefix: "brtest:", configureServer: true, hashEvents: true)
            )
            try allowed.start { _ in }
            allowed.stop()
            let now = try #require(try c.configGet("notify-keyspace-events")["notify-keyspace-events"])
            for flag in "K$gxehl" { #expect(now.contains(flag), "\(flag) missing from \(now)") }
        }

        @Test func keyspaceFlagsMerge() {
            #expect(KeyspaceEventFlags.missing(current: "", required: "K$gxe") == "K$gxe")
            #expect(KeyspaceEventFlags.missing(current: "AK", required: "K$gxeh") == "")
            #expect(KeyspaceEventFlags.missing(current: "AE", required: "K$gxe") == "K")
            #expect(KeyspaceEventFlags.missing(current: "g$xeK", required: "K$gxeh") == "h")
        }

        @Test func keyspaceEventsReportWritesAndFlushes() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let saved = try c.configGet("notify-keyspace-events")["notify-keyspace-events"] ?? ""
            defer { try? c.configSet("notify-keyspace-events", saved) }
            try c.configSet("notify-keyspace-events", "")
            let prefix = RedisTestEnv.uniquePrefix("ks*[glob]")  // glob specials are escaped
            let collector = NotificationCollector()
            let listener = RedisNotificationListener(
                configuration: RedisTestEnv.configuration,
                source: .keyspaceEvents(prefix: prefix, configureServer: true, hashEvents: true)
            )
            try listener.start(collector.handler)
            defer { listener.stop() }
            try exerciseWrites(c, collector, prefix: prefix)

            // hash events ("h") for hash-field watches
            collector.reset()
            _ = try c.command(["HSET", prefix + "h", "stock", "1"])
            #expect(collector.waitForKey(prefix + "h"))
        }

        @Test func keyspaceEventsFollowTheConfiguredDatabase() throws {
            guard let c = RedisTestEnv.connect() else { return }
            let saved = try c.configGet("notify-keyspace-events")["notify-keyspace-events"] ?? ""
            defer { try? c.configSet("notify-keyspace-events", saved) }
            var cfg = RedisTestEnv.configuration
            cfg.database = 2
            let db2 = try RedisConnection(configuration: cfg)
            let prefix = RedisTestEnv.uniquePrefix("ksdb")
            let collector = NotificationCollector()
            let listener = RedisNotificationListener(
                configuration: cfg,
                source: .keyspaceEvents(prefix: prefix, configureServer: true)
            )
            try listener.start(collector.handler)
            defer { listener.stop() }
            _ = try c.command(["SET", prefix + "in-db0", "1"])
            _ = try db2.command(["SET", prefix + "in-db2", "1"])
            #expect(collector.waitForKey(prefix + "in-db2"))
            #expect(!collector.keys.contains(prefix + "in-db0"))
            _ = try c.command(["DEL", prefix + "in-db0"])
            _ = try db2.command(["DEL", prefix + "in-db2"])
        }

        @Test func asyncStreamDeliversAndFinishesOnStop() async throws {
            guard let c = RedisTestEnv.connect() else { return }
            let prefix = RedisTestEnv.uniquePrefix("stream")
            let listener = RedisNotificationListener(
                configuration: RedisTestEnv.configuration,
                source: .tracking(prefixes: [prefix])
            )
            let stream = try listener.start()
            _ = try c.command(["SET", prefix + "a", "1"])
            _ = try c.command(["DEL", prefix + "a"])
            let watchdog = Task {
                try await Task.sleep(for: .seconds(3))
                listener.stop()
            }
            var received: [RedisNotification] = []
            var keys = 0
            for await n in stream {
                received.append(n)
                if case .keys(let k) = n { keys += k.count }
                if keys >= 2 { listener.stop() }
            }
            watchdog.cancel()
            #expect(keys >= 2, "\(received)")
            #expect(received.last == .stopped(nil))
        }

        @Test func aclUserWithoutSubscribePermissionIsRefusedClearly() throws {
            guard let admin = RedisTestEnv.connect() else { return }
            let user = "brtest_\(UInt32.random(in: 0...UInt32.max))"
            _ = try admin.command(["ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "-subscribe", "resetchannels"])
            defer { _ = try? admin.command(["ACL", "DELUSER", user]) }
            var cfg = RedisTestEnv.configuration
            cfg.username = user
            cfg.password = "pw"
            let listener = RedisNotificationListener(configuration: cfg, source: .tracking(prefixes: ["brtest:"]))
            let error = #expect(throws: RedisError.self) { try listener.start { _ in } }
            #expect(error?.kind == .server)
            #expect(error?.message.hasPrefix("SUBSCRIBE") == true)
        }
    }
}
