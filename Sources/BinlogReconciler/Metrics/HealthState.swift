import Synchronization

/// What `/health` answers from: the few facts that make the daemon unhealthy, set by the parts
/// that observe them, from any thread.
///
/// Unhealthy when any of these holds:
/// - the binlog stream is stale: no event (heartbeats included: any event counts as life) for more
///   than 3 heartbeat periods, the same rule the replication client uses to declare the connection
///   dead; before the first event, the time counts from ``init(heartbeatPeriod:now:)``;
/// - Redis was reported unreachable (``setRedisReachable(_:)``);
/// - checkpoints are failing (``setCheckpointFailing(_:)``).
///
/// Redis starts as reachable and checkpoints as not failing: both flip only on an observation.
/// Time is monotonic (`ContinuousClock`), so wall-clock steps do not make the stream look stale.
public final class HealthState: Sendable {
    /// How many heartbeat periods without any event make the stream stale.
    public static let stalePeriods = 3

    private struct State {
        var lastEvent: ContinuousClock.Instant
        var heartbeatPeriod: Duration
        var redisReachable = true
        var checkpointFailing = false
    }

    private let state: Mutex<State>

    /// - Parameters:
    ///   - heartbeatPeriod: The `@master_heartbeat_period` asked of the source.
    ///   - now: The start time, which stands in for the last event until one arrives.
    public init(heartbeatPeriod: Duration, now: ContinuousClock.Instant = .now) {
        state = Mutex(State(lastEvent: now, heartbeatPeriod: heartbeatPeriod))
    }

    /// The heartbeat period the staleness rule multiplies (3 × this); settable when the period is
    /// renegotiated on reconnect.
    public var heartbeatPeriod: Duration {
        get { state.withLock { $0.heartbeatPeriod } }
        set { state.withLock { $0.heartbeatPeriod = newValue } }
    }

    /// The time of the last binlog event of any kind, heartbeats included.
    public var lastBinlogEvent: ContinuousClock.Instant {
        state.withLock { $0.lastEvent }
    }

    /// A binlog event (of any type) arrived at `at`. An older time than the one held is ignored.
    public func recordBinlogEvent(at: ContinuousClock.Instant = .now) {
        state.withLock { s in
            if at > s.lastEvent { s.lastEvent = at }
        }
    }

    /// Whether the last Redis command or connection attempt succeeded.
    public func setRedisReachable(_ reachable: Bool) {
        state.withLock { $0.redisReachable = reachable }
    }

    /// Whether the last checkpoint write failed (true) or succeeded (false).
    public func setCheckpointFailing(_ failing: Bool) {
        state.withLock { $0.checkpointFailing = failing }
    }

    /// The verdict at `now`: healthy when `reasons` is empty; each reason is one line for humans.
    public func check(now: ContinuousClock.Instant = .now) -> (healthy: Bool, reasons: [String]) {
        let s = state.withLock { $0 }
        var reasons: [String] = []
        let limit = s.heartbeatPeriod * Self.stalePeriods
        let idle = now - s.lastEvent
        if idle > limit {
            reasons.append(
                "binlog stream stale: no event for \(Self.format(idle)) s "
                    + "(limit \(Self.format(limit)) s = \(Self.stalePeriods) heartbeat periods)")
        }
        if !s.redisReachable { reasons.append("redis unreachable") }
        if s.checkpointFailing { reasons.append("checkpoints failing") }
        return (reasons.isEmpty, reasons)
    }

    /// Seconds with one decimal, for the reasons.
    private static func format(_ d: Duration) -> String {
        let tenths = (ReconcilerMetrics.seconds(d) * 10).rounded()
        let whole = Int64(tenths / 10)
        let frac = Int64(abs(tenths.truncatingRemainder(dividingBy: 10)))
        return "\(whole).\(frac)"
    }
}
