public struct MetricsSettings: Sendable {
    /// `host:port`; loopback unless told otherwise. nil disables the endpoint.
    public var listen: String? = "127.0.0.1:9187"
    /// Connection, timeout and request-size caps of the endpoint (`max_connections`,
    /// `idle_timeout_seconds`, `max_pipelined_requests`, `max_header_bytes`, `max_body_bytes`).
    public var limits = MetricsServer.Limits()
}
