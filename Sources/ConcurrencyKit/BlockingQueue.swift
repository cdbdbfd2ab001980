#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a ``BlockingQueue`` holds: items appended by producers, taken by the consumer. The buffer
/// says how an item is appended and when it is full; ``FIFOBuffer`` is the plain first-in
/// first-out one (one item per element, `capacity` items), and a buffer of its own lets a producer
/// append into storage the consumer hands back (the live fetch thread copies events back to back
/// into one byte buffer, bounded in bytes).
public protocol HandOffBuffer: Sendable {
    /// What a producer hands in (a borrowed pointer is fine: it is appended under the lock, on the
    /// producer's thread, before ``BlockingQueue/put(_:)`` returns).
    associatedtype Item
    init()
    var isEmpty: Bool { get }
    /// Whether `item` fits beside what the buffer holds within `capacity` (asked only when the
    /// buffer is not empty: an empty buffer always takes one item, however large).
    func hasRoom(for item: borrowing Item, capacity: Int) -> Bool
    mutating func append(_ item: Item)
    /// Drops everything (``BlockingQueue/cancel()``); storage may be kept.
    mutating func removeAll()
}

/// A bounded blocking hand-off between threads: ``put(_:)`` blocks while the buffer is full,
/// ``take()`` / ``takeAll(into:)`` block while it is empty, ``close()`` (the producer is done: the
/// consumer still gets what is queued) and ``cancel()`` (the consumer is gone: what is queued is
/// dropped) wake both sides.
///
/// The package's one condition variable, used by the offline read-ahead, the live fetch thread,
/// the report stream writer and ``StopSignal``.
///
/// `@unchecked Sendable`: this class wraps C handles, a `pthread_mutex_t` and a `pthread_cond_t`
/// on the heap (never moved, as pthreads requires; a Swift stored property has no stable
/// address), and every mutable field is read and written only with that mutex held. It is the
/// package's one `@unchecked Sendable` on a synchronisation type; `Synchronization.Mutex` has no
/// condition variable to wait on.
public final class BlockingQueue<Buffer: HandOffBuffer>: @unchecked Sendable {
    /// What ``HandOffBuffer/hasRoom(for:capacity:)`` measures against (items, bytes...).
    public let capacity: Int
    // `@usableFromInline` (and `put`/`takeAll` `@inlinable`) so that the hand-off is specialised
    // for the buffer in the module that uses it: the live fetch thread puts millions of events.
    @usableFromInline let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    @usableFromInline let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    @usableFromInline var buffer = Buffer()
    @usableFromInline var closed = false
    @usableFromInline var cancelled = false
    /// Threads blocked in `changed`: nobody is woken when nobody waits (one broadcast per
    /// hand-off would cost the busy side a system call per item).
    @usableFromInline var waiting = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        pthread_mutex_init(mutex, nil)
        #if canImport(Glibc)
        // Timed waits measure on the monotonic clock (a wall-clock step neither ends nor stretches them).
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(changed, &attr)
        pthread_condattr_destroy(&attr)
        #else
        pthread_cond_init(changed, nil)
        #endif
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    // MARK: Producer

