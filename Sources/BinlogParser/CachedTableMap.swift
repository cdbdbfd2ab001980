#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A decoded table map with the event body it came from.
final class CachedTableMap: Sendable {
    let bytes: [UInt8]
    let event: TableMapEvent
    /// Estimated memory of the entry (the event bytes and the decoded map).
    let cost: Int

    init(bytes: [UInt8], event: TableMapEvent) {
        self.bytes = bytes
        self.event = event
        cost = Self.estimatedCost(bytes: bytes.count, columns: event.columns.count)
    }

    /// What a decoded table map takes, roughly: per column its `ColumnInfo` twice (the array and
    /// the codec storage) and a `ColumnCodec`; per event byte, room for the strings and arrays
    /// decoded from it (names, ENUM/SET values: up to a `String` per byte).
    static func estimatedCost(bytes: Int, columns: Int) -> Int {
        256 + bytes * 24 + columns * (2 * MemoryLayout<ColumnInfo>.stride + MemoryLayout<ColumnCodec>.stride)
    }

    func matches(_ body: UnsafeRawBufferPointer) -> Bool { Self.same(bytes, body) }

    @inline(__always)
    static func same(_ bytes: [UInt8], _ body: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == body.count else { return false }
        guard body.count > 0, let b = body.baseAddress else { return true }
        return bytes.withUnsafeBytes { raw in
            guard let a = raw.baseAddress else { return false }
            return memcmp(a, b, body.count) == 0
        }
    }
}
