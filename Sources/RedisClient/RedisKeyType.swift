import ReconcilerCore
/// What `TYPE key` answers.
public enum RedisKeyType: Sendable, Hashable, CustomStringConvertible {
    /// The key does not exist.
    case none
    case string, list, set, zset, hash, stream
    /// A type this code does not know (module types such as `ReJSON-RL`).
    case other(String)

    public init(_ name: String) {
        switch name {
        case "none": self = .none
        case "string": self = .string
        case "list": self = .list
        case "set": self = .set
        case "zset": self = .zset
        case "hash": self = .hash
        case "stream": self = .stream
        default: self = .other(name)
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .string: return "string"
        case .list: return "list"
        case .set: return "set"
        case .zset: return "zset"
        case .hash: return "hash"
        case .stream: return "stream"
        case .other(let name): return name
        }
    }
}

/// One field of one hash, for hash-field watches.
public struct RedisHashField: Sendable, Hashable {
    public var key: String
    public var field: String

    public init(key: String, field: String) {
        self.key = key
        self.field = field
    }
}
