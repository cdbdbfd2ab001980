import Synchronization

/// One column of a table as a TABLE_MAP_EVENT describes it, with everything the row decoder needs
/// worked out once.
public struct ColumnInfo: Sendable, Hashable {
    /// The type code in the table map.
    public var type: ColumnType
    /// The type the value is stored as: for STRING this is ENUM, SET or STRING, from the metadata.
    public var realType: ColumnType
    /// The raw metadata bytes (0, 1 or 2).
    public var metadata: (UInt8, UInt8) {
        get { (meta0, meta1) }
        set { (meta0, meta1) = newValue }
    }
    var meta0: UInt8
    var meta1: UInt8
    public var nullable: Bool
    /// From COLUMN_NAME optional metadata (binlog_row_metadata=FULL).
    public var name: String?
    /// From SIGNEDNESS optional metadata; false when the table map does not say.
    public var unsigned: Bool = false
    /// Collation id from DEFAULT_CHARSET/COLUMN_CHARSET (or the ENUM/SET variants), when known.
    public var collation: UInt32?
    public var enumValues: [String]?
    public var setValues: [String]?
    public var geometryType: UInt64?
    public var vectorDimensions: UInt64?
    /// From COLUMN_VISIBILITY (MySQL 8.0.23+); nil when not logged.
    public var visible: Bool?

    /// Length of a string/blob length prefix, or the fixed storage size, worked out from metadata.
    var lengthBytes: Int = 0
    /// For STRING/ENUM/SET: the declared byte length.
    var fieldLength: Int = 0

    public static func == (a: ColumnInfo, b: ColumnInfo) -> Bool {
        a.type == b.type && a.realType == b.realType && a.meta0 == b.meta0 && a.meta1 == b.meta1
            && a.nullable == b.nullable && a.name == b.name && a.unsigned == b.unsigned && a.collation == b.collation
            && a.enumValues == b.enumValues && a.setValues == b.setValues && a.geometryType == b.geometryType
            && a.vectorDimensions == b.vectorDimensions && a.visible == b.visible
    }

    public func hash(into h: inout Hasher) {
        h.combine(type)
        h.combine(meta0)
        h.combine(meta1)
        h.combine(name)
    }

    init(type: ColumnType, meta0: UInt8, meta1: UInt8, nullable: Bool) {
        self.type = type
        self.realType = type
        self.meta0 = meta0
        self.meta1 = meta1
        self.nullable = nullable
        switch type {
        case .string, .enum, .set:
            // byte0 = real type with bits 4-5 of the length folded in when it is a long CHAR.
            if meta0 & 0x30 != 0x30 {
                realType = ColumnType(rawValue: meta0 | 0x30)
                fieldLength = Int(meta1) | (Int((meta0 & 0x30) ^ 0x30) << 4)
            } else {
                realType = ColumnType(rawValue: meta0)
                fieldLength = Int(meta1)
            }
            if realType != .enum && realType != .set { realType = .string }
            lengthBytes = fieldLength > 255 ? 2 : 1
        case .varchar, .varString:
            let maxLength = Int(meta0) | Int(meta1) << 8
            fieldLength = maxLength
            lengthBytes = maxLength > 255 ? 2 : 1
        case .tinyBlob, .mediumBlob, .longBlob, .blob, .json, .geometry, .vector:
            lengthBytes = Int(meta0)
        default:
            break
        }
    }

    /// Text-like columns: the ones DEFAULT_CHARSET/COLUMN_CHARSET list, in table order (MySQL 9
    /// counts VECTOR, MariaDB counts GEOMETRY).
    func isCharacter(mariadb: Bool) -> Bool {
        switch type {
        case .varchar, .varString, .tinyBlob, .mediumBlob, .longBlob, .blob, .vector: return true
        case .geometry: return mariadb
        case .string: return realType == .string
        default: return false
        }
    }

    var isEnum: Bool { realType == .enum }
    var isSet: Bool { realType == .set }

    /// The character set of a text column, when the table map tells it.
    public var charset: Charset? { collation.map { Charset(collation: $0) } }
}

/// TABLE_MAP_EVENT (19): binds a table id to a table's name and column types for the rows events
/// that follow it.
///
/// ```
/// post-header: table_id u48 (u32 when the FDE's post-header length is 6), flags u16
/// body:        db_len u8, db, 0x00, table_len u8, table, 0x00, column_count lenenc,
///              column_type[column_count], metadata_len lenenc, metadata, null_bitmap,
///              optional metadata: (type u8, length lenenc, value)*
/// ```
///
/// A final class, immutable once decoded, so that every rows event can refer to its table map
/// without copying it.
public final class TableMapEvent: @unchecked Sendable, Hashable {
    public let tableID: UInt64
    public let flags: UInt16
    public let database: String
    public let table: String
    public let columns: [ColumnInfo]
    /// SIMPLE_PRIMARY_KEY / PRIMARY_KEY_WITH_PREFIX: column indexes and prefix lengths (0 = whole).
    public var primaryKey: [(column: Int, prefix: Int)] {
        zip(primaryKeyColumns, primaryKeyPrefixes).map { ($0, $1) }
    }
    public let primaryKeyColumns: [Int]
    public let primaryKeyPrefixes: [Int]
    /// Optional-metadata entries with a type code this parser does not know: (type, raw value).
    public let unknownMetadata: [UInt8: [UInt8]]
    /// Per column, what the row decoder needs (one per entry of `columns`).
    var codecs: UnsafeBufferPointer<ColumnCodec> { UnsafeBufferPointer(codecStorage) }
    /// `columns`, in storage owned by this object.
    var columnBuffer: UnsafeBufferPointer<ColumnInfo> { UnsafeBufferPointer(columnStorage) }
    // Allocated in init, never written after, freed in deinit: rows events hold their table map,
    // so the row decoder reads these through plain pointers, without reference counting.
    private let codecStorage: UnsafeMutableBufferPointer<ColumnCodec>
    private let columnStorage: UnsafeMutableBufferPointer<ColumnInfo>

