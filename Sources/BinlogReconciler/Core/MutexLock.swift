import ConcurrencyKit
import Synchronization

/// A lock around a section of code, for the daemon's plain threads (not tasks): a
/// `Synchronization.Mutex` with no state of its own, so it needs no `@unchecked Sendable` and no
/// address-stable C mutex. Data it guards is still the caller's to keep under it; moving that data
/// into the mutex (so the compiler enforces the locking) is issue 15's daemon split.
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
