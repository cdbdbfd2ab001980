import ReconcilerCore
// MARK: - RedisError

/// A failure talking to Redis. Built by `RedisConnection`; its text never contains the password
/// (command arguments are never quoted: only the command name is).
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The connection could not be established (refused, unknown host, no such socket file).
        case connectionFailed
        /// An established connection broke: the server closed it (restart, `CLIENT KILL`,
        /// output-buffer limit) or the socket failed.
        case connectionLost
        /// Connecting, or waiting for a reply, took longer than the configured timeout.
        case timeout
        /// AUTH was refused (`WRONGPASS`, `ERR invalid password`, no password configured...).
        case authenticationFailed
        /// The server answered with an error reply; `message` holds its text.
        case server
        /// A reply had an unexpected shape, or hiredis reported a protocol error.
        case `protocol`
        /// The server is not configured for what was asked (e.g. `notify-keyspace-events` lacks
        /// the needed flags and the caller did not allow changing it).
        case notConfigured
    }

    public var kind: Kind
    /// Human-readable text: what was being done, against which endpoint, and why it failed.
    public var message: String
    /// The server's error reply as sent (`WRONGPASS invalid username-password pair ...`), for
    /// `.server` and `.authenticationFailed`; password occurrences are replaced with `***`.
    public var serverMessage: String?

    public init(_ kind: Kind, _ message: String, serverMessage: String? = nil) {
        self.kind = kind
        self.message = message
        self.serverMessage = serverMessage
    }

    /// Whether reconnecting and trying again may help (connection trouble or a timeout).
    public var isRetryable: Bool {
        switch kind {
        case .connectionFailed, .connectionLost, .timeout: return true
        case .authenticationFailed, .server, .protocol, .notConfigured: return false
        }
    }

    /// The first word of a server error (`WRONGTYPE`, `NOSCRIPT`, `WRONGPASS`, `ERR`...), when
    /// the error came from the server.
    public var serverErrorCode: String? {
        serverMessage?.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    public var description: String {
        let name: String
        switch kind {
        case .connectionFailed: name = "connection failed"
        case .connectionLost: name = "connection lost"
        case .timeout: name = "timeout"
        case .authenticationFailed: name = "authentication failed"
        case .server: name = "server error"
        case .protocol: name = "protocol error"
        case .notConfigured: name = "not configured"
        }
        return "Redis \(name): \(message)"
    }
}