    init(tableID: UInt64, flags: UInt16, database: String, table: String, columns: [ColumnInfo], optional: OptionalMetadata = OptionalMetadata()) {
        self.tableID = tableID
        self.flags = flags
        self.database = database
        self.table = table
        self.columns = columns
        codecStorage = .allocate(capacity: columns.count)
        _ = codecStorage.initialize(from: columns.lazy.map(ColumnCodec.init))
        columnStorage = .allocate(capacity: columns.count)
        _ = columnStorage.initialize(from: columns)
        self.qualifiedName = database + "." + table
        self.primaryKeyColumns = optional.primaryKeyColumns
        self.primaryKeyPrefixes = optional.primaryKeyPrefixes
        self.unknownMetadata = optional.unknownMetadata
    }

    deinit {
        codecStorage.deinitialize()
        codecStorage.deallocate()
        columnStorage.deinitialize()
        columnStorage.deallocate()
    }

    /// What the optional metadata adds besides the per-column fields.
    struct OptionalMetadata {
        var primaryKeyColumns: [Int] = []
        var primaryKeyPrefixes: [Int] = []
        var unknownMetadata: [UInt8: [UInt8]] = [:]
    }
    /// Whether the event carried column names.
    public var hasColumnNames: Bool { columns.first?.name != nil }

    /// `db.table`.
    public let qualifiedName: String
    /// The `events` JSON of `columns` and of the column names, made on first use (see EventJSON).
    let jsonCache = Mutex<(columns: [UInt8]?, names: [UInt8]?)>((nil, nil))

    public static func == (a: TableMapEvent, b: TableMapEvent) -> Bool {
        a.tableID == b.tableID && a.database == b.database && a.table == b.table && a.columns == b.columns
            && a.primaryKeyColumns == b.primaryKeyColumns && a.primaryKeyPrefixes == b.primaryKeyPrefixes
    }

    public func hash(into h: inout Hasher) {
        h.combine(tableID)
        h.combine(table)
    }

    /// Optional metadata type codes (MySQL `Table_map_log_event::Optional_metadata_field_type`).
    enum OptionalField: UInt8 {
        case signedness = 1, defaultCharset, columnCharset, columnName, setStrValue, enumStrValue, geometryType,
            simplePrimaryKey, primaryKeyWithPrefix, enumAndSetDefaultCharset, enumAndSetColumnCharset,
            columnVisibility, vectorDimensionality
    }

    static func decode(_ c: inout ByteCursor, tableIDSize: Int, mariadb: Bool) throws(BinlogDecodingError) -> TableMapEvent {
        let tableID = try c.uint(tableIDSize, "tableMap.tableID")
        let flags = try c.u16("tableMap.flags")
        let dbLength = Int(try c.u8("tableMap.databaseLength"))
        let database = try c.string(dbLength, "tableMap.database")
        try c.skip(1, "tableMap.database.nul")
        let tableLength = Int(try c.u8("tableMap.tableLength"))
        let table = try c.string(tableLength, "tableMap.table")
        try c.skip(1, "tableMap.table.nul")
        let countAt = c.position
        let rawCount = try c.lengthEncoded("tableMap.columnCount")
        guard rawCount <= UInt64(DecodingLimits.maxColumns) else {
            c.position = countAt
            throw c.fail(.invalidValue("\(rawCount) columns (MySQL and MariaDB allow \(DecodingLimits.maxColumns))"), "tableMap.columnCount")
        }
        let count = Int(rawCount)
        let types = try c.rawBytes(count, "tableMap.columnTypes")
        let metadataLength = try c.lengthEncodedCount("tableMap.metadataLength")
        var meta = try c.subCursor(metadataLength, "tableMap.metadata")
        var metas: [(UInt8, UInt8)] = []
        metas.reserveCapacity(count)
        for i in 0..<count {
            let type = ColumnType(rawValue: types[i])
            guard let n = type.metadataLength else {
                throw c.fail(.unknownColumnType(types[i]), "tableMap.columnTypes[\(i)]")
            }
            switch n {
            case 0: metas.append((0, 0))
            case 1: metas.append((try meta.u8("tableMap.metadata[\(i)]"), 0))
            default:
                let a = try meta.u8("tableMap.metadata[\(i)]")
                let b = try meta.u8("tableMap.metadata[\(i)]")
                metas.append((a, b))
            }
        }
        let nulls = try c.bitmap(count, "tableMap.nullBitmap")
        var columns: [ColumnInfo] = []
        columns.reserveCapacity(count)
        for i in 0..<count {
            columns.append(ColumnInfo(type: ColumnType(rawValue: types[i]), meta0: metas[i].0, meta1: metas[i].1, nullable: nulls[i]))
        }
        var optional = OptionalMetadata()
        try decodeOptionalMetadata(&c, mariadb: mariadb, columns: &columns, into: &optional)
        return TableMapEvent(tableID: tableID, flags: flags, database: database, table: table, columns: columns, optional: optional)
    }

