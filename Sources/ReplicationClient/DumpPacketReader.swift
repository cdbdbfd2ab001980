import ReconcilerCore
import BinlogParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the packets of a binlog dump straight from a plain (no TLS, no compression) socket, in
/// 256 KiB reads, without the per-event work `mariadb_rpl_fetch` does (allocating and filling a
/// `MARIADB_RPL_EVENT`, parsing event headers and bodies nobody reads here).
///
/// ## Packets (MySQL client/server protocol)
/// ```
/// length    u24    payload length; 0xFFFFFF: the payload continues in the next packet
/// sequence  u8     previous + 1 (mod 256), starting after the dump command's own
/// payload   [length]
/// ```
/// A dump payload starts with a status byte: 0x00 then one event (header, body, checksum; an event
/// of 16 MiB or more continues in further packets without status byte), 0xFF an error
/// (code u16, `#`, SQLSTATE [5], message), 0xFE in a packet shorter than 9 bytes the end of a
/// NON_BLOCK dump. (Semi-sync's 0xEF prefix never comes: the stream does not ask for it.)
///
/// Only used after ``cmariadb_plain_dump_socket`` confirmed that libmariadb holds no unread byte,
/// so that everything still to come on the socket is a dump packet. Sequence numbers are followed,
/// not enforced (libmariadb does not enforce them either, and some proxies number loosely).
///
/// A class (it owns raw buffers); used by one thread at a time.
final class DumpPacketReader {
    enum Outcome {
        /// One event, valid until the next call.
        case event(UnsafeRawBufferPointer)
        /// The server's EOF packet (end of a NON_BLOCK dump).
        case endOfDump
        /// An error packet, or the connection failed (client codes as libmariadb reports them).
        case failed(SQLError)
        /// A packet that breaks the protocol.
        case violation(String)
    }

    private let socket: Int32
    private let readTimeoutMilliseconds: Int32  // -1: wait forever
    private let maxEventSize: Int
    private let context: String
    private var expectedSequence: UInt8
    /// Packets that arrived with another sequence number than the one expected.
    private(set) var sequenceSurprises = 0
    // buffer[start..<end] holds received bytes not consumed yet.
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var start = 0
    private var end = 0
    /// An event split over several packets, reassembled.
    private var assembled: UnsafeMutableRawPointer?
    private var assembledCapacity = 0
    private static let readSize = 256 << 10
    /// After a large event, buffers above these sizes are given back before the next one.
    private static let keepBuffer = readSize * 2
    private static let keepAssembled = 8 << 20

    init(socket: Int32, nextSequence: UInt8, readTimeout: Duration?, maxEventSize: Int, context: String) {
        self.socket = socket
        self.expectedSequence = nextSequence
        if let t = readTimeout {
            // Whole seconds rounded up, at least 1, as libmariadb applies MYSQL_OPT_READ_TIMEOUT.
            readTimeoutMilliseconds = Int32(clamping: Int64(max(1, t.wholeSecondsRoundedUp)) * 1000)
        } else {
            readTimeoutMilliseconds = -1
        }
        self.maxEventSize = maxEventSize
        self.context = context
        capacity = Self.readSize * 2
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        buffer.deallocate()
        assembled?.deallocate()
    }

    // MARK: Events

    func next() -> Outcome {
        shrinkAfterLargeEvent()
        let first: (payload: UnsafeRawBufferPointer, continued: Bool)
        switch packet() {
        case .success(let p): first = p
        case .failure(let f): return f.outcome
        }
        let p = first.payload
        guard let status = p.first else { return .violation("empty packet in the binlog dump") }
        switch status {
        case 0x00:
            break
        case 0xFF:
            return .failed(Self.errorPacket(p, context: context))
        case 0xFE where p.count < 9:
            return .endOfDump
        default:
            return .violation("binlog dump packet starts with 0x\(String(status, radix: 16)), expected 0x00 (event), 0xFF (error) or 0xFE (end)")
        }
        let event = UnsafeRawBufferPointer(rebasing: p[1...])
        guard first.continued else { return .event(event) }
        // 16 MiB or more: the event continues in the packets that follow.
        var length = event.count
        ensureAssembled(length, keeping: 0)
        assembled!.copyMemory(from: event.baseAddress!, byteCount: length)
        var more = true
        while more {
            let next: (payload: UnsafeRawBufferPointer, continued: Bool)
            switch packet() {
            case .success(let p): next = p
            case .failure(let f): return f.outcome
            }
            guard length + next.payload.count <= maxEventSize else {
                return .violation("binlog event larger than the \(maxEventSize)-byte limit (max event size)")
            }
            ensureAssembled(length + next.payload.count, keeping: length)
            if let b = next.payload.baseAddress, next.payload.count > 0 {
                (assembled! + length).copyMemory(from: b, byteCount: next.payload.count)
            }
            length += next.payload.count
            more = next.continued
        }
        return .event(UnsafeRawBufferPointer(start: assembled!, count: length))
    }

