/// MySQL field type codes (`enum_field_types`) as they appear in TABLE_MAP_EVENT.
public struct ColumnType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let decimal = Self(rawValue: 0)
    public static let tiny = Self(rawValue: 1)
    public static let short = Self(rawValue: 2)
    public static let long = Self(rawValue: 3)
    public static let float = Self(rawValue: 4)
    public static let double = Self(rawValue: 5)
    public static let null = Self(rawValue: 6)
    public static let timestamp = Self(rawValue: 7)
    public static let longlong = Self(rawValue: 8)
    public static let int24 = Self(rawValue: 9)
    public static let date = Self(rawValue: 10)
    public static let time = Self(rawValue: 11)
    public static let datetime = Self(rawValue: 12)
    public static let year = Self(rawValue: 13)
    public static let newdate = Self(rawValue: 14)
    public static let varchar = Self(rawValue: 15)
    public static let bit = Self(rawValue: 16)
    public static let timestamp2 = Self(rawValue: 17)
    public static let datetime2 = Self(rawValue: 18)
    public static let time2 = Self(rawValue: 19)
    public static let typedArray = Self(rawValue: 20)
    public static let vector = Self(rawValue: 242)
    public static let invalid = Self(rawValue: 243)
    public static let bool = Self(rawValue: 244)
    public static let json = Self(rawValue: 245)
    public static let newdecimal = Self(rawValue: 246)
    public static let `enum` = Self(rawValue: 247)
    public static let set = Self(rawValue: 248)
    public static let tinyBlob = Self(rawValue: 249)
    public static let mediumBlob = Self(rawValue: 250)
    public static let longBlob = Self(rawValue: 251)
    public static let blob = Self(rawValue: 252)
    public static let varString = Self(rawValue: 253)
    public static let string = Self(rawValue: 254)
    public static let geometry = Self(rawValue: 255)

    public var description: String {
        switch rawValue {
        case 0: "DECIMAL"
        case 1: "TINY"
        case 2: "SHORT"
        case 3: "LONG"
        case 4: "FLOAT"
        case 5: "DOUBLE"
        case 6: "NULL"
        case 7: "TIMESTAMP"
        case 8: "LONGLONG"
        case 9: "INT24"
        case 10: "DATE"
        case 11: "TIME"
        case 12: "DATETIME"
        case 13: "YEAR"
        case 14: "NEWDATE"
        case 15: "VARCHAR"
        case 16: "BIT"
        case 17: "TIMESTAMP2"
        case 18: "DATETIME2"
        case 19: "TIME2"
        case 20: "TYPED_ARRAY"
        case 242: "VECTOR"
        case 243: "INVALID"
        case 244: "BOOL"
        case 245: "JSON"
        case 246: "NEWDECIMAL"
        case 247: "ENUM"
        case 248: "SET"
        case 249: "TINY_BLOB"
        case 250: "MEDIUM_BLOB"
        case 251: "LONG_BLOB"
        case 252: "BLOB"
        case 253: "VAR_STRING"
        case 254: "STRING"
        case 255: "GEOMETRY"
        default: "TYPE_\(rawValue)"
        }
    }

    /// How many metadata bytes the type carries in TABLE_MAP_EVENT, or nil for an unknown type.
    var metadataLength: Int? {
        switch rawValue {
        case 4, 5, 17, 18, 19, 245, 249, 250, 251, 252, 255, 242: return 1
        case 15, 16, 246, 247, 248, 253, 254: return 2
        case 0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14: return 0
        default: return nil
        }
    }

    /// Numeric types: the ones the SIGNEDNESS optional metadata has a bit for.
    var isNumeric: Bool {
        switch rawValue {
        case 1, 2, 3, 8, 9, 4, 5, 246: return true
        default: return false
        }
    }

    var isBlobFamily: Bool { (249...252).contains(rawValue) }
}
