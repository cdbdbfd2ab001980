public struct SourceSettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 3306
    public var socket: String?
    public var user = "reconciler"
    public var password = Secret(value: nil, source: "none")
    public var serverID: UInt32 = 4242
    public var heartbeatSeconds: Double = 1
    public var connectTimeoutSeconds = 5
    public var readTimeoutSeconds = 30
    public var tlsMode = SourceConfiguration.SSLMode.preferred
    public var tlsCA: String?
    public var tlsCert: String?
    public var tlsKey: String?
    /// Where `[source]` is (`FILE:LINE: `, `FILE: ` when the file has none), for the error about a
    /// missing password, which is raised when the password is needed.
    var location = ""
}

extension SourceSettings {
    /// The replication client's configuration.
    public func replicationConfiguration() throws(ConfigurationError) -> SourceConfiguration {
        guard let pw = password.value else {
            throw ConfigurationError("\(location)[source] no password: set password_env or password_file")
        }
        return SourceConfiguration(
            host: host, port: port, unixSocket: socket, user: user, password: SourcePassword(pw),
            tls: .init(mode: tlsMode, caFile: tlsCA, certFile: tlsCert, keyFile: tlsKey),
            connectTimeout: .seconds(connectTimeoutSeconds), readTimeout: .seconds(readTimeoutSeconds),
            replicaServerID: serverID, heartbeatPeriod: .milliseconds(Int64(heartbeatSeconds * 1000)))
    }
}
