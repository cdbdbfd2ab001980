import ReconcilerCore
// MARK: - RedisNotification

/// What a `RedisNotificationListener` reports.
public enum RedisNotification: Sendable, Hashable {
    /// These keys were (possibly) modified, deleted, expired or evicted. Names may repeat.
    case keys([String])
    /// A `FLUSHALL`/`FLUSHDB` happened (any database: Redis does not say which): every key
    /// may be gone.
    case flushed
    /// The listener lost its connection (Redis restarted, was killed, or dropped us for a full
    /// output buffer). Changes made from now until `.reconnected` are not reported; a restarted
    /// Redis without persistence comes back empty. The listener is reconnecting.
    case disconnected(RedisError)
    /// Subscribed again after a `.disconnected`: sweep now, since changes were missed.
    case reconnected
    /// The listener ended: after `stop()` (`nil`), or because reconnecting failed with a
    /// non-retryable error or ran out of attempts. Always the last notification.
    case stopped(RedisError?)
}

/// Which change-notification mechanism a `RedisNotificationListener` uses.
public enum RedisNotificationSource: Sendable, Hashable {
    /// Client-side caching in broadcasting mode (Redis 6+): the listener's tracking connection
    /// runs `CLIENT TRACKING ON REDIRECT <subscriber id> BCAST PREFIX p ...` (never `NOLOOP`, so
    /// the reconciler's own repair writes are reported too) and its subscriber connection
    /// listens on `__redis__:invalidate`. An empty list tracks every key. Prefixes must not
    /// overlap. Needs no server configuration.
    case tracking(prefixes: [String])
    /// Keyspace notifications: `PSUBSCRIBE __keyspace@<db>__:<prefix>*` on the configured
    /// database. `notify-keyspace-events` must contain `K` plus `$`, `g`, `x`, `e` (and `h`
    /// with `hashEvents`); with `configureServer` the listener adds the missing flags with
    /// `CONFIG SET` (keeping the others), at start and after every reconnect (a restarted
    /// Redis forgets a runtime `CONFIG SET`); otherwise it throws `.notConfigured`.
    ///
    /// Keyspace events do not report `FLUSHALL`/`FLUSHDB`, so the listener also keeps a
    /// tracking connection in default mode (it never reads keys, so it only ever gets the
    /// flush message) redirected to the subscriber.
    case keyspaceEvents(prefix: String, configureServer: Bool = false, hashEvents: Bool = false)
}
