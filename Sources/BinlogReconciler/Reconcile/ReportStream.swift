import Foundation
import Logging

/// Appends report records to a Redis Stream (`XADD key MAXLEN ~ maxLength * ...`), on a thread
/// and a connection of its own, so a slow or absent Redis never holds up the reconciler.
///
/// Each entry has the fields `event`, `id` (empty for `summary`), `watch`, `key` and `record`
/// (the JSON line, exactly as written to stdout or the report file). Records wait in a bounded
/// queue of `queueCapacity`; while Redis is unreachable the writer reconnects with backoff
/// (100 ms doubling to 2 s) and the queue fills; when it is full the *oldest* queued record is
/// dropped (it is still in the stdout / report file copy) and counted: the count is logged once
/// the stream is written again, and `droppedRecords` holds the total. A batch whose replies were
/// lost is sent again, so an entry may repeat (delivery is at least once; `id` tells repeats).
public final class ReportStreamWriter: @unchecked Sendable {
    public let stream: String
    public let maxLength: Int
    public let queueCapacity: Int
    private let configuration: RedisConfiguration
    private let logger: Logger
    private let cond = NSCondition()
    private var queue: [[String]] = []  // XADD field/value pairs, one array per record
    private var head = 0
    private var stopping = false
    private var finished = false
    private var droppedSinceLog = 0
    public private(set) var droppedRecords = 0
    public private(set) var writtenRecords = 0

    public init(configuration: RedisConfiguration, stream: String, maxLength: Int, queueCapacity: Int, logger: Logger) {
        self.configuration = configuration
        self.stream = stream
        self.maxLength = max(1, maxLength)
        self.queueCapacity = max(1, queueCapacity)
        self.logger = logger
        let t = Thread { [self] in self.loop() }
        t.name = "report-stream"
        t.start()
    }

    /// Queues one record (never blocks on Redis).
    public func append(_ record: ReportRecord, json: [UInt8]) {
        let fields = [
            "event", record.event.rawValue, "id", record.id, "watch", record.watch, "key", record.key,
            "record", String(decoding: json, as: UTF8.self),
        ]
        cond.lock()
        if queue.count - head >= queueCapacity {
            head += 1
            droppedRecords += 1
            droppedSinceLog += 1
        }
        queue.append(fields)
        cond.signal()
        cond.unlock()
    }

    /// Records queued and not yet written.
    public var backlog: Int {
        cond.lock()
        defer { cond.unlock() }
        return queue.count - head
    }

    /// Writes what is queued (waiting at most `timeout` seconds for Redis), then stops the thread.
    public func close(timeout: Double = 2) {
        let deadline = monotonicSeconds() + timeout
        while backlog > 0 && monotonicSeconds() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
        while true {
            cond.lock()
            let done = finished
            cond.unlock()
            if done { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        if backlog > 0 {
            logger.warning("report stream: records not written at shutdown (they are in the report output)", metadata: ["stream": "\(stream)", "records": "\(backlog)"])
        }
    }

    private func loop() {
        var conn: RedisConnection?
        var delay = 0.1
        var failingSince: Double?
        while true {
            cond.lock()
            while queue.count - head == 0 && !stopping { cond.wait() }
            if stopping {
                finished = true
                cond.unlock()
                return
            }
            let batch = Array(queue[head..<min(queue.count, head + 256)])
            let batchHead = head
            cond.unlock()
            do {
                if conn == nil { conn = try RedisConnection(configuration: configuration) }
                let commands = batch.map { ["XADD", stream, "MAXLEN", "~", String(maxLength), "*"] + $0 }
                let replies = try conn!.pipeline(commands)
                if let bad = replies.first(where: { if case .error = $0 { return true } else { return false } }) {
                    // A server error (WRONGTYPE: the key is not a stream; NOPERM) will not go away by
                    // retrying: log it and drop the batch.
                    logger.error("report stream: XADD failed; records dropped from the stream", metadata: ["stream": "\(stream)", "error": "\(bad)", "records": "\(batch.count)"])
                }
                cond.lock()
                // Records dropped meanwhile moved `head`; only what is still queued is removed.
                let sent = max(0, batchHead + batch.count - head)
                head += sent
                writtenRecords += batch.count
                if head > 4096 && head * 2 > queue.count {
                    queue.removeFirst(head)
                    head = 0
                }
                let dropped = droppedSinceLog
                droppedSinceLog = 0
                cond.unlock()
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
                cond.lock()
                if !stopping { _ = cond.wait(until: Date().addingTimeInterval(delay)) }
                cond.unlock()
                delay = min(2, delay * 2)
            }
        }
    }
}
