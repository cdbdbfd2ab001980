import Logging
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

/// What a connection negotiated, and what it says about it: the `preferred` fallback warning, the
/// doctor's `source.tls` line, and the identifier quoting shared by doctor and bootstrap.
@Suite("TLS negotiation is reported")
struct TLSNegotiationTests {
    @Test func preferredWarnsWhenTheSharedServerOffersNoTLS() throws {
        guard TestSource.admin() != nil else { return }
        SQLConnection.resetPlaintextWarnings()
        let log = CapturedLog()
        var config = TestSource.configuration(tls: .init(mode: .preferred))
        config.logger = Logger(label: "tls-test") { _ in CapturingLogHandler(log) }
        let c = try SQLConnection(configuration: config)
        #expect(c.tlsCipher == nil)
        #expect(c.tlsVersion == nil)
        #expect(c.transport == "plaintext")
        #expect(try c.query("SELECT 1").first?.first == "1")
        let warnings = log.lines.filter { $0.hasPrefix("warning") && $0.contains("offers no TLS") && $0.contains("plaintext") }
        #expect(warnings.count == 1, "\(log.lines)")
        #expect(warnings.first?.contains("endpoint=br_admin@127.0.0.1:\(TestSource.port)") == true)
        // Every connection falls back alike: the next ones within the interval say it at debug.
        for _ in 0..<3 { _ = try SQLConnection(configuration: config) }
        #expect(log.lines.filter { $0.hasPrefix("warning") && $0.contains("offers no TLS") }.count == 1, "\(log.lines)")
    }

    @Test func thePlaintextWarningIsRateLimitedPerEndpoint() {
        SQLConnection.resetPlaintextWarnings()
        let t0 = ContinuousClock.now
        #expect(SQLConnection.shouldWarnOfPlaintext(endpoint: "a@h:1", now: t0))
        #expect(!SQLConnection.shouldWarnOfPlaintext(endpoint: "a@h:1", now: t0 + .seconds(599)))
        #expect(SQLConnection.shouldWarnOfPlaintext(endpoint: "b@h:1", now: t0 + .seconds(1)))
        #expect(SQLConnection.shouldWarnOfPlaintext(endpoint: "a@h:1", now: t0 + .seconds(600)))
        #expect(!SQLConnection.shouldWarnOfPlaintext(endpoint: "a@h:1", now: t0 + .seconds(601)))
        SQLConnection.resetPlaintextWarnings()
    }

    @Test func disabledConnectsSilentlyAndRequiredRefusesBeforeAuthentication() throws {
        guard TestSource.admin() != nil else { return }
        let log = CapturedLog()
        var config = TestSource.configuration(tls: .init(mode: .disabled))
        config.logger = Logger(label: "tls-test") { _ in CapturingLogHandler(log) }
        let c = try SQLConnection(configuration: config)
        #expect(c.transport == "plaintext")
        #expect(log.lines.isEmpty)
        config.tls.mode = .required
        #expect {
            try SQLConnection(configuration: config)
        } throws: { error in
            guard let e = error as? SQLError else { return false }
            return e.isServerWithoutTLS && e.message.contains("nothing was sent")
        }
    }

    @Test func preferredAgainstTheFakeServerWarnsAndStillKeepsThePassword() throws {
        let fake = try FakeMySQLServer(scenario: "clear_password")
        let log = CapturedLog()
        var config = CredentialSafetyTests.configuration(port: fake.port, mode: .preferred, password: "fallback-secret-42")
        config.logger = Logger(label: "tls-test") { _ in CapturingLogHandler(log) }
        #expect {
            try SQLConnection(configuration: config)
        } throws: { error in
            (error as? SQLError)?.code == 5010 && "\(error)".contains("required")
        }
        fake.waitUntilIdle()
        #expect(log.lines.contains { $0.hasPrefix("warning") && $0.contains("offers no TLS") })
        #expect(!fake.received().contains(bytes: Array("fallback-secret-42".utf8)))
    }

    @Test func doctorShowsWhatWasNegotiated() throws {
        guard TestSource.admin() != nil else { return }
        for mode in ["disabled", "preferred"] {
            let config = try ReconcilerConfiguration.parse("""
                [source]
                host = "127.0.0.1"
                port = \(TestSource.port)
                user = "br_admin"
                password_env = "BR_TLS_DOCTOR_PASSWORD"
                server_id = 4244

                [source.tls]
                mode = "\(mode)"

                [[watch]]
                table = "br_repl_test.none"
                key = "id"
                value = "v"
                redis_key = "k:{id}"
                """, environment: ["BR_TLS_DOCTOR_PASSWORD": "br_admin"])
            let finding = try #require(Doctor(configuration: config).checkSource().first { $0.check == "source.tls" })
            #expect(finding.severity == .warning)
            #expect(finding.detail.hasPrefix("plaintext (mode \(mode)"), "\(finding.detail)")
            #expect(finding.fix?.contains("verify_identity") == true)
        }
    }
}

@Suite("SQL quoting")
struct SQLQuotingTests {
    @Test func identifiersDoubleTheirBackticks() {
        #expect(SQLQuoting.identifier("products") == "`products`")
        #expect(SQLQuoting.identifier("we`ird") == "`we``ird`")
        #expect(SQLQuoting.identifier("``") == "``````")
        #expect(SQLQuoting.identifier("a.b") == "`a.b`")
        #expect(SQLQuoting.qualified("db", "t`; DROP TABLE x; --") == "`db`.`t``; DROP TABLE x; --`")
    }

    @Test func literalsDoubleQuotesAndEscapeBackslashes() {
        #expect(SQLQuoting.literal("reconciler") == "'reconciler'")
        #expect(SQLQuoting.literal("o'brien") == "'o''brien'")
        #expect(SQLQuoting.literal("a\\") == "'a\\\\'")
    }

    @Test func quotedIdentifiersAndLiteralsRoundTripThroughTheServer() throws {
        guard let c = TestSource.admin() else { return }
        for name in ["we`ird", "``", "sp ace", "semi;colon", "quote'd"] {
            let row = try c.query("SELECT 1 AS \(SQLQuoting.identifier(name)), \(SQLQuoting.literal(name))")
            #expect(row.first?.last == name)
            #expect(try c.queryResult("SELECT 1 AS \(SQLQuoting.identifier(name))").columns == [name])
        }
    }
}