    static func decodeOptionalMetadata(_ c: inout ByteCursor, mariadb: Bool, columns: inout [ColumnInfo], into optional: inout OptionalMetadata) throws(BinlogDecodingError) {
        while !c.isAtEnd {
            let code = try c.u8("tableMap.optionalMetadata.type")
            let length = try c.lengthEncodedCount("tableMap.optionalMetadata.length")
            var v = try c.subCursor(length, "tableMap.optionalMetadata.value")
            let field = "tableMap.optionalMetadata[\(code)]"
            guard let kind = OptionalField(rawValue: code) else {
                optional.unknownMetadata[code] = Array(v.rest())
                continue
            }
            switch kind {
            case .signedness:
                // One bit per numeric column, most significant bit first.
                let numeric = columns.indices.filter { columns[$0].type.isNumeric }
                let bits = try v.rawBytes(min(v.remaining, (numeric.count + 7) / 8), field)
                for (k, i) in numeric.enumerated() where k / 8 < bits.count {
                    columns[i].unsigned = (bits[k / 8] << UInt8(k % 8)) & 0x80 != 0
                }
            case .defaultCharset, .enumAndSetDefaultCharset:
                let targets = kind == .defaultCharset
                    ? columns.indices.filter { columns[$0].isCharacter(mariadb: mariadb) }
                    : columns.indices.filter { columns[$0].isEnum || columns[$0].isSet }
                let defaultCollation = try v.lengthEncoded(field)
                for i in targets { columns[i].collation = UInt32(truncatingIfNeeded: defaultCollation) }
                while !v.isAtEnd {
                    let index = try v.lengthEncoded(field)
                    let collation = try v.lengthEncoded(field)
                    guard index < UInt64(targets.count) else {
                        throw v.fail(.invalidValue("charset for column #\(index) of \(targets.count)"), field)
                    }
                    columns[targets[Int(index)]].collation = UInt32(truncatingIfNeeded: collation)
                }
            case .columnCharset, .enumAndSetColumnCharset:
                let targets = kind == .columnCharset
                    ? columns.indices.filter { columns[$0].isCharacter(mariadb: mariadb) }
                    : columns.indices.filter { columns[$0].isEnum || columns[$0].isSet }
                for i in targets where !v.isAtEnd {
                    columns[i].collation = UInt32(truncatingIfNeeded: try v.lengthEncoded(field))
                }
            case .columnName:
                for i in columns.indices where !v.isAtEnd {
                    let n = try v.lengthEncodedCount(field)
                    columns[i].name = try v.string(n, field)
                }
            case .setStrValue, .enumStrValue:
                let targets = columns.indices.filter { kind == .setStrValue ? columns[$0].isSet : columns[$0].isEnum }
                for i in targets where !v.isAtEnd {
                    let n = try v.lengthEncodedCount(field)
                    var names: [String] = []
                    names.reserveCapacity(n)
                    for _ in 0..<n {
                        let len = try v.lengthEncodedCount(field)
                        names.append(try v.string(len, field))
                    }
                    if kind == .setStrValue { columns[i].setValues = names } else { columns[i].enumValues = names }
                }
            case .geometryType:
                for i in columns.indices where columns[i].type == .geometry && !v.isAtEnd {
                    columns[i].geometryType = try v.lengthEncoded(field)
                }
            case .vectorDimensionality:
                for i in columns.indices where columns[i].type == .vector && !v.isAtEnd {
                    columns[i].vectorDimensions = try v.lengthEncoded(field)
                }
            case .simplePrimaryKey:
                while !v.isAtEnd {
                    optional.primaryKeyColumns.append(Int(clamping: try v.lengthEncoded(field)))
                    optional.primaryKeyPrefixes.append(0)
                }
            case .primaryKeyWithPrefix:
                while !v.isAtEnd {
                    optional.primaryKeyColumns.append(Int(clamping: try v.lengthEncoded(field)))
                    optional.primaryKeyPrefixes.append(Int(clamping: try v.lengthEncoded(field)))
                }
            case .columnVisibility:
                let bits = try v.rawBytes(min(v.remaining, (columns.count + 7) / 8), field)
                for i in columns.indices where i / 8 < bits.count {
                    columns[i].visible = (bits[i / 8] << UInt8(i % 8)) & 0x80 != 0
                }
            }
        }
    }
}
