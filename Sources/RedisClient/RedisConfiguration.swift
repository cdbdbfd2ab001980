import ReconcilerCore
// MARK: - RedisConfiguration

/// Where and how to reach one Redis server.
///
/// The password never appears in `description`, `debugDescription`, `dump()` output or any
/// `RedisError` built from this configuration.
public struct RedisConfiguration: Sendable, Hashable {
    /// A TCP address or a unix domain socket.
    public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// `host` is a name or a numeric address, resolved by hiredis (`getaddrinfo`).
        case tcp(host: String, port: Int)
        /// Path of the socket file (`unixsocket` in redis.conf).
        case unixSocket(path: String)

        /// `host:port` or `unix:/path`, as error messages print it.
        public var description: String {
            switch self {
            case .tcp(let host, let port): return "\(host):\(port)"
            case .unixSocket(let path): return "unix:\(path)"
            }
        }
    }

    public var endpoint: Endpoint
    /// ACL user (Redis 6+). When set, the connection sends `AUTH username password`.
    public var username: String?
    /// When set (and `username` is nil) the connection sends `AUTH password` (the `default` user).
    public var password: String?
    /// Logical database, sent as `SELECT n` after AUTH when it is not 0.
    public var database: Int
    /// Limit for establishing the TCP/unix connection (`redisConnectWithTimeout`).
    public var connectTimeout: Duration
    /// Limit for each blocking read or write of a command (`redisSetTimeout`, i.e. `SO_RCVTIMEO`
    /// and `SO_SNDTIMEO`); `nil` waits forever. A timed-out connection is closed: the reply might
    /// still arrive and would be taken for the next command's.
    public var commandTimeout: Duration?

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration? = .seconds(10)
    ) {
        self.init(
            endpoint: .tcp(host: host, port: port),
            username: username,
            password: password,
            database: database,
            connectTimeout: connectTimeout,
            commandTimeout: commandTimeout
        )
    }

    public init(
        unixSocketPath: String,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration? = .seconds(10)
    ) {
        self.init(
            endpoint: .unixSocket(path: unixSocketPath),
            username: username,
            password: password,
            database: database,
            connectTimeout: connectTimeout,
            commandTimeout: commandTimeout
        )
    }

    public init(
        endpoint: Endpoint,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration? = .seconds(10)
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    /// Replaces every occurrence of the password in `text` with `***` (server error texts and
    /// hiredis messages pass through this before they become a `RedisError`).
    func redacting(_ text: String) -> String {
        guard let password, !password.isEmpty, text.contains(password) else { return text }
        return text.replacing(password, with: "***")
    }
}

// MARK: - Redacted printing

extension RedisConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `redis://user:***@127.0.0.1:6379/2`-like summary; the password is always `***`.
    public var description: String {
        var auth = ""
        if let username {
            auth = username + (password == nil ? "@" : ":***@")
        } else if password != nil {
            auth = ":***@"
        }
        return "redis://\(auth)\(endpoint)/\(database)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "endpoint": endpoint, "username": username as Any, "password": password == nil ? "nil" : "***",
                "database": database, "connectTimeout": connectTimeout, "commandTimeout": commandTimeout as Any,
            ]
        )
    }
}
