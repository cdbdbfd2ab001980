/// MySQL GTID_LOG_EVENT (33), ANONYMOUS_GTID_LOG_EVENT (34) and GTID_TAGGED_LOG_EVENT (42).
///
/// ```
/// flags u8, sid [16], gno i64,
/// [lt_type u8 (=2), last_committed i64, sequence_number i64],
/// [immediate_commit_ts u56 (bit 55: original follows), [original_commit_ts u56]],
/// [transaction_length lenenc],
/// [immediate_server_version u32 (bit 31: original follows), [original_server_version u32]],
/// [commit_group_ticket u64]
/// ```
/// Everything after `gno` is optional: older servers stop earlier.
public struct GTIDEvent: Sendable, Hashable {
    public var flags: UInt8
    /// The source UUID, 16 bytes.
    public var sid: [UInt8]
    public var gno: Int64
    /// MySQL 8.4+ tag (GTID_TAGGED_LOG_EVENT), empty when untagged.
    public var tag: String
    public var lastCommitted: Int64?
    public var sequenceNumber: Int64?
    public var immediateCommitTimestamp: UInt64?
    public var originalCommitTimestamp: UInt64?
    public var transactionLength: UInt64?
    public var immediateServerVersion: UInt32?
    public var originalServerVersion: UInt32?
    public var commitGroupTicket: UInt64?
    public var isAnonymous: Bool

    /// `uuid` or `uuid:tag`: the part of a GTID set this transaction belongs to.
    public var sourceID: String { uuidString(sid) + (tag.isEmpty ? "" : ":" + tag) }

    /// `uuid:gno` or `uuid:tag:gno`; `ANONYMOUS` for anonymous transactions.
    public var gtid: String {
        if isAnonymous { return "ANONYMOUS" }
        return uuidString(sid) + (tag.isEmpty ? "" : ":" + tag) + ":\(gno)"
    }

    static func decode(_ c: inout ByteCursor, anonymous: Bool) throws(BinlogDecodingError) -> GTIDEvent {
        let flags = try c.u8("gtid.flags")
        let sid = try c.bytes(16, "gtid.sid")
        let gno = Int64(bitPattern: try c.u64("gtid.gno"))
        var e = GTIDEvent(flags: flags, sid: sid, gno: gno, tag: "", isAnonymous: anonymous)
        if c.remaining >= 17 {
            let lt = try c.u8("gtid.logicalTimestampType")
            if lt == 2 {
                e.lastCommitted = Int64(bitPattern: try c.u64("gtid.lastCommitted"))
                e.sequenceNumber = Int64(bitPattern: try c.u64("gtid.sequenceNumber"))
            } else {
                c.position -= 1
                return e
            }
        }
        if c.remaining >= 7 {
            var ts = try c.uint(7, "gtid.immediateCommitTimestamp")
            if ts & (1 << 55) != 0 {
                ts &= ~(1 << 55)
                e.originalCommitTimestamp = try c.uint(7, "gtid.originalCommitTimestamp")
            } else {
                e.originalCommitTimestamp = ts
            }
            e.immediateCommitTimestamp = ts
        }
        if !c.isAtEnd { e.transactionLength = try c.lengthEncoded("gtid.transactionLength") }
        if c.remaining >= 4 {
            var v = try c.u32("gtid.immediateServerVersion")
            if v & (1 << 31) != 0 {
                v &= ~(1 << 31)
                e.originalServerVersion = try c.u32("gtid.originalServerVersion")
            } else {
                e.originalServerVersion = v
            }
            e.immediateServerVersion = v
        }
        if c.remaining >= 8 { e.commitGroupTicket = try c.u64("gtid.commitGroupTicket") }
        return e
    }
}

/// One interval set of a MySQL GTID set: `uuid[:tag]:a-b:c-d`.
public struct GTIDSetEntry: Sendable, Hashable {
    public var sid: [UInt8]
    public var tag: String
    /// Half-open intervals [start, end).
    public var intervals: [(start: Int64, end: Int64)] {
        get { zip(starts, ends).map { ($0, $1) } }
        set { starts = newValue.map(\.start); ends = newValue.map(\.end) }
    }
    var starts: [Int64] = []
    var ends: [Int64] = []

