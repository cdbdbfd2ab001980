import ReconcilerCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - MonotonicCoarseClock

/// A monotonic clock cheap enough to read once per event: `CLOCK_MONOTONIC_COARSE` on Linux
/// (a vDSO load, resolution of a few milliseconds), `CLOCK_UPTIME_RAW` on Darwin. Only used to tell
/// an idle timeout from another lost connection.
enum MonotonicCoarseClock {
    static func nanoseconds() -> UInt64 {
        #if os(Linux)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
        #else
        return clock_gettime_nsec_np(CLOCK_UPTIME_RAW)
        #endif
    }
}

// MARK: - InterruptHandle

extension ReplicationStream {
    /// Lets another thread stop a blocked ``ReplicationStream/next()``: `shutdown(2)` on the dump
    /// socket makes the pending read return, and the stream reports
    /// ``ReplicationError/Kind/interrupted``. Safe to call at any time, also after the stream closed.
    public final class InterruptHandle: Sendable {
        private struct State {
            var socket: Int32 = -1
            var interrupted = false
        }

        private let state = Mutex(State())

        init() {}

        /// Stops the stream; idempotent.
        public func interrupt() {
            state.withLock { s in
                s.interrupted = true
                if s.socket >= 0 { _ = shutdown(s.socket, Int32(SHUT_RDWR)) }
            }
        }

        public var wasInterrupted: Bool { state.withLock { $0.interrupted } }

        func attach(socket: Int32) {
            state.withLock { s in
                s.socket = socket
                if s.interrupted, socket >= 0 { _ = shutdown(socket, Int32(SHUT_RDWR)) }
            }
        }

        /// Called before the socket is closed, so `interrupt()` never touches a reused descriptor.
        func detach() { state.withLock { $0.socket = -1 } }
    }
}
