/// A stop request a thread can sleep on between rounds of work: ``sleep(_:)`` returns early once
/// ``stop()`` is called, so a loop that polls every interval stops at once instead of finishing
/// its sleep (a ``BlockingQueue`` that never holds an item, closed to stop).
public final class StopSignal: Sendable {
    private let queue = BlockingQueue<FIFOBuffer<Never>>(capacity: 1)

    public init() {}

    /// Wakes every sleeper; idempotent.
    public func stop() { queue.close() }

    public var isStopped: Bool { queue.isClosed }

    /// Sleeps `duration` unless stopped first; whether stopped.
    @discardableResult
    public func sleep(_ duration: Duration) -> Bool { queue.waitUntilClosed(timeout: duration) }
}
