// Stand-ins for the few library types the configuration reader refers to, so that scripts/fuzz-config
// can compile the reader (the files of Configuration/: TOML, ReconcilerConfiguration and its settings) and
// ReconcilerCore (RedisKeyTemplate, Secret, ConfigurationError) on their own, without swift-log, NIO or libmariadb. They hold what
// the reader stores and do nothing else; the real ones are in Sources/ (named in each
// comment). When the reader starts using more of a type, the fuzz build fails here: add it.
//
// readSecretFile never reads: a fuzzed `password_file` must not make the fuzzer open files.

/// ReconcilerCore/Shadow/ShadowKey.swift (the cases RedisKeyTemplate builds).
public enum ShadowKey: Hashable, Sendable {
    case int(Int64)
    case text(String)
    case composite([String])
}

/// ReplicationClient/SourceConfiguration.swift
public struct SourcePassword: Sendable {
    public let value: String
    public init(_ value: String) { self.value = value }
}

/// ReplicationClient/SourceConfiguration.swift
struct SecretFileError: Error, Sendable {
    var message: String
}

/// ReplicationClient/SourceConfiguration.swift
func readSecretFile(_ path: String) -> Result<[UInt8], SecretFileError> {
    .failure(SecretFileError(message: "password file \(path) is not read while fuzzing"))
}

/// ReplicationClient/SourceConfiguration.swift
public struct SourceConfiguration: Sendable {
    public struct TLSOptions: Sendable, Hashable {
        public var mode: SSLMode
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        public init(mode: SSLMode = .preferred, caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
            self.mode = mode
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    public enum SSLMode: String, Sendable, CaseIterable {
        case disabled
        case preferred
        case required
        case verifyCA = "verify_ca"
        case verifyIdentity = "verify_identity"
    }

    public var host: String
    public var port: Int
    public var connectTimeout: Duration
    public var readTimeout: Duration?
    public var heartbeatPeriod: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 3306, unixSocket: String? = nil, user: String,
        password: SourcePassword, tls: TLSOptions = TLSOptions(), connectTimeout: Duration = .seconds(10),
        readTimeout: Duration? = .seconds(30), replicaServerID: UInt32, heartbeatPeriod: Duration = .seconds(1)
    ) {
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.heartbeatPeriod = heartbeatPeriod
    }
}

/// Metrics/MetricsServer.swift, Metrics/MetricsServerLimits.swift
public enum MetricsServer {
    public struct Limits: Sendable, Equatable {
        public var maxConnections = 64
        public var idleTimeout: Duration = .seconds(30)
        public var maxPipelinedRequests = 16
        public var maxHeaderBytes = 8 * 1024
        public var maxBodyBytes = 64 * 1024
        public init() {}
    }
}
