import ConcurrencyKit
import Foundation
import Synchronization

/// Everything the daemon's threads share — the binlog tail, the reconcile loop, the Redis
/// notification listener and watchdog, the source poller and the checkpointer — in one struct
/// behind one `Synchronization.Mutex` (``LiveShared``): a field can only be reached under the
/// lock, so the compiler keeps the locking, not a comment.
struct LiveState {
    /// The shadow maps, their position and GTID state, held XA transactions.
    var shadow: ShadowState
    /// Verdicts: what was read from Redis, what is due, what diverges.
    var engine: VerdictEngine

    // MARK: The tail

    /// The end of the last event of a binlog file (not inside a payload) that was applied.
    var lastEventEnd: BinlogCoordinates?
    /// The tail is inside a transaction (the caught-up gate waits for its commit).
    var inTransaction = false
    /// Commit timestamp (Unix seconds) of the last applied transaction, for seconds-behind.
    var lastCommitTimestamp: UInt32 = 0
    /// Stops the tail's blocked read (set while a stream is open).
    var streamInterrupt: ReplicationStream.InterruptHandle?
    /// The source as seen at start (flavour, `@@server_id`, MySQL's `@@server_uuid`); replaced
    /// when the tail follows a failover. Recorded in every checkpoint.
    var sourceIdentity = CheckpointSource(flavour: .mariadb, serverID: 0)
    var tailFinished = false
    /// Why the tail stopped, when nothing the sidecar can do by itself would let it go on.
    var tailError: TailStopped?

    // MARK: The source poller

    var sourcePosition: BinlogCoordinates?
    var sourcePolledAt = 0.0

    // MARK: The reconcile loop

    var wasCaughtUp = false
    /// The next catch-up ends with a full sweep (set at start and after every reconnect).
    var catchUpSweepNeeded = true
    /// A sweep of every key is requested (at start, after a reconnect, a Redis error, an incident
    /// of one Redis).
    var sweepRequested = true
    /// Redis Cluster: a sweep of the keys of these slots only is requested (the union of the slots
    /// of the nodes that had an incident since the last sweep began); a full request covers it.
    var sweepSlots: RedisClusterSlotSet?
    /// Redis Cluster: masters that announced a flush (tracking), turned into a sweep of their
    /// slots by the reconcile loop (which holds the slot map).
    var flushAnnounced: Set<RedisConfiguration.Endpoint> = []
    var keysChecked = 0

    // MARK: Redis

    /// A Redis flush or restart being answered (see Reconciler+Redis.swift).
    var incident: RedisIncident?
    var redisRunID: String?
    var listener: RedisNotificationListener?
    /// Redis Cluster: the notification listener of each master (set up again as masters change).
    var clusterListeners: [RedisConfiguration.Endpoint: RedisNotificationListener] = [:]
    /// Sentinel mode: the primary after a failover (nil: the one at start).
    var redisPrimary: RedisConfiguration.Endpoint?
    var keyspaceOffWarned = false

    /// Shutdown was requested.
    var stopping = false

    /// Caught up: everything up to the source's position, observed less than 0.5 s ago, applied.
    /// `check` (which stops at the end of the binlog) is also caught up once the tail finished.
    func isCaughtUp(now: Double, checkOnce: Bool) -> Bool {
        guard let src = sourcePosition, now - sourcePolledAt < 0.5, let seen = lastEventEnd, !inTransaction else {
            return tailFinished && tailError == nil && checkOnce
        }
        return !(seen < src)
    }

    /// Signals closer than this to an incident's first one belong to it.
    static let incidentMergeSeconds = 1.0

    /// Records a flush/restart signal and requests the immediate sweep: of every key, or (a Redis
    /// Cluster node's incident) of the keys of `slots`; true for a new incident. Signals merged
    /// into one incident sweep the union of their slots (every key when one of them has none).
    mutating func noteIncident(
        _ reason: RedisIncident.Reason, slots: RedisClusterSlotSet? = nil, now: Double = monotonicSeconds(),
        update: (inout RedisIncident) -> Void = { _ in }
    ) -> Bool {
        requestSweep(slots: slots)
        if var inc = incident, !inc.summaryWritten || now - inc.noticedAt < Self.incidentMergeSeconds {
            inc.reason = max(inc.reason, reason)
            if let slots, var merged = inc.slots {
                merged.formUnion(slots)
                inc.slots = merged
            } else {
                inc.slots = nil
            }
            update(&inc)
            incident = inc
            return false
        }
        var inc = RedisIncident(reason: reason, noticedAt: now, noticedWall: Date().timeIntervalSince1970, slots: slots)
        update(&inc)
        incident = inc
        return true
    }

