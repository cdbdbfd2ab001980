import ReconcilerCore
internal import CMariaDB

/// An error from the server or from libmariadb: the MySQL error number, the SQLSTATE and the
/// message, plus what we were doing. It never contains the password (the server's own "Access
/// denied … (using password: YES)" only says whether one was sent).
public struct SQLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// MySQL/MariaDB error number: 1000–1999 and 3000+ from the server, 2000–2999 and 5000+ from the
    /// client library (`errmsg.h`); 0 for errors detected by this package before calling the library.
    public var code: UInt32
    /// Five-character SQLSTATE (`HY000` when the library gives none).
    public var sqlState: String
    public var message: String
    /// What was being attempted ("connect to br_admin@127.0.0.1:23311", "query: SELECT …").
    public var context: String

    public init(code: UInt32, sqlState: String, message: String, context: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.context = context
    }

    /// A problem found before the client library was involved (bad configuration, bad argument).
    init(client message: String, context: String = "") {
        self.init(code: 0, sqlState: "HY000", message: message, context: context)
    }

    /// The error currently recorded on a `MYSQL` handle.
    init(handle: UnsafeMutablePointer<MYSQL>, context: String) {
        let code = mysql_errno(handle)
        let state = mysql_sqlstate(handle).map { String(cString: $0) } ?? "HY000"
        let message = mysql_error(handle).map { String(cString: $0) } ?? ""
        self.init(code: code, sqlState: state.isEmpty ? "HY000" : state, message: message, context: context)
    }

    public var description: String {
        var s = code == 0 ? message : "error \(code) (\(sqlState)): \(message)"
        if !context.isEmpty { s = "\(context): " + s }
        return s
    }

    /// The connection is gone (refused, lost, reset, timed out): open a new one and retry.
    public var isConnectionError: Bool {
        switch code {
        case 2002, 2003, 2005, 2006, 2013, 2055, 5013, 5014: return true
        // ER_CONNECTION_KILLED, ER_SERVER_SHUTDOWN, ER_NEW_ABORTING_CONNECTION
        case 1927, 1053, 1184: return true
        default: return false
        }
    }
}

extension SQLError {
    /// The words that mark a refusal because the server's handshake offers no TLS.
    static let serverWithoutTLS = "the server does not offer TLS"

    /// The connection was refused before authentication because the server offers no TLS (the
    /// case where `preferred` falls back to plaintext).
    package var isServerWithoutTLS: Bool { code == 2026 && message.contains(Self.serverWithoutTLS) }
}

/// Shortens SQL for error contexts (statements can be long; they never carry the password).
func abbreviatedSQL(_ sql: String, limit: Int = 200) -> String {
    sql.count <= limit ? sql : String(sql.prefix(limit)) + "…"
}
