import Foundation
import Testing
@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// The `[metrics]` section's limit keys: defaults, overrides, and values refused.
@Suite struct MetricsConfigurationTests {
    static let watch = """
        [[watch]]
        table = "shop.products"
        key = "id"
        value = "stock"
        redis_key = "product:{id}:stock"

        """

    static func parse(_ metrics: String) throws(ConfigurationError) -> ReconcilerConfiguration {
        try ReconcilerConfiguration.parse(watch + "[metrics]\n" + metrics, environment: [:])
    }

    @Test func defaultsWhenTheKeysAreAbsent() throws {
        let c = try ReconcilerConfiguration.parse(Self.watch, environment: [:])
        #expect(c.metrics.listen == "127.0.0.1:9187")
        #expect(c.metrics.limits == MetricsServer.Limits())
        #expect(c.metrics.limits.maxConnections == 64)
        #expect(c.metrics.limits.idleTimeout == .seconds(30))
        #expect(c.metrics.limits.maxPipelinedRequests == 16)
        #expect(c.metrics.limits.maxHeaderBytes == 8192)
        #expect(c.metrics.limits.maxBodyBytes == 65536)
    }

    @Test func everyKeyIsRead() throws {
        let c = try Self.parse("""
            listen = "127.0.0.1:9999"
            max_connections = 8
            idle_timeout_seconds = 2.5
            max_pipelined_requests = 4
            max_header_bytes = 4096
            max_body_bytes = 0
            """)
        #expect(c.metrics.listen == "127.0.0.1:9999")
        #expect(c.metrics.limits.maxConnections == 8)
        #expect(c.metrics.limits.idleTimeout == .milliseconds(2500))
        #expect(c.metrics.limits.maxPipelinedRequests == 4)
        #expect(c.metrics.limits.maxHeaderBytes == 4096)
        #expect(c.metrics.limits.maxBodyBytes == 0)
        // An integer is a number of seconds too.
        #expect(try Self.parse("idle_timeout_seconds = 30").metrics.limits.idleTimeout == .seconds(30))
    }

    @Test func outOfRangeAndMistypedValuesAreRefused() {
        for bad in [
            "max_connections = 0", "max_connections = 100000", "idle_timeout_seconds = 0", "idle_timeout_seconds = -1",
            "idle_timeout_seconds = 7200", "max_pipelined_requests = 0", "max_header_bytes = 100", "max_body_bytes = -1",
            "max_connections = \"64\"", "max_connection = 64",
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try Self.parse(bad) }
        }
        do {
            _ = try Self.parse("max_connections = 0")
        } catch {
            #expect(error.description == "line 7: [metrics] max_connections must be between 1 and 65536, got 0")
        }
    }

    /// The `[metrics]` block of docs/configuration.md parses and gives the defaults.
    @Test func theDocumentedExampleParsesToTheDefaults() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex(of: "[metrics]"))
        let block = lines[(start + 1)...].prefix { !$0.isEmpty }.joined(separator: "\n")
        #expect(block.contains("max_connections"))
        let c = try Self.parse(block)
        #expect(c.metrics.listen == "127.0.0.1:9187")
        #expect(c.metrics.limits == MetricsServer.Limits())
    }
}
