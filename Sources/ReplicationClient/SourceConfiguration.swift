import ReconcilerCore
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - SourceConfiguration

/// Where and how to connect to the MySQL/MariaDB source, for SQL sessions and for the binlog dump.
///
/// The password is a ``SourcePassword``: the caller loads it from the environment or a file (never
/// from argv), and nothing here prints it — not `description`, not `dump()`, not error messages.
public struct SourceConfiguration: Sendable, CustomStringConvertible {
    /// Host name or IP address for TCP. Ignored when ``unixSocket`` is set.
    public var host: String
    /// TCP port (3306 by default).
    public var port: Int
    /// Path of the server's unix socket; when set, the connection uses it instead of TCP.
    public var unixSocket: String?
    public var user: String
    public var password: SourcePassword
    public var tls: TLSOptions
    /// Time allowed for the TCP connect and the handshake (`MYSQL_OPT_CONNECT_TIMEOUT`, whole seconds).
    public var connectTimeout: Duration
    /// How long one read of an SQL session may block (`MYSQL_OPT_READ_TIMEOUT`, whole seconds).
    /// A replication stream with heartbeats uses 3 heartbeat periods instead (see
    /// ``ReplicationStream``); without heartbeats it uses this value, and `nil` means no limit.
    public var readTimeout: Duration?
    /// The `server_id` this reader announces in COM_BINLOG_DUMP. It must be unique among everything
    /// that replicates from the source (other replicas, other readers): two dumps with the same id
    /// kick each other off (MariaDB error 4052). 0 is refused, and so is the source's own id.
    public var replicaServerID: UInt32
    /// How often the source sends a HEARTBEAT_LOG_EVENT when it has nothing else to send
    /// (`@master_heartbeat_period`). `.zero` disables heartbeats. Default 1 s.
    public var heartbeatPeriod: Duration
    /// Which server family to expect; `.auto` detects it from the server version.
    public var flavor: FlavorSetting
    /// Where a connection reports what it negotiated, e.g. the warning when `preferred` falls back
    /// to plaintext. Defaults to a logger labelled `binlog-reconciler.source` (the process's
    /// `LoggingSystem` decides where it goes).
    public var logger: Logger

    public init(
        host: String = "127.0.0.1", port: Int = 3306, unixSocket: String? = nil, user: String,
        password: SourcePassword, tls: TLSOptions = TLSOptions(), connectTimeout: Duration = .seconds(10),
        readTimeout: Duration? = .seconds(30), replicaServerID: UInt32, heartbeatPeriod: Duration = .seconds(1),
        flavor: FlavorSetting = .auto, logger: Logger = Logger(label: "binlog-reconciler.source")
    ) {
        self.host = host
        self.port = port
        self.unixSocket = unixSocket
        self.user = user
        self.password = password
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.replicaServerID = replicaServerID
        self.heartbeatPeriod = heartbeatPeriod
        self.flavor = flavor
        self.logger = logger
    }

    /// `user@host:port` (or `user@unix:path`), for logs and error messages. Never the password.
    public var endpoint: String {
        if let unixSocket { return "\(user)@unix:\(unixSocket)" }
        return "\(user)@\(host):\(port)"
    }

    public var description: String {
        "SourceConfiguration(\(endpoint), tls: \(tls.mode.rawValue), replicaServerID: \(replicaServerID), "
            + "heartbeat: \(heartbeatPeriod), flavor: \(flavor), password: \(password))"
    }

    /// Checks the values that would otherwise fail late or silently.
    public func validate() throws(SQLError) {
        guard (1...65535).contains(port) || unixSocket != nil else {
            throw SQLError(client: "invalid port \(port) (1...65535)")
        }
        guard replicaServerID != 0 else {
            throw SQLError(client: "replica server id 0 is not allowed: libmariadb would send 1 (usually the source's own id); choose a unique id")
        }
        guard heartbeatPeriod >= .zero, heartbeatPeriod <= .seconds(4_294_967) else {
            throw SQLError(client: "heartbeat period \(heartbeatPeriod) out of range (0 ... 4294967 s)")
        }
        if tls.mode == .verifyCA || tls.mode == .verifyIdentity, tls.caFile == nil {
            throw SQLError(client: "TLS mode \(tls.mode.rawValue) needs a CA file")
        }
        if (tls.certFile == nil) != (tls.keyFile == nil) {
            throw SQLError(client: "TLS client certificate and key must be given together")
        }
    }

