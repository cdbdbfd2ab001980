import ReconcilerCore
internal import CMariaDB
import Logging
import Synchronization

// MARK: - SQLResultSet

/// The rows of one result set as text (the text protocol's representation), with the column names.
public struct SQLResultSet: Sendable, Hashable {
    public var columns: [String]
    /// One array per row; `nil` is SQL NULL.
    public var rows: [[String?]]

    public init(columns: [String], rows: [[String?]]) {
        self.columns = columns
        self.rows = rows
    }

    /// The value of the first column of the first row (nil if there is none or it is NULL).
    public var scalar: String? { rows.first?.first ?? nil }
}

// MARK: - SQLConnection

/// One SQL session on the source (text protocol), owning a `MYSQL*` that is closed in `deinit`.
///
/// Used for bootstrap queries (`SHOW MASTER STATUS`, `@@gtid_binlog_pos`, table scans), for
/// `KILL`ing a stuck dump connection, and by ``ReplicationStream`` for its own handshake. Not
/// `Sendable`: one owner at a time (libmariadb handles are not thread-safe).
public final class SQLConnection {
    /// The handle; valid until ``close()``.
    private(set) var handle: UnsafeMutablePointer<MYSQL>?
    /// `VERSION()` as announced in the handshake, e.g. `10.11.19-MariaDB-0+deb12u1-log`.
    public let serverVersion: String
    /// MariaDB or MySQL (from the configuration, or detected from ``serverVersion`` for `.auto`).
    public let flavor: ServerFlavor
    /// The server's id for this session (`CONNECTION_ID()`), the argument `KILL` takes.
    public let connectionID: UInt64
    /// The negotiated TLS cipher, nil for a plaintext connection.
    public let tlsCipher: String?
    /// The negotiated TLS protocol (`TLSv1.3`), nil for a plaintext connection.
    public let tlsVersion: String?
    /// `user@host:port`, for messages.
    public let endpoint: String

    /// What protects the session: `TLSv1.3 TLS_AES_256_GCM_SHA384`, or `plaintext`.
    public var transport: String {
        guard let tlsCipher else { return "plaintext" }
        return [tlsVersion, tlsCipher].compactMap { $0 }.joined(separator: " ")
    }

    /// Connects with the configuration's timeouts and TLS settings.
    public convenience init(configuration: SourceConfiguration) throws(SQLError) {
        try self.init(configuration: configuration, readTimeout: configuration.readTimeout, maxAllowedPacket: nil)
    }

    /// Every connection this package opens to the source comes through here (SQL sessions, the
    /// bootstrap, the position poller, doctor, and the replication stream's own session), so the
    /// TLS rule of ``SourceConfiguration/TLSOptions`` holds for all of them.
    ///
    /// - Parameters:
    ///   - readTimeout: overrides the configuration's read timeout (`nil`: no limit).
    ///   - maxAllowedPacket: the largest packet the client accepts (`MYSQL_OPT_MAX_ALLOWED_PACKET`).
    /// When the plaintext fallback of `preferred` was last logged at warning, per endpoint. Every
    /// connection (each position poll, schema lookup and reconnect) falls back alike: it is said at
    /// warning once per endpoint every ``plaintextWarningInterval``, at debug in between.
    private static let plaintextWarnedAt = Mutex<[String: ContinuousClock.Instant]>([:])
    static let plaintextWarningInterval: Duration = .seconds(600)

    /// Forgets when the fallback was logged (tests).
    package static func resetPlaintextWarnings() { plaintextWarnedAt.withLock { $0.removeAll() } }

    /// Whether the plaintext fallback to `endpoint` is to be logged at warning now.
    package static func shouldWarnOfPlaintext(endpoint: String, now: ContinuousClock.Instant = .now) -> Bool {
        plaintextWarnedAt.withLock { warned in
            if let last = warned[endpoint], now - last < plaintextWarningInterval { return false }
            warned[endpoint] = now
            return true
        }
    }

