import ReconcilerCore
import RedisClient
import ConcurrencyKit
import Logging
import Synchronization

/// Appends report records to a Redis Stream (`XADD key MAXLEN ~ maxLength * ...`), on a thread
/// and a connection of its own, so a slow or absent Redis never holds up the reconciler.
///
/// Each entry has the fields `event`, `id` (empty for `summary`), `watch`, `key` and `record`
/// (the JSON line, exactly as written to stdout or the report file). Records wait in a bounded
/// queue of `queueCapacity`; while Redis is unreachable the writer reconnects with backoff
/// (100 ms doubling to 2 s) and the queue fills; when it is full the *oldest* queued record is
/// dropped (it is still in the stdout / report file copy) and counted: the count is logged once
/// the stream is written again, and `droppedRecords` holds the total. A batch that could not be
/// written goes back to the front of the queue (where the oldest are dropped first), and up to
/// 256 records are in flight beside the queue while a batch is sent. A batch whose replies were
/// lost is sent again, so an entry may repeat (delivery is at least once; `id` tells repeats).
///
/// In Sentinel mode (`primary`) each connection goes to the primary named then, and records whose
/// `XADD` answered `READONLY` (a demoted primary) are sent again there.
///
/// On a Redis Cluster (`clusterSeeds`) the writer keeps its own slot map and sends each batch to
/// the master serving the stream key's slot, following `MOVED` (a reshard or a failover moved
/// the slot) and `ASK` (the key was just migrated: `ASKING` before each `XADD`); records whose
/// `XADD` answered a redirect, `TRYAGAIN` or `CLUSTERDOWN` are sent again on the new owner, and
/// those still unwritten after the attempts go back to the queue.
public final class ReportStreamWriter: Sendable {
    public let stream: String
    public let maxLength: Int
    public let queueCapacity: Int
    private let configuration: RedisConfiguration
    /// Redis Cluster: the seed nodes (nil: one Redis, `configuration`'s endpoint).
    private let clusterSeeds: [RedisConfiguration.Endpoint]?
    /// Sentinel mode: the primary now (asked before each connection; nil: `configuration`'s).
    private let primary: (@Sendable () -> RedisConfiguration.Endpoint)?
    private let logger: Logger
    /// XADD field/value pairs, one array per record.
    private let queue: BlockingQueue<FIFOBuffer<[String]>>
    private let counts = Mutex(Counts())
    private let thread = Mutex<JoinableThread?>(nil)
    /// Fired by ``close(timeout:)`` when the queue was not written in time: the writer gives up.
    private let abandon = StopSignal()
    /// Fired by the writer when it ends.
    private let finished = StopSignal()

    private struct Counts {
        var dropped = 0
        var droppedSinceLog = 0
        var written = 0
        /// Taken from the queue and not written yet.
        var inFlight = 0
    }

    public var droppedRecords: Int { counts.withLock { $0.dropped } }
    public var writtenRecords: Int { counts.withLock { $0.written } }

    public init(
        configuration: RedisConfiguration, clusterSeeds: [RedisConfiguration.Endpoint]? = nil,
        primary: (@Sendable () -> RedisConfiguration.Endpoint)? = nil, stream: String, maxLength: Int, queueCapacity: Int, logger: Logger
    ) {
        self.configuration = configuration
        self.clusterSeeds = clusterSeeds
        self.primary = primary
        self.stream = stream
        self.maxLength = max(1, maxLength)
        self.queueCapacity = max(1, queueCapacity)
        self.logger = logger
        queue = BlockingQueue(capacity: self.queueCapacity)
        do {
            let t = try JoinableThread(name: "report-stream") { [self] in
                defer { finished.stop() }
                loop()
            }
            thread.withLock { $0 = t }
        } catch {
            finished.stop()
            logger.error("report stream: no writer thread; records go to the report output only", metadata: ["stream": "\(stream)", "error": "\(error)"])
        }
    }

    /// Queues one record (never blocks on Redis).
    public func append(_ record: ReportRecord, json: [UInt8]) {
        let fields = [
            "event", record.event.rawValue, "id", record.id, "watch", record.watch, "key", record.key,
            "record", String(decoding: json, as: UTF8.self),
        ]
        guard let dropped = queue.putDroppingOldest(fields) else { return }  // closed
        if dropped > 0 { counted(dropped: dropped) }
    }

    private func counted(dropped: Int) {
        counts.withLock { c in
            c.dropped += dropped
            c.droppedSinceLog += dropped
        }
    }

    /// Records queued and not yet written.
    public var backlog: Int { queue.count() + counts.withLock { $0.inFlight } }

    /// Writes what is queued (waiting at most `timeout` seconds for Redis), then stops the thread.
    public func close(timeout: Double = 2) {
        queue.close()
        if !finished.sleep(.milliseconds(Int64(max(0, timeout) * 1000))) { abandon.stop() }
        thread.withLock { $0 }?.join()
        if backlog > 0 {
            logger.warning("report stream: records not written at shutdown (they are in the report output)", metadata: ["stream": "\(stream)", "records": "\(backlog)"])
        }
    }