    /// Appends `item`, waiting while the buffer is full; false (and `item` not appended) once the
    /// queue is closed or cancelled.
    @inlinable @discardableResult
    public func put(_ item: Buffer.Item) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !closed && !cancelled && !buffer.isEmpty && !buffer.hasRoom(for: item, capacity: capacity) { wait() }
        if closed || cancelled { return false }
        buffer.append(item)
        wakeWaiters()
        return true
    }

    /// No more items: ``put(_:)`` returns false from now on, the consumer takes what is queued
    /// and then gets nil (false). Idempotent.
    public func close() {
        pthread_mutex_lock(mutex)
        closed = true
        wakeWaiters()
        pthread_mutex_unlock(mutex)
    }

    // MARK: Consumer

    /// Replaces `into` (which the caller has used up: its storage goes back to the producer side)
    /// with everything queued, waiting while nothing is; false when the queue is closed and
    /// empty, or cancelled.
    @inlinable
    public func takeAll(into: inout Buffer) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while buffer.isEmpty && !closed && !cancelled { wait() }
        if cancelled || buffer.isEmpty { return false }
        swap(&into, &buffer)
        wakeWaiters()
        return true
    }

    /// Drops what is queued and wakes both sides: puts return false and takes nil from now on.
    /// Idempotent.
    public func cancel() {
        pthread_mutex_lock(mutex)
        cancelled = true
        buffer.removeAll()
        wakeWaiters()
        pthread_mutex_unlock(mutex)
    }

    public var isClosed: Bool { locked { closed } }
    public var isCancelled: Bool { locked { cancelled } }

    /// Waits until the queue is closed or cancelled, at most `timeout`; whether it is.
    @discardableResult
    public func waitUntilClosed(timeout: Duration) -> Bool {
        let deadline = Deadline(after: timeout)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !closed && !cancelled {
            if !wait(until: deadline) { break }
        }
        return closed || cancelled
    }

    // MARK: Lock and condition

    /// Runs `body` with the mutex held (for the buffer-specific operations below).
    fileprivate func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a change (the mutex held on entry and on return).
    @inlinable
    func wait() {
        waiting += 1
        pthread_cond_wait(changed, mutex)
        waiting -= 1
    }

    /// Waits for a change or the deadline (the mutex held); false once the deadline passed.
    private func wait(until deadline: Deadline) -> Bool {
        guard !deadline.hasPassed else { return false }
        var ts = deadline.time
        waiting += 1
        let rc = pthread_cond_timedwait(changed, mutex, &ts)
        waiting -= 1
        return rc != ETIMEDOUT || !deadline.hasPassed
    }

    /// Wakes every waiting thread (the mutex held); both sides share the condition and recheck.
    @inlinable
    func wakeWaiters() {
        if waiting > 0 { pthread_cond_broadcast(changed) }
    }

    fileprivate func withBuffer<R>(_ body: (inout Buffer, _ closed: Bool, _ cancelled: Bool) -> R) -> R {
        let r = body(&buffer, closed, cancelled)
        wakeWaiters()
        return r
    }

    /// Waits (the mutex held) until the buffer holds something or the queue is closed or cancelled,
    /// or the deadline passed.
    fileprivate func waitForItems(until deadline: Deadline?) {
        while buffer.isEmpty && !closed && !cancelled {
            if let deadline {
                if !wait(until: deadline) { return }
            } else {
                wait()
            }
        }
    }
}

// MARK: - FIFOBuffer

/// The plain first-in first-out buffer of a ``BlockingQueue``: `capacity` items.
public struct FIFOBuffer<Element: Sendable>: HandOffBuffer {
    /// Taken slots are set to nil at once (the queue never keeps what the consumer took alive,
    /// e.g. the read-ahead's 1 MiB chunks) and dropped in bulk.
    private var slots: [Element?] = []
    /// Index of the first item not taken.
    private var head = 0

    public init() {}

    public var isEmpty: Bool { head == slots.count }
    public var count: Int { slots.count - head }

    public func hasRoom(for item: borrowing Element, capacity: Int) -> Bool { count < capacity }

    public mutating func append(_ item: Element) { slots.append(item) }

    public mutating func removeAll() {
        slots.removeAll(keepingCapacity: true)
        head = 0
    }

    /// The oldest item.
    public mutating func removeFirst() -> Element? {
        guard head < slots.count else { return nil }
        let item = slots[head].take()
        head += 1
        compact()
        return item
    }

    /// The `n` oldest items (fewer when fewer are queued).
    public mutating func removeFirst(upTo n: Int) -> [Element] {
        let end = head + min(max(0, n), count)
        var taken: [Element] = []
        taken.reserveCapacity(end - head)
        for i in head..<end { if let item = slots[i].take() { taken.append(item) } }
        head = end
        compact()
        return taken
    }

