/// Tells ThreadSanitizer about a lock hand-over it cannot see.
///
/// `Synchronization.Mutex` on Linux passes a contended lock from one thread to the next through a
/// priority-inheritance futex inside the Swift runtime, which is not built with ThreadSanitizer: a
/// TSan build sees no happens-before edge there, and reports data that two threads only ever touch
/// under the same mutex as a race. A lock calls ``acquired(_:)`` first thing inside its critical
/// section and ``releasing(_:)`` last thing, with an address unique to the lock (its object). Only
/// builds with `-D CONCURRENCYKIT_TSAN` (`scripts/test --tsan`) call into the TSan runtime; in every
/// other build these are empty and inlined away.
public enum ThreadSanitizer {
    @inline(__always)
    public static func acquired(_ lock: AnyObject) {
        #if CONCURRENCYKIT_TSAN
        __tsan_acquire(UnsafeMutableRawPointer(Unmanaged.passUnretained(lock).toOpaque()))
        #endif
    }

    @inline(__always)
    public static func releasing(_ lock: AnyObject) {
        #if CONCURRENCYKIT_TSAN
        __tsan_release(UnsafeMutableRawPointer(Unmanaged.passUnretained(lock).toOpaque()))
        #endif
    }
}

#if CONCURRENCYKIT_TSAN
// The TSan runtime's annotation entry points (`void __tsan_acquire(void *addr)`), linked in by
// `-sanitize=thread`.
@_silgen_name("__tsan_acquire") func __tsan_acquire(_ addr: UnsafeMutableRawPointer)
@_silgen_name("__tsan_release") func __tsan_release(_ addr: UnsafeMutableRawPointer)
#endif