    /// Writes batches until the queue is closed and written, or ``close(timeout:)`` gives up.
    private func loop() {
        var conn: RedisConnection?
        var cluster: RedisClusterClient?
        var delay = 0.1
        var failingSince: Double?
        while !abandon.isStopped, let batch = queue.take(upTo: 256) {
            counts.withLock { $0.inFlight = batch.count }
            // The records of the batch not written yet (they go back to the queue on failure).
            var unwritten = batch
            do {
                if let seeds = clusterSeeds {
                    let c = try cluster ?? RedisClusterClient(seeds: seeds, base: configuration)
                    cluster = c
                    try send(&unwritten, cluster: c)
                } else {
                    var target = configuration
                    if let primary { target.endpoint = primary() }
                    if let c = conn, c.configuration.endpoint != target.endpoint { conn = nil }  // another primary (Sentinel)
                    let c = try conn ?? RedisConnection(configuration: target)
                    conn = c
                    try send(&unwritten, on: c)
                }
                let dropped = counts.withLock { c -> Int in
                    c.written += batch.count
                    c.inFlight = 0
                    defer { c.droppedSinceLog = 0 }
                    return c.droppedSinceLog
                }
                if failingSince != nil || dropped > 0 {
                    logger.notice("report stream written again", metadata: ["stream": "\(stream)", "dropped_while_unreachable": "\(dropped)"])
                }
                failingSince = nil
                delay = 0.1
            } catch {
                conn = nil
                if failingSince == nil {
                    failingSince = monotonicSeconds()
                    logger.warning("report stream: XADD failed (Redis unreachable, or the cluster cannot serve the stream key's slot); queueing records (bounded; oldest dropped when full)", metadata: ["stream": "\(stream)", "error": "\(error)", "queue": "\(queueCapacity)"])
                }
                let dropped = queue.putBack(unwritten)
                counts.withLock { c in
                    c.written += batch.count - unwritten.count
                    c.inFlight = 0
                }
                if dropped > 0 { counted(dropped: dropped) }
                abandon.sleep(.milliseconds(Int64(delay * 1000)))
                delay = min(2, delay * 2)
            }
        }
    }

    private func xadd(_ fields: [String]) -> [String] { ["XADD", stream, "MAXLEN", "~", String(maxLength), "*"] + fields }

    /// A server error (WRONGTYPE: the key is not a stream; NOPERM) will not go away by retrying:
    /// logged, and the records dropped from the stream.
    private func dropFailed(_ replies: [RedisReply], of records: Int) {
        if let bad = replies.first(where: { if case .error = $0 { return true } else { return false } }) {
            logger.error("report stream: XADD failed; records dropped from the stream", metadata: ["stream": "\(stream)", "error": "\(bad)", "records": "\(records)"])
        }
    }

    /// XADDs `records` on one Redis; `records` keeps those not written yet: those whose XADD
    /// answered `READONLY` (the node is a replica now: a Sentinel failover the reconciler has not
    /// followed yet) are sent again after the backoff, to the primary named then.
    private func send(_ records: inout [[String]], on c: RedisConnection) throws(RedisError) {
        let replies = try c.pipeline(records.map(xadd))
        var again: [[String]] = []
        var readOnly: String?
        var failed: [RedisReply] = []
        for (r, reply) in zip(records, replies) {
            guard let message = reply.errorMessage else { continue }
            if message.hasPrefix("READONLY") {
                again.append(r)
                readOnly = readOnly ?? message
            } else {
                failed.append(reply)
            }
        }
        dropFailed(failed, of: failed.count)
        records = again
        if let readOnly { throw RedisError(.server, "XADD \(stream): \(readOnly)", serverMessage: readOnly) }
    }

    /// XADDs `records` on the master serving the stream key's slot; `records` keeps those not
    /// written yet. Records whose XADD answered `MOVED` / `ASK` / `TRYAGAIN` / `CLUSTERDOWN` (the
    /// slot moved or is moving between commands of the pipeline) are sent again after the
    /// cluster client followed the first such answer.
    private func send(_ records: inout [[String]], cluster: RedisClusterClient) throws(RedisError) {
        try cluster.withSlotOwner(RedisClusterSlot.slot(of: stream), doing: "XADD \(stream)") { c, asking throws(RedisError) in
            // After ASK, each XADD needs its own ASKING (withSlotOwner sent the first).
            var commands: [[String]] = []
            for (i, r) in records.enumerated() {
                if asking && i > 0 { commands.append(["ASKING"]) }
                commands.append(xadd(r))
            }
            let replies = try c.pipeline(commands)
            var again: [[String]] = []
            var redirect: String?
            var failed: [RedisReply] = []
            for (i, r) in records.enumerated() {
                let reply = replies[asking ? 2 * i : i]
                guard let message = reply.errorMessage else { continue }
                if RedisClusterErrorClass(errorMessage: message).isRetryable {
                    again.append(r)
                    if redirect == nil { redirect = message }
                } else {
                    failed.append(reply)
                }
            }
            dropFailed(failed, of: failed.count)
            records = again
            if let redirect { throw RedisError(.server, "XADD \(stream): \(redirect)", serverMessage: redirect) }
        }
    }
}