    // MARK: Flavour

    /// The server family the caller expects.
    public enum FlavorSetting: String, Sendable, CaseIterable {
        /// Detect from `VERSION()` (`…-MariaDB…` means MariaDB).
        case auto
        case mariadb
        case mysql
    }

    // MARK: TLS

    /// TLS settings, in MySQL's `--ssl-mode` vocabulary, mapped onto libmariadb 3.3's options.
    ///
    /// The rule: nothing that reveals the password goes out before the connection is encrypted.
    /// libmariadb 3.3 has no ssl-mode option; ``SQLConnection`` maps the modes like this:
    /// - `required`: `MYSQL_OPT_SSL_ENFORCE` = 1 and an empty `MARIADB_OPT_TLS_PEER_FP`. libmariadb
    ///   refuses a server whose handshake lacks CLIENT_SSL when a fingerprint option is set, before
    ///   it writes anything (`send_client_reply_packet` in plugins/auth/my_auth.c), and skips the
    ///   fingerprint comparison when the fingerprint is empty (`ma_pvio_start_ssl` tests
    ///   `tls_fp[0]`), so the certificate is not checked, as `required` means.
    /// - `verify_ca` / `verify_identity`: `MYSQL_OPT_SSL_VERIFY_SERVER_CERT` = 1 with the CA file
    ///   (the same pre-authentication refusal). 3.3 checks the chain *and* the host name for both
    ///   (so `verify_ca` is as strict as `verify_identity`: connect by the name in the certificate).
    /// - `disabled`: no TLS, and `MARIADB_OPT_RESTRICTED_AUTH` allows only challenge-response
    ///   methods (`mysql_native_password`, `client_ed25519`), so a server asking for
    ///   `mysql_clear_password`, `dialog`, `sha256_password` or `caching_sha2_password`'s full
    ///   authentication (which sends the password, in clear or under a key the server chooses) is
    ///   refused.
    /// - `preferred`: tries as `required`; when the server offers no TLS (and only then: a failed
    ///   TLS handshake is an error) it logs a warning and connects again as `disabled`.
    /// In the modes that guarantee TLS, every authentication method is allowed: it runs encrypted.
    /// CA, certificate and key files go to `MYSQL_OPT_SSL_CA`, `MYSQL_OPT_SSL_CERT`, `MYSQL_OPT_SSL_KEY`
    /// (never on a plaintext connection: libmariadb would turn TLS back on for them).
    public struct TLSOptions: Sendable, Hashable {
        public var mode: SSLMode
        /// PEM file of the CA(s) that signed the server certificate.
        public var caFile: String?
        /// PEM client certificate, for servers that require X.509 authentication.
        public var certFile: String?
        /// PEM private key of ``certFile``.
        public var keyFile: String?

        public init(mode: SSLMode = .preferred, caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
            self.mode = mode
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// MySQL's `--ssl-mode` values.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disabled
        case preferred
        case required
        case verifyCA = "verify_ca"
        case verifyIdentity = "verify_identity"
    }
}

// MARK: - SourcePassword

/// A password that does not print itself: `description`, `debugDescription` and reflection all show
/// `<redacted>`. Load it with ``fromEnvironment(_:)`` or ``fromFile(_:)``; never take it from argv.
public struct SourcePassword: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret itself; read it only to hand it to the client library.
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// The value of an environment variable, or nil when it is unset.
    public static func fromEnvironment(_ name: String) -> SourcePassword? {
        guard let p = getenv(name) else { return nil }
        return SourcePassword(String(cString: p))
    }

    /// The first line of a file (without its line terminator), as in a Docker/Kubernetes secret
    /// file. The file must pass ``readSecretFile(_:)``'s checks.
    public static func fromFile(_ path: String) throws(SQLError) -> SourcePassword {
        var bytes: [UInt8]
        switch readSecretFile(path) {
        case .success(let b): bytes = b
        case .failure(let e): throw SQLError(client: e.message)
        }
        if let nl = bytes.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) { bytes.removeSubrange(nl...) }
        return SourcePassword(String(decoding: bytes, as: UTF8.self))
    }
}