    /// Puts `front` before the queued items.
    mutating func prepend(contentsOf front: [Element]) {
        guard !front.isEmpty else { return }
        if head >= front.count {
            head -= front.count
            for (i, item) in front.enumerated() { slots[head + i] = item }
        } else {
            slots = front.map { Optional($0) } + slots[head...]
            head = 0
        }
    }

    /// Drops the taken (nil) slots once they are most of the storage (amortised O(1) per item).
    private mutating func compact() {
        if head == slots.count {
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= slots.count {
            slots.removeFirst(head)
            head = 0
        }
    }
}

extension BlockingQueue {
    /// The oldest item, waiting while none is queued (at most `timeout` when given); nil when the
    /// queue is closed and empty, cancelled, or the timeout passed.
    public func take<Element>(timeout: Duration? = nil) -> Element? where Buffer == FIFOBuffer<Element> {
        let deadline = timeout.map { Deadline(after: $0) }
        return locked {
            waitForItems(until: deadline)
            return withBuffer { buffer, _, cancelled in cancelled ? nil : buffer.removeFirst() }
        }
    }

    /// Up to `n` of the oldest items, waiting while none is queued; nil when the queue is closed
    /// and empty, or cancelled.
    public func take<Element>(upTo n: Int) -> [Element]? where Buffer == FIFOBuffer<Element> {
        locked {
            waitForItems(until: nil)
            return withBuffer { buffer, _, cancelled in
                cancelled || buffer.isEmpty ? nil : buffer.removeFirst(upTo: max(1, n))
            }
        }
    }

    /// Appends `item` without waiting: when the queue is full the oldest items are dropped to
    /// make room. Returns how many were dropped, or nil (nothing appended) when the queue is
    /// closed or cancelled.
    @discardableResult
    public func putDroppingOldest<Element>(_ item: Element) -> Int? where Buffer == FIFOBuffer<Element> {
        locked {
            withBuffer { buffer, closed, cancelled in
                if closed || cancelled { return nil }
                var dropped = 0
                while buffer.count >= capacity, buffer.removeFirst() != nil { dropped += 1 }
                buffer.append(item)
                return dropped
            }
        }
    }

    /// Puts items the consumer took back at the front (e.g. a batch it could not deliver), even
    /// after ``close()``; when that overfills the queue the oldest are dropped. Returns how many
    /// were dropped (all of them when the queue is cancelled).
    @discardableResult
    public func putBack<Element>(_ items: [Element]) -> Int where Buffer == FIFOBuffer<Element> {
        locked {
            withBuffer { buffer, _, cancelled in
                if cancelled { return items.count }
                buffer.prepend(contentsOf: items)
                var dropped = 0
                while buffer.count > capacity, buffer.removeFirst() != nil { dropped += 1 }
                return dropped
            }
        }
    }

    /// Items queued.
    public func count<Element>() -> Int where Buffer == FIFOBuffer<Element> {
        locked { withBuffer { buffer, _, _ in buffer.count } }
    }
}

// MARK: - Deadline

/// A point on the clock `pthread_cond_timedwait` measures against (monotonic on Linux).
struct Deadline {
    let time: timespec

    init(after d: Duration) {
        let now = Self.now()
        let (seconds, attoseconds) = d.components
        var sec = Int(now.tv_sec) + Int(clamping: max(0, seconds))
        var nsec = Int(now.tv_nsec) + Int(clamping: max(0, attoseconds / 1_000_000_000))
        sec += nsec / 1_000_000_000
        nsec %= 1_000_000_000
        var t = timespec()
        t.tv_sec = .init(sec)
        t.tv_nsec = .init(nsec)
        time = t
    }

    var hasPassed: Bool {
        let now = Self.now()
        return (Int(now.tv_sec), Int(now.tv_nsec)) >= (Int(time.tv_sec), Int(time.tv_nsec))
    }

    private static func now() -> timespec {
        var t = timespec()
        #if canImport(Glibc)
        clock_gettime(CLOCK_MONOTONIC, &t)
        #else
        clock_gettime(CLOCK_REALTIME, &t)
        #endif
        return t
    }
}
