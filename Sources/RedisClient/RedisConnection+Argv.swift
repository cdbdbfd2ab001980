import ReconcilerCore
internal import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Argument vectors

/// All arguments of one command packed into one buffer, for `redisCommandArgv` /
/// `redisAppendCommandArgv` (`argc`, `const char **argv`, `const size_t *argvlen`).
struct ArgvStorage {
    private var storage: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int] = []
    /// Uppercased command name for messages.
    let name: String

    init(_ args: [String]) {
        name = RedisConnection.commandName(args.first)
        offsets.reserveCapacity(args.count)
        lengths.reserveCapacity(args.count)
        for a in args {
            offsets.append(storage.count)
            lengths.append(a.utf8.count)
            storage.append(contentsOf: a.utf8)
        }
        storage.append(0)  // never empty, so the base address exists
    }

    init(_ args: [[UInt8]]) {
        name = RedisConnection.commandName(args.first.map { String(decoding: $0, as: UTF8.self) })
        offsets.reserveCapacity(args.count)
        lengths.reserveCapacity(args.count)
        for a in args {
            offsets.append(storage.count)
            lengths.append(a.count)
            storage.append(contentsOf: a)
        }
        storage.append(0)
    }

    func withArgv<R>(
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        storage.withUnsafeBufferPointer { buf in
            let base = UnsafeRawPointer(buf.baseAddress!)
            var argv: [UnsafePointer<CChar>?] = offsets.map { (base + $0).assumingMemoryBound(to: CChar.self) }
            return argv.withUnsafeMutableBufferPointer { av in
                lengths.withUnsafeBufferPointer { lv in
                    body(Int32(truncatingIfNeeded: av.count), av.baseAddress!, lv.baseAddress!)
                }
            }
        }
    }
}

// MARK: - Small system helpers

extension timeval {
    init(_ d: Duration) {
        let (s, atto) = d.components
        let clamped = max(0, s)
        self.init(tv_sec: Int(clamped), tv_usec: Int(s < 0 ? 0 : atto / 1_000_000_000_000))
    }
}

/// Sleeps the calling thread (interrupted sleeps resume).
package func sleepFor(_ d: Duration) {
    let (s, atto) = d.components
    guard s > 0 || atto > 0 else { return }
    var req = timespec(tv_sec: Int(max(0, s)), tv_nsec: Int(atto / 1_000_000_000))
    var rem = timespec()
    while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
}

/// hiredis writes with `write(2)`; ignore SIGPIPE unless the program set its own handler.
let ignoreSIGPIPEOnce: Void = {
    let previous = signal(SIGPIPE, SIG_IGN)
    // SIG_DFL is 0 and SIG_IGN is 1; anything else is the program's own handler: put it back.
    let raw = unsafeBitCast(previous, to: Int.self)
    if raw != 0 && raw != 1 {
        signal(SIGPIPE, previous)
    }
}()