// MARK: - Secret files

/// Why a secret file was refused; ``message`` names the file and the fix, never the content.
package struct SecretFileError: Error, Sendable {
    package var message: String
}

/// The largest secret file read (a password is a line; anything bigger is a wrong path).
let secretFileLimit = 64 * 1024

/// Reads a password file (`password_file` of `[source]` and `[redis]`, `--password-file`).
///
/// Refused: anything but a regular file (after symbolic links, which Kubernetes secret volumes
/// use), so `/dev/zero` or a FIFO cannot hang or exhaust the process; a file whose mode gives group
/// or others any access (a password others can read is already disclosed, and one others can write
/// can be swapped), with the `chmod 600` fix in the message; more than ``secretFileLimit`` bytes.
/// The bytes are returned as they are: each caller strips its line terminator.
package func readSecretFile(_ path: String) -> Result<[UInt8], SecretFileError> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    guard fd >= 0 else {
        return .failure(SecretFileError(message: "cannot open password file \(path): \(String(cString: strerror(errno)))"))
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
        return .failure(SecretFileError(message: "cannot stat password file \(path): \(String(cString: strerror(errno)))"))
    }
    guard st.st_mode & 0o170000 == 0o100000 else {
        return .failure(SecretFileError(message: "password file \(path) is not a regular file"))
    }
    let permissions = st.st_mode & 0o7777
    guard permissions & 0o077 == 0 else {
        let octal = String(permissions, radix: 8)
        return .failure(SecretFileError(
            message: "password file \(path) is accessible to group or others (mode \(String(repeating: "0", count: max(0, 4 - octal.count)) + octal)); "
                + "make it private to the service user: chmod 600 \(path)"))
    }
    guard st.st_size <= secretFileLimit else {
        return .failure(SecretFileError(message: "password file \(path) is larger than 64 KiB"))
    }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while bytes.count <= secretFileLimit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return .failure(SecretFileError(message: "cannot read password file \(path): \(String(cString: strerror(errno)))"))
        }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    guard bytes.count <= secretFileLimit else {
        return .failure(SecretFileError(message: "password file \(path) is larger than 64 KiB"))
    }
    return .success(bytes)
}

// MARK: - ServerFlavor

/// The server family of a live connection.
public enum ServerFlavor: String, Sendable, Hashable {
    case mariadb
    case mysql

    /// MariaDB's `VERSION()` contains "MariaDB" (`10.11.19-MariaDB-0+deb12u1-log`); MySQL's does not.
    public static func detect(version: String) -> ServerFlavor {
        version.lowercased().contains("mariadb") ? .mariadb : .mysql
    }

    /// The statement that reports the binlog file and position (and MySQL's `Executed_Gtid_Set`):
    /// `SHOW BINARY LOG STATUS` on MySQL 8.2 and later (8.4 removed `SHOW MASTER STATUS`),
    /// `SHOW MASTER STATUS` on older MySQL and on MariaDB (same columns).
    public func binlogStatusStatement(version: String) -> String {
        guard self == .mysql else { return "SHOW MASTER STATUS" }
        let numbers = version.prefix { $0.isNumber || $0 == "." }.split(separator: ".").compactMap { Int($0) }
        let major = numbers.first ?? 0, minor = numbers.count > 1 ? numbers[1] : 0
        return (major, minor) >= (8, 2) ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS"
    }
}

extension Duration {
    /// Whole seconds, rounded up, clamped to `UInt32` (libmariadb's timeouts are `unsigned int` seconds).
    var wholeSecondsRoundedUp: UInt32 {
        let (s, atto) = components
        if s < 0 { return 0 }
        let up = atto > 0 ? s + 1 : s
        return up > Int64(UInt32.max) ? UInt32.max : UInt32(up)
    }

    /// Nanoseconds, clamped to `UInt64` (for `@master_heartbeat_period`).
    var nanosecondsClamped: UInt64 {
        let (s, atto) = components
        if s < 0 { return 0 }
        let (ns, overflow) = UInt64(s).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return UInt64.max }
        return ns &+ UInt64(atto / 1_000_000_000)
    }
}
