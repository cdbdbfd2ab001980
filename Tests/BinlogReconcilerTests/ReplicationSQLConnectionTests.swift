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

@Suite("SQLConnection against the private MariaDB")
struct ReplicationSQLConnectionTests {
    @Test func connectsAndReportsTheServer() throws {
        guard let c = TestSource.admin() else { return }
        #expect(c.flavor == .mariadb)
        #expect(c.serverVersion.contains("MariaDB"))
        #expect(c.tlsCipher == nil)
        let id = try #require(try c.query("SELECT CONNECTION_ID()").first?.first ?? nil)
        #expect(UInt64(id) == c.connectionID)
    }

    @Test func connectsOverTheUnixSocket() throws {
        guard let tcp = TestSource.admin() else { return }
        let socket = try #require(try tcp.query("SELECT @@socket").first?.first ?? nil)
        var config = TestSource.configuration()
        config.unixSocket = socket
        config.port = 0  // ignored with a socket
        let c = try SQLConnection(configuration: config)
        #expect(config.endpoint == "br_admin@unix:\(socket)")
        let via = try c.query("SELECT USER()").first?.first ?? nil
        #expect(via == "br_admin@localhost")
    }

    @Test func queryReturnsColumnsRowsAndNulls() throws {
        guard let c = TestSource.admin() else { return }
        let r = try c.queryResult("SELECT 1 AS a, NULL AS b, 'x\u{00e9}' AS c UNION ALL SELECT 2, 'y', ''")
        #expect(r.columns == ["a", "b", "c"])
        #expect(r.rows == [["1", nil, "x\u{00e9}"], ["2", "y", ""]])
        #expect(try c.query("SET @x = 1").isEmpty)
    }

    @Test func executeCountsAffectedRows() throws {
        guard let c = TestSource.admin() else { return }
        try c.execute("CREATE TABLE IF NOT EXISTS br_repl_test.sql_exec (id INT PRIMARY KEY, v INT)")
        let base = Int.random(in: 1...1_000_000_000)
        #expect(try c.execute("INSERT INTO br_repl_test.sql_exec VALUES (\(base), 1), (\(base + 1), 2)") == 2)
        #expect(try c.execute("UPDATE br_repl_test.sql_exec SET v = v + 1 WHERE id IN (\(base), \(base + 1))") == 2)
        #expect(try c.execute("DELETE FROM br_repl_test.sql_exec WHERE id >= \(base) AND id <= \(base + 1)") == 2)
    }

    @Test func sqlErrorsCarryCodeAndState() throws {
        guard let c = TestSource.admin() else { return }
        #expect {
            try c.query("SELEC 1")
        } throws: { error in
            guard let e = error as? SQLError else { return false }
            return e.code == 1064 && e.sqlState == "42000" && e.description.contains("SELEC 1")
        }
        // The session survives a statement error.
        #expect(try c.query("SELECT 2").first?.first == "2")
    }

    @Test func escapeQuotesHostileText() throws {
        guard let c = TestSource.admin() else { return }
        let hostile = "it's a \"test\" \\ with\nnewline and \u{0}nul"
        let back = try c.query("SELECT \(try c.quoted(hostile))").first?.first ?? nil
        #expect(back == hostile)
    }

    @Test func wrongPasswordNeverAppearsInTheError() throws {
        guard TestSource.admin() != nil else { return }
        let secret = "s3cret-Pa55-\(Int.random(in: 1000...9999))"
        do {
            _ = try SQLConnection(configuration: TestSource.configuration(password: secret))
            Issue.record("connected with a wrong password")
        } catch {
            #expect(error.code == 1045)
            #expect(!error.description.contains(secret))
        }
        let config = TestSource.configuration(password: secret)
        #expect(!"\(config)".contains(secret))
        #expect(!String(reflecting: config).contains(secret))
        var dumped = ""
        dump(config, to: &dumped)
        #expect(!dumped.contains(secret))
    }

    @Test func tlsRequiredFailsOnAPlaintextServer() throws {
        guard TestSource.admin() != nil else { return }
        // The private server has no certificate: `preferred` falls back to plaintext, `required` refuses.
        let preferred = try SQLConnection(configuration: TestSource.configuration(tls: .init(mode: .preferred)))
        #expect(preferred.tlsCipher == nil)
        #expect {
            try SQLConnection(configuration: TestSource.configuration(tls: .init(mode: .required)))
        } throws: { error in
            (error as? SQLError)?.code == 2026
        }
        #expect {
            try SQLConnection(configuration: TestSource.configuration(tls: .init(mode: .verifyCA)))
        } throws: { error in
            (error as? SQLError)?.message.contains("CA file") == true
        }
    }

    @Test func unreachableServerGivesAConnectionError() {
        var config = TestSource.configuration()
        config.port = 1  // nothing listens there
        config.connectTimeout = .seconds(2)
        #expect {
            try SQLConnection(configuration: config)
        } throws: { error in
            (error as? SQLError)?.isConnectionError == true
        }
    }

    @Test func passwordFromFileAndEnvironment() throws {
        var template = Array("/tmp/br-pw-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        let text = Array("hunter2\nsecond line\n".utf8)
        #expect(write(fd, text, text.count) == text.count)
        close(fd)
        let p = try SourcePassword.fromFile(path)
        #expect(p.value == "hunter2")
        #expect("\(p)" == "<redacted>")
        setenv("BR_TEST_PASSWORD_VAR", "from-env", 1)
        #expect(SourcePassword.fromEnvironment("BR_TEST_PASSWORD_VAR")?.value == "from-env")
        #expect(SourcePassword.fromEnvironment("BR_TEST_PASSWORD_UNSET_VAR") == nil)
    }
}
