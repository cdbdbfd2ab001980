import ReconcilerCore
// MARK: - RedisClusterRedirect

/// A `MOVED` or `ASK` error reply of a cluster node, decoded: the slot of the key and the node to
/// ask instead.
///
/// - `MOVED 3999 127.0.0.1:6381`: the slot is served by that node for good; update the slot map
///   (or refresh it) and send the command there.
/// - `ASK 3999 127.0.0.1:6381`: the slot is being migrated and this key already lives on the
///   target; send `ASKING` and then the command to the target, once, without touching the map.
///
/// Redis 7 writes an empty host (`MOVED 3999 :6381`) when the node's endpoint is unknown
/// (`cluster-preferred-endpoint-type unknown-endpoint`): the client must use the host it already
/// talks to; ``resolvingEmptyHost(_:)`` does that. An IPv6 address is written without brackets
/// (`MOVED 3999 ::1:6381`): the port is after the last colon.
public struct RedisClusterRedirect: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable { case moved = "MOVED", ask = "ASK" }

    public var kind: Kind
    /// The hash slot of the key, 0..<16384.
    public var slot: Int
    /// Where to send the command: `.tcp(host:port:)`; `host` may be empty (see above).
    public var target: RedisConfiguration.Endpoint

    public init(kind: Kind, slot: Int, target: RedisConfiguration.Endpoint) {
        self.kind = kind
        self.slot = slot
        self.target = target
    }

    /// Decodes an error reply's text (`MOVED <slot> <host>:<port>` or `ASK <slot> <host>:<port>`,
    /// exactly three words); nil for any other text, a slot outside 0..<16384 or a bad port.
    public init?(errorMessage: String) {
        let words = errorMessage.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 3, let kind = Kind(rawValue: String(words[0])) else { return nil }
        guard let slot = Self.decimal(words[1]), slot < RedisClusterSlot.count else { return nil }
        guard let target = Self.endpoint(words[2]) else { return nil }
        self.init(kind: kind, slot: slot, target: target)
    }

    /// Decodes an `.error` reply (a slot of `RedisConnection.pipeline`); nil for any other reply.
    public init?(reply: RedisReply) {
        guard let message = reply.errorMessage else { return nil }
        self.init(errorMessage: message)
    }

    /// Decodes the server error a command threw (`RedisError.serverMessage`); nil for others.
    public init?(error: RedisError) {
        guard error.kind == .server, let message = error.serverMessage else { return nil }
        self.init(errorMessage: message)
    }

    /// The redirect with an empty target host replaced by `host` (the host of the node that sent it).
    public func resolvingEmptyHost(_ host: String) -> RedisClusterRedirect {
        guard case .tcp(let h, let port) = target, h.isEmpty else { return self }
        return RedisClusterRedirect(kind: kind, slot: slot, target: .tcp(host: host, port: port))
    }

    /// `MOVED 3999 127.0.0.1:6381`, as the server wrote it.
    public var description: String { "\(kind.rawValue) \(slot) \(target)" }

    /// `host:port`, the port after the last colon (1...65535); the host may be empty.
    static func endpoint(_ text: Substring) -> RedisConfiguration.Endpoint? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        guard let port = decimal(text[text.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
        return .tcp(host: String(text[..<colon]), port: port)
    }

    /// Digits only (no sign, at most 5 of them), as the server writes slots and ports.
    private static func decimal(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(text)
    }
}

// MARK: - RedisClusterErrorClass

/// What a cluster node's error reply asks of the client, by its first word.
public enum RedisClusterErrorClass: Sendable, Hashable {
    /// `MOVED` / `ASK`: send the command to another node.
    case redirect(RedisClusterRedirect)
    /// `TRYAGAIN`: a multi-key command on a slot being migrated or resharded, with only part of
    /// its keys here; retry after a pause.
    case tryAgain
    /// `CLUSTERDOWN`: the cluster (or this node's view of it) cannot serve the slot now; retry
    /// with backoff.
    case clusterDown
    /// `CROSSSLOT`: a multi-key command whose keys are in different slots; a client bug, never
    /// worth retrying as is.
    case crossSlot
    /// Any other error: not about the cluster.
    case other

    /// Classifies an error reply's text.
    public init(errorMessage: String) {
        if let redirect = RedisClusterRedirect(errorMessage: errorMessage) {
            self = .redirect(redirect)
            return
        }
        switch errorMessage.split(separator: " ", maxSplits: 1).first {
        case "TRYAGAIN": self = .tryAgain
        case "CLUSTERDOWN": self = .clusterDown
        case "CROSSSLOT": self = .crossSlot
        default: self = .other
        }
    }

    /// Whether retrying the same command later (after a pause, or on the node named by a
    /// redirect) can succeed.
    public var isRetryable: Bool {
        switch self {
        case .redirect, .tryAgain, .clusterDown: return true
        case .crossSlot, .other: return false
        }
    }
}
