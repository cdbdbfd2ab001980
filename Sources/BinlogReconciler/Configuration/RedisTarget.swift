/// Where a watched value lives in Redis.
public enum RedisTarget: Sendable, Hashable {
    /// A string key per row: `product:{id}:stock`.
    case string(RedisKeyTemplate)
    /// A hash per row (or one hash) and a field: `HGET product:{id} stock`.
    case hash(key: RedisKeyTemplate, field: RedisKeyTemplate)

    public var keyTemplate: RedisKeyTemplate {
        switch self {
        case .string(let t): t
        case .hash(let k, _): k
        }
    }
}
