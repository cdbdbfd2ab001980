public struct RedisSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 6379
    public var socket: String?
    public var username: String?
    public var password = Secret(value: nil, source: "none")
    public var database = 0
    public var connectTimeoutSeconds: Double = 2
    public var commandTimeoutSeconds: Double = 5
    public var notifications = NotificationMode.tracking
    /// Turn on keyspace notifications (`CONFIG SET notify-keyspace-events`) when they are off.
    public var enableKeyspaceEvents = false
}
