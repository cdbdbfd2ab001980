import ReconcilerCore
/// The Lua scripts of compare-and-set repair (loaded once per connection, EVALSHA).
enum RedisScripts {
    /// KEYS[1] key; ARGV: hasExpected ("0"/"1"), expected, hasNew, new. Returns 1 if it wrote.
    static let stringCAS = """
        local cur = redis.call('GET', KEYS[1])
        if ARGV[1] == '1' then
          if cur ~= ARGV[2] then return 0 end
        elseif cur then
          return 0
        end
        if ARGV[3] == '1' then
          redis.call('SET', KEYS[1], ARGV[4], 'KEEPTTL')
        else
          redis.call('DEL', KEYS[1])
        end
        return 1
        """

    /// KEYS[1] hash; ARGV: field, hasExpected, expected, hasNew, new. Returns 1 if it wrote.
    static let hashFieldCAS = """
        local cur = redis.call('HGET', KEYS[1], ARGV[1])
        if ARGV[2] == '1' then
          if cur ~= ARGV[3] then return 0 end
        elseif cur then
          return 0
        end
        if ARGV[4] == '1' then
          redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
        else
          redis.call('HDEL', KEYS[1], ARGV[1])
        end
        return 1
        """
}
