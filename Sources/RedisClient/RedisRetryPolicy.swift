import ReconcilerCore
// MARK: - RedisRetryPolicy

/// Bounded exponential backoff with jitter, for surviving a Redis restart or failover.
///
/// Attempt `n` (1-based) that fails with a retryable error waits
/// `min(maxDelay, initialDelay * multiplier^(n-1))`, scaled by a random factor in
/// `[1 - jitter, 1]`, then reconnects and tries again, up to `maxAttempts` attempts in all.
public struct RedisRetryPolicy: Sendable, Hashable {
    /// Total attempts including the first (at least 1). `Int.max` retries for ever.
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration
    public var multiplier: Double
    /// Fraction (0...1) of each delay that is randomised, so many clients do not reconnect in step.
    public var jitter: Double

    public init(
        maxAttempts: Int = 8,
        initialDelay: Duration = .milliseconds(50),
        maxDelay: Duration = .seconds(2),
        multiplier: Double = 2,
        jitter: Double = 0.3
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.multiplier = max(1, multiplier)
        self.jitter = min(1, max(0, jitter))
    }

    /// 8 attempts over about 5 s: 50 ms, 100 ms, ... capped at 2 s, ±30 % jitter.
    public static let `default` = RedisRetryPolicy()

    /// Never gives up (used by notification listeners, which run until stopped); 5 s cap.
    public static let forever = RedisRetryPolicy(maxAttempts: .max, maxDelay: .seconds(5))

    /// The pause after failed attempt `attempt` (1-based), jitter included.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }

    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let base = initialDelay.seconds * pow(multiplier, Double(max(0, min(attempt - 1, 62))))
        let capped = min(maxDelay.seconds, base)
        let factor = jitter > 0 ? Double.random(in: (1 - jitter)...1, using: &generator) : 1
        return .nanoseconds(Int64(capped * factor * 1e9))
    }
}

extension Duration {
    /// The duration as (fractional) seconds.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}

/// `pow` for `Double` without Foundation.
private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var i = 0
    while Double(i) < exponent {
        result *= base
        i += 1
        if result.isInfinite { break }
    }
    return result
}
