import Foundation
import Testing

@testable import BinlogReconciler
@testable import ReconcileEngine
@testable import ReconcilerCore
@testable import RedisClient
@testable import ReplicationClient

#if canImport(Glibc)
import Glibc
#endif

/// The password must never reach a server over a connection that is not encrypted in a way that
/// gives it away: a hostile server (scripts/fake-mysql-server.py) offers no TLS and asks for a
/// cleartext authentication method. Whatever `[source.tls] mode` says, the fake must never see the
/// password; with `required` / `verify_ca` / `verify_identity` it must not even see the login.
@Suite("The password is never sent in clear")
struct CredentialSafetyTests {
    static let scenarios = ["clear_password", "dialog", "caching_sha2"]

    static func configuration(port: Int, mode: SourceConfiguration.SSLMode, password: String) -> SourceConfiguration {
        // verify_* needs a CA file to pass validation; it is never loaded (no TLS is negotiated).
        let ca = mode == .verifyCA || mode == .verifyIdentity ? "/etc/ssl/certs/ca-certificates.crt" : nil
        return SourceConfiguration(
            host: "127.0.0.1", port: port, user: "br_victim", password: SourcePassword(password),
            tls: .init(mode: mode, caFile: ca), connectTimeout: .seconds(5), readTimeout: .seconds(5),
            replicaServerID: 4242)
    }

    @Test(arguments: SourceConfiguration.SSLMode.allCases, scenarios)
    func passwordNeverReachesAPlaintextServer(mode: SourceConfiguration.SSLMode, scenario: String) throws {
        let fake = try FakeMySQLServer(scenario: scenario)
        let password = "pw-\(UInt64.random(in: 1...UInt64.max))-SECRET"
        let error = #expect(throws: SQLError.self, "\(mode) against a fake \(scenario) server without TLS must fail") {
            try SQLConnection(configuration: Self.configuration(port: fake.port, mode: mode, password: password))
        }
        fake.waitUntilIdle()
        #expect(fake.connections >= 1)
        let received = fake.received()
        #expect(!received.contains(bytes: Array(password.utf8)), "\(mode)/\(scenario): the fake server received the password")
        if mode != .disabled && mode != .preferred {
            // TLS is mandatory: nothing at all is sent (not even the user name) to a server without TLS.
            #expect(received.isEmpty, "\(mode)/\(scenario): sent \(received.count) bytes before TLS")
        }
        // On the fixed code: refused before authentication (no TLS), or the method is not allowed
        // without TLS (CR_PLUGIN_NOT_ALLOWED), never "access denied" after the password went out.
        if let error, error.code != 1045 {
            #expect(error.code == (mode == .disabled || mode == .preferred ? 5010 : 2026), "\(error)")
            #expect(!error.description.contains(password))
        }
        if mode == .preferred {
            // First a TLS attempt that sends nothing, then the plaintext retry.
            #expect(fake.connections == 2)
            #expect(fake.received(connection: 1).isEmpty)
        }
    }
}

/// The control case: inside TLS, `required` does answer a cleartext method (PAM/LDAP accounts need
/// it), and the password is only in the encrypted part of the exchange.
@Suite("Cleartext authentication inside TLS")
struct CleartextInsideTLSTests {
    @Test func requiredSendsTheClearPasswordOnlyInsideTLS() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("br-fake-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made = try TestEnv.run("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
        ])
        try #require(made.status == 0, "openssl: \(made.stderr)")
        let fake = try FakeMySQLServer(scenario: "clear_password", tls: (dir + "/cert.pem", dir + "/key.pem"))
        let password = "inside-tls-\(UInt64.random(in: 1...UInt64.max))"
        let error = #expect(throws: SQLError.self) {
            try SQLConnection(configuration: CredentialSafetyTests.configuration(port: fake.port, mode: .required, password: password))
        }
        #expect(error?.code == 1045, "\(String(describing: error))")  // the fake's "access denied" after the password
        fake.waitUntilIdle()
        #expect(fake.received(insideTLS: true).contains(bytes: Array(password.utf8)))
        #expect(!fake.received().contains(bytes: Array(password.utf8)))
        #expect(!fake.received().isEmpty)  // the SSLRequest and the TLS handshake
    }
}

