import ConcurrencyKit
import Synchronization

/// A lock around a section of code, for the daemon's plain threads (not tasks): a
/// `Synchronization.Mutex` with no state of its own, so it needs no `@unchecked Sendable` and no
/// address-stable C mutex. For small classes whose guarded fields are few and local (the report
/// sink, the watchdog); where threads share a state, it lives inside a `Mutex` (``LiveShared``).
public final class MutexLock: Sendable {
    private let mutex = Mutex(())

    public init() {}

    @inline(__always)
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        try mutex.withLock { (_: inout ()) throws(E) -> T in
            // Empty outside ThreadSanitizer builds (see ConcurrencyKit.ThreadSanitizer).
            ThreadSanitizer.acquired(self)
            defer { ThreadSanitizer.releasing(self) }
            return try body()
        }
    }
}
