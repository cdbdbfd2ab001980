import Logging
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opt-in: needs a MariaDB with TLS (the default test server has none). Set BR_TLS_MYSQL_PORT to
/// its port, BR_TLS_CA to the CA that signed its certificate (CN/SAN "localhost"), and optionally
/// BR_TLS_OTHER_CA to an unrelated CA. For example, with certificates made by openssl:
///   BR_STATE_DIR=.state/tls BR_MYSQL_PORT=23313 scripts/mariadb-start --ssl-ca=ca.pem --ssl-cert=server.pem --ssl-key=server-key.pem
private enum TLSSource {
    static func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
    static let port = env("BR_TLS_MYSQL_PORT").flatMap { Int($0) }
    static let ca = env("BR_TLS_CA")
    static let otherCA = env("BR_TLS_OTHER_CA")
    static let enabled = port != nil && ca != nil

    static func configuration(_ tls: SourceConfiguration.TLSOptions, host: String = "127.0.0.1") -> SourceConfiguration {
        var c = TestSource.configuration(tls: tls)
        c.host = host
        c.port = port ?? 0
        return c
    }
}

@Suite("TLS against a MariaDB with certificates (opt-in)", .enabled(if: TLSSource.enabled))
struct ReplicationTLSTests {
    @Test func requiredNegotiatesTLS() throws {
        let c = try SQLConnection(configuration: TLSSource.configuration(.init(mode: .required)))
        #expect(c.tlsCipher != nil)
        let row = try c.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'").first
        #expect((row?[1] ?? "")?.isEmpty == false)
    }

    @Test func requiredDoesNotCheckTheCertificateAndNamesTheNegotiatedProtocol() throws {
        // No CA at all: the empty fingerprint that makes libmariadb refuse a server without TLS
        // must not turn into a certificate or fingerprint check.
        let c = try SQLConnection(configuration: TLSSource.configuration(.init(mode: .required)))
        let version = try #require(c.tlsVersion)
        #expect(version.hasPrefix("TLSv1."))
        let row = try c.query("SHOW SESSION STATUS LIKE 'Ssl_version'").first
        #expect(row?[1] == version)
        #expect(c.transport == "\(version) \(c.tlsCipher ?? "")")
    }

    @Test func preferredUsesTLSWithoutAWarning() throws {
        let log = CapturedLog()
        var config = TLSSource.configuration(.init(mode: .preferred))
        config.logger = Logger(label: "tls-test") { _ in CapturingLogHandler(log) }
        let c = try SQLConnection(configuration: config)
        #expect(c.tlsCipher != nil)
        #expect(log.lines.isEmpty)
    }

    @Test func doctorShowsTheNegotiatedProtocolAndCipher() throws {
        let c = try SQLConnection(
            configuration: TLSSource.configuration(.init(mode: .verifyIdentity, caFile: TLSSource.ca), host: "localhost"))
        let finding = Doctor.transportFinding(c, mode: .verifyIdentity, unixSocket: false)
        #expect(finding.severity == .ok)
        #expect(finding.detail == "\(c.transport) (mode verify_identity, certificate verified)")
        #expect(finding.detail.hasPrefix("TLSv1."))
    }

    @Test func disabledStaysPlaintext() throws {
        let c = try SQLConnection(configuration: TLSSource.configuration(.init(mode: .disabled)))
        #expect(c.tlsCipher == nil)
    }

    @Test func verifyIdentityAcceptsTheRightCAAndName() throws {
        let c = try SQLConnection(
            configuration: TLSSource.configuration(.init(mode: .verifyIdentity, caFile: TLSSource.ca), host: "localhost"))
        #expect(c.tlsCipher != nil)
    }

    @Test func verifyCARejectsAnUnrelatedCA() throws {
        let other = try #require(TLSSource.otherCA)
        #expect {
            try SQLConnection(configuration: TLSSource.configuration(.init(mode: .verifyCA, caFile: other), host: "localhost"))
        } throws: { error in
            (error as? SQLError)?.code == 2026
        }
    }

    @Test func replicationStreamRunsOverTLS() throws {
        let stream = try ReplicationStream(
            configuration: TLSSource.configuration(.init(mode: .verifyIdentity, caFile: TLSSource.ca), host: "localhost"),
            start: .filePosition(file: "mysql-bin.000001", position: 4), options: .init(stopAtEnd: true))
        #expect(stream.readsSocket == false)  // TLS: through mariadb_rpl_fetch (on the fetch thread)
        var n = 0
        while try stream.next() != nil { n += 1 }
        #expect(n >= 3)
    }
}
