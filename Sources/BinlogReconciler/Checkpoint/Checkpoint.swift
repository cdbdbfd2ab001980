/// Everything the reconciler needs to resume without re-reading the binlog from the start: where
/// the source was (at a transaction boundary), what schema the watches resolved, the shadow map
/// of every watch and the open divergences. Pending observations are not stored.
///
/// Written by ``CheckpointStore/write(_:)``, read by ``CheckpointStore/loadNewestValid()`` and
/// ``CheckpointFile``; byte layout in docs/checkpoint-format.md.
public struct Checkpoint: Sendable {
    /// The format version this build writes and reads.
    public static let formatVersion: UInt16 = CheckpointFormat.version

    public var header: CheckpointHeader
    public var watches: [CheckpointWatch]
    public var divergences: [CheckpointDivergence]
    /// XA transactions prepared at `header.position` and not yet committed or rolled back, with
    /// the row changes they hold (applied at their XA COMMIT). Empty in version-1 files.
    public var heldXA: [CheckpointHeldXA]

    public init(
        header: CheckpointHeader, watches: [CheckpointWatch], divergences: [CheckpointDivergence] = [],
        heldXA: [CheckpointHeldXA] = []
    ) {
        self.header = header
        self.watches = watches
        self.divergences = divergences
        self.heldXA = heldXA
    }

    /// The watch named `name`.
    public func watch(named name: String) -> CheckpointWatch? { watches.first { $0.schema.name == name } }
}

/// Where and when a checkpoint was taken, and what it was taken against.
public struct CheckpointHeader: Sendable, Hashable {
    /// Creation time, milliseconds since the Unix epoch.
    public var createdMillis: Int64
    public var source: CheckpointSource
    /// The binlog position just after the last applied transaction (a transaction boundary).
    public var position: CheckpointPosition
    /// The GTID state at `position`: MySQL's executed GTID set (`uuid:1-5,…`) or MariaDB's
    /// `gtid_binlog_pos` (`0-1-100,…`); empty without GTIDs.
    public var gtidState: String
    /// Fingerprint of the watch configuration (see ``CheckpointFingerprint``).
    public var watchesFingerprint: String
    /// Fingerprint of the schema the watches resolved (see ``CheckpointFingerprint/schema(_:)``).
    public var schemaFingerprint: String

    public init(
        createdMillis: Int64,
        source: CheckpointSource,
        position: CheckpointPosition,
        gtidState: String,
        watchesFingerprint: String,
        schemaFingerprint: String
    ) {
        self.createdMillis = createdMillis
        self.source = source
        self.position = position
        self.gtidState = gtidState
        self.watchesFingerprint = watchesFingerprint
        self.schemaFingerprint = schemaFingerprint
    }
}

/// The server the binlog came from.
public struct CheckpointSource: Sendable, Hashable {
    public enum Flavour: String, Sendable, Hashable {
        case mysql, mariadb
    }
    public var flavour: Flavour
    /// `@@server_id` of the source.
    public var serverID: UInt32
    /// `@@server_uuid` (MySQL); nil for MariaDB.
    public var serverUUID: String?
    /// The GTID domain ids the position covers (MariaDB); empty for MySQL.
    public var gtidDomains: [UInt32]

    public init(flavour: Flavour, serverID: UInt32, serverUUID: String? = nil, gtidDomains: [UInt32] = []) {
        self.flavour = flavour
        self.serverID = serverID
        self.serverUUID = serverUUID
        self.gtidDomains = gtidDomains
    }
}

/// A binlog file name and byte offset.
public struct CheckpointPosition: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var position: UInt64
    public init(file: String, position: UInt64) {
        self.file = file
        self.position = position
    }
    public var description: String { "\(file):\(position)" }
}

/// A column name and its type as the schema resolution saw it (`bigint`, `int unsigned`, `varchar(64)`…).
public struct CheckpointColumn: Sendable, Hashable {
    public var name: String
    public var type: String
    public init(name: String, type: String) {
        self.name = name
        self.type = type
    }
}

/// The resolved schema of one watch.
public struct CheckpointWatchSchema: Sendable, Hashable {
    /// The watch's configured name (unique within a checkpoint).
    public var name: String
    /// `database.table`.
    public var table: String
    /// Key columns, in key order.
    public var keyColumns: [CheckpointColumn]
    public var valueColumn: CheckpointColumn
    /// The binlog position from which this schema holds (the last DDL or table map that set it).
    public var schemaSince: CheckpointPosition

    public init(
        name: String,
        table: String,
        keyColumns: [CheckpointColumn],
        valueColumn: CheckpointColumn,
        schemaSince: CheckpointPosition
    ) {
        self.name = name
        self.table = table
        self.keyColumns = keyColumns
        self.valueColumn = valueColumn
        self.schemaSince = schemaSince
    }
}