    init(configuration c: SourceConfiguration, readTimeout: Duration?, maxAllowedPacket: Int?) throws(SQLError) {
        try c.validate()
        MariaDBLibrary.initializeOnce()
        let context = "connect to \(c.endpoint)"
        func open(_ transport: Transport) throws(SQLError) -> UnsafeMutablePointer<MYSQL> {
            try Self.open(c, transport: transport, readTimeout: readTimeout, maxAllowedPacket: maxAllowedPacket, context: context)
        }
        let h: UnsafeMutablePointer<MYSQL>
        switch c.tls.mode {
        case .disabled:
            h = try open(.plaintext)
        case .preferred:
            do {
                h = try open(.tls(verify: false))
            } catch where error.isServerWithoutTLS {
                c.logger.log(
                    level: Self.shouldWarnOfPlaintext(endpoint: "\(c.endpoint)") ? .warning : .debug,
                    "the source offers no TLS: connecting in plaintext because [source.tls] mode = \"preferred\"; only challenge-response authentication (mysql_native_password, client_ed25519) is allowed; set mode = \"verify_identity\" (or \"required\") to refuse plaintext",
                    metadata: ["endpoint": "\(c.endpoint)"])
                h = try open(.plaintext)
            }
        case .required:
            h = try open(.tls(verify: false))
        case .verifyCA, .verifyIdentity:
            h = try open(.tls(verify: true))
        }
        let cipher = mysql_get_ssl_cipher(h).map { String(cString: $0) }
        // Defence in depth: the options above already refuse before authentication.
        if cipher == nil, c.tls.mode != .disabled, c.tls.mode != .preferred {
            mysql_close(h)
            throw SQLError(
                code: 2026, sqlState: "HY000",
                message: "TLS mode \(c.tls.mode.rawValue) but the server did not negotiate TLS (is it configured with ssl_cert/ssl_key?)",
                context: context)
        }
        handle = h
        tlsCipher = cipher
        tlsVersion = cipher == nil ? nil : cmariadb_tls_version(h).map { String(cString: $0) }
        endpoint = c.endpoint
        serverVersion = mysql_get_server_info(h).map { String(cString: $0) } ?? ""
        connectionID = UInt64(mysql_thread_id(h))
        switch c.flavor {
        case .auto: flavor = ServerFlavor.detect(version: serverVersion)
        case .mariadb: flavor = .mariadb
        case .mysql: flavor = .mysql
        }
    }

    /// How one connection attempt protects the credentials.
    enum Transport {
        /// No TLS; only the ``plaintextAuthentication`` methods.
        case plaintext
        /// TLS before anything else is sent, or no connection; `verify` checks the certificate.
        case tls(verify: Bool)
    }

    /// The authentication methods allowed without TLS: challenge-response ones, which never send
    /// the password. Not `mysql_clear_password` or `dialog` (they send it as is), not
    /// `sha256_password` / `caching_sha2_password` (their full authentication sends it in clear
    /// when libmariadb believes the connection is secure, or RSA-encrypted under a public key the
    /// server itself supplies). libmariadb 3.3 checks each method the server asks for, also after
    /// an AuthSwitchRequest, with `strstr` on this list (none of the refused names is a substring).
    static let plaintextAuthentication = "mysql_native_password,client_ed25519"