    /// Requests a sweep of every key (`slots` nil) or of the keys of `slots`.
    mutating func requestSweep(slots: RedisClusterSlotSet?) {
        guard let slots else {
            sweepRequested = true
            return
        }
        var merged = sweepSlots ?? RedisClusterSlotSet()
        merged.formUnion(slots)
        sweepSlots = merged
    }

    /// The sweep to begin now, and the request taken: every key (`.every`) when one was requested
    /// or the periodic sweep is `due`; else the requested slots, together with those of the
    /// incident whose summary waits (so the sweep that writes it has read all its slots); nil
    /// when none is requested.
    mutating func takeSweepRequest(due: Bool) -> SweepScope? {
        defer {
            sweepRequested = false
            sweepSlots = nil
        }
        if sweepRequested || due { return .every }
        guard var slots = sweepSlots else { return nil }
        if let inc = incident, !inc.summaryWritten, let pending = inc.slots { slots.formUnion(pending) }
        return .slots(slots)
    }
}

/// The daemon's one lock, around the one ``LiveState``.
final class LiveShared: Sendable {
    private let state: Mutex<LiveState>

    init(_ initial: consuming sending LiveState) { state = Mutex(initial) }

    @inline(__always)
    func withLock<T, E: Error>(_ body: (inout sending LiveState) throws(E) -> sending T) throws(E) -> sending T {
        try state.withLock { (s: inout sending LiveState) throws(E) -> sending T in
            // Empty outside ThreadSanitizer builds (see ConcurrencyKit.ThreadSanitizer).
            ThreadSanitizer.acquired(self)
            defer { ThreadSanitizer.releasing(self) }
            return try body(&s)
        }
    }

    var isStopping: Bool { withLock { $0.stopping } }
}

/// The binlog tail stopped for good: `message` says why (with the way out when there is one),
/// `cause` is the error that stopped it, with its type (a `BinlogDecodingError` names the file,
/// offset and event; an ``ApplyError`` a change the sidecar cannot trust; a ``ReplicationError``
/// the server's refusal).
public struct TailStopped: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let cause: (any Error)?
    public var description: String { message }
}

/// `check` did not decide every key in time.
public struct CheckTimedOut: Error, CustomStringConvertible, Sendable {
    public let seconds: Int
    public var description: String { "check did not finish within \(seconds) s" }
}

/// A Redis flush or restart being answered: merged from every signal that reports it (the
/// watchdog's connection loss, changed `run_id` or key-count drop, a flush announced by
/// tracking), so that one `summary` record is written, after the sweep that follows it.
struct RedisIncident {
    enum Reason: Int, Comparable {
        /// Connection lost, not known yet whether the server restarted.
        case unreachable = 0
        case flush = 1
        case restart = 2
        /// A Redis Cluster shard has a new master (its replica was promoted), or Sentinel named
        /// another primary (its data came by replication; swept to be sure).
        case failover = 3
        var text: String {
            switch self {
            case .unreachable: "redis_unreachable"
            case .flush: "redis_flush"
            case .restart: "redis_restart"
            case .failover: "redis_failover"
            }
        }
        static func < (a: Reason, b: Reason) -> Bool { a.rawValue < b.rawValue }
    }
    var reason: Reason
    /// Monotonic time of the first signal.
    var noticedAt: Double
    var noticedWall: Double
    var runID: String?
    var previousRunID: String?
    var keysBefore: Int?
    var keysAfter: Int?
    /// Redis Cluster: the node the incident is about (`host:port`, node id).
    var node: String?
    var nodeID: String?
    /// Redis Cluster: the slots of the node (of every node whose signal was merged into this
    /// incident): what its sweep reads and its summary names. nil: every key.
    var slots: RedisClusterSlotSet?
    var summaryWritten = false
}