/// One watch: its schema and the shadow map (an immutable snapshot, see ``ShadowMap/beginSnapshot()``).
public struct CheckpointWatch: Sendable {
    public var schema: CheckpointWatchSchema
    /// The expected value of every key. `ShadowMap(map)` turns a loaded one into a live map in O(1).
    public var map: ShadowMapSnapshot

    public init(schema: CheckpointWatchSchema, map: ShadowMapSnapshot) {
        self.schema = schema
        self.map = map
    }
}

/// An open divergence of the reconciler: Redis disagreed with the shadow map and has not yet
/// been seen to agree again.
public struct CheckpointDivergence: Sendable, Hashable {
    public var id: UInt64
    /// The watch's name.
    public var watch: String
    public var key: ShadowKey
    public var redisKey: String
    /// What kind of divergence (`value_mismatch`, `missing_in_redis`, …), as the reconciler names it.
    public var kind: String
    /// When it was first seen, milliseconds since the Unix epoch.
    public var firstSeenMillis: Int64
    /// The shadow map's value (nil: the row does not exist, or NULL).
    public var expected: String?
    /// What Redis held (nil: the key was missing).
    public var redisValue: String?
    /// The last GTID at which Redis and the shadow map agreed on this key, if known.
    public var lastAgreedGTID: String?
    /// When they last agreed, milliseconds since the Unix epoch, if known.
    public var lastAgreedMillis: Int64?

    public init(
        id: UInt64,
        watch: String,
        key: ShadowKey,
        redisKey: String,
        kind: String,
        firstSeenMillis: Int64,
        expected: String?,
        redisValue: String?,
        lastAgreedGTID: String? = nil,
        lastAgreedMillis: Int64? = nil
    ) {
        self.id = id
        self.watch = watch
        self.key = key
        self.redisKey = redisKey
        self.kind = kind
        self.firstSeenMillis = firstSeenMillis
        self.expected = expected
        self.redisValue = redisValue
        self.lastAgreedGTID = lastAgreedGTID
        self.lastAgreedMillis = lastAgreedMillis
    }
}

/// A prepared XA transaction and the row changes it holds.
public struct CheckpointHeldXA: Sendable, Hashable {
    /// The canonical xid (as `BinlogFold` names it: `X'gtrid',X'bqual',formatID`).
    public var xid: String
    /// Where it was prepared (`file:pos`, for messages).
    public var preparedAt: String
    /// The header timestamp of its prepare (Unix seconds).
    public var timestamp: UInt32
    public var changes: [CheckpointHeldChange]

    public init(xid: String, preparedAt: String, timestamp: UInt32, changes: [CheckpointHeldChange]) {
        self.xid = xid
        self.preparedAt = preparedAt
        self.timestamp = timestamp
        self.changes = changes
    }
}

/// One held row change: the key's value after the transaction (nil: the row is deleted).
public struct CheckpointHeldChange: Sendable, Hashable {
    /// The watch's name.
    public var watch: String
    public var key: ShadowKey
    public var new: ShadowValue?

    public init(watch: String, key: ShadowKey, new: ShadowValue?) {
        self.watch = watch
        self.key = key
        self.new = new
    }
}

/// What a checkpoint file holds, without the shadow maps: returned by ``CheckpointFile/summary(path:)``
/// after the whole file has been verified.
public struct CheckpointSummary: Sendable, Hashable {
    public struct Watch: Sendable, Hashable {
        public var schema: CheckpointWatchSchema
        /// Entries with integer keys (whatever their value) and with text or composite keys.
        public var integerKeyCount: UInt64
        public var otherKeyCount: UInt64
        public var keyCount: UInt64 { integerKeyCount + otherKeyCount }
    }
    public var formatVersion: UInt16
    public var header: CheckpointHeader
    public var watches: [Watch]
    public var divergenceCount: Int
    /// Prepared XA transactions (version 2), with their changes.
    public var heldXA: [CheckpointHeldXA] = []
    public var fileBytes: UInt64
    public var contentBytes: UInt64
}

/// Stable 64-bit FNV-1a fingerprints, as 16 hex digits, for the checkpoint header.
public enum CheckpointFingerprint {
    /// Fingerprint of a list of strings (each length-prefixed, so `["ab","c"]` ≠ `["a","bc"]`).
    public static func of(_ parts: [String]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ b: UInt8) {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        for p in parts {
            var n = UInt64(p.utf8.count)
            for _ in 0..<8 {
                mix(UInt8(truncatingIfNeeded: n))
                n >>= 8
            }
            for b in p.utf8 { mix(b) }
        }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Fingerprint of resolved watch schemas (names, tables, key and value columns with types;
    /// not the `schemaSince` positions).
    public static func schema(_ schemas: [CheckpointWatchSchema]) -> String {
        var parts: [String] = []
        for s in schemas {
            parts += [s.name, s.table, String(s.keyColumns.count)]
            for c in s.keyColumns { parts += [c.name, c.type] }
            parts += [s.valueColumn.name, s.valueColumn.type]
        }
        return of(parts)
    }
}
