import ReconcilerCore
import BinlogParser
internal import CMariaDB
import ConcurrencyKit
import Synchronization

// MARK: - DumpEnd

/// Why a binlog dump stopped delivering events, captured by whoever called `mariadb_rpl_fetch` at
/// the moment it returned NULL (the handle's error state is read there, before anything else
/// touches the connection).
struct DumpEnd: Sendable {
    /// `mysql_errno` and the rest of the handle's error (nil when `mysql_errno` was 0).
    var error: SQLError?
    /// `mariadb_rpl_errno` / `mariadb_rpl_error`: a packet the library itself refused.
    var rplErrno: UInt32 = 0
    var rplMessage = ""
    /// How long the failing fetch blocked (tells an idle timeout from another lost connection).
    var blockedNanoseconds: UInt64 = 0
    /// A packet this package refuses (too short to hold an event, not a dump packet, too large).
    var protocolViolation: String?
}

// MARK: - DumpBatch

/// Events fetched from the dump, copied back to back into one buffer (``RawEvent/bytes`` are
/// slices of it). The buffer of the fetch thread's ``BlockingQueue``, bounded in bytes.
struct DumpBatch: HandOffBuffer {
    /// An event as fetched: its bytes are valid until the next fetch, and copied in by ``append(_:)``.
    struct Fetched {
        var bytes: UnsafeRawBufferPointer
        var checksumVerified: Bool
    }

    struct Event {
        var start: Int
        var count: Int
        /// The fetching thread checked the CRC32 under the algorithm in force and it matched.
        var checksumVerified: Bool
    }

    var bytes: [UInt8] = []
    var events: [Event] = []

    /// Empties the batch, keeping its storage unless a large event made it grow past `keepLimit`.
    mutating func clear(keepLimit: Int) {
        if bytes.capacity > keepLimit { bytes = [] } else { bytes.removeAll(keepingCapacity: true) }
        events.removeAll(keepingCapacity: true)
    }

    mutating func append(_ event: UnsafeRawBufferPointer, checksumVerified: Bool) {
        events.append(Event(start: bytes.count, count: event.count, checksumVerified: checksumVerified))
        bytes.append(contentsOf: event)
    }

    // HandOffBuffer
    var isEmpty: Bool { events.isEmpty }
    func hasRoom(for item: borrowing Fetched, capacity: Int) -> Bool { bytes.count + item.bytes.count <= capacity }
    mutating func append(_ item: Fetched) { append(item.bytes, checksumVerified: item.checksumVerified) }
    mutating func removeAll() { clear(keepLimit: 0) }
}

// MARK: - DumpFetcher

/// Reads a binlog dump with `mariadb_rpl_fetch` or, on a plain connection, from the socket itself
/// (``DumpPacketReader``), either on a thread of its own ahead of the consumer (the default: fetching, copying and the CRC32 check of each event then overlap the
/// consumer's decoding) or inline on the consumer's thread.
///
/// ## Fetch thread
/// The thread appends every event to a shared batch, the buffer of a ``BlockingQueue``; the
/// consumer takes the whole batch when it has used up the one before (one lock per batch on its
/// side), handing its own emptied batch back as the next one's storage. Nothing waits for a batch
/// to fill: an event is available to the consumer as soon as it is appended, so tailing adds no
/// latency. The thread stops appending while `limit` bytes wait (memory stays bounded: two
/// batches and at most one event larger than `limit`), and ends after the first fetch that
/// fails, recording why as a ``DumpEnd`` and closing the queue.
///
/// ## Checksums
/// The fetcher tracks the checksum algorithm as the consumer's decoder does (the negotiated one,
/// then each FDE's) and checks the CRC32 of every other event; a match is passed on as
/// ``DumpBatch/Event/checksumVerified`` so that the decoder skips its own check
/// (`BinlogEventDecoder.decode(_:insidePayload:checksumVerified:)`). A mismatch is only noted:
/// the decoder checks the event again and reports the error in order, with its usual message.
///
/// ## Ownership
/// While the thread runs, only it calls into libmariadb for this connection; the stream stops it
/// (``stop()``, after shutting the socket down so that a blocked fetch returns) before it frees
/// the handle. The MARIADB_RPL_EVENT libmariadb reuses between fetches belongs to the fetcher.
///
/// `@unchecked Sendable`: a wrapper of C handles (the libmariadb connection and dump, the socket
/// reader), which only one thread at a time calls into, as described above.
final class DumpFetcher: @unchecked Sendable {
    private let rpl: UnsafeMutablePointer<MARIADB_RPL>
    private let handle: UnsafeMutablePointer<MYSQL>
    private let context: String
    // Touched only by the fetching thread (or, inline, by the consumer).
    private var event: UnsafeMutablePointer<MARIADB_RPL_EVENT>?
    /// Set when the connection is plain: packets are read from the socket instead of through
    /// `mariadb_rpl_fetch` (see ``DumpPacketReader``).
    private var reader: DumpPacketReader?
    private var control = BinlogEventDecoder()

    /// The fetched events on their way to the consumer.
    private let queue: BlockingQueue<DumpBatch>
    /// Why the dump ended: set by the fetch thread before it closes the queue.
    private let end = Mutex<DumpEnd?>(nil)

    /// Bytes that may wait in the shared batch before the thread pauses.
    var limit: Int { queue.capacity }
    private var thread: JoinableThread?
    var isThreaded: Bool { thread != nil }