    public var description: String {
        // Decoded intervals satisfy 1 <= start < end (the decoder refuses others, as MySQL does);
        // one built by hand that does not is written `start..<end`, which no GTID set parser
        // accepts, rather than a wrapped `end - 1` that would read as a different, valid set.
        let ranges = zip(starts, ends).map { s, e in
            e <= s ? "\(s)..<\(e)" : e - 1 == s ? "\(s)" : "\(s)-\(e - 1)"
        }
        return ([uuidString(sid)] + (tag.isEmpty ? [] : [tag]) + ranges).joined(separator: ":")
    }
}

/// PREVIOUS_GTIDS_LOG_EVENT (35): the GTID set of all previous binlog files.
///
/// `n_sids u64 (top byte: format; tagged = 01|n_sids u48|01), (sid[16], [tag: varlen length, bytes],
/// n_intervals u64, (start i64, end i64 exclusive)*)*`
public struct PreviousGTIDsEvent: Sendable, Hashable {
    public var entries: [GTIDSetEntry]
    public var gtidSet: String { entries.map(\.description).joined(separator: ",") }

    static func decode(_ c: inout ByteCursor) throws(BinlogDecodingError) -> PreviousGTIDsEvent {
        let raw = try c.u64("previousGTIDs.count")
        let format = raw >> 56
        guard format <= 1 else { throw c.fail(.invalidValue("GTID set format \(format)"), "previousGTIDs.count") }
        let tagged = format == 1
        // Tagged: 01 | n_sids (6 bytes) | 01.
        let n = tagged ? (raw & 0x00ff_ffff_ffff_ff00) >> 8 : raw & 0x00ff_ffff_ffff_ffff
        let count = try c.checkedCount(n, unitSize: tagged ? 25 : 24, "previousGTIDs.count")
        var entries: [GTIDSetEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let sid = try c.bytes(16, "previousGTIDs.sid")
            var tag = ""
            if tagged {
                let n = try c.checkedCount(try TaggedGTIDCodec.varlenUnsigned(&c, "previousGTIDs.tagLength"), unitSize: 1, "previousGTIDs.tag")
                tag = try c.string(n, "previousGTIDs.tag")
            }
            let n = try c.checkedCount(try c.u64("previousGTIDs.intervalCount"), unitSize: 16, "previousGTIDs.intervalCount")
            var entry = GTIDSetEntry(sid: sid, tag: tag)
            for _ in 0..<n {
                let start = Int64(bitPattern: try c.u64("previousGTIDs.start"))
                let end = Int64(bitPattern: try c.u64("previousGTIDs.end"))
                // MySQL refuses the set unless 1 <= start < end (Gtid_set::add_gtid_encoding).
                guard start >= 1, end > start else {
                    c.position -= 8
                    throw c.fail(.invalidValue("GTID interval [\(start), \(end)) is not 1 <= start < end"), "previousGTIDs.end")
                }
                entry.starts.append(start)
                entry.ends.append(end)
            }
            entries.append(entry)
        }
        return PreviousGTIDsEvent(entries: entries)
    }
}

/// MariaDB GTID_EVENT (162): starts a transaction group, `domain-server-seq`.
///
/// ```
/// seq_no u64, domain_id u32, flags2 u8,
/// FL_GROUP_COMMIT_ID (2): commit_id u64, else 6 bytes of padding
/// FL_PREPARED_XA (64) | FL_COMPLETED_XA (128): format_id u32, gtrid_len u8, bqual_len u8, gtrid+bqual
/// [flags_extra u8, [extra_engines u8], [sa_seq_no u64]]   (10.5+ / 10.8+)
/// ```
public struct MariaDBGTIDEvent: Sendable, Hashable {
    public var domainID: UInt32
    public var serverID: UInt32
    public var sequence: UInt64
    public var flags: UInt8
    public var commitID: UInt64?
    /// `X'<hex gtrid>',X'<hex bqual>',<format id>` for XA groups, as ``XAPrepareEvent/xid`` renders it.
    public var xid: String?
    public var flagsExtra: UInt8?
    public var extraEngines: UInt8?
    public var startAlterSequence: UInt64?
    public var threadID: UInt32?

    public static let standalone: UInt8 = 1
    public static let groupCommitID: UInt8 = 2
    public static let transactional: UInt8 = 4
    public static let allowParallel: UInt8 = 8
    public static let waited: UInt8 = 16
    public static let ddl: UInt8 = 32
    public static let preparedXA: UInt8 = 64
    public static let completedXA: UInt8 = 128