    /// One `mysql_real_connect` with the options for `transport`; returns the connected handle.
    private static func open(
        _ c: SourceConfiguration, transport: Transport, readTimeout: Duration?, maxAllowedPacket: Int?, context: String
    ) throws(SQLError) -> UnsafeMutablePointer<MYSQL> {
        guard let h = mysql_init(nil) else {
            throw SQLError(code: 2008, sqlState: "HY000", message: "mysql_init failed (out of memory)", context: context)
        }
        var ok = true
        ok = ok && cmariadb_set_option_uint(h, MYSQL_OPT_CONNECT_TIMEOUT, c.connectTimeout.wholeSecondsRoundedUp) == 0
        if let readTimeout {
            let s = max(readTimeout.wholeSecondsRoundedUp, 1)
            ok = ok && cmariadb_set_option_uint(h, MYSQL_OPT_READ_TIMEOUT, s) == 0
            ok = ok && cmariadb_set_option_uint(h, MYSQL_OPT_WRITE_TIMEOUT, s) == 0
        }
        let proto = c.unixSocket == nil ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET
        ok = ok && cmariadb_set_option_uint(h, MYSQL_OPT_PROTOCOL, proto.rawValue) == 0
        ok = ok && cmariadb_set_option_bool(h, MYSQL_OPT_RECONNECT, 0) == 0
        ok = ok && cmariadb_set_option_string(h, MYSQL_SET_CHARSET_NAME, "utf8mb4") == 0
        if let maxAllowedPacket {
            ok = ok && cmariadb_set_option_size(h, MYSQL_OPT_MAX_ALLOWED_PACKET, maxAllowedPacket) == 0
        }
        ok = ok && cmariadb_add_connect_attribute(h, "program_name", "binlog-reconciler") == 0
        ok = ok && applyTransport(transport, tls: c.tls, to: h)
        guard ok else {
            let e = SQLError(handle: h, context: context + " (setting client options)")
            mysql_close(h)
            throw e
        }
        let connected: UnsafeMutablePointer<MYSQL>? =
            c.password.value.withCString { pw in
                if let socket = c.unixSocket {
                    return c.user.withCString { u in socket.withCString { s in mysql_real_connect(h, "localhost", u, pw, nil, 0, s, 0) } }
                }
                return c.user.withCString { u in c.host.withCString { host in mysql_real_connect(h, host, u, pw, nil, UInt32(c.port), nil, 0) } }
            }
        guard connected != nil else {
            var e = SQLError(handle: h, context: context)
            mysql_close(h)
            if e.code == 2026, e.message.contains("server does not support") {
                e.message = "TLS mode \(c.tls.mode.rawValue): \(SQLError.serverWithoutTLS) (refused before authentication: nothing was sent). "
                    + "Configure TLS on the server (ssl_cert/ssl_key), or accept an unencrypted session (queries and binlog events in clear, "
                    + "the password used only by challenge-response methods) with [source.tls] mode = \"preferred\" or \"disabled\""
            } else if e.code == 5010 {  // CR_PLUGIN_NOT_ALLOWED: its own text names the wrong plugin
                e.message = "the server asked for an authentication method that is not allowed without TLS (allowed: "
                    + plaintextAuthentication.replacing(",", with: ", ")
                    + "); a method that sends the password (mysql_clear_password, dialog/PAM, sha256_password, caching_sha2_password) needs [source.tls] mode = \"required\" or stricter"
            }
            throw e
        }
        return h
    }

    /// Sets the TLS and authentication options for one connection attempt (see
    /// ``SourceConfiguration/TLSOptions`` for why these options do what the modes promise).
    private static func applyTransport(
        _ transport: Transport, tls: SourceConfiguration.TLSOptions, to h: UnsafeMutablePointer<MYSQL>
    ) -> Bool {
        switch transport {
        case .plaintext:
            // No CA/cert/key here: libmariadb turns use_ssl back on when any of them is set.
            var ok = cmariadb_set_option_bool(h, MYSQL_OPT_SSL_ENFORCE, 0) == 0
            ok = ok && cmariadb_set_option_string(h, MARIADB_OPT_RESTRICTED_AUTH, plaintextAuthentication) == 0
            return ok
        case .tls(let verify):
            var ok = cmariadb_set_option_bool(h, MYSQL_OPT_SSL_ENFORCE, 1) == 0
            if verify {
                ok = ok && cmariadb_set_option_bool(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, 1) == 0
            } else {
                // An empty fingerprint: refuse a server without TLS before sending anything, but
                // compare no fingerprint (libmariadb 3.3 tests `tls_fp` for the first and `tls_fp[0]`
                // for the second).
                ok = ok && cmariadb_set_option_string(h, MARIADB_OPT_TLS_PEER_FP, "") == 0
            }
            if let ca = tls.caFile { ok = ok && cmariadb_set_option_string(h, MYSQL_OPT_SSL_CA, ca) == 0 }
            if let cert = tls.certFile { ok = ok && cmariadb_set_option_string(h, MYSQL_OPT_SSL_CERT, cert) == 0 }
            if let key = tls.keyFile { ok = ok && cmariadb_set_option_string(h, MYSQL_OPT_SSL_KEY, key) == 0 }
            return ok
        }
    }

    deinit { close() }