    init(
        rpl: UnsafeMutablePointer<MARIADB_RPL>, handle: UnsafeMutablePointer<MYSQL>, checksum: ChecksumAlgorithm, context: String,
        reader: DumpPacketReader? = nil, limit: Int = 4 << 20
    ) {
        self.rpl = rpl
        self.handle = handle
        self.context = context
        self.reader = reader
        self.readsSocket = reader != nil
        queue = BlockingQueue(capacity: max(limit, 1 << 16))
        control.checksumBeforeFormatDescription = checksum
    }

    /// Whether packets are read from the socket directly (``DumpPacketReader``); fixed at init.
    let readsSocket: Bool

    deinit {
        releaseEvent()
    }

    /// Frees libmariadb's event structure (before `mariadb_rpl_close`).
    func releaseEvent() {
        if let ev = event {
            event = nil
            mariadb_free_rpl_event(ev)
        }
    }

    // MARK: One fetch

    private enum Fetched {
        case event(UnsafeRawBufferPointer, checksumVerified: Bool)
        case end(DumpEnd)
    }

    /// One `mariadb_rpl_fetch`: the event's bytes (valid until the next fetch) or why it ended.
    private func fetchOne() -> Fetched {
        let began = MonotonicCoarseClock.nanoseconds()
        if let reader {
            switch reader.next() {
            case .event(let bytes):
                guard bytes.count >= EventHeader.size else {
                    var e = DumpEnd()
                    e.protocolViolation = "dump packet of \(bytes.count + 1) bytes is too short for an event"
                    return .end(e)
                }
                return .event(bytes, checksumVerified: check(bytes))
            case .endOfDump:
                return .end(DumpEnd())
            case .failed(let error):
                var e = DumpEnd()
                e.error = error
                e.blockedNanoseconds = MonotonicCoarseClock.nanoseconds() &- began
                return .end(e)
            case .violation(let message):
                var e = DumpEnd()
                e.protocolViolation = message
                return .end(e)
            }
        }
        guard let ev = mariadb_rpl_fetch(rpl, event) else {
            event = nil  // libmariadb freed the event it was given
            var e = DumpEnd()
            if mysql_errno(handle) != 0 { e.error = SQLError(handle: handle, context: context) }
            e.rplErrno = mariadb_rpl_errno(rpl)
            if e.rplErrno != 0 { e.rplMessage = mariadb_rpl_error(rpl).map { String(cString: $0) } ?? "" }
            e.blockedNanoseconds = MonotonicCoarseClock.nanoseconds() &- began
            return .end(e)
        }
        event = ev
        let total = ev.pointee.raw_data_size
        let ofs = ev.pointee.raw_data_ofs
        guard let base = ev.pointee.raw_data, ofs <= total, total - ofs >= EventHeader.size else {
            var e = DumpEnd()
            e.protocolViolation = "dump packet of \(total) bytes is too short for an event"
            return .end(e)
        }
        let bytes = UnsafeRawBufferPointer(start: base + ofs, count: total - ofs)
        return .event(bytes, checksumVerified: check(bytes))
    }

    /// Whether the event's CRC32 matches under the algorithm in force (false for FDEs, which
    /// set the algorithm for the events after them and which the decoder verifies itself).
    private func check(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes[4] == BinlogEventType.formatDescription.rawValue {
            _ = try? control.decode(RawEvent(offset: 0, bytes: Array(bytes)[...]))
            return false
        }
        guard control.checksumAlgorithm == .crc32 && bytes.count >= EventHeader.size + 4 else { return false }
        let bodyEnd = bytes.count - 4
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bodyEnd, as: UInt32.self))
        return stored == CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<bodyEnd]))
    }

    // MARK: Inline

    /// Fetches the next event into `batch` (emptied first) on the caller's thread; nil, or why the
    /// dump ended.
    func fetchInline(into batch: inout DumpBatch, keepLimit: Int) -> DumpEnd? {
        batch.clear(keepLimit: keepLimit)
        switch fetchOne() {
        case .end(let e):
            return e
        case .event(let bytes, let verified):
            batch.append(bytes, checksumVerified: verified)
            return nil
        }
    }

    // MARK: Thread

    /// Starts the fetch thread; false when the system refused (the caller then fetches inline).
    func start() -> Bool {
        do {
            thread = try JoinableThread(name: "binlog-fetch") { [self] in run() }
            return true
        } catch {
            return false
        }
    }

    private func run() {
        while true {
            switch fetchOne() {
            case .end(let e):
                end.withLock { $0 = e }
                queue.close()
                return
            case .event(let bytes, let verified):
                guard queue.put(DumpBatch.Fetched(bytes: bytes, checksumVerified: verified)) else { return }
            }
        }
    }

    /// Replaces `batch` (whose events the consumer has used up) with every event fetched since
    /// the last call, waiting for one; nil, or why the dump ended once every event before the end
    /// was taken.
    func take(into batch: inout DumpBatch, keepLimit: Int) -> DumpEnd? {
        batch.clear(keepLimit: keepLimit)  // the consumer's own batch: freed or kept outside the lock
        if queue.takeAll(into: &batch) { return nil }
        return end.withLock { $0 } ?? DumpEnd(protocolViolation: "the fetch thread was stopped")
    }

    /// Whether the fetch thread recorded the end of the dump (it then no longer reads the socket).
    var hasEnded: Bool { end.withLock { $0 != nil } }

    /// Stops the thread and waits for it. A thread blocked in `mariadb_rpl_fetch` only returns
    /// once the socket is shut down: the caller does that first.
    func stop() {
        guard let thread else { return }
        self.thread = nil
        queue.cancel()
        thread.join()
    }
}
