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
public final class ReportStreamWriter: Sendable {
    public let stream: String
    public let maxLength: Int
    public let queueCapacity: Int
    private let configuration: RedisConfiguration
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

    public init(configuration: RedisConfiguration, stream: String, maxLength: Int, queueCapacity: Int, logger: Logger) {
        self.configuration = configuration
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
        var delay = 0.1
        var failingSince: Double?
        while !abandon.isStopped, let batch = queue.take(upTo: 256) {
            counts.withLock { $0.inFlight = batch.count }
            do {
                let c = try conn ?? RedisConnection(configuration: configuration)
                conn = c
                let commands = batch.map { ["XADD", stream, "MAXLEN", "~", String(maxLength), "*"] + $0 }
                let replies = try c.pipeline(commands)
                if let bad = replies.first(where: { if case .error = $0 { return true } else { return false } }) {
                    // A server error (WRONGTYPE: the key is not a stream; NOPERM) will not go away by
                    // retrying: log it and drop the batch.
                    logger.error("report stream: XADD failed; records dropped from the stream", metadata: ["stream": "\(stream)", "error": "\(bad)", "records": "\(batch.count)"])
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
                    logger.warning("report stream: Redis unreachable; queueing records (bounded; oldest dropped when full)", metadata: ["stream": "\(stream)", "error": "\(error)", "queue": "\(queueCapacity)"])
                }
                let dropped = queue.putBack(batch)
                counts.withLock { $0.inFlight = 0 }
                if dropped > 0 { counted(dropped: dropped) }
                abandon.sleep(.milliseconds(Int64(delay * 1000)))
                delay = min(2, delay * 2)
            }
        }
    }
}