/// `password_file`: a regular file, not readable by group or others, at most 64 KiB.
@Suite("Password files")
struct PasswordFileTests {
    static func tempFile(_ text: String, mode: mode_t) throws -> String {
        var template = Array("/tmp/br-pwfile-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let bytes = Array(text.utf8)
        #expect(write(fd, bytes, bytes.count) == bytes.count)
        close(fd)
        #expect(chmod(path, mode) == 0)
        return path
    }

    static func config(passwordFile path: String, section: String = "source") -> String {
        """
        [source]
        user = "u"
        \(section == "source" ? "password_file = \"\(path)\"" : "password_env = \"BR_PWFILE_TEST\"")

        [redis]
        \(section == "redis" ? "password_file = \"\(path)\"" : "")

        [[watch]]
        table = "db.t"
        key = "id"
        value = "v"
        redis_key = "k:{id}"
        """
    }

    @Test func aPrivateFileIsReadWithoutItsTrailingNewline() throws {
        let path = try Self.tempFile("hunter2\n", mode: 0o600)
        defer { unlink(path) }
        #expect(try SourcePassword.fromFile(path).value == "hunter2")
        let c = try ReconcilerConfiguration.parse(Self.config(passwordFile: path), environment: [:])
        #expect(c.source.password.value == "hunter2")
        let r = try ReconcilerConfiguration.parse(Self.config(passwordFile: path, section: "redis"), environment: ["BR_PWFILE_TEST": "x"])
        #expect(r.redis.password.value == "hunter2")
        let readOnly = try Self.tempFile("s3cret", mode: 0o400)
        defer { unlink(readOnly) }
        #expect(try SourcePassword.fromFile(readOnly).value == "s3cret")
    }

    @Test(arguments: [mode_t(0o644), 0o640, 0o604, 0o660])
    func aFileOthersCanReadIsRefusedWithTheFix(mode: mode_t) throws {
        let path = try Self.tempFile("hunter2\n", mode: mode)
        defer { unlink(path) }
        #expect {
            try SourcePassword.fromFile(path)
        } throws: { error in
            let text = "\(error)"
            return text.contains(path) && text.contains("chmod 600")
        }
        for section in ["source", "redis"] {
            #expect {
                try ReconcilerConfiguration.parse(Self.config(passwordFile: path, section: section), environment: ["BR_PWFILE_TEST": "x"])
            } throws: { error in
                let text = "\(error)"
                return text.contains(path) && text.contains("chmod 600") && !text.contains("hunter2")
            }
        }
    }

    @Test func aDeviceIsRefusedAsNotARegularFile() throws {
        #expect {
            try SourcePassword.fromFile("/dev/zero")
        } throws: { error in
            "\(error)".contains("not a regular file")
        }
        #expect {
            try ReconcilerConfiguration.parse(Self.config(passwordFile: "/dev/zero"), environment: [:])
        } throws: { error in
            "\(error)".contains("not a regular file")
        }
    }

    @Test func aFileLargerThan64KiBIsRefused() throws {
        let path = try Self.tempFile(String(repeating: "x", count: 64 * 1024 + 1), mode: 0o600)
        defer { unlink(path) }
        #expect {
            try SourcePassword.fromFile(path)
        } throws: { error in
            "\(error)".contains("64 KiB")
        }
        #expect {
            try ReconcilerConfiguration.parse(Self.config(passwordFile: path), environment: [:])
        } throws: { error in
            "\(error)".contains("64 KiB")
        }
    }
}

/// Identifiers with a backtick: doctor and bootstrap quote them the same way.
@Suite("Doctor and bootstrap quote identifiers", .serialized)
struct IdentifierQuotingLiveTests {
    static let database = "br_quote_test"
    static let table = "we`ird"

    static func configuration(table: String) throws -> ReconcilerConfiguration {
        try ReconcilerConfiguration.parse("""
            [source]
            host = "127.0.0.1"
            port = \(TestSource.port)
            user = "br_admin"
            password_env = "BR_QUOTE_TEST_PASSWORD"
            server_id = 4243

            [source.tls]
            mode = "disabled"

            [[watch]]
            name = "quoted"
            table = "\(database).\(table)"
            key = "i`d"
            value = "sto`ck"
            redis_key = "q:{i`d}"
            """, environment: ["BR_QUOTE_TEST_PASSWORD": "br_admin"])
    }

    @Test func aTableWithABacktickPassesDoctorAndBootstrap() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("DROP DATABASE IF EXISTS \(Self.database)")
        try admin.execute("CREATE DATABASE \(Self.database)")
        defer { _ = try? admin.execute("DROP DATABASE IF EXISTS \(Self.database)") }
        try admin.execute("CREATE TABLE \(Self.database).`we``ird` (`i``d` INT PRIMARY KEY, `sto``ck` INT)")
        try admin.execute("INSERT INTO \(Self.database).`we``ird` VALUES (1, 10), (2, 20)")

        let config = try Self.configuration(table: Self.table)
        let findings = Doctor(configuration: config).checkSource()
        let watch = findings.filter { $0.check.hasPrefix("watch.") }
        #expect(!watch.isEmpty)
        #expect(watch.allSatisfy { $0.severity == .ok }, "\(watch.map { "\($0.check) \($0.severity) \($0.detail)" })")

        let conn = try SQLConnection(configuration: try config.source.replicationConfiguration())
        let state = try Bootstrap.run(conn, watches: config.watches, logger: .init(label: "test"))
        #expect(state.maps[0].count == 2)
    }

    @Test func theGrantFixForAMissingTableQuotesTheIdentifiers() throws {
        guard let admin = TestSource.admin() else { return }
        try admin.execute("CREATE DATABASE IF NOT EXISTS \(Self.database)")
        defer { _ = try? admin.execute("DROP DATABASE IF EXISTS \(Self.database)") }
        let config = try Self.configuration(table: "no`such")
        let finding = try #require(Doctor(configuration: config).checkSource().first { $0.check == "watch.quoted.table" })
        #expect(finding.severity == .error)
        #expect(finding.fix == "GRANT SELECT ON `br_quote_test`.`no``such` TO 'br_admin'@'%';")
    }
}