    /// Makes `assembled` hold at least `n` bytes, keeping its first `keeping`.
    private func ensureAssembled(_ n: Int, keeping: Int) {
        guard n > assembledCapacity else { return }
        let newCapacity = max(n, min(assembledCapacity * 2, maxEventSize))
        let b = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let old = assembled {
            if keeping > 0 { b.copyMemory(from: old, byteCount: keeping) }
            old.deallocate()
        }
        assembled = b
        assembledCapacity = newCapacity
    }

    /// Gives back what a large event made the buffers grow to (the event returned before is no
    /// longer used once the next one is asked for).
    private func shrinkAfterLargeEvent() {
        if assembledCapacity > Self.keepAssembled, let a = assembled {
            a.deallocate()
            assembled = nil
            assembledCapacity = 0
        }
        if capacity > Self.keepBuffer && end - start <= Self.keepBuffer {
            let b = UnsafeMutableRawPointer.allocate(byteCount: Self.keepBuffer, alignment: 16)
            if end > start { b.copyMemory(from: buffer + start, byteCount: end - start) }
            buffer.deallocate()
            buffer = b
            capacity = Self.keepBuffer
            end -= start
            start = 0
        }
    }

    /// `code u16, ['#', SQLSTATE[5]], message` after the 0xFF.
    static func errorPacket(_ p: UnsafeRawBufferPointer, context: String) -> SQLError {
        guard p.count >= 3 else { return SQLError(code: 2027, sqlState: "HY000", message: "malformed error packet", context: context) }
        let code = UInt32(p[1]) | UInt32(p[2]) << 8
        var i = 3
        var state = "HY000"
        if p.count >= 9 && p[3] == UInt8(ascii: "#") {
            state = String(decoding: UnsafeRawBufferPointer(rebasing: p[4..<9]), as: UTF8.self)
            i = 9
        }
        let message = String(decoding: UnsafeRawBufferPointer(rebasing: p[i...]), as: UTF8.self)
        return SQLError(code: code, sqlState: state, message: message, context: context)
    }

    // MARK: Packets

    /// One packet's payload (valid until the next call) and whether the payload continues.
    private func packet() -> Result<(payload: UnsafeRawBufferPointer, continued: Bool), PacketFailure> {
        if let f = fill(4) { return .failure(f) }
        let h = buffer + start
        let length = Int(h.load(fromByteOffset: 0, as: UInt8.self)) | Int(h.load(fromByteOffset: 1, as: UInt8.self)) << 8
            | Int(h.load(fromByteOffset: 2, as: UInt8.self)) << 16
        let sequence = h.load(fromByteOffset: 3, as: UInt8.self)
        if sequence != expectedSequence { sequenceSurprises += 1 }
        expectedSequence = sequence &+ 1
        guard length <= maxEventSize + 1 else {
            return .failure(PacketFailure(.violation("packet of \(length) bytes is larger than the \(maxEventSize)-byte limit (max event size)")))
        }
        if let f = fill(4 + length) { return .failure(f) }
        let payload = UnsafeRawBufferPointer(start: buffer + start + 4, count: length)
        start += 4 + length
        return .success((payload, length == 0xFF_FFFF))
    }

    private struct PacketFailure: Error {
        var outcome: Outcome
        init(_ outcome: Outcome) { self.outcome = outcome }
    }

    /// Makes `buffer[start..<start + n]` hold received bytes; nil, or why not.
    private func fill(_ n: Int) -> PacketFailure? {
        if end - start >= n { return nil }
        if start + n > capacity {
            // Move what is left to the front; grow for a packet larger than the buffer.
            let left = end - start
            if n > capacity {
                let newCapacity = max(n, capacity * 2)
                let b = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
                if left > 0 { b.copyMemory(from: buffer + start, byteCount: left) }
                buffer.deallocate()
                buffer = b
                capacity = newCapacity
            } else if left > 0 {
                memmove(buffer, buffer + start, left)
            }
            start = 0
            end = left
        }
        while end - start < n {
            let room = capacity - end
            let r = recv(socket, buffer + end, room, Int32(MSG_DONTWAIT))
            if r > 0 {
                end += r
                continue
            }
            if r == 0 {
                return PacketFailure(.failed(SQLError(code: 2013, sqlState: "HY000", message: "Lost connection to server during query (the server closed the connection)", context: context)))
            }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK {
                var pfd = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                let ready = poll(&pfd, 1, readTimeoutMilliseconds)
                if ready == 0 {
                    return PacketFailure(.failed(SQLError(code: 2013, sqlState: "HY000", message: "Lost connection to server during query (read timed out)", context: context)))
                }
                if ready < 0 && errno != EINTR {
                    return PacketFailure(.failed(SQLError(code: 2013, sqlState: "HY000", message: "Lost connection to server during query (poll: \(String(cString: strerror(errno))))", context: context)))
                }
                continue
            }
            return PacketFailure(.failed(SQLError(code: 2013, sqlState: "HY000", message: "Lost connection to server during query (\(String(cString: strerror(e))))", context: context)))
        }
        return nil
    }
}
