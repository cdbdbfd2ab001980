public struct RedisSettings: Sendable {
    /// How the Redis is deployed (`[redis] mode`).
    public enum Mode: String, Sendable, CaseIterable {
        /// One server at `host`/`port` or `socket`.
        case standalone
        /// A Redis Cluster reached through `nodes` (seeds); database 0 only.
        case cluster
        /// A primary found through `sentinels` under `master_name`.
        case sentinel
    }

    /// Where routine reads and sweeps go (`[redis] read_from`).
    public enum ReadFrom: String, Sendable, CaseIterable {
        case master
        case replica
    }

    public var mode = Mode.standalone
    public var host = "127.0.0.1"
    public var port = 6379
    public var socket: String?
    /// Cluster seeds, `host:port` each (any reachable subset of the nodes).
    public var nodes: [String] = []
    /// Sentinel addresses, `host:port` each.
    public var sentinels: [String] = []
    public var masterName: String?
    public var sentinelUsername: String?
    public var sentinelPassword = Secret(value: nil, source: "none")
    public var readFrom = ReadFrom.master
    public var username: String?
    public var password = Secret(value: nil, source: "none")
    public var database = 0
    public var connectTimeoutSeconds: Double = 2
    public var commandTimeoutSeconds: Double = 5
    public var notifications = NotificationMode.tracking
    /// Turn on keyspace notifications (`CONFIG SET notify-keyspace-events`) when they are off.
    public var enableKeyspaceEvents = false
}

extension RedisSettings {
    /// `host:port` (`[::1]:7000` for IPv6) as a TCP endpoint, or nil.
    static func endpoint(_ text: String) -> (host: String, port: Int)? {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(" "), let port = Int(portText), (1...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}
