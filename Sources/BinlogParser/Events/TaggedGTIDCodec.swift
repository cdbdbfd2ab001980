/// MySQL 8.4+'s `mysql::serialization` encoding, used by GTID_TAGGED_LOG_EVENT (42) and
/// PREVIOUS_GTIDS_LOG_EVENT tags.
///
/// Variable-length unsigned integers: the number of trailing one bits of the first byte, plus one,
/// is the total byte count (9 when the first byte is 0xff); the value is the little-endian number
/// formed by all bytes, shifted right by that count. Signed integers are zig-zag encoded on top.
enum TaggedGTIDCodec {
    static func varlenUnsigned(_ c: inout ByteCursor, _ field: String) throws(BinlogDecodingError) -> UInt64 {
        let first = try c.u8(field)
        if first == 0xff { return try c.u64(field) }
        let count = (~first).trailingZeroBitCount + 1
        var v = UInt64(first)
        for i in 1..<count { v |= UInt64(try c.u8(field)) << UInt64(8 * i) }
        return v >> UInt64(count)
    }

    static func varlenSigned(_ c: inout ByteCursor, _ field: String) throws(BinlogDecodingError) -> Int64 {
        let v = try varlenUnsigned(&c, field)
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    /// GTID_TAGGED_LOG_EVENT (42): `varlen(format_version=1) varlen(size) varlen(last_non_ignorable_field_id)`
    /// then `(field_id varlen, value)*` to the end of the body (the size is only a hint: MySQL can
    /// miscount it by one). Fields: 0 flags, 1 uuid (16 varlen bytes), 2 gno (zig-zag), 3 tag
    /// (varlen length + bytes), 4 last_committed, 5 sequence_number (zig-zag), 6 immediate commit
    /// timestamp, 7 original commit timestamp, 8 transaction length, 9 immediate server version,
    /// 10 original server version, 11 commit group ticket.
    static func decode(_ c: inout ByteCursor) throws(BinlogDecodingError) -> GTIDEvent {
        let version = try varlenUnsigned(&c, "gtidTagged.formatVersion")
        guard version == 1 else {
            throw c.fail(.unsupported("serialization format version \(version)"), "gtidTagged.formatVersion")
        }
        _ = try varlenUnsigned(&c, "gtidTagged.size")
        let lnif = try varlenUnsigned(&c, "gtidTagged.lastNonIgnorableField")
        guard lnif <= 12 else {
            throw c.fail(.unsupported("unknown non-ignorable field \(lnif)"), "gtidTagged.lastNonIgnorableField")
        }
        var e = GTIDEvent(flags: 0, sid: [UInt8](repeating: 0, count: 16), gno: 0, tag: "", isAnonymous: false)
        while !c.isAtEnd {
            let id = try varlenUnsigned(&c, "gtidTagged.fieldID")
            let f = "gtidTagged.field[\(id)]"
            switch id {
            case 0: e.flags = UInt8(truncatingIfNeeded: try varlenUnsigned(&c, f))
            case 1:
                var sid: [UInt8] = []
                for _ in 0..<16 { sid.append(UInt8(truncatingIfNeeded: try varlenUnsigned(&c, f))) }
                e.sid = sid
            case 2: e.gno = try varlenSigned(&c, f)
            case 3:
                let n = try c.checkedCount(try varlenUnsigned(&c, f), unitSize: 1, f)
                e.tag = try c.string(n, f)
            case 4: e.lastCommitted = try varlenSigned(&c, f)
            case 5: e.sequenceNumber = try varlenSigned(&c, f)
            case 6: e.immediateCommitTimestamp = try varlenUnsigned(&c, f)
            case 7: e.originalCommitTimestamp = try varlenUnsigned(&c, f)
            case 8: e.transactionLength = try varlenUnsigned(&c, f)
            case 9: e.immediateServerVersion = UInt32(truncatingIfNeeded: try varlenUnsigned(&c, f))
            case 10: e.originalServerVersion = UInt32(truncatingIfNeeded: try varlenUnsigned(&c, f))
            case 11: e.commitGroupTicket = try varlenUnsigned(&c, f)
            default:
                // Ignorable fields carry no length: nothing after them can be read.
                c.position = c.end
            }
        }
        if e.originalCommitTimestamp == nil { e.originalCommitTimestamp = e.immediateCommitTimestamp }
        if e.originalServerVersion == nil { e.originalServerVersion = e.immediateServerVersion }
        return e
    }
}