    /// Closes the session (sends COM_QUIT). Idempotent.
    public func close() {
        if let h = handle {
            handle = nil
            mysql_close(h)
        }
    }

    public var isClosed: Bool { handle == nil }

    // MARK: Queries

    /// Runs one statement and returns its rows as text (empty for statements without a result set).
    public func query(_ sql: String) throws(SQLError) -> [[String?]] {
        try queryResult(sql).rows
    }

    /// Runs one statement and returns its result set with the column names.
    public func queryResult(_ sql: String) throws(SQLError) -> SQLResultSet {
        let h = try send(sql)
        guard let result = mysql_store_result(h) else {
            if mysql_field_count(h) == 0 { return SQLResultSet(columns: [], rows: []) }
            throw SQLError(handle: h, context: "query: " + abbreviatedSQL(sql))
        }
        defer { mysql_free_result(result) }
        let n = Int(mysql_num_fields(result))
        var columns: [String] = []
        columns.reserveCapacity(n)
        if let fields = mysql_fetch_fields(result) {
            for i in 0..<n { columns.append(fields[i].name.map { String(cString: $0) } ?? "") }
        }
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(clamping: mysql_num_rows(result)))
        while let row = mysql_fetch_row(result) {
            guard let lengths = mysql_fetch_lengths(result) else { break }
            var values: [String?] = []
            values.reserveCapacity(n)
            for i in 0..<n {
                if let p = row[i] {
                    let buffer = UnsafeRawBufferPointer(start: p, count: Int(lengths[i]))
                    values.append(String(decoding: buffer, as: UTF8.self))
                } else {
                    values.append(nil)
                }
            }
            rows.append(values)
        }
        return SQLResultSet(columns: columns, rows: rows)
    }

    /// Runs one statement that returns no rows (or whose rows are discarded); returns the number of
    /// affected rows.
    @discardableResult
    public func execute(_ sql: String) throws(SQLError) -> UInt64 {
        let h = try send(sql)
        if let result = mysql_store_result(h) {
            mysql_free_result(result)
            return 0
        }
        if mysql_field_count(h) != 0 { throw SQLError(handle: h, context: "execute: " + abbreviatedSQL(sql)) }
        let n = mysql_affected_rows(h)
        return n == UInt64.max ? 0 : n
    }

    /// `KILL CONNECTION id`: ends another session (e.g. a stuck dump connection) on the server.
    public func kill(connectionID id: UInt64) throws(SQLError) {
        try execute("KILL CONNECTION \(id)")
    }

    /// Escapes a string for use inside single quotes, with the connection's character set.
    public func escape(_ s: String) throws(SQLError) -> String {
        let h = try liveHandle()
        let utf8 = Array(s.utf8)
        var out = [CChar](repeating: 0, count: utf8.count * 2 + 1)
        let n = (utf8 + [0]).withUnsafeBufferPointer { src in
            src.withMemoryRebound(to: CChar.self) { s in
                mysql_real_escape_string(h, &out, s.baseAddress, UInt(s.count - 1))
            }
        }
        return String(decoding: out[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `'…'` with the content escaped.
    public func quoted(_ s: String) throws(SQLError) -> String { "'" + (try escape(s)) + "'" }

    // MARK: Internals

    func liveHandle() throws(SQLError) -> UnsafeMutablePointer<MYSQL> {
        guard let h = handle else {
            throw SQLError(code: 2006, sqlState: "HY000", message: "the connection is closed", context: endpoint)
        }
        return h
    }

    private func send(_ sql: String) throws(SQLError) -> UnsafeMutablePointer<MYSQL> {
        let h = try liveHandle()
        var s = sql
        let rc = s.withUTF8 { b in
            b.withMemoryRebound(to: CChar.self) { p in mysql_real_query(h, p.baseAddress, UInt(p.count)) }
        }
        if rc != 0 { throw SQLError(handle: h, context: "query: " + abbreviatedSQL(sql)) }
        return h
    }
}

// MARK: - MariaDBLibrary

/// `mysql_library_init` must run once before handles are created from several threads.
enum MariaDBLibrary {
    private static let initialized: Bool = mysql_server_init(0, nil, nil) == 0

    static func initializeOnce() { _ = initialized }
}
