#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The thread could not be started (`pthread_create` failed: the system's thread limit, memory).
public struct ThreadStartError: Error, CustomStringConvertible, Sendable {
    public let name: String
    public let code: Int32
    public var description: String { "cannot start thread '\(name)': \(String(cString: strerror(code)))" }
}

/// A plain POSIX thread that is joined, not polled: the one thread starter of the package (the
/// offline read-ahead, the live fetch thread, the daemon's loops, the Redis listener).
///
/// Threads rather than tasks because every one of them blocks in a C library (read(2),
/// libmariadb, hiredis) for as long as its peer is quiet; a task would hold a cooperative-pool
/// thread for that time.
public final class JoinableThread: Sendable {
    public let name: String
    private let handle: Mutex<pthread_t?>

    /// Starts `body` on a new thread; `name` is for messages (Glibc's module does not export
    /// `pthread_setname_np`).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        self.name = name
        final class Box {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
        }
        let context = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        #if canImport(Darwin)
        var thread: pthread_t?
        let entry: @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? = { raw in
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body()
            return nil
        }
        #else
        var thread = pthread_t()
        let entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body()
            return nil
        }
        #endif
        let status = pthread_create(&thread, nil, entry, context)
        guard status == 0 else {
            Unmanaged<AnyObject>.fromOpaque(context).release()
            throw ThreadStartError(name: name, code: status)
        }
        #if canImport(Darwin)
        handle = Mutex(thread)
        #else
        handle = Mutex(Optional(thread))
        #endif
    }

    /// Waits for the thread to return. Later calls (and calls from other threads after the first)
    /// return at once. Called on the thread itself (e.g. from a callback it runs) it returns at
    /// once too, and the thread is detached when this object goes.
    public func join() {
        let joinable = handle.withLock { h -> pthread_t? in
            guard let thread = h, pthread_equal(thread, pthread_self()) == 0 else { return nil }
            h = nil
            return thread
        }
        if let joinable { pthread_join(joinable, nil) }
    }

    /// Whether the caller runs on this thread (false once it was joined).
    public var isCurrent: Bool {
        handle.withLock { h in h.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    deinit {
        // A thread never joined is detached, so its resources are returned when it ends.
        if let thread = handle.withLock({ $0 }) { pthread_detach(thread) }
    }
}
