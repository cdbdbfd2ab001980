import CZlib

/// CRC-32 (ISO-HDLC, the zlib polynomial), as MySQL's `binlog_checksum=CRC32` uses it.
/// zlib's implementation is table-driven and runs at several GB/s here.
public enum CRC32 {
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        var crc: UInt = 0
        var ptr = base.assumingMemoryBound(to: UInt8.self)
        var left = bytes.count
        while left > 0 {
            let n = min(left, Int(UInt32.max >> 1))
            crc = UInt(CZlib.crc32(uLong(crc), ptr, uInt(n)))
            ptr += n
            left -= n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Continues a CRC-32 over more bytes: start with 0, pass each result back in.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        var c = uLong(crc)
        var ptr = base.assumingMemoryBound(to: UInt8.self)
        var left = bytes.count
        while left > 0 {
            let n = min(left, Int(UInt32.max >> 1))
            c = CZlib.crc32(c, ptr, uInt(n))
            ptr += n
            left -= n
        }
        return UInt32(truncatingIfNeeded: c)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