    /// `domain-server-seq`.
    public var gtid: String { "\(domainID)-\(serverID)-\(sequence)" }

    /// True when the group is a single statement with no COMMIT/XID after it (DDL, non-transactional).
    public var isStandalone: Bool { flags & Self.standalone != 0 }

    public var flagNames: [String] {
        let names = ["STANDALONE", "GROUP_COMMIT_ID", "TRANSACTIONAL", "ALLOW_PARALLEL", "WAITED", "DDL", "PREPARED_XA", "COMPLETED_XA"]
        return (0..<8).filter { flags & (1 << $0) != 0 }.map { names[$0] }
    }

    static func decode(_ c: inout ByteCursor, serverID: UInt32) throws(BinlogDecodingError) -> MariaDBGTIDEvent {
        let seq = try c.u64("mariadbGTID.sequence")
        let domain = try c.u32("mariadbGTID.domainID")
        let flags = try c.u8("mariadbGTID.flags")
        var e = MariaDBGTIDEvent(domainID: domain, serverID: serverID, sequence: seq, flags: flags)
        if flags & groupCommitID != 0 {
            e.commitID = try c.u64("mariadbGTID.commitID")
        } else {
            // Six bytes of zero padding; the first doubles as flags_extra = 0.
        }
        if flags & (preparedXA | completedXA) != 0 {
            let format = try c.u32("mariadbGTID.xid.formatID")
            let g = Int(try c.u8("mariadbGTID.xid.gtridLength"))
            let b = Int(try c.u8("mariadbGTID.xid.bqualLength"))
            let data = try c.bytes(g + b, "mariadbGTID.xid.data")
            e.xid = xidString(formatID: format, gtrid: Array(data[0..<g]), bqual: Array(data[g...]))
        }
        if !c.isAtEnd {
            let extra = try c.u8("mariadbGTID.flagsExtra")
            e.flagsExtra = extra
            if extra & 0x01 != 0 { e.extraEngines = try c.u8("mariadbGTID.extraEngines") }
            if extra & (0x04 | 0x08) != 0 { e.startAlterSequence = try c.u64("mariadbGTID.startAlterSequence") }
            if extra & 0x10 != 0, c.remaining >= 4 { e.threadID = try c.u32("mariadbGTID.threadID") }
        }
        return e
    }
}

/// MariaDB GTID_LIST_EVENT (163): the binlog state at the start of a file.
/// `count u32 (low 28 bits; top 4 bits flags), (domain u32, server u32, seq u64)*`
public struct MariaDBGTIDListEvent: Sendable, Hashable {
    public var flags: UInt8
    public var gtids: [MariaDBGTID]
    public var gtidList: String { gtids.map(\.description).joined(separator: ",") }

    static func decode(_ c: inout ByteCursor) throws(BinlogDecodingError) -> MariaDBGTIDListEvent {
        let raw = try c.u32("gtidList.count")
        let count = try c.checkedCount(UInt64(raw & 0x0fff_ffff), unitSize: 16, "gtidList.count")
        var list: [MariaDBGTID] = []
        list.reserveCapacity(count)
        for _ in 0..<count {
            let d = try c.u32("gtidList.domainID")
            let s = try c.u32("gtidList.serverID")
            let q = try c.u64("gtidList.sequence")
            list.append(MariaDBGTID(domainID: d, serverID: s, sequence: q))
        }
        return MariaDBGTIDListEvent(flags: UInt8(raw >> 28), gtids: list)
    }
}

/// A MariaDB GTID `domain-server-seq`.
public struct MariaDBGTID: Sendable, Hashable, CustomStringConvertible {
    public var domainID: UInt32
    public var serverID: UInt32
    public var sequence: UInt64
    public init(domainID: UInt32, serverID: UInt32, sequence: UInt64) {
        self.domainID = domainID
        self.serverID = serverID
        self.sequence = sequence
    }
    public var description: String { "\(domainID)-\(serverID)-\(sequence)" }

    /// Parses `domain-server-seq`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let d = UInt32(parts[0]), let s = UInt32(parts[1]), let q = UInt64(parts[2]) else { return nil }
        self.init(domainID: d, serverID: s, sequence: q)
    }
}

func uuidString(_ b: [UInt8]) -> String {
    guard b.count == 16 else { return hexString(b) }
    let h = hexString(b)
    let chars = Array(h)
    return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
        + String(chars[16..<20]) + "-" + String(chars[20..<32])
}
